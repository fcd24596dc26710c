// `run`: an array under a verifying host load, optionally reconfigured mid-run.
// What a run needs (the array, its host processors, the live view) is imported when a run starts,
// not when the command line is read: `arrayemu --help` and every other command start without it.
import { Command, Option } from 'commander';
import type { ArrayConfig } from '../../shared/config/config.ts';
import { ArrayError } from '../../shared/errors/errors.ts';
import type { ArrayEmulator, Mode } from '../../runtime/emulator.ts';
import type { RunOptions, HostSummary } from '../../host/run.ts';
import type { ReconfReport } from '../../shared/restripe/report.ts';
import { intArg, numArg, readJson, print, verboseLog, EXIT_FAILED } from '../args.ts';
import { reconfJson, reconfText } from '../report-format.ts';
import type { DriveFailAt, DriveFailDone } from '../fail-drive.ts';
import type { EmbeddedView } from '../../serve/ui/embedded.ts';

interface RunCliOptions {
  config: string;
  ops?: number;
  seconds?: number;
  queueDepth: number;
  readPct: number;
  blockBytes: number;
  pattern: 'random' | 'sequential';
  hostProcessors: number;
  seed: number;
  inline?: boolean;
  virtual?: boolean;
  json?: boolean;
  reconfigureTo?: string[];
  reconfigureAt: number;
  verbose?: boolean;
  ui?: string;
  failDrive?: string[];
}

/**
 * What a run needs, imported before it starts: under the discrete-event clock an import is not a
 * wait the clock knows of (it would see nothing left to run and call it a deadlock).
 */
async function runModules() {
  const [sched, config, runtime, host, reconf, plan, progress, ui, failDrive] = await Promise.all([
    import('../../shared/sched/sched.ts'),
    import('../../shared/config/config.ts'),
    import('../../runtime/emulator.ts'),
    import('../../host/run.ts'),
    import('../../host/reconfigure-run.ts'),
    import('../../shared/restripe/reconf-plan.ts'),
    import('../progress.ts'),
    import('../ui.ts'),
    import('../fail-drive.ts'),
  ]);
  return {
    runVirtual: sched.runVirtual,
    loadConfig: config.loadConfig,
    ArrayEmulator: runtime.ArrayEmulator,
    runWorkload: host.runWorkload,
    runWithReconfigurations: reconf.runWithReconfigurations,
    planRounds: plan.planRounds,
    progressReporter: progress.progressReporter,
    maybeView: ui.maybeView,
    toProgressAndView: ui.toProgressAndView,
    failDrivesAt: failDrive.failDrivesAt,
    parseFailDrive: failDrive.parseFailDrive,
  };
}
type RunModules = Awaited<ReturnType<typeof runModules>>;

export async function runCommand(opts: RunCliOptions): Promise<number> {
  if (opts.virtual && opts.ui !== undefined)
    throw new ArrayError('USAGE', '--ui watches a run in real time: drop --virtual (virtual time outruns any page)');
  const m = await runModules();
  if (!opts.virtual) return runOnArray(opts, opts.inline ? 'inline' : 'threads', m);
  // Virtual: every actor and host processor in this thread under a discrete-event clock (time
  // moves only to the next drive completion or sleep); the same seed gives the same figures.
  const wall0 = performance.now();
  const r = await m.runVirtual(opts.seed, () => runOnArray(opts, 'inline', m));
  if (!opts.json)
    process.stderr.write(
      `virtual run: ${(r.virtualMs / 1000).toFixed(3)} s simulated in ${((performance.now() - wall0) / 1000).toFixed(3)} s of wall time\n`,
    );
  return r.value;
}

