// kill -9 at random instants of an online restripe, with real processes (DESIGN §10): `arrayemu serve
// --data-dir` as a child, qemu-io (another process) writing 4 KiB patterns and FLUSHing — a qemu-io
// run that exited 0 had its FLUSH answered — the server killed with SIGKILL somewhere in prepare,
// ESTABLISH, the switch, the transfer or after completion, restarted on the same data dir, and every
// 4 KiB block of LD1, LD2 and META1 read back (twice) and checked: its last flushed pattern, or one
// written later. Trial t restripes FIG. 2 by kind KINDS[t mod 5] (expansion, stripe-change,
// expansion+stripe-change, more-rows, meta-expansion). Used by test/kill.test.ts (a few trials) and
// run long for docs/RELIABILITY.md:
//   npx tsx scripts/kill-campaign.ts --trials 200 [--first 1] [--json]
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mulberry32 } from '../src/shared/sched.ts';
import { startServe } from './serve-child.ts';

export { startServe } from './serve-child.ts';

const run = promisify(execFile);
const BLOCK = 4096;
const CYLINDER_BYTES = 15 * 65536;
/** The devices of examples/fig2.json that hold host data, and their bytes before any restripe. */
const SIZES: Record<string, number> = { LD1: 12 * CYLINDER_BYTES, LD2: 6 * CYLINDER_BYTES, META1: 2 * CYLINDER_BYTES };
/** Throttle of the background copy (MB/s): a restripe of FIG. 2 then takes some seconds, so kills land in every phase. */
const THROTTLE_MBPS = 6;
/**
 * One restripe of FIG. 2 a kind, and the window its kill instants are drawn from (ms after the POST):
 * about the time its restripe takes at THROTTLE_MBPS plus a second, so some land after completion.
 */
export const KINDS = [
  { kind: 'expansion', target: 'examples/fig2-new.json', killWithinMs: 7000 },
  { kind: 'stripe-change', target: 'examples/fig8.json', killWithinMs: 6000 },
  { kind: 'expansion+stripe-change', target: 'examples/fig9.json', killWithinMs: 7000 },
  { kind: 'more-rows', target: 'examples/fig2-ld2-rows.json', killWithinMs: 5000 },
  { kind: 'meta-expansion', target: 'examples/fig2-meta.json', killWithinMs: 600 },
] as const;

export interface TrialResult {
  trial: number;
  kind: string;
  killAtMs: number;
  /** What the control API said last before the kill. */
  phase: string;
  ok: boolean;
  reason?: string;
  flushes: number;
  blocksChecked: number;
  resumed: string;
}

/** What each block must hold: its last flushed pattern (-1: the reference image), or a pattern written since. */
interface Expect {
  refs: Record<string, Buffer>;
  flushed: Record<string, Int16Array>;
  later: Record<string, Map<number, Set<number>>>;
}

