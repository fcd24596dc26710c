// The awaitable per-track lock: the LOCK bit of a Track ID flags word. Waiting never parks the
// thread (Atomics.waitAsync), so the same code runs in a worker or under a one-thread scheduler.
import { TRACK, type SharedState } from './memory.ts';
import { ArrayError } from './errors.ts';
import { sched, waitWord } from './sched.ts';

/** Longest a request waits for one track lock before it fails (bounded wait). */
export const LOCK_WAIT_MS = 30_000;
/** Each waitAsync is bounded too, so a missed notify costs at most this much. */
const WAIT_SLICE_MS = 50;

export function tryLockTrack(state: SharedState, g: number): boolean {
  const flags = state.trackFlags;
  for (let i = 0; i < 8; i++) {
    const v = Atomics.load(flags, g);
    if (v & TRACK.LOCK) return false;
    if (Atomics.compareExchange(flags, g, v, v | TRACK.LOCK) === v) return owned(state, g);
  }
  return false;
}

export async function lockTrack(state: SharedState, g: number, waitMs = LOCK_WAIT_MS): Promise<void> {
  if (tryLockTrack(state, g)) return;
  const flags = state.trackFlags;
  const deadline = sched().now() + waitMs;
  for (;;) {
    const v = Atomics.load(flags, g);
    if (!(v & TRACK.LOCK)) {
      if (Atomics.compareExchange(flags, g, v, v | TRACK.LOCK) === v) {
        owned(state, g);
        return;
      }
      continue;
    }
    if (!(v & TRACK.WAITERS) && Atomics.compareExchange(flags, g, v, v | TRACK.WAITERS) !== v) continue;
    await waitWord(flags, g, v | TRACK.WAITERS, WAIT_SLICE_MS);
    if (sched().now() > deadline) {
      throw new ArrayError('TIMEOUT', `track ${g}: lock not granted within ${waitMs} ms (${state.describeTrack(g)})`);
    }
  }
}

/** Record who holds g's lock (in the same step as taking it): a replacement adapter frees it. */
function owned(state: SharedState, g: number): true {
  Atomics.store(state.trackLockOwner, g, sched().current().id);
  return true;
}

export function unlockTrack(state: SharedState, g: number): void {
  Atomics.store(state.trackLockOwner, g, 0);
  const old = Atomics.and(state.trackFlags, g, ~(TRACK.LOCK | TRACK.WAITERS));
  if (!(old & TRACK.LOCK)) {
    throw new ArrayError('INVARIANT', `track ${g}: unlocked while not locked (${state.describeTrack(g)})`);
  }
  if (old & TRACK.WAITERS) sched().notify(state.trackFlags, g);
}
