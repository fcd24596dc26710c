// One stress seed, run to its verdict: the seed's array under a verifying workload on every device,
// reconfigured in rounds (with faults, heavy load, under the seeded scheduler, as asked), every byte
// read back at the end. One seed, one answer: what failed, or nothing.
import { errorMessage } from '../shared/errors/errors.ts';
import type { Log } from '../shared/links/link.ts';
import { assert } from '../shared/errors/assert.ts';
import { ArrayEmulator, type Mode } from '../runtime/emulator.ts';
import { planRounds } from '../shared/restripe/reconf-plan.ts';
import { noScenarios, type ReconfReport, type ScenarioCounts } from '../shared/restripe/report.ts';
import { startWorkload, type HostSummary, type RunningWorkload } from '../host/run.ts';
import { verdict } from './verdict.ts';
import { createVerifierBuffers, Verifier } from '../host/verifier.ts';
import { SECTOR_BYTES } from '../shared/config/config.ts';
import { HostClient } from '../host/client.ts';
import { mulberry32, runSeeded, sched } from '../shared/sched/sched.ts';
import {
  HEAVY_HOT_PCT,
  HEAVY_QUEUE_DEPTHS,
  int,
  pick,
  planSeed,
  mirroredDeviceDrives,
  sharedLocationSpots,
  withDriveModels,
  withMirroredDevice,
  type SeedPlan,
} from './seed-plan.ts';
import { driveFaults, failAdapter, noFaults, reconfigureRound, TRANSFER_ONLY, type FaultCounts } from './faults.ts';
import { someOps, untilOps } from './waits.ts';

export interface SeedResult {
  seed: number;
  ok: boolean;
  reason?: string;
  verifyErrors: number;
  ioErrors: number;
  reconfigurations: number;
  kinds: Record<string, number>;
  scenarios: ScenarioCounts;
  ops: number;
  ms: number;
  /** Faults injected, in all and per kind. */
  faultsInjected: number;
  faults: FaultCounts;
  /** Requests that failed because their host adapter was restarted under them (expected). */
  lostWithAdapter: number;
  /** Deterministic mode: the schedule run, the tasks the seeded scheduler ran, and the hash of its choices. */
  schedule?: number;
  steps?: number;
  trace?: string;
}

export interface SeedOptions {
  /**
   * Faults: batches between actors delayed and reordered, and adapters failed and replaced (a disk
   * or host adapter, during ESTABLISH, at the switch, during the transfer, or between sessions).
   */
  faults?: boolean;
  /** Run under the seeded scheduler: the seed replays the identical interleaving. */
  deterministic?: boolean;
  /**
   * Deterministic mode: which of the seed's schedules (0, 1, …) picks the interleaving. The array,
   * the workload and the fault points are the seed's; the schedule only changes which ready task
   * runs next, so one array can be tried under many interleavings, each replayable.
   */
  schedule?: number;
  /**
   * Deterministic mode: the scheduler's first choices (each taken modulo the tasks ready), then
   * the seeded PRNG. fast-check generates and shrinks these to find and minimise an interleaving.
   */
  choices?: number[];
  /** Test-only: a deliberately broken fill that skips split(o). */
  breakFill?: boolean;
  /** Test-only: a deliberately broken rebuild that copies from the drive over newer cached data. */
  breakRebuild?: boolean;
  /** TEST ONLY (with driveFaults): a mirrored BCV's mirrors are never written; MXB's own drives fail in the transfer. */
  breakBcvMirror?: boolean;
  /**
   * Heavy host load around the switch: queue depths of 32 to 128 per host processor, two to four
   * processors, half the requests aimed at the logical tracks whose location both layouts of a
   * restripe share (where host splits and fills meet the switch and its check).
   */
  heavy?: boolean;
  /** A timing model on every drive (a random preset and queue policy each): accesses take the drive's time. */
  driveModels?: boolean;
  /** Every actor's log line, stamped with the scheduler's clock (virtual ms when deterministic): for a rerun. */
  log?: (text: string) => void;
  /**
   * Drive faults: the seed's array gets a mirrored device (MX) and two spares, and drives of MX fail
   * whole (rebuilt onto a spare) or get media errors while the other devices restripe.
   */
  driveFaults?: boolean;
  /** Test-only fault: once a third of the workload is done, the cache forgets every write-pending slot. */
  loseWritePending?: boolean;
}

/** Read every byte of every host device back and check it: whatever was lost shows here. */
async function readBack(emu: ArrayEmulator, verifier: Verifier): Promise<void> {
  const client = new HostClient(emu.hostLink(0));
  try {
    for (const d of emu.model.hostDevices()) {
      const dev = { id: d.id, index: d.index, bytes: d.bytes };
      const chunk = Math.max(SECTOR_BYTES, emu.model.trackBytes * 4);
      for (let off = 0; off < d.bytes; off += chunk) {
        const len = Math.min(chunk, d.bytes - off);
        const check = verifier.beginRead(dev, off, len);
        verifier.endRead(check, await client.read(d.id, off, len));
      }
    }
  } finally {
    client.close();
  }
}

