// The global cache's slot allocator: a clock (second-chance LRU) over the slot headers in shared
// memory. It evicts only clean slots; when every slot is write-pending the caller waits for destage.
import { CACHE, NO_SLOT, NO_TRACK, SLOT, type SharedState } from './memory.ts';
import { tryLockTrack, unlockTrack } from './track-lock.ts';
import { ArrayError } from './errors.ts';
import { assert } from './assert.ts';
import { sched, waitWord } from './sched.ts';

/** Longest a writer waits for a clean slot before its request fails (bounded wait). */
export const SLOT_WAIT_MS = 30_000;
const WAIT_SLICE_MS = 20;

export interface AllocateOptions {
  /** Called when no slot could be taken: ask the disk adapters to destage now. */
  onFull?: () => void;
  waitMs?: number;
}

/**
 * Take a slot for global track `g`, which the caller holds locked and which has no slot. The slot
 * comes back owned by `g` and attached to g's Track ID entry, with state 0 (not VALID).
 */
export async function allocateSlot(state: SharedState, g: number, opts: AllocateOptions = {}): Promise<number> {
  assert(Atomics.load(state.trackSlot, g) === NO_SLOT, () => `track ${g}: allocating a slot while it holds one (${state.describeTrack(g)})`);
  const deadline = sched().now() + (opts.waitMs ?? SLOT_WAIT_MS);
  for (;;) {
    const seen = cacheEvents(state);
    const s = claimSlot(state, g);
    if (s !== NO_SLOT) {
      Atomics.store(state.trackSlot, g, s);
      return s;
    }
    opts.onFull?.();
    if (sched().now() > deadline) {
      throw new ArrayError('CACHE_EXHAUSTED', `track ${g}: no clean cache slot within ${opts.waitMs ?? SLOT_WAIT_MS} ms (${state.slots} slots, all write-pending or locked)`);
    }
    await awaitCacheEvent(state, seen, WAIT_SLICE_MS);
  }
}

/**
 * Take a slot for locked track `g` only if one can be had now (no wait): for callers that hold other
 * locks and must not wait for destage while holding them. NO_SLOT if the cache is full.
 */
export function tryAllocateSlot(state: SharedState, g: number): number {
  assert(Atomics.load(state.trackSlot, g) === NO_SLOT, () => `track ${g}: allocating a slot while it holds one (${state.describeTrack(g)})`);
  const s = claimSlot(state, g);
  if (s !== NO_SLOT) Atomics.store(state.trackSlot, g, s);
  return s;
}

/** Wait (bounded, without parking the thread) until a slot becomes clean or free, or `waitMs` passes. */
export async function awaitCacheEvent(state: SharedState, seen: number, waitMs: number): Promise<void> {
  await waitWord(state.cacheWords, CACHE.EVENTS, seen, waitMs);
}

export function cacheEvents(state: SharedState): number {
  return Atomics.load(state.cacheWords, CACHE.EVENTS);
}

/** One bounded sweep of the clock: two passes over every slot at most. */
function claimSlot(state: SharedState, g: number): number {
  const n = state.slots;
  for (let i = 0; i < 2 * n; i++) {
    const s = Atomics.add(state.cacheWords, CACHE.HAND, 1) % n;
    const index = s < 0 ? s + n : s;
    const owner = Atomics.load(state.slotOwner, index);
    if (owner === NO_TRACK) {
      if (Atomics.compareExchange(state.slotOwner, index, NO_TRACK, g) === NO_TRACK) {
        Atomics.store(state.slotState, index, 0);
        return index;
      }
      continue;
    }
    const st = Atomics.load(state.slotState, index);
    if (st & SLOT.WP) continue;
    if (st & SLOT.REF) {
      Atomics.and(state.slotState, index, ~SLOT.REF);
      continue;
    }
    if (!tryLockTrack(state, owner)) continue; // in use: its holder may be reading or writing it
    try {
      // Re-check under the owner's lock: nothing can attach, dirty or move the slot now.
      if (
        Atomics.load(state.slotOwner, index) !== owner ||
        Atomics.load(state.trackSlot, owner) !== index ||
        Atomics.load(state.slotState, index) & SLOT.WP
      ) {
        continue;
      }
      Atomics.store(state.trackSlot, owner, NO_SLOT);
      Atomics.store(state.slotState, index, 0);
      Atomics.store(state.slotOwner, index, g);
      return index;
    } finally {
      unlockTrack(state, owner);
    }
  }
  return NO_SLOT;
}

/** Detach and free the slot of track `g` (held locked by the caller), e.g. after a failed stage. */
export function releaseSlot(state: SharedState, g: number): void {
  const s = Atomics.load(state.trackSlot, g);
  if (s === NO_SLOT) return;
  assert(!(Atomics.load(state.slotState, s) & SLOT.WP), () => `track ${g}: releasing a write-pending ${state.describeSlot(s)}`);
  Atomics.store(state.trackSlot, g, NO_SLOT);
  Atomics.store(state.slotState, s, 0);
  Atomics.store(state.slotOwner, s, NO_TRACK);
  state.cacheEvent();
}
