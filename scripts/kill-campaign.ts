// kill -9 at chosen phases of an online restripe, with real processes (DESIGN §10): `arrayemu serve
// --data-dir` as a child, qemu-io (another process) writing 4 KiB patterns and FLUSHing — a qemu-io
// run that exited 0 had its FLUSH answered — the server killed with SIGKILL inside the phase the
// trial aims at (prepare, ESTABLISH, the switch, the transfer, the completion, or idle after it),
// sometimes killed again while it recovers and resumes, restarted on the same data dir, and every
// 4 KiB block of LD1, LD2 and META1 read back and checked (twice at the restart, once more after the
// resumed restripe ends): its last flushed pattern, or one written later. A write or FLUSH that fails
// before the kill fails the trial. Trial t restripes FIG. 2 by the kind and aims at the phase of
// TRIAL_PLAN[t mod 27]: each kind (expansion, stripe-change, expansion+stripe-change, more-rows,
// meta-expansion) with each phase it has, so every phase gets its share of kills.
// Used by test/kill.test.ts (a few trials) and run long for docs/RELIABILITY.md:
//   npx tsx scripts/kill-campaign.ts --trials 600 [--first 1] [--jobs 2] [--recovery-kills 0.3] [--resume-share 0.5] [--json]
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mulberry32 } from '../src/shared/sched/sched.ts';
import { startServe } from './serve-child.ts';

export { startServe } from './serve-child.ts';

const run = promisify(execFile);
const BLOCK = 4096;
const CYLINDER_BYTES = 15 * 65536;
/** The devices of examples/fig2.json that hold host data, and their bytes before any restripe. */
const SIZES: Record<string, number> = { LD1: 12 * CYLINDER_BYTES, LD2: 6 * CYLINDER_BYTES, META1: 2 * CYLINDER_BYTES };
/** Throttle of the background copy (MB/s): a restripe of FIG. 2 then takes some seconds, so kills land in every phase. */
const THROTTLE_MBPS = 6;
/** One restripe of FIG. 2 a kind. */
export const KINDS = [
  { kind: 'expansion', target: 'examples/fig2-new.json' },
  { kind: 'stripe-change', target: 'examples/fig8.json' },
  { kind: 'expansion+stripe-change', target: 'examples/fig9.json' },
  { kind: 'more-rows', target: 'examples/fig2-ld2-rows.json' },
  { kind: 'meta-expansion', target: 'examples/fig2-meta.json' },
] as const;

/** The phases a trial aims its kill at. */
export const PHASES = ['prepare', 'establish', 'switch', 'transfer', 'completion', 'idle'] as const;
type Phase = (typeof PHASES)[number];
/** A meta expansion moves no data: it has no ESTABLISH, switch or transfer. */
const META_PHASES: readonly Phase[] = ['prepare', 'completion', 'idle'];
/** Every (kind, phase) a restripe of that kind has, phase by phase: trial t is TRIAL_PLAN[t mod 27]. */
export const TRIAL_PLAN = PHASES.flatMap((aim) =>
  KINDS.filter((k) => k.kind !== 'meta-expansion' || META_PHASES.includes(aim)).map((k) => ({ ...k, aim })),
);
/** The first trial that restripes by `kind` and aims at `aim`. */
export function trialFor(kind: (typeof KINDS)[number]['kind'], aim: Phase): number {
  const t = TRIAL_PLAN.findIndex((x) => x.kind === kind && x.aim === aim);
  if (t < 0) throw new Error(`a ${kind} has no ${aim} phase`);
  return t;
}
/**
 * TEST ONLY pauses (ms) of the server (shared/hooks/hooks.ts testPause): prepare, the switch's window and
 * the completion, each a few ms long, last long enough for a kill aimed at them to land inside.
 */