/** One trial: fill, restripe under writes and flushes, kill -9 at a random instant, restart, check. */
export async function killTrial(trial: number, root: string, repo: string): Promise<TrialResult> {
  const r = mulberry32(trial * 7919 + 13);
  const kind = KINDS[trial % KINDS.length]!;
  const dir = mkdtempSync(join(root, `trial-${trial}-`));
  const data = join(dir, 'data');
  const sock = join(dir, 's');
  const res: TrialResult = {
    trial,
    kind: kind.kind,
    killAtMs: Math.round(r() * kind.killWithinMs),
    phase: '',
    ok: false,
    flushes: 0,
    blocksChecked: 0,
    resumed: '',
  };
  const server = await startServe(
    ['--config', 'examples/fig2.json', '--data-dir', data, '--socket', sock, '--http', '127.0.0.1:0'],
    repo,
  );
  let second: typeof server | undefined;
  try {
    const exp = await fill(trial, dir, sock);
    const api = server.http!;
    await fetch(`${api}/v1/throttle`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ minMBps: THROTTLE_MBPS, maxMBps: THROTTLE_MBPS }),
    });
    const post = await fetch(`${api}/v1/reconfigurations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: readFileSync(join(repo, kind.target)),
    });
    if (post.status !== 202) throw new Error(`POST /v1/reconfigurations: ${post.status} ${await post.text()}`);
    const t0 = Date.now();
    const stop = { killed: false };
    const busy = Promise.all([watch(api, res, stop), writeAndFlush(r, exp, sock, res, stop)]);
    busy.catch(() => {}); // (awaited after the kill, where a writer's error fails the trial)
    await new Promise((x) => setTimeout(x, Math.max(0, res.killAtMs - (Date.now() - t0))));
    stop.killed = true;
    server.child.kill('SIGKILL');
    await server.exited;
    await busy;
    second = await startServe(
      ['--data-dir', data, '--socket', join(dir, 's2'), '--http', '127.0.0.1:0', '--verbose'],
      repo,
    );
    const st = (await (await fetch(`${second.http}/v1/status`)).json()) as {
      reconfigurations: Array<{ device?: string; resumed?: unknown }>;
    };
    res.resumed = JSON.stringify(st.reconfigurations.map((x) => x.resumed ?? null));
    await resumedInMetrics(second.http!, st.reconfigurations);
    for (let pass = 1; pass <= 2; pass++) await check(exp, dir, join(dir, 's2'), res, pass);
    res.ok = true;
  } catch (err) {
    res.reason = (err as Error).message + (second ? `\n${second.err().slice(-2000)}` : '');
  } finally {
    server.child.kill('SIGKILL');
    await server.exited;
    if (second) {
      second.child.kill('SIGKILL');
      await second.exited;
    }
    if (res.ok) rmSync(dir, { recursive: true, force: true });
  }
  return res;
}

/** /metrics says what /v1/status says of a resumed restripe: a line per resumed session with its tracks left. */
async function resumedInMetrics(api: string, jobs: Array<{ device?: string; resumed?: unknown }>): Promise<void> {
  const text = await (await fetch(`${api}/metrics`)).text();
  for (const j of jobs) {
    const r = j.resumed as { stage: string; tracksLeft: number } | null | undefined;
    if (!r) continue;
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('arrayemu_session_resumed_tracks_left{') &&
          l.includes(`device="${j.device}"`) &&
          l.includes(`stage="${r.stage}"`),
      );
    if (!line || Number(line.split(' ').pop()) !== r.tracksLeft)
      throw new Error(
        `/metrics does not show the resumed restripe of ${j.device} (${r.stage}, ${r.tracksLeft} left): ${line ?? 'no line'}`,
      );
  }
}

const uriOf = (id: string, sock: string) => `nbd+unix:///${id}?socket=${sock}`;

/** Each device filled with a reference image through qemu-img (which flushes before it exits 0). */
async function fill(trial: number, dir: string, sock: string): Promise<Expect> {
  const exp: Expect = { refs: {}, flushed: {}, later: {} };
  for (const [id, bytes] of Object.entries(SIZES)) {
    const ref = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i += 4)
      ref.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ trial ^ (id === 'LD1' ? 0 : 0x5a5a5a5a)) >>> 0, i);
    exp.refs[id] = ref;
    writeFileSync(join(dir, `${id}.ref`), ref);
    await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', join(dir, `${id}.ref`), uriOf(id, sock)]);
    exp.flushed[id] = new Int16Array(bytes / BLOCK).fill(-1);
    exp.later[id] = new Map();
  }
  return exp;
}

/** The control API's view of reconfiguration 1, kept in res.phase until the kill. */
async function watch(api: string, res: TrialResult, stop: { killed: boolean }): Promise<void> {
  while (!stop.killed) {
    try {
      const j = (await (await fetch(`${api}/v1/reconfigurations/1`)).json()) as {
        phase: string | null;
        state: string;
        tracksDone: number;
        tracksTotal: number;
      };
      res.phase = `${j.state}/${j.phase ?? 'prepare'} ${j.tracksDone}/${j.tracksTotal ?? '?'}`;
    } catch {
      return;
    }
    await new Promise((x) => setTimeout(x, 50));
  }
}