async function runOnArray(opts: RunCliOptions, mode: Mode, m: RunModules): Promise<number> {
  const { loadConfig, ArrayEmulator, runWorkload, maybeView, parseFailDrive } = m;
  const config: ArrayConfig = loadConfig(opts.config);
  if (opts.blockBytes % 512 !== 0)
    throw new ArrayError('USAGE', `--block-bytes ${opts.blockBytes} is not a multiple of 512`);
  const failAt = (opts.failDrive ?? []).map((v) =>
    parseFailDrive(
      v,
      config.drives.map((d) => d.id),
    ),
  );
  if (failAt.length > 0 && !opts.reconfigureTo?.length)
    throw new ArrayError(
      'USAGE',
      '--fail-drive DRIVE@PHASE fails a drive in a phase of a reconfiguration: give --reconfigure-to',
    );
  const emu = await ArrayEmulator.start(config, { mode, log: opts.verbose ? verboseLog : undefined });
  const view = await maybeView(emu, opts.ui);
  try {
    const run: RunOptions = {
      hostProcessors: opts.hostProcessors,
      ops: opts.seconds === undefined ? (opts.ops ?? 20000) : opts.ops,
      seconds: opts.seconds,
      queueDepth: opts.queueDepth,
      readPct: opts.readPct,
      blockBytes: opts.blockBytes,
      pattern: opts.pattern,
      seed: opts.seed,
    };
    let host: HostSummary;
    let reconfigurations: ReconfReport[] = [];
    let reconfError: string | undefined;
    let driveFaults: DriveFailDone[] = [];
    if (opts.reconfigureTo && opts.reconfigureTo.length > 0) {
      const r = await reconfiguringRun({ emu, config, run, opts, failAt, view }, m);
      ({ host, reconfigurations, driveFaults } = r);
      reconfError = r.error;
    } else {
      host = await runWorkload(emu, run);
    }
    const problems = emu.problems();
    const bitsLeft = reconfigurations.some((r) => r.bitsLeft.pb + r.bitsLeft.ps + r.bitsLeft.ind > 0);
    const ok = host.verifyErrors === 0 && host.ioErrors === 0 && problems.length === 0 && !reconfError && !bitsLeft;
    const { described, ...hostOut } = host;
    const json: Record<string, unknown> = {
      ok,
      clock: opts.virtual ? 'virtual' : 'real',
      host: hostOut,
      errors: described,
      problems,
    };
    if (opts.reconfigureTo) json.reconfigurations = reconfigurations.map(reconfJson);
    if (reconfError) json.reconfigurationError = reconfError;
    if (failAt.length > 0) json.driveFaults = driveFaults;
    print(!!opts.json, json, () => runText(ok, host, reconfigurations, reconfError, driveFaults, problems));
    return ok ? 0 : EXIT_FAILED;
  } finally {
    await view?.close();
    await emu.stop();
  }
}

/** A run with reconfigurations mid-way (and drives failed in their phases), with progress on stderr. */
async function reconfiguringRun(
  a: {
    emu: ArrayEmulator;
    config: ArrayConfig;
    run: RunOptions;
    opts: RunCliOptions;
    failAt: DriveFailAt[];
    view: EmbeddedView | undefined;
  },
  m: RunModules,
): Promise<{ host: HostSummary; reconfigurations: ReconfReport[]; error?: string; driveFaults: DriveFailDone[] }> {
  const { runWithReconfigurations, planRounds, progressReporter, toProgressAndView, failDrivesAt } = m;
  const targets = (a.opts.reconfigureTo ?? []).map((f) => readJson(f));
  planRounds(
    a.config,
    targets.map((t) => [t]),
  ); // refuse a bad target before any I/O
  const progress = progressReporter(!!a.opts.json);
  const failing = failDrivesAt(a.emu, a.failAt);
  const r = await runWithReconfigurations(a.emu, {
    ...a.run,
    targets,
    atFraction: a.opts.reconfigureAt / 100,
    ...toProgressAndView(progress, a.view),
  }).finally(() => progress.stop());
  return { ...r, driveFaults: await failing.done() };
}

