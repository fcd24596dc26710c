// A rebuild onto a spare (DESIGN §14), driven from the main thread: when a drive fails, a spare of at
// least its size takes its place (drive-state.ts handOver), every disk adapter rewrites the stale
// copies it holds a good copy of (disk-adapter/rebuild.ts), a destage round puts them on the spare,
// and the spare serves once no copy is stale. Rounds repeat while they make progress (a copy whose
// source failed meanwhile is taken from another); a copy with no readable source left is lost.
import type { ArrayModel } from '../shared/model/model.ts';
import type { SharedState } from '../shared/tables/memory.ts';
import { TRACK } from '../shared/tables/memory.ts';
import type { Log } from '../shared/links/link.ts';
import {
  DRIVE_STATE,
  readableOtherCopy,
  driveStateOf,
  handOver,
  mediaOf,
  rebuildProgress,
  setDriveState,
  setRebuildProgress,
  staleOn,
} from '../shared/drive-states/drive-state.ts';
import type { ActorSlot } from './slots.ts';
import { sched, sleep, type Timer } from '../shared/sched/sched.ts';
import { errorMessage } from '../shared/errors/errors.ts';
import { positionsServedBy } from './drives-status.ts';
import { setFlag } from '../shared/tables/tables.ts';

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

/** Rebuild failed drive position d onto a spare; undefined if no spare fits. */
export async function rebuildDrive(ctx: RebuildContext, d: number): Promise<RebuildReport | undefined> {
  const { model, state, log } = ctx;
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
  const stale = copiesOn(model, d);
  if (stale.length === 0) {
    log('info', `drive ${drive} failed holding no device's copy: nothing to rebuild, spares kept`);
    return undefined;
  }
  handOver(state, d, spare, stale);
  log('info', `rebuilding ${stale.length} copies of drive ${drive} onto spare ${model.drives.ids[spare]}`);
  return rewriteStale(ctx, d);
}

/**
 * Rewrite the STALE copies of drive position d from readable ones, round by round, until none is
 * left or what is left has no readable source; then the media serving d serves reads (a spare
 * being rebuilt there is ok). Run by a rebuild after its hand-over, and at a restart for every
 * position a rebuild or a scrub's repair left with stale copies (its progress is durable: the
 * STALE bits).
 */
export async function rewriteStale(ctx: RebuildContext, d: number): Promise<RebuildReport> {
  const { model, state, log } = ctx;
  const t0 = sched().now();
  const drive = model.drives.ids[d]!;
  let left = staleOn(state, model.drives, d).length;
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
  for (const g of unrecoverable) {
    const copy = model.copyAt(g);
    if (copy && readableOtherCopy(model, state, g) === undefined) setFlag(state, copy.owner, TRACK.LOST);
  }
  const media = mediaOf(state, d);
  if (driveStateOf(state, media) === DRIVE_STATE.REBUILDING) setDriveState(state, media, DRIVE_STATE.OK);
  const report = {
    drive,
    spare: model.drives.ids[media]!,
    copies: rebuildProgress(state, d).done,
    unrecoverable: unrecoverable.length,
    ms: Math.round(sched().now() - t0),
  };
  log(
    unrecoverable.length ? 'error' : 'info',
    `rebuilt drive ${drive}${media !== d ? ` onto ${report.spare}` : ''}: ${report.copies} copies in ${report.ms} ms${unrecoverable.length ? `, ${unrecoverable.length} with no readable source` : ''}`,
  );
  return report;
}

/**
 * What a restart finds to rebuild (DESIGN §14): a position whose media failed with no spare in its
 * place yet is started (a spare is picked); one whose media is being rebuilt, or that holds STALE
 * copies (a scrub's repair cut short), is rewritten on from its STALE bits.
 */