/** qemu-io runs, each a few 4 KiB pattern writes then a FLUSH; one that exited 0 before the kill had its FLUSH answered. */
async function writeAndFlush(
  r: () => number,
  exp: Expect,
  sock: string,
  res: TrialResult,
  stop: { killed: boolean },
): Promise<void> {
  let pattern = 1;
  while (!stop.killed) {
    const u = r();
    const id = u < 0.5 ? 'LD1' : u < 0.85 ? 'LD2' : 'META1';
    const blocks = Array.from({ length: 1 + Math.floor(r() * 4) }, () => Math.floor(r() * exp.flushed[id]!.length));
    const p = (pattern++ % 255) + 1;
    for (const b of blocks) exp.later[id]!.set(b, (exp.later[id]!.get(b) ?? new Set<number>()).add(p));
    try {
      await run('qemu-io', [
        '-f',
        'raw',
        ...blocks.flatMap((b) => ['-c', `write -P ${p} ${b * BLOCK} 4k`]),
        '-c',
        'flush',
        uriOf(id, sock),
      ]);
    } catch (err) {
      // The server died under it: these writes are unknown (old or new may be read). An error
      // before the kill is the server's failure, and fails the trial.
      if (!stop.killed)
        throw new Error(`a write or FLUSH failed before the kill: ${(err as Error).message}`, { cause: err });
      return;
    }
    if (stop.killed) return; // answered, but perhaps after the kill was sent: not counted as flushed
    for (const b of blocks) {
      exp.flushed[id]![b] = p;
      exp.later[id]!.get(b)!.clear();
    }
    res.flushes++;
  }
}

/** Every block of every device read back through qemu-img and checked against what it may hold. */
async function check(exp: Expect, dir: string, sock: string, res: TrialResult, pass: number): Promise<void> {
  const filled = Buffer.alloc(BLOCK);
  for (const id of Object.keys(SIZES)) {
    const out = join(dir, `${id}.out`);
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uriOf(id, sock), out]);
    const got = readFileSync(out);
    for (let b = 0; b < exp.flushed[id]!.length; b++) {
      const have = got.subarray(b * BLOCK, (b + 1) * BLOCK);
      const okAs = (p: number) =>
        p < 0 ? have.equals(exp.refs[id]!.subarray(b * BLOCK, (b + 1) * BLOCK)) : have.equals(filled.fill(p));
      const want = exp.flushed[id]![b]!;
      if (![want, ...(exp.later[id]!.get(b) ?? [])].some(okAs))
        throw new Error(
          `${id} block ${b} (pass ${pass}): not its flushed ${want < 0 ? 'reference data' : `pattern ${want}`} nor a later write (killed at ${res.killAtMs} ms, ${res.phase})`,
        );
      res.blocksChecked++;
    }
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
  const trials = arg('--trials', 10);
  const first = arg('--first', 1);
  if (!Number.isInteger(trials) || trials < 1 || !Number.isInteger(first) || first < 0) {
    process.stderr.write('usage: kill-campaign.ts [--trials N (integer ≥ 1)] [--first T (integer ≥ 0)] [--json]\n');
    process.exitCode = 2;
    return;
  }
  const json = args.includes('--json');
  const root = mkdtempSync(join(tmpdir(), 'arrayemu-kill-'));
  const results: TrialResult[] = [];
  for (let t = first; t < first + trials; t++) {
    const x = await killTrial(t, root, process.cwd());
    results.push(x);
    if (!json)
      process.stderr.write(
        `trial ${t} ${x.kind}: kill at ${x.killAtMs} ms (${x.phase}) ${x.ok ? 'ok' : `FAILED: ${x.reason}`}, ${x.flushes} flushes, resumed ${x.resumed}\n`,
      );
  }
  const phases: Record<string, Record<string, number>> = {};
  for (const x of results) {
    const k = x.phase.split(' ')[0] ?? '';
    const of = (phases[x.kind] ??= {});
    of[k] = (of[k] ?? 0) + 1;
  }
  const summary = {
    trials,
    failed: results.filter((x) => !x.ok).length,
    flushes: results.reduce((n, x) => n + x.flushes, 0),
    blocksChecked: results.reduce((n, x) => n + x.blocksChecked, 0),
    phases,
  };
  process.stdout.write(`${JSON.stringify(json ? { ...summary, results } : summary)}\n`);
  process.exitCode = summary.failed > 0 ? 1 : 0;
}

if (process.argv[1]?.endsWith('kill-campaign.ts')) void main();
