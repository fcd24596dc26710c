// Drive states and drive faults (DESIGN §14): one word per drive in shared memory (every actor sees
// a failure at its next access), and the MEDIA / ROT bits of the Track ID table for faults of single
// tracks. Asked for by the control API, `run --fail-drive` and the stress campaigns; felt by the disk
// adapter's locations (disk-adapter/locations.ts), the only code that touches a drive.
import { TRACK, type SharedState } from './memory.ts';
import type { DriveMap } from './layout.ts';
import { ArrayError } from './errors.ts';
import { assert } from './assert.ts';

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

export const driveStateOf = (state: SharedState, d: number): number => Atomics.load(state.driveState, d);
export const driveStateName = (state: SharedState, d: number): DriveStateName => NAMES[driveStateOf(state, d)] ?? 'ok';
export const driveFailed = (state: SharedState, d: number): boolean =>
  Atomics.load(state.driveState, d) === DRIVE_STATE.FAILED;

/** Mark drive d failed: every later access to it fails. */
export function failWholeDrive(state: SharedState, d: number): void {
  Atomics.store(state.driveState, d, DRIVE_STATE.FAILED);
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
  const base = drives.baseTrack[d]!;
  const n = drives.cylinders[d]! * drives.headsPerCylinder;
  const candidates: number[] = [];
  for (let g = base; g < base + n; g++) if (!among || among(g)) candidates.push(g);
  const hit: number[] = [];
  for (let i = 0; i < count && candidates.length > 0; i++) {
    const j = pick(candidates.length);
    assert(j >= 0 && j < candidates.length, () => `a track pick ${j} outside 0..${candidates.length - 1}`);
    const g = candidates.splice(j, 1)[0]!;
    Atomics.or(state.trackFlags, g, kind === 'media' ? TRACK.MEDIA : TRACK.ROT);
    hit.push(g);
  }
  return hit;
}

/** Tracks with a fault of their own now (MEDIA or ROT), over the whole array. */
export function trackFaultCounts(state: SharedState): { media: number; rot: number; lost: number } {
  const out = { media: 0, rot: 0, lost: 0 };
  for (let g = 0; g < state.totalTracks; g++) {
    const f = Atomics.load(state.trackFlags, g);
    if (f & TRACK.MEDIA) out.media++;
    if (f & TRACK.ROT) out.rot++;
    if (f & TRACK.LOST) out.lost++;
  }
  return out;
}