/** The PRNG seed of schedule `schedule` of stress seed `seed` (schedule 0 is the seed's default). */
export function scheduleSeed(seed: number, schedule: number): number {
  assert(Number.isInteger(schedule) && schedule >= 0, () => `schedule ${schedule} is not a whole number ≥ 0`);
  return (seed * 2654435761 + 1 + Math.imul(schedule, 0x9e3779b9)) >>> 0;
}

/**
 * Run one seed to its verdict. `mode` inline runs every actor in this thread; `deterministic` runs
 * them under the seeded scheduler, so the same seed takes the same interleaving every time.
 */
/** A seed's result before it ran: not ok, nothing counted. */
export function emptySeedResult(seed: number, schedule?: number): SeedResult {
  return {
    seed,
    ...(schedule === undefined ? {} : { schedule }),
    ok: false,
    verifyErrors: 0,
    ioErrors: 0,
    reconfigurations: 0,
    kinds: {},
    scenarios: noScenarios(),
    ops: 0,
    ms: 0,
    faultsInjected: 0,
    faults: noFaults(),
    lostWithAdapter: 0,
  };
}

export async function runSeed(seed: number, mode: Mode = 'inline', opts: SeedOptions = {}): Promise<SeedResult> {
  const t0 = performance.now();
  const result = emptySeedResult(seed);
  if (!opts.deterministic) {
    await seedBody(seed, mode, opts, result);
  } else {
    if (mode !== 'inline') throw new Error('deterministic mode runs inline (one thread)');
    try {
      const schedule = opts.schedule ?? 0;
      const rng = mulberry32(scheduleSeed(seed, schedule));
      const given = opts.choices ?? [];
      let i = 0;
      const choose = (n: number) => (i < given.length ? given[i++]! % n : Math.floor(rng() * n));
      const run = await runSeeded({ seed, choose }, () => seedBody(seed, mode, opts, result));
      result.schedule = schedule;
      result.steps = run.steps;
      result.trace = run.trace.toString(16).padStart(8, '0');
    } catch (err) {
      // The run itself broke (an actor threw out of its task: an invariant stopped it).
      result.ok = false;
      result.reason ??= `stopped: ${errorMessage(err)}`;
    }
  }
  const f = result.faults;
  result.faultsInjected =
    f.delayedBatches + f.diskAdapterRestarts + f.hostAdapterRestarts + f.drivesFailed + f.mediaFaults;
  result.ms = Math.round(performance.now() - t0);
  return result;
}

async function seedBody(seed: number, mode: Mode, opts: SeedOptions, result: SeedResult): Promise<void> {
  let plan: SeedPlan;
  try {
    plan = opts.driveModels ? withDriveModels(planSeed(seed)) : planSeed(seed);
    if (opts.driveFaults) plan = withMirroredDevice(plan);
  } catch (err) {
    result.reason = `plan: ${errorMessage(err)}`;
    return;
  }
  const problems: string[] = [];
  const chaos =
    opts.faults && mode === 'inline'
      ? { random: mulberry32(seed * 104729 + 3), maxDelayTurns: 1 + (seed % 8), delayed: 0 }
      : undefined;
  const log: Log = (level, text) => {
    opts.log?.(`[${sched().now().toFixed(2)} ms] ${level}: ${text}`);
    if (level === 'error') problems.push(text);
  };
  const emu = await ArrayEmulator.start(plan.config, { mode, log, chaos });
  if (opts.breakFill) emu.test.setFault('BROKEN_FILL', true);
  if (opts.breakRebuild) emu.test.setFault('REBUILD_FROM_DRIVE', true);
  if (opts.breakBcvMirror) emu.test.setFault('UNWRITTEN_BCV_MIRROR', true);
  try {
    const { wl, verifierBuffers } = startSeedWorkload(emu, plan, seed, opts);
    const onSwitched = (e: { device: string; bytes: number }) => wl.setDeviceBytes(e.device, e.bytes);
    emu.on('switched', onSwitched);
    const drives = opts.driveFaults
      ? driveFaults(
          emu,
          wl,
          // A broken rebuild shows where the verifier reads: MX's drives only (a BCV's copies it never reads).
          mirroredDeviceDrives(plan.config).filter(
            (d) => (!opts.breakRebuild || /^[xy]/.test(d)) && (!opts.breakBcvMirror || /^w/.test(d)),
          ),
          mulberry32(seed * 9973 + 13),
          result.faults,
          { totalOps: plan.workload.ops, ...(opts.breakBcvMirror ? { phases: TRANSFER_ONLY } : {}) },
        )
      : Promise.resolve();
    const rounds = runRounds(emu, wl, plan, seed, opts, opts.faults ? result.faults : undefined);
    const run = await Promise.all([
      rounds,
      drives.then(
        () => undefined,
        (err: unknown) => errorMessage(err),
      ),
    ])
      .then(([r, e]) => (e ? { ...r, error: r.error ?? `drive faults: ${e}` } : r))
      .finally(() => {
        wl.stop();
        emu.off('switched', onSwitched);
      });
    const host = await wl.done;
    const final = new Verifier(verifierBuffers);
    await readBack(emu, final);
    host.verifyErrors += final.errors;
    host.described.push(...final.described);
    problems.push(...(await scrubProblems(emu, opts)));
    tally(result, host, run.reports);
    result.reason = verdict({
      error: run.error,
      host,
      reports: run.reports,
      hostAdapterRestarts: result.faults.hostAdapterRestarts,
      problems: [...problems, ...emu.problems()],
    });
    result.ok = result.reason === undefined;
  } catch (err) {
    result.reason = errorMessage(err);
  } finally {
    await emu.stop();
    result.faults.delayedBatches = chaos?.delayed ?? 0;
  }
}

