// Intent records: a slot moving from one track to another (split handing write-pending data to the
// BCV track, fill handing a BCV track's slot to its new location) takes four stores. A worker
// terminated between two of them would leave the slot half-moved — owned by one track, attached to
// another, or to both. So the move is written down first, in the actor's own record in shared
// memory, and crossed out after; whoever takes a failed actor's place finishes any move it finds.
// Both tracks are locked by the mover for the whole move, so nobody else can have touched them.
import { markSlotWhole } from './tables.ts';
import { INTENT_WORDS, NO_SLOT, type SharedState } from './memory.ts';
import { lockedBy } from './track-lock.ts';
import { assert } from '../errors/assert.ts';
import { sched } from '../sched/sched.ts';

const OP = 0; // 0: no move in progress; 1: a move
const SLOT_WORD = 1;
const FROM = 2;
const TO = 3;
const STATE = 4;
const MOVE = 1;

function apply(state: SharedState, s: number, from: number, to: number, slotState: number): void {
  if (Atomics.load(state.trackSlot, from) === s) Atomics.store(state.trackSlot, from, NO_SLOT);
  Atomics.store(state.slotOwner, s, to);
  markSlotWhole(state, s); // the bytes are `from`'s, not what `to`'s location holds
  Atomics.store(state.slotState, s, slotState);
  Atomics.store(state.trackSlot, to, s);
}

/**
 * Move slot `s` from track `from` to track `to` (which holds no slot), leaving it in `slotState`.
 * The caller holds both tracks' locks.
 */
export function moveSlot(state: SharedState, s: number, from: number, to: number, slotState: number): void {
  const id = sched().current().id;
  assert(
    lockedBy(state, from, id) && lockedBy(state, to, id),
    () =>
      `slot ${s} moving from track ${from} to ${to}: both must be locked by actor ${id} (${state.describeTrack(from)}; ${state.describeTrack(to)})`,
  );
  assert(
    Atomics.load(state.trackSlot, from) === s && Atomics.load(state.slotOwner, s) === from,
    () =>
      `slot ${s} moving from track ${from}, which does not own it (${state.describeSlot(s)}; ${state.describeTrack(from)})`,
  );
  assert(
    Atomics.load(state.trackSlot, to) === NO_SLOT,
    () => `slot ${s} moving to track ${to}, which already holds a slot (${state.describeTrack(to)})`,
  );
  recordMove(state, id, s, from, to, slotState);
  apply(state, s, from, to, slotState);
  Atomics.store(state.intents, id * INTENT_WORDS + OP, 0);
}

/** Write down actor `id`'s move of slot `s` (the first half of moveSlot; tests use it to tear one). */
export function recordMove(
  state: SharedState,
  id: number,
  s: number,
  from: number,
  to: number,
  slotState: number,
): void {
  const rec = id * INTENT_WORDS;
  assert(
    Atomics.load(state.intents, rec + OP) === 0,
    () => `actor ${id}: a slot move begins while another is unfinished`,
  );
  Atomics.store(state.intents, rec + SLOT_WORD, s);
  Atomics.store(state.intents, rec + FROM, from);
  Atomics.store(state.intents, rec + TO, to);
  Atomics.store(state.intents, rec + STATE, slotState);
  Atomics.store(state.intents, rec + OP, MOVE); // written down: from here the move will happen
}

/** Finish the move failed actor `id` had begun, if any (before its locks are freed). True if there was one. */
export function finishIntent(state: SharedState, id: number): boolean {
  const rec = id * INTENT_WORDS;
  if (Atomics.load(state.intents, rec + OP) !== MOVE) return false;
  const s = Atomics.load(state.intents, rec + SLOT_WORD);
  const from = Atomics.load(state.intents, rec + FROM);
  const to = Atomics.load(state.intents, rec + TO);
  for (const g of [from, to]) {
    assert(
      lockedBy(state, g, id),
      () => `finishing actor ${id}'s move of slot ${s}: track ${g} is not locked by it (${state.describeTrack(g)})`,
    );
  }
  apply(state, s, from, to, Atomics.load(state.intents, rec + STATE));
  Atomics.store(state.intents, rec + OP, 0);
  return true;
}
