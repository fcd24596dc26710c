// A rebuild onto a spare (DESIGN §14), driven from the main thread: when a drive fails, a spare of at
// least its size takes its place (drive-state.ts handOver), every disk adapter rewrites the stale
// copies it holds a good copy of (disk-adapter/rebuild.ts), a destage round puts them on the spare,
// and the spare serves once no copy is stale. Rounds repeat while they make progress (a copy whose
// source failed meanwhile is taken from another); a copy with no readable source left is lost.
import type { ArrayModel } from '../shared/model.ts';
import type { SharedState } from '../shared/memory.ts';
import { TRACK } from '../shared/memory.ts';
import type { Log } from '../shared/link.ts';
import {
  DRIVE_STATE,
  readableOtherCopy,
  driveStateOf,
  handOver,
  rebuildProgress,
  setDriveState,
  staleOn,
} from '../shared/drive-state.ts';
import type { ActorSlot } from './slots.ts';
import { sched, sleep, type Timer } from '../shared/sched.ts';
import { errorMessage } from '../shared/errors.ts';
import { positionsServedBy } from './drives-status.ts';

/** How long a rebuild goes on without rewriting a copy before it gives up on what is left (ms). */
const REBUILD_STALL_MS = 60_000;
/** Longest one adapter's part of a round may take before the round goes on without it (ms). */
const REBUILD_CALL_MS = 30_000;
/** How soon a round that rewrote nothing is tried again (ms). */
const REBUILD_RETRY_MS = 5;

export interface RebuildReport {
  drive: string;
  spare: string;
  copies: number;
  /** Copies with no readable source left (their tracks are lost if no other copy survives). */
  unrecoverable: number;
  ms: number;
}

export interface RebuildContext {
  model: ArrayModel;
  state: SharedState;
  /** The disk adapters as they are now (asked again each round: one may have been replaced). */
  diskAdapters: () => ActorSlot[];
  log: Log;
  emit?: (event: string, data: unknown) => void;
}

/** What a round got from an adapter that did not answer (replaced meanwhile): not "nothing to do". */
const NO_ANSWER = -1;

/**
 * An adapter's answer to a rebuild round's call, or NO_ANSWER if it has none within REBUILD_CALL_MS
 * or fails (it was replaced meanwhile: a killed adapter never answers; the next round asks its successor).
 */
async function bounded(call: Promise<unknown>): Promise<number> {
  let timer: Timer | undefined;
  const late = new Promise<number>(
    (resolve) => (timer = sched().after(REBUILD_CALL_MS, () => resolve(NO_ANSWER), false)),
  );
  try {
    return await Promise.race([
      call.then(
        (n) => (typeof n === 'number' ? n : NO_ANSWER),
        () => NO_ANSWER,
      ),
      late,
    ]);
  } finally {
    timer?.cancel();
  }
}