export function rebuildsToResume(state: SharedState, model: ArrayModel): { start: number[]; resume: number[] } {
  const out = { start: [] as number[], resume: [] as number[] };
  for (let d = 0; d < model.drives.ids.length; d++) {
    const media = mediaOf(state, d);
    const mediaState = driveStateOf(state, media);
    const stale = staleOn(state, model.drives, d).length;
    if (mediaState === DRIVE_STATE.FAILED && copiesOn(model, d).length > 0) out.start.push(d);
    else if ((mediaState === DRIVE_STATE.REBUILDING && media !== d) || stale > 0) out.resume.push(d);
  }
  return out;
}

/** The locations of drive position d that hold some device's copy. */
function copiesOn(model: ArrayModel, d: number): number[] {
  const base = model.drives.baseTrack[d]!;
  const out: number[] = [];
  for (let g = base; g < model.drives.endTrack(d); g++) if (model.copyAt(g)) out.push(g);
  return out;
}

/** A rebuild a restart took up: the drive failed, its spare, and the copies left of how many (null: started anew). */
export interface ResumedRebuild {
  drive: string;
  spare: string | null;
  copiesLeft: number | null;
  copiesTotal: number | null;
}

/** The rebuilds an array has started, by failed drive id; each resolves to its report (undefined: no spare). */
export class Rebuilds {
  /** Start one when a drive fails (false: leave it failed and degraded, as a test may want). */
  auto = true;
  private readonly running = new Map<string, Promise<RebuildReport | undefined>>();
  /** When each rebuild started (scheduler ms) and its copies done then, by failed drive id: its rate is its copies since. */
  private readonly started = new Map<string, { atMs: number; done: number }>();

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
    const since = this.started.get(failedId);
    const sec = since === undefined ? 0 : (sched().now() - since.atMs) / 1000;
    const copies = done - (since?.done ?? 0);
    if (sec <= 0 || copies <= 0) return { copiesPerSec: null, etaSec: null };
    const copiesPerSec = copies / sec;
    return { copiesPerSec: Math.round(copiesPerSec), etaSec: Math.round(((total - done) / copiesPerSec) * 10) / 10 };
  }

  /** At a restart: take up every rebuild the data dir left (rebuildsToResume), in the background; what was taken up. */
  resumeAll(): ResumedRebuild[] {
    const { model, state, log } = this.ctx();
    const { start, resume } = rebuildsToResume(state, model);
    const out: ResumedRebuild[] = [];
    for (const d of resume) {
      // The count as the STALE bits tell it (a scrub's repair had counted none).
      const stale = staleOn(state, model.drives, d).length;
      const total = Math.max(rebuildProgress(state, d).total, stale);
      setRebuildProgress(state, d, total - stale, total);
    }
    for (const d of [...resume, ...start]) {
      const { done, total } = rebuildProgress(state, d);
      const media = mediaOf(state, d);
      const view = {
        drive: model.drives.ids[d]!,
        spare: media === d ? null : model.drives.ids[media]!,
        copiesLeft: resume.includes(d) ? total - done : null,
        copiesTotal: resume.includes(d) ? total : null,
      };
      out.push(view);
      log(
        'warn',
        view.copiesLeft === null
          ? `drive ${view.drive} had failed with no spare in its place: rebuilding it now`
          : `taking up the rebuild of drive ${view.drive}${view.spare ? ` onto ${view.spare}` : ''} where the data dir left it: ${view.copiesLeft} of ${total} copies left`,
      );
      this.start(d, resume.includes(d));
    }
    return out;
  }

  /** Rebuild drive position d onto a spare (or, `resumed`, rewrite its stale copies on), in the background. */
  start(d: number, resumed = false): void {
    const ctx = this.ctx();
    const id = ctx.model.drives.ids[d]!;
    this.started.set(id, { atMs: sched().now(), done: resumed ? rebuildProgress(ctx.state, d).done : 0 });
    const run = resumed ? rewriteStale(ctx, d) : rebuildDrive(ctx, d);
    this.running.set(id, run);
    void run.then(
      (report) => report && ctx.emit?.('rebuilt', report),
      (err) => ctx.log('error', `rebuild of drive ${id} failed: ${errorMessage(err)}`),
    );
  }
}
