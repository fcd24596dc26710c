// Drive states and drive faults (DESIGN §14): one word per drive in shared memory (every actor sees
// a failure at its next access), and the MEDIA / ROT bits of the Track ID table for faults of single
// tracks. Asked for by the control API, `run --fail-drive` and the stress campaigns; felt by the disk
// adapter's locations (disk-adapter/locations.ts), the only code that touches a drive.
import { DRIVE_WORDS, TRACK, type SharedState } from '../tables/memory.ts';
import type { DriveMap } from '../layout/layout.ts';
import type { ArrayModel } from '../model/model.ts';
import { ArrayError } from '../errors/errors.ts';
import { assert } from '../errors/assert.ts';
import { flagsOf, setFlag } from '../tables/tables.ts';
import { addWord, loadWord, storeWord } from '../tables/words.ts';

export const DRIVE_STATE = { OK: 0, FAILED: 1, REBUILDING: 2, SPARE: 3 } as const;
export type DriveStateName = 'ok' | 'failed' | 'rebuilding' | 'spare';
const NAMES: DriveStateName[] = ['ok', 'failed', 'rebuilding', 'spare'];

export type DriveFaultKind = 'whole' | 'media' | 'rot';
export const DRIVE_FAULT_KINDS: readonly DriveFaultKind[] = ['whole', 'media', 'rot'];

/** A drive that cannot serve an access: the disk adapter answers with it, the host adapter tries another copy. */
export class DriveFault extends ArrayError {
  constructor(
    readonly fault: 'failed' | 'media',
    message: string,
  ) {
    super('DRIVE_FAULT', message);
    this.name = 'DriveFault';
  }
}

/** The words of each drive (DRIVE_WORDS of them). */
const W = { STATE: 0, MEDIA: 1, REBUILT: 2, TO_REBUILD: 3 } as const;
const word = (d: number, w: number) => d * DRIVE_WORDS + w;

/** Drive d's own state (of its media: a failed drive stays failed after a spare took its place). */
export const driveStateOf = (state: SharedState, d: number): number => loadWord(state.driveState, word(d, W.STATE));
export const driveStateName = (state: SharedState, d: number): DriveStateName => NAMES[driveStateOf(state, d)] ?? 'ok';
export const setDriveState = (state: SharedState, d: number, v: number): void =>
  void storeWord(state.driveState, word(d, W.STATE), v);
/**
 * The drive whose media holds position d's tracks: d itself, or the spare rebuilt in its place
 * (global track indexes stay the position's; only the media behind them changes).
 */
export const mediaOf = (state: SharedState, d: number): number => loadWord(state.driveState, word(d, W.MEDIA));
export const setMediaOf = (state: SharedState, d: number, m: number): void =>
  void storeWord(state.driveState, word(d, W.MEDIA), m);
/**
 * The global track whose index the media behind copy location g keeps its bytes at (its seqlock and
 * its checksum): g itself, or the same track of the spare rebuilt in g's drive position's place.
 */
export function mediaTrack(state: SharedState, drives: DriveMap, g: number): number {
  const d = drives.driveOf(g);
  const m = mediaOf(state, d);
  return m === d ? g : drives.baseTrack[m]! + (g - drives.baseTrack[d]!);
}
/** The drive positions whose tracks an adapter with drives `own` serves: each whose media is one of them. */
export function positionsServed(state: SharedState, positions: number, own: { has(d: number): boolean }): number[] {
  const out: number[] = [];
  for (let d = 0; d < positions; d++) if (own.has(mediaOf(state, d))) out.push(d);
  return out;
}

/** A spare is being rebuilt in some drive's place now. */
export function rebuildUnderWay(state: SharedState, positions: number): boolean {
  for (let d = 0; d < positions; d++) if (driveStateOf(state, d) === DRIVE_STATE.REBUILDING) return true;
  return false;
}

/**
 * Position d's tracks cannot be read now: its media failed, or a spare is being rebuilt in its place
 * (a rebuilt copy is read again only once the whole rebuild is done).
 */
export const driveFailed = (state: SharedState, d: number): boolean =>
  driveStateOf(state, mediaOf(state, d)) !== DRIVE_STATE.OK;
/**
 * Copy location g (on drive position d) can be read: its media is ok, or a spare is being rebuilt in
 * its place and this copy is rewritten already (not STALE).
 */
export function copyReadable(state: SharedState, d: number, g: number): boolean {
  const st = driveStateOf(state, mediaOf(state, d));
  return st === DRIVE_STATE.OK || (st === DRIVE_STATE.REBUILDING && !(flagsOf(state, g) & TRACK.STALE));
}

/**
 * Another copy of the track whose copy location `g` is, that can be read now: the first on a drive
 * that serves reads and neither STALE nor with a media error (its read would fail); undefined if
 * none. A rotted copy (ROT) counts: nothing but a checksum could tell, and there is no scrub yet.
 */
export function readableOtherCopy(model: ArrayModel, state: SharedState, g: number): number | undefined {
  const c = model.copyAt(g);
  if (!c) return undefined;
  return model.copiesOf(c.owner).find((x) => x !== g && copyServesRead(state, model.drives, x));
}

/** M1 location g if it would serve a read now, else its first mirror copy that would, else g (whose read then fails, naming it). */
export function readableCopyOf(model: ArrayModel, state: SharedState, g: number): number {
  if (copyServesRead(state, model.drives, g)) return g;
  return model.copiesOf(g).find((x) => copyServesRead(state, model.drives, x)) ?? g;
}