/** The run's summary as text. */
function runText(
  ok: boolean,
  host: HostSummary,
  reconfigurations: ReconfReport[],
  reconfError: string | undefined,
  driveFaults: DriveFailDone[],
  problems: string[],
): string {
  return [
    `${ok ? 'OK' : 'FAILED'}: ${host.reads} reads, ${host.writes} writes, ${(host.bytes / 1048576).toFixed(1)} MiB in ${(host.elapsedMs / 1000).toFixed(2)} s`,
    `  ${host.iops} ops/s, ${host.mbPerSec} MB/s, latency p50 ${host.latencyMs.p50} ms, p99 ${host.latencyMs.p99} ms, max ${host.latencyMs.max} ms`,
    `  verify errors: ${host.verifyErrors}, I/O errors: ${host.ioErrors}`,
    ...host.described.map((d) => `  - ${d}`),
    ...(reconfigurations.length > 0 ? ['reconfigurations:', ...reconfigurations.flatMap(reconfText)] : []),
    ...(reconfError ? [`  reconfiguration failed: ${reconfError}`] : []),
    ...driveFaults.map(driveFaultLine),
    ...problems.map((p) => `  actor stopped: ${p}`),
  ].join('\n');
}

/** One line of what a --fail-drive did. */
function driveFaultLine(f: DriveFailDone): string {
  if (f.atMs === undefined) return `  drive ${f.drive}: not failed (no reconfiguration reached ${f.phase})`;
  const r = f.rebuild;
  const rebuilt = r
    ? `rebuilt onto ${r.spare}: ${r.copies} copies in ${r.ms} ms${r.unrecoverable ? `, ${r.unrecoverable} with no readable source (lost)` : ''}`
    : 'no spare: left failed';
  return `  drive ${f.drive}: failed at ${f.phase} of ${f.device} (${f.atMs} ms); ${rebuilt}`;
}

export function addRunCommand(program: Command): void {
  program
    .command('run')
    .description('run a verifying host workload on every non-BCV device and print a summary')
    .requiredOption('--config <file>', 'the array configuration')
    .option('--ops <n>', 'operations in all (default 20000 unless --seconds)', intArg('--ops', 1))
    .option('--seconds <s>', 'run for this long instead of a number of operations', numArg('--seconds', 0))
    .option('--queue-depth <q>', 'requests each host processor keeps in flight', intArg('--queue-depth', 1, 4096), 16)
    .option('--read-pct <p>', 'percentage of reads', intArg('--read-pct', 0, 100), 50)
    .option('--block-bytes <b>', 'bytes per request (multiple of 512)', intArg('--block-bytes', 512, 64 << 20), 4096)
    .addOption(new Option('--pattern <p>', 'offsets').choices(['random', 'sequential']).default('random'))
    .option('--host-processors <n>', 'host processors (piscina pool threads)', intArg('--host-processors', 1, 64), 2)
    .option('--seed <n>', 'workload seed', intArg('--seed', 0), 1)
    .option('--inline', 'run every actor in this thread (same classes, no worker threads)')
    .option(
      '--virtual',
      "virtual time: every actor in this thread under a discrete-event clock (drives take their timing models' time, nothing else takes any); reproducible",
    )
    .option(
      '--reconfigure-to <file>',
      'reconfigure online to this target mid-run (repeat for several, in order)',
      (v: string, acc: string[] = []) => [...acc, v],
    )
    .option(
      '--reconfigure-at <pct>',
      'start reconfiguring when this share of the run is done',
      intArg('--reconfigure-at', 0, 100),
      30,
    )
    .option(
      '--fail-drive <drive@phase>',
      'fail this drive whole when a reconfiguration reaches PHASE (establish, switch, transfer, completion); a spare is rebuilt in its place (repeat for several)',
      (v: string, acc: string[] = []) => [...acc, v],
    )
    .option('--verbose', "print every actor's log lines on stderr (each RECONF step with its duration)")
    .option(
      '--ui <host:port>',
      'serve the live view (the track map, reconfigurations, host I/O) on this loopback address while the run runs; the run starts once a page opens it',
    )
    .option('--json', 'print one JSON object')
    .action(async (o: RunCliOptions) => {
      process.exitCode = await runCommand(o);
    });
}
