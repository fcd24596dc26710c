// Writing one copy of a track (a destage to M1 or to mirror k) when drives can fail (DESIGN §14): a
// copy on a failed drive is dropped, not written, and a track left with no copy on a drive that has
// not failed is marked LOST, so its reads fail naming it instead of serving garbage.
import type { ArrayModel } from '../shared/model.ts';
import { TRACK, type SharedState } from '../shared/memory.ts';
import type { Log } from '../shared/link.ts';
import { DriveFault, driveWritable } from '../shared/drive-state.ts';
import type { Locations } from './locations.ts';
import { fillCopyWritten } from '../shared/fill-pending.ts';

/** Write `src` onto location `target` (only bytes `dirty`, if given): false if its drive has failed. */
export async function writeCopy(
  locations: Locations,
  target: number,
  src: Uint8Array,
  dirty?: [number, number],
): Promise<boolean> {
  if (!locations.writable(target)) return false;
  try {
    await locations.write(target, src, dirty);
    return true;
  } catch (err) {
    if (err instanceof DriveFault && err.fault === 'failed') return false; // it failed meanwhile
    throw err;
  }
}

/**
 * Copy `target` of M1 location `owner` was dropped: mark the track LOST if no copy is left on a
 * working drive. A fill waits for no copy that is never to be written.
 */
export function noteDroppedCopy(
  name: string,
  model: ArrayModel,
  state: SharedState,
  log: Log,
  { owner, target }: { owner: number; target: number },
): void {
  const { drives } = model;
  fillCopyWritten(state, model, target);
  if (model.copiesOf(owner).some((g) => driveWritable(state, drives.driveOf(g)))) return;
  if (!state.flag(owner, TRACK.LOST))
    log('error', `${name}: track ${drives.dch(owner)} is lost: every copy is on a failed drive`);
  state.setFlag(owner, TRACK.LOST);
}
