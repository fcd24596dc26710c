// Taking back what a failed adapter held, from the shared tables alone: the track locks it owned
// (with any slot it had attached but not yet filled) and, for a host adapter, its requests still
// counted in flight. The replacement starts after this; every process it resumes is idempotent.
import { NO_SLOT, NO_TRACK, SLOT, WRITING, WRITING_WORDS, type SharedState } from '../shared/tables/memory.ts';
import { finishIntent } from '../shared/tables/intent.ts';
import { releaseSlot } from '../shared/tables/cache.ts';
import { lockedBy, unlockTrack } from '../shared/tables/track-lock.ts';
import { assert } from '../shared/errors/assert.ts';
import type { Role } from '../shared/links/actor.ts';
import { addWord, loadWord, storeWord } from '../shared/tables/words.ts';
import {
  setSlotOf,
  setSlotOwner,
  setSlotState,
  slotOf,
  slotOwnerOf,
  slotStateOf,
  takeInflight,
} from '../shared/tables/tables.ts';

export interface TakenBack {
  /** Track locks the failed adapter held. */
  locks: number;
  /** Slots it had attached to a locked track but not filled (not VALID), or caught half-claimed or half-freed: freed. */
  slots: number;
  /** Slot moves it had begun and not finished (intent.ts): finished. */
  moves: number;
  /** Host requests it had counted in flight (host adapters only). */
  inflight: number;
  /**
   * Drive tracks it had begun writing and not finished (their write seqlock odd; disk adapters
   * only): closed, so the next write may begin. Nothing counts such a write as done — its slot is
   * still write-pending, its IND or PB still set — so the replacement writes the track again.
   */
  tornWrites: number;
}

/**
 * Take back what failed actor `id` held. A worker can be terminated between any two of its
 * stores, so besides its locks this finds what it left half-done under them: a slot move (finished
 * from its intent record), and a slot claimed, evicted or released part-way (owned by a track it
 * held locked but not attached to it: nothing in such a slot counts, and it is freed).
 */
export function takeBack(state: SharedState, role: Role, index: number, id: number): TakenBack {
  assert(id > 0, () => `takeBack: actor id ${id} is nobody`);
  const out: TakenBack = { locks: 0, slots: 0, moves: 0, inflight: 0, tornWrites: 0 };
  const heldBy = (g: number) => lockedBy(state, g, id);
  if (finishIntent(state, id)) out.moves++;
  for (let s = 0; s < state.slots; s++) {
    const owner = slotOwnerOf(state, s);
    if (owner === NO_TRACK || !heldBy(owner) || slotOf(state, owner) === s) continue;
    const st = slotStateOf(state, s);
    assert(
      !(st & SLOT.WP),
      () =>
        `actor ${id} failed with write-pending ${state.describeSlot(s)} owned by track ${owner} but not attached to it (${state.describeTrack(owner)})`,
    );
    setSlotState(state, s, 0);
    setSlotOwner(state, s, NO_TRACK);
    out.slots++;
  }
  for (let g = 0; g < state.totalTracks; g++) {
    if (!heldBy(g)) continue;
    const s = slotOf(state, g);
    if (s !== NO_SLOT && slotOwnerOf(state, s) !== g) {
      setSlotOf(state, g, NO_SLOT); // attached to a slot another track owns: a claim torn the other way
    } else if (s !== NO_SLOT && !(slotStateOf(state, s) & SLOT.VALID)) {
      // Allocated for a stage or a copy that never finished: nothing in it counts.
      releaseSlot(state, g);
      out.slots++;
    }
    unlockTrack(state, g);
    out.locks++;
  }
  if (out.slots > 0) state.cacheEvent();
  if (role === 'da') out.tornWrites = endTornWrites(state, index);
  if (role === 'ha') {
    const words = state.hostInflight.length / 2;
    for (let d = 0; d < state.devices; d++) {
      // Both words of (index, device): its requests in flight, and those inside their critical section.
      for (const i of [index * state.devices + d, words + index * state.devices + d]) {
        const n = takeInflight(state, i);
        assert(n >= 0, () => `host adapter #${index}: negative count ${n} in host word ${i} (device #${d})`);
        if (i < words) out.inflight += n;
      }
    }
  }
  return out;
}

/**
 * A disk adapter's worker terminated inside a drive write (between its seqlock's two increments)
 * leaves the track's seqlock odd for good: the next writer would stop as a second writer at once,
 * and the durable store would wait for the write to end. The adapter's record of the writes it had
 * open (SharedBuffers.driveWriting: on its own drives or, by a direct copy, another adapter's) names
 * the only tracks that can be so; each odd one is closed (made even) and the count returned. A
 * write another adapter has open is never touched. The bytes may be half written, as a drive's are
 * when power fails mid-write: whatever the write was doing is still owed (above).
 */
function endTornWrites(state: SharedState, index: number): number {
  const at = index * WRITING_WORDS;
  const open = loadWord(state.driveWriting, at + WRITING.OPEN);
  const first = loadWord(state.driveWriting, at + WRITING.FIRST);
  const span = loadWord(state.driveWriting, at + WRITING.SPAN);
  let torn = 0;
  for (let g = first; open > 0 && g < first + span; g++) {
    if ((loadWord(state.driveWriteSeq, g) & 1) === 0) continue;
    addWord(state.driveWriteSeq, g, 1);
    torn++;
  }
  storeWord(state.driveWriting, at + WRITING.OPEN, 0);
  storeWord(state.driveWriting, at + WRITING.SPAN, 0);
  return torn;
}