const PAUSES = 'prepare=300,switch-window=300,completion=300';
/** How often the watcher asks the control API for the phase (ms). */
const WATCH_EVERY_MS = 10;
/** Longest a trial waits for its phase before it kills anyway (ms after the POST). */
const PHASE_WAIT_MS = 15_000;
/** Share of trials whose restarted server is killed again while it recovers and resumes (`--recovery-kills`). */
const RECOVERY_KILL_SHARE = 0.3;
/** A recovery kill lands this long at most after the restarted server is spawned (ms). */
const RECOVERY_KILL_WITHIN_MS = 2500;
/** Share of the second kills aimed after the restarted server serves: while it resumes the restripe (`--resume-share`). */
const RESUME_KILL_SHARE = 0.5;
/** A kill aimed at the resume lands this long at most after the server said it serves (ms). */
const RESUME_KILL_WITHIN_MS = 1500;
/** Longest the resumed restripe may take after the restart (ms). */
const RESUME_WAIT_MS = 60_000;

export interface TrialResult {
  trial: number;
  kind: string;
  /** The phase this trial aimed its kill at. */
  aim: string;
  killAtMs: number;
  /** What the control API said last before the kill (at most WATCH_EVERY_MS old). */
  phase: string;
  /** ms after its spawn that the restarted server was killed again (recovery kills only). */
  recoveryKillMs?: number;
  /** Where that kill landed: before the server served (loading the data dir, recovering), or serving while it resumed. */
  recoveryKilledIn?: 'recovery' | 'serving';
  ok: boolean;
  reason?: string;
  flushes: number;
  blocksChecked: number;
  /** What the restart took up (its log): `LD1: stripe-change interrupted after its switch`, …; empty: nothing. */
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
  const kind = TRIAL_PLAN[trial % TRIAL_PLAN.length]!;
  const aim = kind.aim;
  const dir = mkdtempSync(join(root, `trial-${trial}-`));
  const data = join(dir, 'data');
  const sock = join(dir, 's');
  const res: TrialResult = {
    trial,
    kind: kind.kind,
    aim,
    killAtMs: 0,
    phase: '',
    ok: false,
    flushes: 0,
    blocksChecked: 0,
    resumed: '',
  };
  const env = { ...process.env, ARRAYEMU_TEST_PAUSE_MS: PAUSES };
  const server = await startServe(
    ['--config', 'examples/fig2.json', '--data-dir', data, '--socket', sock, '--http', '127.0.0.1:0'],
    repo,
    env,
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
    const seen = { phase: '' };
    const writer = writeAndFlush(r, exp, sock, res, stop);
    writer.catch(() => {}); // (awaited after the kill, where its error fails the trial)
    await killWhenIn(aim, api, seen, r);
    res.phase = seen.phase;
    res.killAtMs = Date.now() - t0;
    stop.killed = true;
    server.child.kill('SIGKILL');
    await server.exited;
    await writer;
    const args = ['--data-dir', data, '--socket', join(dir, 's2'), '--http', '127.0.0.1:0', '--verbose'];
    if (r() < recoveryKillShare) Object.assign(res, await killWhileRecovering(args, repo, r));
    second = await startServe(args, repo);
    const st = (await (await fetch(`${second.http}/v1/status`)).json()) as {
      reconfigurations: Array<{ device?: string; resumed?: unknown }>;
    };
    res.resumed = takenUp(second.err());
    await resumedInMetrics(second.http!, st.reconfigurations);
    for (let pass = 1; pass <= 2; pass++) await check(exp, dir, join(dir, 's2'), res, pass);
    await resumedRestripesEnd(second.http!);
    await check(exp, dir, join(dir, 's2'), res, 3);
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

/** What a restart took up, as its log says (a resumed restripe may have ended before the status is asked). */
function takenUp(log: string): string {
  return log
    .split('\n')
    .filter((l) => l.includes(' interrupted '))
    .map((l) => l.trim().replace(/:.*/, '') + (l.includes('after its switch') ? ' after its switch' : ' before'))
    .join('; ');
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

/** Reconfiguration 1 as the control API shows it: `state/phase` (null: none yet, 'gone': no answer). */
async function phaseOf(api: string): Promise<string> {
  try {
    const j = (await (await fetch(`${api}/v1/reconfigurations/1`)).json()) as { phase: string | null; state: string };
    return `${j.state}/${j.phase ?? 'prepare'}`;
  } catch {
    return 'gone';
  }
}

/** Whether `seen` (a `state/phase`) is inside phase `aim`. */
function inPhase(aim: Phase, seen: string): boolean {
  return aim === 'idle' ? seen.startsWith('done/') : seen === `running/${aim}`;
}

/**
 * Return when the server should be killed: a moment (seeded) after the watcher first sees phase
 * `aim`, and only while it still sees it; after PHASE_WAIT_MS, or once the restripe has ended
 * without it (a meta expansion has no ESTABLISH), at once. `seen` keeps the last phase seen.
 */
async function killWhenIn(aim: Phase, api: string, seen: { phase: string }, r: () => number) {
  const deadline = Date.now() + PHASE_WAIT_MS;
  // The paused phases last a few hundred ms, ESTABLISH and the transfer seconds.
  const afterMs = r() * (aim === 'establish' || aim === 'transfer' ? 800 : 200);
  let since: number | undefined;
  for (;;) {
    seen.phase = await phaseOf(api);
    if (inPhase(aim, seen.phase)) since ??= Date.now();
    // It went on while the kill waited, or past the phase before it was seen: kill now, in the next one.
    else if (since !== undefined || PHASES.indexOf(landedIn(seen.phase) as Phase) > PHASES.indexOf(aim)) return;
    if (since !== undefined && Date.now() - since >= afterMs) return;
    if (Date.now() > deadline || (aim !== 'idle' && seen.phase.startsWith('done/'))) return;
    await new Promise((x) => setTimeout(x, WATCH_EVERY_MS));
  }
}

/**
 * The restarted server killed again: a seeded moment after its spawn (mostly before it serves: it
 * loads the data dir and recovers), or, for `--resume-share` of them, a seeded moment after it said
 * it serves (it resumes the interrupted restripe); where it landed is what its first output line says.
 */
async function killWhileRecovering(
  args: string[],
  repo: string,
  r: () => number,
): Promise<{ recoveryKillMs: number; recoveryKilledIn: 'recovery' | 'serving' }> {
  const afterServing = r() < resumeKillShare;
  const delayMs = Math.round(r() * (afterServing ? RESUME_KILL_WITHIN_MS : RECOVERY_KILL_WITHIN_MS));
  const t0 = Date.now();
  const child = spawn(process.execPath, ['bin/arrayemu.mjs', 'serve', ...args, '--json'], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let serving = false; // its first JSON line says it serves
  const served = new Promise<void>((x) =>
    child.stdout!.once('data', () => {
      serving = true;
      x();
    }),
  );
  const exited = new Promise<void>((x) => child.once('exit', () => x()));
  if (afterServing) await Promise.race([served, exited]);
  await Promise.race([new Promise((x) => setTimeout(x, delayMs)), exited]);
  const ms = Date.now() - t0;
  const recoveryKilledIn = serving ? 'serving' : 'recovery';
  child.kill('SIGKILL');
  await exited;
  return { recoveryKillMs: ms, recoveryKilledIn };
}

/** Every reconfiguration the restart resumed has ended (done), within RESUME_WAIT_MS. */
async function resumedRestripesEnd(api: string): Promise<void> {
  const deadline = Date.now() + RESUME_WAIT_MS;
  for (;;) {
    const st = (await (await fetch(`${api}/v1/status`)).json()) as {
      reconfigurations: Array<{ device?: string; state: string; error?: string | null }>;
    };
    const failed = st.reconfigurations.find((j) => j.state === 'failed');
    if (failed) throw new Error(`the resumed restripe of ${failed.device} failed: ${failed.error}`);
    if (st.reconfigurations.every((j) => j.state !== 'running')) return;
    if (Date.now() > deadline) throw new Error(`the resumed restripe did not end within ${RESUME_WAIT_MS} ms`);
    await new Promise((x) => setTimeout(x, 100));
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

/** The phase a kill landed in, by what the watcher last saw: one of PHASES (or what it saw). */
export function landedIn(seen: string): string {
  if (seen.startsWith('done/')) return 'idle';
  const phase = seen.split('/')[1] ?? seen;
  return (PHASES as readonly string[]).includes(phase) ? phase : seen;
}

/** Share of trials whose restart is killed again (`--recovery-kills`, default RECOVERY_KILL_SHARE). */
let recoveryKillShare = RECOVERY_KILL_SHARE;
/** Share of those killed after the restart serves (`--resume-share`, default RESUME_KILL_SHARE). */
let resumeKillShare = RESUME_KILL_SHARE;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
  const trials = arg('--trials', 10);
  const first = arg('--first', 1);
  const jobs = arg('--jobs', 1);
  if (![trials, jobs].every((n) => Number.isInteger(n) && n >= 1) || !Number.isInteger(first) || first < 0) {
    process.stderr.write(
      'usage: kill-campaign.ts [--trials N (integer ≥ 1)] [--first T (integer ≥ 0)] [--jobs J (integer ≥ 1)] [--recovery-kills SHARE (0-1)] [--resume-share SHARE (0-1)] [--json]\n',
    );
    process.exitCode = 2;
    return;
  }
  const json = args.includes('--json');
  recoveryKillShare = arg('--recovery-kills', RECOVERY_KILL_SHARE);
  resumeKillShare = arg('--resume-share', RESUME_KILL_SHARE);
  if (![recoveryKillShare, resumeKillShare].every((x) => x >= 0 && x <= 1)) {
    process.stderr.write(
      'kill-campaign.ts: --recovery-kills (the share of restarts killed again) and --resume-share (the share of those killed after it serves) are from 0 to 1\n',
    );
    process.exitCode = 2;
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'arrayemu-kill-'));
  const results: TrialResult[] = [];
  let next = first;
  const worker = async () => {
    for (let t = next++; t < first + trials; t = next++) {
      const x = await killTrial(t, root, process.cwd());
      results.push(x);
      process.stderr.write(
        `trial ${t} ${x.kind}, aimed at ${x.aim}: killed at ${x.killAtMs} ms in ${landedIn(x.phase)} (${x.phase})${x.recoveryKillMs !== undefined ? `, again ${x.recoveryKillMs} ms after its restart (${x.recoveryKilledIn === 'serving' ? 'serving, resuming' : 'before it served'})` : ''} ${x.ok ? 'ok' : `FAILED: ${x.reason}`}, ${x.flushes} flushes, resumed ${x.resumed}\n`,
      );
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  results.sort((a, b) => a.trial - b.trial);
  const count = (key: (x: TrialResult) => string) => {
    const out: Record<string, number> = {};
    for (const x of results) out[key(x)] = (out[key(x)] ?? 0) + 1;
    return out;
  };
  const summary = {
    trials,
    failed: results.filter((x) => !x.ok).length,
    failedTrials: results.filter((x) => !x.ok).map((x) => x.trial),
    kills: trials + results.filter((x) => x.recoveryKillMs !== undefined).length,
    recoveryKills: results.filter((x) => x.recoveryKillMs !== undefined).length,
    recoveryKilledIn: count((x) => x.recoveryKilledIn ?? 'none'),
    // Killed after it served with a restripe still to finish (the last restart took one up): during the resume.
    resumeKills: results.filter((x) => x.recoveryKilledIn === 'serving' && x.resumed).length,
    flushes: results.reduce((n, x) => n + x.flushes, 0),
    blocksChecked: results.reduce((n, x) => n + x.blocksChecked, 0),
    killedIn: count((x) => landedIn(x.phase)),
    byKind: count((x) => x.kind),
  };
  process.stdout.write(`${JSON.stringify(json ? { ...summary, results } : summary)}\n`);
  process.exitCode = summary.failed > 0 ? 1 : 0;
}

if (process.argv[1]?.endsWith('kill-campaign.ts')) void main();
