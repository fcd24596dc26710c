// Crash everywhere (DESIGN §10): one seed's array, under the seeded scheduler, restriped while a host
// writes stamped sectors and FLUSHes; its durable store (a memory store) keeps every commit. Then
// for every commit k, the array is restarted from commits 1..k alone — a kill -9 right after the
// k-th durable write — and every sector is read back twice (before and after the resumed restripe
// completes): each must hold its last write acknowledged before a FLUSH that had been answered by
// then, or a later write, whole (a torn sector fails). A few of those restarts are crashed again at
// every commit of their own recovery. A commit is atomic in the store (LMDB's transaction), so a
// crash inside one is a crash before it.
import { RECONF_KINDS } from '../shared/restripe/session.ts';
import { assert } from '../shared/errors/assert.ts';
import { SECTOR_BYTES, type ArrayConfig } from '../shared/config/config.ts';
import { errorMessage } from '../shared/errors/errors.ts';
import { imageOf, MemoryDurableStore, type DurableCommit } from '../shared/durable/durable.ts';
import type { Log } from '../shared/links/link.ts';
import type { TestFaultName } from '../shared/hooks/hooks.ts';
import { runSeeded, sched, sleep } from '../shared/sched/sched.ts';
import { planReconfiguration } from '../shared/restripe/reconf-plan.ts';
import { deviceLayout } from '../shared/layout/layout.ts';
import { ArrayEmulator } from '../runtime/emulator.ts';
import { HostClient } from '../host/client.ts';
import { mulberry32 } from '../shared/sched/sched.ts';
import { int, planSeed } from './seed-plan.ts';
import { devNumber, HostWriter, Oracle, PhaseHolds, stampId } from './crash-writer.ts';
import { describePoint, durableAt, peekInto, pointsOf, spread, type Peek } from './crash-points.ts';
import { drivePlan, failOneDrive, rebuildsLeft, scrubClean, untilRebuilt } from './crash-drives.ts';
import { deviceWordOf } from '../shared/tables/tables.ts';

/** Writes between two FLUSHes of the host, at most. */
const FLUSH_EVERY_WRITES = 12;
/** Host writes in flight at once. */
const WRITES_IN_FLIGHT = 6;
/**
 * Longest pause of the host between two batches (virtual ms). A restripe of a seed's array takes a
 * few virtual ms (a step costs STEP_COST_MS): the host must write within that, onto tracks still to
 * be moved, for a broken ordering rule to lose a write.
 */
const HOST_PAUSE_MS = 0.1;
/** Virtual ms between background commits in the harness (the real default is a second). */
const HARNESS_COMMIT_EVERY_MS = 3;

/** Longest a restarted array may take to finish its resumed restripe (virtual ms). */
const RESUME_WAIT_MS = 120_000;
/**
 * Points of a crashed recovery crashed again, at most (an even spread with the last): its commits and
 * peeks. A recovery with a rebuild and a scrub changes durable state at thousands of steps.
 */
const RECOVERY_POINTS_MAX = 40;
/** Restarts of one seed whose own recovery is crashed at every one of its commits. */
const RECOVERY_CRASHES = 3;

export interface CrashOptions {
  /** A deliberate break of one ordering rule (the harness must then fail). */
  fault?: TestFaultName;
  /** Crash points tried per seed at most (default: every commit). */
  maxPoints?: number;
  recoveryCrashes?: number;
  /** MX's own restripe, with one of its drives failing and rebuilt during it (crash-drives.ts). */
  driveFaults?: boolean;
  /**
   * A drive cache of this many tracks (far fewer than a seed's drives hold): tracks are evicted once
   * durable and read back from the store (drives/sparse-drive.ts) before and after every crash.
   */
  driveCacheTracks?: number;
  log?: (line: string) => void;
}

/** What a seed (and a campaign, summed) did. */
interface CrashCounts {
  commits: number;
  restarts: number;
  recoveryRestarts: number;
  flushes: number;
  writes: number;
  sectorsChecked: number;
  /** Restarts that found a rebuild under way (crash --drive-faults) and took it up. */
  rebuildsResumed: number;
  /** Tracks of the restriped device its restripe moved (to a location other than its old one). */
  tracksMoved: number;
  /** Points crashed at (each commit, and each step between two where anything durable changed). */
  crashPoints: number;
  /** Copies whose durable checksum a scrub after the restart verified (crash --drive-faults). */
  copiesVerified: number;
  /** Scrubs a restart took up from the durable record (a recovery crashed while it scrubbed). */
  scrubsResumed: number;
}
const COUNTS = [
  'commits',
  'restarts',
  'recoveryRestarts',
  'flushes',
  'writes',
  'sectorsChecked',
  'rebuildsResumed',
  'copiesVerified',
  'scrubsResumed',
  'tracksMoved',
  'crashPoints',
] as const satisfies ReadonlyArray<keyof CrashCounts>;
/** Every count at zero. */
const noCounts = (): CrashCounts => Object.fromEntries(COUNTS.map((k) => [k, 0])) as unknown as CrashCounts;

