// `serve`: every non-BCV device as an NBD export, the control API, a durable data dir.
import { Command } from 'commander';
import { ArrayError } from '../../shared/errors/errors.ts';
import { print } from '../args.ts';

export function addServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'start the array and serve every non-BCV logical device as an NBD export (named by its device id) until SIGINT/SIGTERM',
    )
    .option(
      '--config <file>',
      'the array configuration (with --data-dir, only the first time: the directory keeps the running one)',
    )
    .option(
      '--data-dir <dir>',
      'keep the array here, durable: every write acknowledged before a FLUSH (or a FUA write) survives a crash, an interrupted restripe resumes at the next start',
    )
    .option(
      '--drive-cache-mib <MiB>',
      `with --data-dir: memory the drives' tracks may take (their bytes are the data dir's; memory caches what was touched), default ${DEFAULT_DRIVE_CACHE_MIB}`,
    )
    .option(
      '--listen <host:port>',
      'TCP address (default 127.0.0.1:10809 when no --socket is given); host adapter HA0 terminates its connections',
    )
    .option(
      '--socket <path>',
      'a Unix socket to serve on as well (or alone); with --listen and two or more host adapters, HA1 terminates its connections (alone: HA0)',
    )
    .option(
      '--http <host:port>',
      'the control API, /metrics and the live view at / (e.g. 127.0.0.1:9180; an address other than loopback needs --token-file)',
    )
    .option('--token-file <file>', 'a bearer token every control API request must carry')
    .option(
      '--scrub-after-restripe',
      'scrub each device once a restripe of it completes (DESIGN §14; arrayemu scrub starts one by hand)',
    )
    .option('--inline', 'run every actor in this thread (no worker threads)')
    .option('--verbose', 'log refused requests and dropped connections on stderr')
    .option('--json', 'print the export URIs as one JSON object')
    .action(async (o: ServeCliOptions) => serveCommand(o));
}

interface ServeCliOptions {
  config?: string;
  dataDir?: string;
  driveCacheMib?: string;
  listen?: string;
  socket?: string;
  http?: string;
  tokenFile?: string;
  inline?: boolean;
  scrubAfterRestripe?: boolean;
  verbose?: boolean;
  json?: boolean;
}

/** Least and default --drive-cache-mib: the cache must hold a track per drive and more. */
const MIN_DRIVE_CACHE_MIB = 16;
const DEFAULT_DRIVE_CACHE_MIB = 512;

/** --drive-cache-mib as bytes, refused naming the option (only with --data-dir). */
function driveCacheOption(o: ServeCliOptions): number | undefined {
  if (o.driveCacheMib === undefined) return o.dataDir ? DEFAULT_DRIVE_CACHE_MIB * 2 ** 20 : undefined;
  if (!o.dataDir)
    throw new ArrayError('USAGE', "--drive-cache-mib bounds a data dir's drive cache: give --data-dir too");
  const mib = Number(o.driveCacheMib);
  if (!Number.isInteger(mib) || mib < MIN_DRIVE_CACHE_MIB || mib > 4096)
    throw new ArrayError(
      'USAGE',
      `--drive-cache-mib ${o.driveCacheMib}: expected a whole number of MiB from ${MIN_DRIVE_CACHE_MIB} to 4096`,
    );
  return mib * 2 ** 20;
}

