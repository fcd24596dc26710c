// The global cache's slot allocator: a clock (second-chance LRU) over the slot headers in shared
// memory. It evicts only clean slots; when every slot is write-pending the caller waits for destage.
import { markSlotWhole } from './tables.ts';
import { CACHE, NO_SLOT, NO_TRACK, SLOT, type SharedState } from './memory.ts';
import { tryLockTrack, unlockTrack } from './track-lock.ts';
import { assert } from '../errors/assert.ts';
import { sched, waitWord } from '../sched/sched.ts';
import { ArrayError } from '../errors/errors.ts';

/**
 * Longest a request waits for a clean slot before it fails (bounded wait). Nobody waits for a slot
 * while holding a track lock: whoever finds none unlocks, waits for a cache event, and tries again.
 */
export const SLOT_WAIT_MS = 30_000;

/**
 * Take a slot for locked track `g` if one can be had now (never waits: the caller holds locks).
 * The slot comes back owned by `g`, attached to its Track ID entry, state 0 (not VALID); NO_SLOT if
 * every slot is write-pending or in use.
 */
export function tryAllocateSlot(state: SharedState, g: number): number {
  assert(
    Atomics.load(state.trackSlot, g) === NO_SLOT,
    () => `track ${g}: allocating a slot while it holds one (${state.describeTrack(g)})`,
  );
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

/**
 * The one wait for a clean cache slot, host adapters and disk adapters alike. A caller loops:
 * `seen()` before each attempt (which takes its locks and gives them up itself), and after one that
 * found no slot, `await next(seen)`: with no lock held, CACHE_EXHAUSTED (naming `what`) once
 * SLOT_WAIT_MS have passed, else `onWait` asks for destages and the wait is for the next cache
 * event, bounded by `sliceMs` (a missed event costs at most that). Waiting with a lock held could
 * close a cycle with a holder of that lock waiting for a slot only a destage needing it would free.
 * (A loop in the caller, not a callback: the awaits stay the caller's own, so seeded interleavings
 * are what they were.)
 */
export class SlotWait {
  private readonly deadline: number;

  constructor(
    private readonly state: SharedState,
    private readonly opts: { what: () => string; onWait: () => void; sliceMs: number; why?: () => string },
    /** When the work began waiting for a slot (its first attempt; default now). */
    sinceMs = sched().now(),
  ) {
    this.deadline = sinceMs + SLOT_WAIT_MS;
  }

  /** The cache events seen before an attempt. */
  seen(): number {
    return cacheEvents(this.state);
  }

  /** After an attempt that found no slot (no lock held): give up past the deadline, else ask for destages and wait. */
  next(seen: number): Promise<void> {
    if (sched().now() > this.deadline)
      throw new ArrayError(
        'CACHE_EXHAUSTED',
        `${this.opts.what()}: no clean cache slot within ${SLOT_WAIT_MS} ms${this.opts.why ? ` (${this.opts.why()})` : ''}`,
      );
    this.opts.onWait();
    return awaitCacheEvent(this.state, seen, this.opts.sliceMs);
  }
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
        markSlotWhole(state, index); // its bytes are not g's until staged or written
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
      markSlotWhole(state, index);
      return index;
    } finally {
      unlockTrack(state, owner);
    }
  }
  return NO_SLOT;
}

/**
 * The slot attached to locked track `g` if it holds the whole track, else NO_SLOT: a PARTIAL slot
 * (a random read's sectors, always clean) is freed first, for the restripe's copies and the split
 * move and copy whole tracks only (DESIGN §2).
 */
export function wholeSlotOf(state: SharedState, g: number): number {
  const s = Atomics.load(state.trackSlot, g);
  if (s === NO_SLOT || !(Atomics.load(state.slotState, s) & SLOT.PARTIAL)) return s;
  assert(
    !(Atomics.load(state.slotState, s) & (SLOT.VALID | SLOT.WP)),
    () => `track ${g}: PARTIAL ${state.describeSlot(s)} is VALID or write-pending too`,
  );
  releaseSlot(state, g);
  return NO_SLOT;
}

/** Detach and free the slot of track `g` (held locked by the caller), e.g. after a failed stage. */
export function releaseSlot(state: SharedState, g: number): void {
  const s = Atomics.load(state.trackSlot, g);
  if (s === NO_SLOT) return;
  assert(
    !(Atomics.load(state.slotState, s) & SLOT.WP),
    () => `track ${g}: releasing a write-pending ${state.describeSlot(s)}`,
  );
  Atomics.store(state.trackSlot, g, NO_SLOT);
  Atomics.store(state.slotState, s, 0);
  Atomics.store(state.slotOwner, s, NO_TRACK);
  state.cacheEvent();
}
