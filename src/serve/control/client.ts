// The CLI's side of the control API: `arrayemu status --server URL [--watch]` (an mdstat-like
// view) and `arrayemu reconfigure --server URL --to G [--wait]` (a progress bar on a TTY).
import { readFileSync } from 'node:fs';
import { SingleBar, Presets } from 'cli-progress';
import { ArrayError, errorMessage } from '../../shared/errors/errors.ts';

/** How often `--watch` and `--wait` ask the server (ms). */
const POLL_MS = 500;
/** Longest `--wait` (ms): a reconfiguration still running then is left running, and the command says so. */
const WAIT_MAX_MS = 24 * 3600 * 1000;

export interface ServerOptions {
  server: string;
  tokenFile?: string;
}

async function call(o: ServerOptions, method: string, path: string, body?: unknown): Promise<any> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.tokenFile) headers.authorization = `Bearer ${readFileSync(o.tokenFile, 'utf8').trim()}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, o.server), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ArrayError('USAGE', `--server ${o.server}: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`);
  }
  const json = (await res.json().catch(() => ({}))) as any;
  if (!res.ok) throw new ArrayError('USAGE', `${o.server}: ${res.status} ${json.error ?? res.statusText}`);
  return json;
}

/** One mdstat-like screen of the array's state. */
export function formatStatus(st: any): string {
  const lines = ['Devices:'];
  for (const d of st.devices)
    lines.push(
      `  ${d.id.padEnd(8)} ${(d.bytes / 2 ** 20).toFixed(1).padStart(10)} MiB  generation ${d.generation}${d.bcvOf ? `  (BCV of ${d.bcvOf})` : ''}${mirrorsLine(d)}`,
    );
  for (const b of st.dataDir?.bcvsLeftOut ?? []) lines.push(`  ${b.id.padEnd(8)} left out at the restart: ${b.why}`);
  const telling = (st.drives ?? []).filter((d: any) => d.state !== 'ok' || d.inPlaceOf);
  if (telling.length > 0) lines.push(`Drives: ${telling.map(driveWord).join(', ')} (others ok)`);
  lines.push(`NBD: ${st.nbd.connections} connection(s) open`);
  if (st.reconfigurations.length === 0) lines.push('No reconfiguration in progress.');
  for (const r of st.reconfigurations) {
    const pct = r.tracksTotal ? Math.floor((100 * r.tracksDone) / r.tracksTotal) : 0;
    const bar = '='.repeat(Math.floor(pct / 5)).padEnd(20, '.');
    lines.push(
      `Reconfiguration ${r.id} of ${r.device}: ${r.phase ?? 'starting'} [${bar}] ${pct}% (${r.tracksDone}/${r.tracksTotal ?? '?'} tracks) ${r.tracksPerSec ?? '-'} tracks/s, ETA ${r.etaSec ?? '-'} s${predicted(r.predicted)}`,
    );
  }
  return lines.join('\n');
}

/** One drive in the status line: its state, what it replaced or was replaced by, a rebuild's progress. */
function driveWord(d: any): string {
  const rate = d.rebuild?.copiesPerSec ? ` at ${d.rebuild.copiesPerSec} copies/s, ETA ${d.rebuild.etaSec} s` : '';
  const rebuild =
    d.state === 'rebuilding' && d.rebuild
      ? ` ${Math.floor((100 * d.rebuild.done) / Math.max(1, d.rebuild.total))}% (${d.rebuild.done}/${d.rebuild.total} copies)${rate}`
      : '';
  const place = d.inPlaceOf ? ` in place of ${d.inPlaceOf}` : d.replacedBy ? ` (replaced by ${d.replacedBy})` : '';
  return `${d.id} ${d.state}${rebuild}${place}`;
}

/** A mirrored or failed device's copies, md-style: [UU] both up, [U_] mirror 2 down. */
function mirrorsLine(d: any): string {
  const lost = d.lostTracks ? `, ${d.lostTracks} track(s) lost` : '';
  if (!d.mirrors || d.mirrors.length === 1) return lost ? `  ${d.state}${lost}` : '';
  const map = d.mirrors.map((m: any) => (m.state === 'ok' ? 'U' : '_')).join('');
  return `  ${d.mirrors.length}-way [${map}] ${d.state}${lost}`;
}

/** The plan's ETA beside the real one (or why there is none). */
function predicted(p: any): string {
  if (!p) return '';
  if (p.unavailable) return ' (no prediction: ' + p.unavailable + ')';
  return `, predicted ${p.etaSec ?? '-'} s (of ${p.durationSec} s, bound by ${p.boundBy})`;
}

export async function statusCommand(o: ServerOptions & { watch?: boolean; json?: boolean }): Promise<number> {
  for (let i = 0; ; i++) {
    const st = await call(o, 'GET', '/v1/status');
    process.stdout.write(
      o.json
        ? `${JSON.stringify(st)}\n`
        : `${o.watch && process.stdout.isTTY ? '\x1b[2J\x1b[H' : ''}${formatStatus(st)}\n`,
    );
    if (!o.watch || i * POLL_MS > WAIT_MAX_MS) return 0;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export async function reconfigureCommand(
  o: ServerOptions & { to: string; wait?: boolean; json?: boolean },
): Promise<number> {
  let target: unknown;
  try {
    target = JSON.parse(readFileSync(o.to, 'utf8'));
  } catch (err) {
    throw new ArrayError('USAGE', `--to ${o.to}: ${errorMessage(err)}`);
  }
  let job = await call(o, 'POST', '/v1/reconfigurations', target);
  if (!o.wait) {
    process.stdout.write(o.json ? `${JSON.stringify(job)}\n` : `reconfiguration ${job.id} of ${job.device} started\n`);
    return 0;
  }
  const bar =
    !o.json && process.stderr.isTTY
      ? new SingleBar(
          { format: `${job.device} {bar} {percentage}% | {value}/{total} tracks | ETA {eta}s` },
          Presets.shades_classic,
        )
      : undefined;
  bar?.start(1, 0);
  const deadline = Date.now() + WAIT_MAX_MS;
  while (job.state === 'running' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    job = await call(o, 'GET', `/v1/reconfigurations/${job.id}`);
    if (job.tracksTotal) bar?.setTotal(job.tracksTotal);
    bar?.update(job.tracksDone);
  }
  bar?.stop();
  process.stdout.write(
    o.json
      ? `${JSON.stringify(job)}\n`
      : `reconfiguration ${job.id} of ${job.device}: ${job.state}${job.error ? `: ${job.error}` : ''}\n`,
  );
  return job.state === 'done' ? 0 : 1;
}

/** `arrayemu pause|resume --server URL [--id N]`: the running reconfiguration unless an id is given. */
export async function pauseCommand(
  o: ServerOptions & { id?: number; json?: boolean },
  resume: boolean,
): Promise<number> {
  const id = o.id ?? (await call(o, 'GET', '/v1/status')).reconfigurations[0]?.id;
  if (id === undefined)
    throw new ArrayError('USAGE', `${o.server}: no reconfiguration in progress to ${resume ? 'resume' : 'pause'}`);
  const job = await call(o, 'POST', `/v1/reconfigurations/${id}/${resume ? 'resume' : 'pause'}`);
  process.stdout.write(
    o.json
      ? `${JSON.stringify(job)}\n`
      : `reconfiguration ${job.id} of ${job.device}: ${job.paused ? 'paused' : 'running'}\n`,
  );
  return 0;
}

/** `arrayemu throttle --server URL --min-mbps A --max-mbps B` (0: no limit). */
export async function throttleCommand(
  o: ServerOptions & { minMbps?: number; maxMbps?: number; json?: boolean },
): Promise<number> {
  const t = await call(o, 'PUT', '/v1/throttle', { minMBps: o.minMbps ?? 0, maxMBps: o.maxMbps ?? 0 });
  process.stdout.write(
    o.json
      ? `${JSON.stringify(t)}\n`
      : `background copy: at most ${t.maxMBps || 'unlimited'} MB/s while hosts are idle, at least ${t.minMBps} MB/s while they are busy\n`,
  );
  return 0;
}

/** `arrayemu drive fail --server URL --drive ID [--kind K] [--tracks n]`: a drive fault, as the API takes it. */
export async function driveFailCommand(
  o: ServerOptions & { drive: string; kind?: string; tracks?: number; seed?: number; json?: boolean },
): Promise<number> {
  const body = {
    kind: o.kind ?? 'whole',
    ...(o.tracks ? { tracks: o.tracks } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  };
  const r = await call(o, 'POST', `/v1/drives/${encodeURIComponent(o.drive)}/fail`, body);
  process.stdout.write(
    o.json
      ? `${JSON.stringify(r)}\n`
      : r.kind === 'whole'
        ? `drive ${r.drive}: failed (every access to it fails; devices with another mirror go on degraded)\n`
        : `drive ${r.drive}: ${r.kind} fault on ${r.tracks.length} track(s): ${r.tracks.join(' ')}\n`,
  );
  return 0;
}

/** `arrayemu scrub --server URL [--device ID] [--json]`: start a scrub and wait for it, its progress on stderr. */
export async function scrubCommand(o: ServerOptions & { device?: string; json?: boolean }): Promise<number> {
  let v = await call(o, 'POST', '/v1/scrub', o.device ? { device: o.device } : {});
  const bar =
    !o.json && process.stderr.isTTY
      ? new SingleBar(
          { format: `scrub ${v.id} {bar} {value}/{total} drives | {mismatches} mismatches` },
          Presets.shades_classic,
        )
      : undefined;
  bar?.start(v.positionsTotal, 0, { mismatches: 0 });
  const deadline = Date.now() + WAIT_MAX_MS;
  while ((v.state === 'running' || v.state === 'paused') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    v = await call(o, 'GET', `/v1/scrubs/${v.id}`);
    bar?.update(v.positionsDone, { mismatches: v.mismatches });
  }
  bar?.stop();
  process.stdout.write(
    o.json
      ? `${JSON.stringify(v)}\n`
      : `scrub ${v.id}${v.device ? ` of ${v.device}` : ''}: ${v.state}: ${v.tracksChecked} copies checked, ${v.skipped} skipped, ${v.mismatches} mismatches (${v.corrupt ?? 0} against their own checksum, ${v.differing ?? 0} differing from the other copies), ${v.repaired} repaired, ${v.unrecoverable} unrecoverable${v.error ? ` (${v.error})` : ''}\n`,
  );
  return v.state === 'done' && v.unrecoverable === 0 ? 0 : 1;
}