export interface CrashSeedResult extends CrashCounts {
  seed: number;
  kind: string;
  ok: boolean;
  reason?: string;
}

/** Crash one seed's restripe at every commit; the result says what broke, first. */
export async function crashSeed(seed: number, opts: CrashOptions = {}): Promise<CrashSeedResult> {
  const { config, target } = seedTarget(seed, opts.driveFaults);
  const kind = planReconfiguration(config, target).kind;
  const res: CrashSeedResult = { seed, kind, ok: false, ...noCounts() };
  const problems: string[] = [];
  const log: Log = (level, text) => {
    if (level === 'error') problems.push(text);
    opts.log?.(`[${sched().now().toFixed(2)}] ${level}: ${text}`);
  };
  try {
    const store = new MemoryDurableStore();
    const oracle = new Oracle();
    const driveCacheBytes = opts.driveCacheTracks && opts.driveCacheTracks * config.geometry.trackBytes;
    const run: SeedRun = { config, oracle, seed, res, driveFaults: opts.driveFaults, driveCacheBytes, trace: opts.log };
    const peeks: Peek[] = [];
    await runSeeded({ seed }, async () => writePhase(run, target, { store, peeks }, log, opts.fault));
    if (problems.length > 0) throw new Error(`before the crash: ${problems[0]}`);
    const commits = store.all();
    res.commits = commits.length;
    const points = spread(pointsOf(commits.length, peeks), opts.maxPoints);
    res.crashPoints = points.length;
    const rr = mulberry32(seed * 977 + 1);
    const recoveryAt = new Set(
      Array.from(
        { length: Math.min(opts.recoveryCrashes ?? RECOVERY_CRASHES, points.length) },
        () => points[int(rr, 0, points.length - 1)]!,
      ),
    );
    for (const [i, p] of points.entries()) {
      const where = describePoint(commits, p);
      const prefix = durableAt(commits, p);
      const again = await restartAndCheck(run, prefix, { k: p.k, seed: seed + i }, where);
      if (!recoveryAt.has(p)) continue;
      // Crash the recovery itself at each of its own points.
      const recoveryPoints = spread(pointsOf(again.commits.length, again.peeks, prefix.length), RECOVERY_POINTS_MAX);
      for (const [j, q] of recoveryPoints.entries()) {
        res.recoveryRestarts++;
        const then = describePoint(again.commits, q).replace('crash after', 'then again after');
        await restartAndCheck(
          run,
          durableAt(again.commits, q),
          { k: p.k, seed: seed + i + j + 1 },
          `${where}, ${then}`,
        );
      }
    }
    res.ok = true;
  } catch (err) {
    res.reason = errorMessage(err);
  }
  return res;
}

/** The seed's array and the restripe crashed: the seed's first, or (driveFaults) MX's own. */
function seedTarget(seed: number, driveFaults?: boolean): { config: ArrayConfig; target: unknown } {
  if (driveFaults) return drivePlan(seed);
  const plan = planSeed(seed);
  return { config: plan.config, target: plan.rounds[0]![0]! };
}

/** One seed's run: its array, the writes it made and FLUSHed (the oracle), and what it counts. */
interface SeedRun {
  config: ArrayConfig;
  oracle: Oracle;
  seed: number;
  res: CrashSeedResult;
  driveFaults?: boolean;
  /** The drive cache's bound (bytes; undefined: the drives' size). */
  driveCacheBytes?: number;
  /** Every line the restarted arrays log too (crash --trace, a failing seed's rerun). */
  trace?: (line: string) => void;
}