/**
 * A last scrub of the whole array (DESIGN §14): every copy must match its track's checksum, but for
 * the media errors a seed's drive faults left (each then rewritten from its other copy); nothing unrecoverable.
 */
async function scrubProblems(emu: ArrayEmulator, opts: SeedOptions): Promise<string[]> {
  const view = await emu.scrubs.whenEnded(emu.scrubs.start().id);
  if (!view || view.state !== 'done') return [`the last scrub ${view?.state ?? 'vanished'}: ${view?.error ?? ''}`];
  if (view.unrecoverable > 0)
    return [`the last scrub: ${view.unrecoverable} tracks unrecoverable (${view.lost.join(' ')})`];
  if (!opts.driveFaults && view.mismatches > 0)
    return [`the last scrub: ${view.mismatches} copies differ from their checksum`];
  return [];
}

/** The seed's verifying workload on every host device (heavy load and hot spots with `opts.heavy`). */
function startSeedWorkload(emu: ArrayEmulator, plan: SeedPlan, seed: number, opts: SeedOptions) {
  // Devices may grow: the verifier is sized for the largest each becomes.
  const { maxBytes } = planRounds(plan.config, plan.rounds);
  const devices = emu.model
    .hostDevices()
    .map((d) => ({ id: d.id, index: d.index, bytes: Math.max(d.bytes, maxBytes[d.id] ?? 0) }));
  const verifierBuffers = createVerifierBuffers(devices);
  const hr = mulberry32(seed * 13 + 11);
  const load = opts.heavy
    ? {
        hostProcessors: int(hr, 2, 4),
        queueDepth: pick(hr, HEAVY_QUEUE_DEPTHS),
        hotSpots: sharedLocationSpots(plan.config, plan.rounds),
        hotPct: HEAVY_HOT_PCT,
      }
    : { hostProcessors: 2, queueDepth: plan.workload.queueDepth };
  const wl = startWorkload(emu, {
    ...load,
    readPct: plan.workload.readPct,
    blockBytes: plan.workload.blockBytes,
    pattern: 'random',
    seed,
    verifier: verifierBuffers,
    hostProcessorsHere: true,
  });
  return { wl, verifierBuffers };
}

/** The seed's rounds of reconfiguration at their marks in the workload, with its faults; never throws. */
async function runRounds(
  emu: ArrayEmulator,
  wl: RunningWorkload,
  plan: SeedPlan,
  seed: number,
  opts: SeedOptions,
  faults?: FaultCounts,
): Promise<{ reports: ReconfReport[]; error?: string }> {
  const reports: ReconfReport[] = [];
  const fr = mulberry32(seed * 7 + 5);
  try {
    const third = plan.workload.ops / 3;
    if (opts.loseWritePending) {
      await untilOps(wl, third, 'before the fault');
      emu.test.hold('destage-main', true); // let write pendings pile up, then lose them
      await someOps(wl, 40, 300);
      emu.test.loseWritePending();
      emu.test.hold('destage-main', false);
    }
    if (faults && fr() < 0.5) {
      // An adapter fails between sessions too, under plain host I/O.
      await untilOps(wl, third / 2, 'before the first fault');
      await failAdapter(emu, fr, faults, 'outsideSessions');
    }
    for (const [k, round] of plan.rounds.entries()) {
      await untilOps(wl, third * (k + 1), `before round ${k + 1}`);
      reports.push(...(await reconfigureRound(emu, wl, round, mulberry32(seed * 31 + k), faults)));
    }
    await untilOps(wl, plan.workload.ops, 'after the last round');
    return { reports };
  } catch (err) {
    return { reports, error: errorMessage(err) };
  }
}

/** What the seed did, counted into its result. */
function tally(result: SeedResult, host: HostSummary, reports: ReconfReport[]): void {
  result.verifyErrors = host.verifyErrors;
  result.ioErrors = host.ioErrors;
  result.lostWithAdapter = host.lostWithAdapter;
  result.ops = host.reads + host.writes;
  result.reconfigurations = reports.length;
  for (const rep of reports) {
    result.kinds[rep.kind] = (result.kinds[rep.kind] ?? 0) + 1;
    for (const k of ['1', '2', '3', '4'] as const) result.scenarios[k] += rep.scenarios[k];
  }
}