export async function serveCommand(o: ServeCliOptions): Promise<void> {
  const signals = new Signals(); // from the start: a signal while the array starts stops it once it is up
  const { serve } = await import('../../serve/serve.ts');
  const { startControl } = await import('../../serve/control/server.ts');
  const { loadConfig } = await import('../../shared/config/config.ts');
  if (!o.config && !o.dataDir) throw new ArrayError('USAGE', 'give --config (and/or --data-dir holding an array)');
  const config = o.config ? loadConfig(o.config) : undefined;
  const driveCacheBytes = driveCacheOption(o);
  const log = o.verbose ? (l: string) => process.stderr.write(`${l}\n`) : undefined;
  const s = await serve(config, {
    listen: o.listen,
    socket: o.socket,
    mode: o.inline ? 'inline' : 'threads',
    log,
    dataDir: o.dataDir,
    driveCacheBytes,
  });
  if (o.scrubAfterRestripe)
    s.emu.on('completed', (e: { report: { device: string } }) => s.emu.scrubs.afterRestripe(e.report.device));
  let control: Awaited<ReturnType<typeof startControl>> | undefined;
  try {
    if (o.http) control = await startControl(s, s.running, o.http, o.tokenFile);
  } catch (err) {
    await s.close();
    throw err;
  }
  const http = control ? [`${control.url}/v1/status`, `${control.url}/metrics`] : [];
  const view = control ? `${control.url}/` : undefined;
  print(
    !!o.json,
    { ok: true, uris: s.uris, http, ...(view ? { view } : {}) },
    () =>
      `arrayemu serving (Ctrl-C to stop):\n${[...s.uris, ...http].map((u) => `  ${u}`).join('\n')}${view ? `\n  live view: ${view}` : ''}`,
  );
  await signals.next();
  const running = control?.jobs.running()[0];
  if (running && !o.dataDir) {
    // Without a data dir a reconfiguration cut short is lost with the array: let it finish first.
    process.stderr.write(
      `arrayemu: waiting for reconfiguration ${running.id} of ${running.device} to finish (signal again to stop now)\n`,
    );
    const again = await Promise.race([control!.jobs.idle().then(() => false), signals.next().then(() => true)]);
    if (again) stopNow();
  }
  // With a data dir a second signal stops at once: the store holds the last commit, which a restart resumes from.
  if (o.dataDir)
    void signals.next().then(() => {
      process.stderr.write(
        `arrayemu: second signal: stopping now; ${o.dataDir} holds the last commit, a restart resumes from it\n`,
      );
      stopNow();
    });
  const resumes = o.dataDir && running ? { id: running.id, device: running.device } : undefined;
  if (o.json)
    process.stdout.write(
      `${JSON.stringify({ event: 'stopping', dataDir: o.dataDir ?? null, resumesAtNextStart: resumes ?? null })}\n`,
    );
  else
    process.stderr.write(
      `arrayemu: stopping: destaging the cache${o.dataDir ? ` and committing it to ${o.dataDir}${resumes ? ` (reconfiguration ${resumes.id} of ${resumes.device} resumes at the next start)` : ''}` : ''}\n`,
    );
  await control?.close();
  await s.close();
}

/**
 * Stop this process at once, as SIGINT's default action does (exit status 130 to a shell), without
 * Node's exit: process.exit joins every worker thread, and a worker stopped inside a store
 * transaction can deadlock in the store's own clean-up (seen: the service processor's thread
 * waiting forever on the LMDB environment's mutex in its close), so the exit never ends. Nothing is
 * lost by skipping it: the data dir is as safe as under kill -9 (DESIGN §10).
 */
function stopNow(): never {
  process.removeAllListeners('SIGINT');
  process.kill(process.pid, 'SIGINT');
  // The default action ends the process before this runs; should the signal be held, exit anyway.
  process.exit(130);
}

/**
 * SIGINT and SIGTERM, counted from the moment serve starts. The listener stays installed until the
 * process ends: removing Node's last listener for a signal restores its default action (death),
 * and one removed between two awaits let a SIGTERM kill a server that had just said it serves.
 */
class Signals {
  private received = 0;
  private taken = 0;
  private waiters: Array<() => void> = [];

  constructor() {
    const on = () => {
      this.received++;
      this.wake();
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  }

  /** Resolves at the next signal not yet taken (at once if one came already). */
  next(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      this.wake();
    });
  }

  private wake(): void {
    while (this.waiters.length > 0 && this.taken < this.received) {
      this.taken++;
      this.waiters.shift()!();
    }
  }
}