/** Copy location x would serve a read now: its drive serves reads, and it is neither STALE nor with a media error. */
export const copyServesRead = (state: SharedState, drives: DriveMap, x: number): boolean =>
  copyReadable(state, drives.driveOf(x), x) && !(flagsOf(state, x) & (TRACK.STALE | TRACK.MEDIA));

/** Position d's tracks take writes: its media is ok, or a spare is being rebuilt in its place. */
export const driveWritable = (state: SharedState, d: number): boolean => {
  const st = driveStateOf(state, mediaOf(state, d));
  return st === DRIVE_STATE.OK || st === DRIVE_STATE.REBUILDING;
};
/** A rebuild's progress on position d: copies rewritten, of how many. */
export const rebuildProgress = (state: SharedState, d: number): { done: number; total: number } => ({
  done: loadWord(state.driveState, word(d, W.REBUILT)),
  total: loadWord(state.driveState, word(d, W.TO_REBUILD)),
});
export const setRebuildTotal = (state: SharedState, d: number, total: number): void => {
  storeWord(state.driveState, word(d, W.TO_REBUILD), total);
  storeWord(state.driveState, word(d, W.REBUILT), 0);
};
/** A rebuild's progress on position d put back (a restart counts what its STALE bits leave). */
export const setRebuildProgress = (state: SharedState, d: number, done: number, total: number): void => {
  storeWord(state.driveState, word(d, W.TO_REBUILD), total);
  storeWord(state.driveState, word(d, W.REBUILT), done);
};
/** n more copies of position d rewritten: its rebuild's progress (none counted unless a spare is being rebuilt there: a scrub's repair is not one). */
export function addRebuilt(state: SharedState, d: number, n: number): void {
  if (driveStateOf(state, mediaOf(state, d)) === DRIVE_STATE.REBUILDING)
    addWord(state.driveState, word(d, W.REBUILT), n);
}

/** Mark copy location g stale (not read until a whole-track write rewrites it): a scrub found it bad and a good copy exists. */
export function markStale(state: SharedState, g: number): void {
  setFlag(state, g, TRACK.STALE);
}

/**
 * Spare `spare` takes drive position d's place: marked rebuilding, its media serves d's tracks from
 * now (writes reach it, reads wait for the rebuild's end), and its adapter owns them. `stale` copies
 * of d are marked STALE first, so no read trusts them until rewritten.
 */
export function handOver(state: SharedState, d: number, spare: number, stale: number[]): void {
  assert(
    d !== spare && driveStateOf(state, spare) === DRIVE_STATE.SPARE,
    () =>
      `drive position ${d}: hand-over to drive ${spare}, which is not a free spare (state ${driveStateOf(state, spare)})`,
  );
  for (const g of stale) setFlag(state, g, TRACK.STALE);
  setRebuildTotal(state, d, stale.length);
  setDriveState(state, spare, DRIVE_STATE.REBUILDING);
  setMediaOf(state, d, spare);
  storeWord(state.driveOwner, d, loadWord(state.driveOwner, spare));
}

/** Stale copies left on drive position d (a rebuild is done when none is). */
export function staleOn(state: SharedState, drives: DriveMap, d: number): number[] {
  const base = drives.baseTrack[d]!;
  const out: number[] = [];
  for (let g = base; g < drives.endTrack(d); g++) if (flagsOf(state, g) & TRACK.STALE) out.push(g);
  return out;
}

/** Mark drive d failed: every later access to it fails. */
export function failWholeDrive(state: SharedState, d: number): void {
  setDriveState(state, d, DRIVE_STATE.FAILED);
}

/**
 * Give `count` tracks of drive d a fault of `kind` (media: reads fail; rot: reads return other
 * bytes), chosen by `pick` among the drive's tracks that `among` accepts (a seeded stream in the
 * stress campaigns).
 * Returns the global tracks hit.
 */
export function injectTrackFaults(
  state: SharedState,
  drives: DriveMap,
  d: number,
  f: { kind: 'media' | 'rot'; count: number; pick: (n: number) => number; among?: (g: number) => boolean },
): number[] {
  const { kind, count, pick, among } = f;
  const candidates: number[] = [];
  for (let g = drives.baseTrack[d]!; g < drives.endTrack(d); g++) if (!among || among(g)) candidates.push(g);
  const hit: number[] = [];
  for (let i = 0; i < count && candidates.length > 0; i++) {
    const j = pick(candidates.length);
    assert(j >= 0 && j < candidates.length, () => `a track pick ${j} outside 0..${candidates.length - 1}`);
    const g = candidates.splice(j, 1)[0]!;
    setFlag(state, g, kind === 'media' ? TRACK.MEDIA : TRACK.ROT);
    hit.push(g);
  }
  return hit;
}

/** Tracks with a fault of their own now (MEDIA or ROT), over the whole array. */
export function trackFaultCounts(state: SharedState): { media: number; rot: number; lost: number } {
  const out = { media: 0, rot: 0, lost: 0 };
  for (let g = 0; g < state.totalTracks; g++) {
    const f = flagsOf(state, g);
    if (f & TRACK.MEDIA) out.media++;
    if (f & TRACK.ROT) out.rot++;
    if (f & TRACK.LOST) out.lost++;
  }
  return out;
}
