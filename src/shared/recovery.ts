// Taking back what a failed adapter held, from the shared tables alone: the track locks it owned
// (with any slot it had attached but not yet filled) and, for a host adapter, its requests still
// counted in flight. The replacement starts after this; every process it resumes is idempotent.
import { DEVICE, NO_SLOT, SLOT, TRACK, type SharedState } from './memory.ts';
import { releaseSlot } from './cache.ts';
import { unlockTrack } from './track-lock.ts';
import { assert } from './assert.ts';
import type { Role } from './actor.ts';

export interface TakenBack {
  /** Track locks the failed adapter held. */
  locks: number;
  /** Slots it had attached to a locked track but not filled (not VALID): freed. */
  slots: number;
  /** Host requests it had counted in flight (host adapters only). */
  inflight: number;
}

export function takeBack(state: SharedState, role: Role, index: number, id: number): TakenBack {
  assert(id > 0, () => `takeBack: actor id ${id} is nobody`);
  const out: TakenBack = { locks: 0, slots: 0, inflight: 0 };
  for (let g = 0; g < state.totalTracks; g++) {
    if (Atomics.load(state.trackLockOwner, g) !== id) continue;
    assert(state.flag(g, TRACK.LOCK), () => `track ${g}: lock owner ${id} recorded but not locked (${state.describeTrack(g)})`);
    const s = Atomics.load(state.trackSlot, g);
    if (s !== NO_SLOT && !(Atomics.load(state.slotState, s) & SLOT.VALID)) {
      // Allocated for a stage or a copy that never finished: nothing in it counts.
      releaseSlot(state, g);
      out.slots++;
    }
    unlockTrack(state, g);
    out.locks++;
  }
  if (role === 'ha') {
    for (let d = 0; d < state.devices; d++) {
      const n = Atomics.exchange(state.hostInflight, index * state.devices + d, 0);
      assert(n >= 0, () => `host adapter #${index}: negative in-flight count ${n} on device #${d}`);
      if (n > 0) state.addDeviceWord(d, DEVICE.INFLIGHT, -n);
      out.inflight += n;
    }
  }
  return out;
}