/** Rebuild failed drive position d onto a spare; undefined if d holds no copy or no spare fits. */
export async function rebuildDrive(ctx: RebuildContext, d: number): Promise<RebuildReport | undefined> {
  const { model, state, log } = ctx;
  const t0 = sched().now();
  const spare = model.drives.ids.findIndex(
    (_, j) =>
      j !== d &&
      driveStateOf(state, j) === DRIVE_STATE.SPARE &&
      model.drives.cylinders[j]! >= model.drives.cylinders[d]!,
  );
  const drive = model.drives.ids[d]!;
  if (spare < 0) {
    log(
      'warn',
      `drive ${drive} failed and no spare of ${model.drives.cylinders[d]} cylinders is free: its devices run degraded`,
    );
    return undefined;
  }
  const base = model.drives.baseTrack[d]!;
  const stale: number[] = [];
  for (let g = base; g < base + model.drives.cylinders[d]! * model.drives.headsPerCylinder; g++)
    if (model.copyAt(g)) stale.push(g);
  handOver(state, d, spare, stale);
  log('info', `rebuilding ${stale.length} copies of drive ${drive} onto spare ${model.drives.ids[spare]}`);
  let left = stale.length;
  let progressAt = sched().now();
  for (let round = 0; left > 0; round++) {
    const queued = await Promise.all(ctx.diskAdapters().map((a) => bounded(a.call('rebuild', [d]))));
    await Promise.all(ctx.diskAdapters().map((a) => bounded(a.call('flush', []))));
    const now = staleOn(state, model.drives, d).length;
    if (now < left) progressAt = sched().now();
    // Nothing queued by any adapter (each answered) and nothing rewritten: what is left has no
    // readable source. An adapter replaced meanwhile may hold one: the next round asks its successor.
    if (now === left && queued.every((n) => n === 0) && round > 0) break;
    if (sched().now() - progressAt > REBUILD_STALL_MS) {
      log('error', `rebuild of drive ${drive}: no copy rewritten for ${REBUILD_STALL_MS} ms (${now} left)`);
      break;
    }
    if (now === left) await sleep(REBUILD_RETRY_MS); // pending copies whose destage waits (a held destage, a locked track)
    left = now;
  }
  // A copy left stale has no readable source: it stays STALE (never read), and a track with no
  // readable copy at all is LOST (its reads fail naming it).
  const unrecoverable = staleOn(state, model.drives, d);
  for (const g of unrecoverable)
    if (readableOtherCopy(model, state, g) === undefined) state.setFlag(model.copyAt(g)!.owner, TRACK.LOST);
  setDriveState(state, spare, DRIVE_STATE.OK);
  const report = {
    drive,
    spare: model.drives.ids[spare]!,
    copies: rebuildProgress(state, d).done,
    unrecoverable: unrecoverable.length,
    ms: Math.round(sched().now() - t0),
  };
  log(
    unrecoverable.length ? 'error' : 'info',
    `rebuilt drive ${drive} onto ${report.spare}: ${report.copies} copies in ${report.ms} ms${unrecoverable.length ? `, ${unrecoverable.length} with no readable source` : ''}`,
  );
  return report;
}

/** The rebuilds an array has started, by failed drive id; each resolves to its report (undefined: no spare). */
export class Rebuilds {
  /** Start one when a drive fails (false: leave it failed and degraded, as a test may want). */
  auto = true;
  private readonly running = new Map<string, Promise<RebuildReport | undefined>>();
  /** When each rebuild started (scheduler ms), by failed drive id: its rate is its copies since. */
  private readonly startedMs = new Map<string, number>();

  constructor(private readonly ctx: () => RebuildContext) {}

  /** Drive `id` failed: rebuild every position its media served, if `auto`. */
  afterFailure(id: string): void {
    if (!this.auto) return;
    const { model, state } = this.ctx();
    for (const d of positionsServedBy(state, model, id)) this.start(d);
  }

  get(driveId: string): Promise<RebuildReport | undefined> | undefined {
    return this.running.get(driveId);
  }

  /** A rebuild in place of `failedId` that has done `done` of `total` copies: its copies a second since it started, and the seconds left at that rate (null: none done yet). */
  rate(failedId: string, done: number, total: number): { copiesPerSec: number | null; etaSec: number | null } {
    const since = this.startedMs.get(failedId);
    const sec = since === undefined ? 0 : (sched().now() - since) / 1000;
    if (sec <= 0 || done === 0) return { copiesPerSec: null, etaSec: null };
    const copiesPerSec = done / sec;
    return { copiesPerSec: Math.round(copiesPerSec), etaSec: Math.round(((total - done) / copiesPerSec) * 10) / 10 };
  }

  /** Rebuild drive position d onto a spare, in the background. */
  start(d: number): void {
    const ctx = this.ctx();
    const id = ctx.model.drives.ids[d]!;
    this.startedMs.set(id, sched().now());
    const run = rebuildDrive(ctx, d);
    this.running.set(id, run);
    void run.then(
      (report) => report && ctx.emit?.('rebuilt', report),
      (err) => ctx.log('error', `rebuild of drive ${id} failed: ${errorMessage(err)}`),
    );
  }
}