/** The array under writes and FLUSHes while it is restriped to `target`; every commit lands in `store`. */
async function writePhase(
  { config, oracle, seed, res, driveFaults, driveCacheBytes }: SeedRun,
  target: unknown,
  { store, peeks }: { store: MemoryDurableStore; peeks: Peek[] },
  log: Log,
  fault?: TestFaultName,
): Promise<void> {
  const emu = await ArrayEmulator.start(config, {
    mode: 'inline',
    log,
    durable: { store, everyMs: HARNESS_COMMIT_EVERY_MS, driveCacheBytes, peekEveryStep: peekInto(store, peeks) },
  });
  if (fault) emu.test.setFault(fault, true);
  const client = new HostClient(emu.hostLink(0));
  const r = mulberry32(seed * 31 + 7);
  const plan = planReconfiguration(config, target);
  const restripedId = plan.deviceId;
  const moved = plan.kind === 'meta-expansion' ? [] : movedTracks(config, plan.target, restripedId);
  res.tracksMoved = moved.length;
  const writer = new HostWriter(emu, client, oracle, res, r, {
    restripedId,
    moved,
    commitsNow: () => store.all().length,
  });
  let sinceFlush = 0;
  let extra = 40; // writes after the restripe ends (the completion, then plain I/O)
  let restriping = true;
  let reconf: Promise<unknown> | undefined;
  let failed: Promise<unknown> | undefined;
  let holds: PhaseHolds | undefined;
  try {
    await writer.prefill(WRITES_IN_FLIGHT);
    holds = new PhaseHolds(emu, restripedId);
    reconf = emu.reconfigure(target).finally(() => (restriping = false));
    reconf.catch(() => {});
    failed = driveFaults ? failOneDrive(emu, mulberry32(seed * 131 + 5)) : undefined;
    failed?.catch(() => {});
    while (restriping || extra-- > 0) {
      const batch = Array.from({ length: int(r, 1, WRITES_IN_FLIGHT) }, () => writer.writeOne());
      if ((sinceFlush += batch.length) >= int(r, 1, FLUSH_EVERY_WRITES) && (holds?.flushAllowed ?? true)) {
        batch.push(writer.flush());
        sinceFlush = 0;
      }
      await Promise.all(batch);
      if (restriping) holds?.afterBatch();
      else holds?.release();
      await sleep(r() * HOST_PAUSE_MS);
    }
    await reconf;
    await failed; // its rebuild ended too
    await writer.flush();
  } finally {
    holds?.release();
    client.close();
    await emu.stop();
  }
}

/** Tracks of device `id` whose location in `target` differs from the one in `running`. */
function movedTracks(running: ArrayConfig, target: ArrayConfig, id: string): number[] {
  const before = deviceLayout(running, id);
  const after = deviceLayout(target, id, running);
  const out: number[] = [];
  for (let t = 0; t < before.tracks; t++) if (before.locate(t) !== after.locate(t)) out.push(t);
  return out;
}

/**
 * Restart from `commits` alone and check every sector against the floor of commit `at.k`, before
 * and after the resumed restripe completes. Returns the store's commits then (those it began with,
 * then the recovery's) and the recovery's peeks.
 */
async function restartAndCheck(
  { config, oracle, res, driveFaults, driveCacheBytes, trace }: SeedRun,
  commits: DurableCommit[],
  at: { k: number; seed: number },
  where: string,
): Promise<{ commits: DurableCommit[]; peeks: Peek[] }> {
  res.restarts++;
  assert(imageOf(commits), 'a restart from no commit');
  const store = new MemoryDurableStore(commits);
  const problems: string[] = [];
  const log: Log = (level, text) => {
    if (level === 'error') problems.push(text);
    trace?.(`[${where}: ${sched().now().toFixed(2)}] ${level}: ${text}`);
  };
  const floor = oracle.floorAt(at.k); // a recovery crashed again adds no FLUSH: the floor is the first crash's
  const peeks: Peek[] = [];
  await runSeeded({ seed: at.seed }, async () => {
    const emu = await ArrayEmulator.start(config, {
      mode: 'inline',
      log,
      durable: { store, everyMs: HARNESS_COMMIT_EVERY_MS, driveCacheBytes, peekEveryStep: peekInto(store, peeks) },
    });
    const client = new HostClient(emu.hostLink(0));
    if (driveFaults && rebuildsLeft(emu).length > 0) res.rebuildsResumed++;
    try {
      await checkAll(emu, client, oracle, floor, res, `${where}, at restart`);
      const deadline = sched().now() + RESUME_WAIT_MS;
      while ((await emu.openSessions()).length > 0) {
        if (sched().now() > deadline)
          throw new Error(`${where}: the resumed restripe did not complete within ${RESUME_WAIT_MS} ms`);
        await sleep(5);
      }
      if (driveFaults) await untilRebuilt(emu, where);
      if (driveFaults) {
        const scrubbed = await scrubClean(emu, where);
        res.copiesVerified += scrubbed.verified;
        res.scrubsResumed += scrubbed.resumed;
      }
      await checkAll(
        emu,
        client,
        oracle,
        floor,
        res,
        `${where}, after the resumed restripe${driveFaults ? ' and rebuild' : ''}`,
      );
      if (problems.length > 0) throw new Error(`${where}: ${problems[0]}`);
    } finally {
      client.close();
      await emu.stop();
    }
  });
  return { commits: store.all(), peeks };
}

