// The awaitable per-track lock: the LOCK bit of a Track ID flags word. Waiting never parks the
// thread (Atomics.waitAsync), so the same code runs in a worker or under a one-thread scheduler.
import { LOCK_OWNER_MASK, LOCK_OWNER_SHIFT, TRACK, lockOwnerOf, type SharedState } from './memory.ts';
import { ArrayError } from '../errors/errors.ts';
import { sched, waitWord } from '../sched/sched.ts';

/** Longest a request waits for one track lock before it fails (bounded wait). */
export const LOCK_WAIT_MS = 30_000;
/** Compare-and-swaps tryLockTrack makes while only other bits of the word change; then it reports busy. */
const TRY_LOCK_TRIES = 8;
/** Each waitAsync is bounded too, so a missed notify costs at most this much. */
const WAIT_SLICE_MS = 50;

/** The flags word `v` with LOCK taken by the actor running now (its id in the owner bits; actorId keeps ids in range). */
function locked(v: number): number {
  return (v & ~LOCK_OWNER_MASK) | TRACK.LOCK | (sched().current().id << LOCK_OWNER_SHIFT);
}

/** Whether actor `id` holds track g's lock. */
export function lockedBy(state: SharedState, g: number, id: number): boolean {
  const f = Atomics.load(state.trackFlags, g);
  return (f & TRACK.LOCK) !== 0 && lockOwnerOf(f) === id;
}

export function tryLockTrack(state: SharedState, g: number): boolean {
  const flags = state.trackFlags;
  for (let i = 0; i < TRY_LOCK_TRIES; i++) {
    const v = Atomics.load(flags, g);
    if (v & TRACK.LOCK) return false;
    if (Atomics.compareExchange(flags, g, v, locked(v)) === v) return true;
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
      if (Atomics.compareExchange(flags, g, v, locked(v)) === v) return;
      continue;
    }
    if (!(v & TRACK.WAITERS) && Atomics.compareExchange(flags, g, v, v | TRACK.WAITERS) !== v) continue;
    await waitWord(flags, g, v | TRACK.WAITERS, WAIT_SLICE_MS);
    if (sched().now() > deadline) {
      throw new ArrayError('TIMEOUT', `track ${g}: lock not granted within ${waitMs} ms (${state.describeTrack(g)})`);
    }
  }
}

export function unlockTrack(state: SharedState, g: number): void {
  const old = Atomics.and(state.trackFlags, g, ~(TRACK.LOCK | TRACK.WAITERS | LOCK_OWNER_MASK));
  if (!(old & TRACK.LOCK)) {
    throw new ArrayError('INVARIANT', `track ${g}: unlocked while not locked (${state.describeTrack(g)})`);
  }
  if (old & TRACK.WAITERS) sched().notify(state.trackFlags, g);
}