async function checkAll(
  emu: ArrayEmulator,
  client: HostClient,
  oracle: Oracle,
  floor: Map<string, Map<number, number>>,
  res: CrashSeedResult,
  where: string,
): Promise<void> {
  for (const d of emu.model.hostDevices()) {
    const sectors = d.bytes / SECTOR_BYTES;
    const issued = oracle.writes.get(d.id) ?? new Map<number, number[]>();
    const floors = floor.get(d.id) ?? new Map<number, number>();
    for (const [s, id] of floors)
      if (s >= sectors)
        throw new Error(
          `${where}: ${d.id} sector ${s} was flushed (write ${id}) but the device has only ${sectors} sectors`,
        );
    const chunk = 64;
    for (let s0 = 0; s0 < sectors; s0 += chunk) {
      const n = Math.min(chunk, sectors - s0);
      const buf = await client.read(d.id, s0 * SECTOR_BYTES, n * SECTOR_BYTES);
      for (let i = 0; i < n; i++) {
        const s = s0 + i;
        const min = floors.get(s) ?? 0;
        const allowed = [0, ...(issued.get(s) ?? [])].filter((id) => id >= min);
        const got = stampId(buf.subarray(i * SECTOR_BYTES, (i + 1) * SECTOR_BYTES), devNumber(d.id), s, allowed);
        if (got === undefined) {
          const any = stampId(buf.subarray(i * SECTOR_BYTES, (i + 1) * SECTOR_BYTES), devNumber(d.id), s, [
            0,
            ...(issued.get(s) ?? []),
          ]);
          const trackSectors = emu.model.trackBytes / SECTOR_BYTES;
          const g = emu.model.layoutAt(d, deviceWordOf(emu.state, d.index, 0)).locate(Math.floor(s / trackSectors));
          throw new Error(
            `${where}: ${d.id} sector ${s} (at ${emu.model.drives.dch(g)} ${emu.state.describeTrack(g)}) holds ${any === undefined ? 'bytes of no write to it (torn, or another sector’s)' : any === 0 ? 'zeros' : `write ${any}`}, but write ${min} had been flushed`,
          );
        }
        res.sectorsChecked++;
      }
    }
  }
}

/** Restripe kinds a campaign covers: every kind the planner makes. */
export const CRASH_KINDS = RECONF_KINDS;
/** Kinds MX's own restripe takes (crash --drive-faults): onto one more drive, its stripe changed or not. */
export const DRIVE_FAULT_KINDS = ['expansion', 'expansion+stripe-change'] as const;

export interface CrashCampaign extends CrashCounts {
  seeds: number;
  /** Seeds run per kind. */
  kinds: Record<string, number>;
  failed: CrashSeedResult[];
  ms: number;
}

/**
 * Seeds from `firstSeed` on until every restripe kind has had `perKind` seeds (a seed whose kind is
 * full already is skipped), at most `maxSeeds` looked at. With a fault, every seed runs (its catch
 * rate is what it measures), or, `stopAtFirst`, the campaign stops at the first seed that catches it.
 */
export async function crashCampaign(o: {
  perKind: number;
  firstSeed?: number;
  maxSeeds?: number;
  fault?: TestFaultName;
  maxPoints?: number;
  driveFaults?: boolean;
  driveCacheTracks?: number;
  /** With a fault: stop at the first seed that catches it (default: run them all, to count the catch rate). */
  stopAtFirst?: boolean;
  onSeed?: (r: CrashSeedResult, c: CrashCampaign) => void;
}): Promise<CrashCampaign> {
  const t0 = performance.now();
  const c: CrashCampaign = { seeds: 0, kinds: {}, ...noCounts(), failed: [], ms: 0 };
  const first = o.firstSeed ?? 1;
  const most = o.maxSeeds ?? o.perKind * CRASH_KINDS.length * 20;
  for (let seed = first; seed < first + most; seed++) {
    if ((o.driveFaults ? DRIVE_FAULT_KINDS : CRASH_KINDS).every((k) => (c.kinds[k] ?? 0) >= o.perKind)) break;
    const { config, target } = seedTarget(seed, o.driveFaults);
    const kind = planReconfiguration(config, target).kind;
    if ((c.kinds[kind] ?? 0) >= o.perKind) continue;
    const r = await crashSeed(seed, {
      fault: o.fault,
      maxPoints: o.maxPoints,
      driveFaults: o.driveFaults,
      driveCacheTracks: o.driveCacheTracks,
    });
    c.seeds++;
    c.kinds[kind] = (c.kinds[kind] ?? 0) + 1;
    for (const k of COUNTS) c[k] += r[k];
    if (!r.ok) c.failed.push(r);
    o.onSeed?.(r, c);
    if (o.fault && !r.ok && o.stopAtFirst) break;
  }
  c.ms = Math.round(performance.now() - t0);
  return c;
}
