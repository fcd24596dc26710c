// The one door to the shared tables (DESIGN §2): each word of the Track ID table, the cache slot
// headers, the PB columns, the split cursors, the device headers and the cache-wide words by name,
// each access one Atomics operation. `npm run lint` forbids Atomics outside the rooms that own
// shared words (tables, sched, hooks, the rings), so every table access is here, where it is audited.
import { DEVICE_WORDS, KEPT_FLAGS, SLOT, TRACK, TRACK_FLAG_NAMES, type SharedState } from './memory.ts';
import { markFlagChunk } from './dirty.ts';
import { sched, waitWord } from '../sched/sched.ts';
import { ArrayError } from '../errors/errors.ts';
import { assert, bits } from '../errors/assert.ts';

type S = Pick<
  SharedState,
  | 'trackFlags'
  | 'dirtyFlagChunks'
  | 'trackPb'
  | 'trackSlot'
  | 'slotState'
  | 'slotOwner'
  | 'slotSeq'
  | 'slotDirty'
  | 'slotValid'
  | 'trackBytes'
  | 'cacheWords'
  | 'splitCursors'
  | 'driveWriteSeq'
  | 'deviceHeaders'
  | 'hostInflight'
>;

/**
 * The one invariant of a flags word on its own (DESIGN §3): PS and IND never both. A split swaps PS
 * for IND or FMT in one step, and step 112 sets IND only outside O, where no PS is; a word that breaks
 * it stops the actor that wrote it, naming the track and its bits.
 */
function checkFlagsWord(g: number, word: number, what: string): void {
  assert(
    (word & (TRACK.PS | TRACK.IND)) !== (TRACK.PS | TRACK.IND),
    () => `${what} of track ${g}: PS and IND both set (${bits(word, TRACK_FLAG_NAMES)})`,
  );
}

/** Track g's flags word (LOCK, its owner, PS, IND, FMT, FILLPEND). */
export const flagsOf = (st: S, g: number): number => Atomics.load(st.trackFlags, g);
/** Swap track g's flags from `from` to `to` in one step; the value found (equal to `from` when it took). */
export function casFlags(st: S, g: number, from: number, to: number): number {
  checkFlagsWord(g, to, 'a flags swap');
  if ((from ^ to) & KEPT_FLAGS) markFlagChunk(st.dirtyFlagChunks, g); // (before: a commit after the change finds it)
  return Atomics.compareExchange(st.trackFlags, g, from, to);
}
/** Set track g's flags word whole (a restart loading its image; nothing else runs then). */
export function restoreFlagsWord(st: S, g: number, v: number): void {
  checkFlagsWord(g, v, 'a restored flags word');
  Atomics.store(st.trackFlags, g, v);
}
/** Whether track g has flag `bit` (any of the bits, for a mask). */
export const hasFlag = (st: S, g: number, bit: number): boolean => (Atomics.load(st.trackFlags, g) & bit) !== 0;
/** Set flag `bit` of track g; a bit the durable store keeps marks its chunk first (a commit after finds it). */
export function setFlag(st: S, g: number, bit: number): void {
  checkFlagsWord(g, Atomics.load(st.trackFlags, g) | bit, "a flag's setting"); // before the write…
  if (bit & KEPT_FLAGS) markFlagChunk(st.dirtyFlagChunks, g);
  checkFlagsWord(g, Atomics.or(st.trackFlags, g, bit) | bit, "a flag's setting"); // …and after (a race between)
}
/** Clear flag `bit` of track g; a bit the durable store keeps marks its chunk first. */
export function clearFlag(st: S, g: number, bit: number): void {
  if (bit & KEPT_FLAGS) markFlagChunk(st.dirtyFlagChunks, g);
  Atomics.and(st.trackFlags, g, ~bit);
}
/** Track g's PB column bits. */
export const pbWordOf = (st: S, g: number): number => Atomics.load(st.trackPb, g);
/** Whether track g has PB bit y (session column y). */
export const hasPb = (st: S, g: number, y: number): boolean => (Atomics.load(st.trackPb, g) & (1 << y)) !== 0;
export const orPb = (st: S, g: number, bits: number): number => Atomics.or(st.trackPb, g, bits);
export const andPb = (st: S, g: number, bits: number): number => Atomics.and(st.trackPb, g, bits);
/** The cache slot attached to track g (NO_SLOT: none). */
export const slotOf = (st: S, g: number): number => Atomics.load(st.trackSlot, g);
export const setSlotOf = (st: S, g: number, s: number): number => Atomics.store(st.trackSlot, g, s);
/** Slot s's state bits (VALID, PARTIAL, WP, WPk, REF). */
export const slotStateOf = (st: S, s: number): number => Atomics.load(st.slotState, s);
export const setSlotState = (st: S, s: number, v: number): number => Atomics.store(st.slotState, s, v);
export const orSlotState = (st: S, s: number, bits: number): number => Atomics.or(st.slotState, s, bits);
export const andSlotState = (st: S, s: number, bits: number): number => Atomics.and(st.slotState, s, bits);
/** The track slot s holds (NO_TRACK: free). */
export const slotOwnerOf = (st: S, s: number): number => Atomics.load(st.slotOwner, s);
export const setSlotOwner = (st: S, s: number, g: number): number => Atomics.store(st.slotOwner, s, g);
/** Swap slot s's state from `from` to `to` in one step; the value found. */
export const casSlotState = (st: S, s: number, from: number, to: number): number =>
  Atomics.compareExchange(st.slotState, s, from, to);
/** Slot s's data changed: its sequence moves on. */
export const addSlotSeq = (st: S, s: number, n: number): number => Atomics.add(st.slotSeq, s, n);
/** A cache-wide word (CACHE.*, BACKGROUND.*). */
export const cacheWordOf = (st: S, w: number): number => Atomics.load(st.cacheWords, w);
export const addCacheWord = (st: S, w: number, n: number): number => Atomics.add(st.cacheWords, w, n);
/** Split cursor word w (splitCursorWord(y, da)). */
export const splitCursorOf = (st: S, w: number): number => Atomics.load(st.splitCursors, w);
export const setSplitCursor = (st: S, w: number, v: number): number => Atomics.store(st.splitCursors, w, v);
/** Track g's drive-write seqlock (odd while its drive is being written). */
/**
 * A slot's dirty range (DESIGN §11): the bytes [lo, hi) that may differ from its own track's location
 * on the drive, so a destage there copies only those. Whole when a slot is claimed or moved (its bytes
 * came from anywhere), none once staged from or destaged to its own location, widened by host writes.
 * Every change happens under the owning track's lock.
 */
export const markSlotWhole = (st: S, s: number): void => {
  Atomics.store(st.slotDirty, 2 * s, 0);
  Atomics.store(st.slotDirty, 2 * s + 1, st.trackBytes);
};
export const markSlotClean = (st: S, s: number): void => {
  Atomics.store(st.slotDirty, 2 * s, st.trackBytes);
  Atomics.store(st.slotDirty, 2 * s + 1, 0);
};
export const widenSlotDirty = (st: S, s: number, from: number, to: number): void => {
  if (Atomics.load(st.slotDirty, 2 * s) > from) Atomics.store(st.slotDirty, 2 * s, from);
  if (Atomics.load(st.slotDirty, 2 * s + 1) < to) Atomics.store(st.slotDirty, 2 * s + 1, to);
};
/** The dirty range [lo, hi) of slot s (lo ≥ hi: none). */
export const slotDirtyOf = (st: S, s: number): [number, number] => [
  Atomics.load(st.slotDirty, 2 * s),
  Atomics.load(st.slotDirty, 2 * s + 1),
];
/**
 * A partial slot (DESIGN §2): a clean slot holding only bytes [lo, hi) of its track, staged for a
 * random read miss. Set, widened and dropped under the owning track's lock; whole-track VALID
 * replaces it (markSlotValid). Nothing but a host read uses a partial slot's bytes.
 */
export const markSlotPartial = (st: S, s: number, lo: number, hi: number): void => {
  Atomics.store(st.slotValid, 2 * s, lo);
  Atomics.store(st.slotValid, 2 * s + 1, hi);
  Atomics.or(st.slotState, s, SLOT.PARTIAL);
};
/** The bytes [lo, hi) partial slot s holds. */
export const slotValidOf = (st: S, s: number): [number, number] => [
  Atomics.load(st.slotValid, 2 * s),
  Atomics.load(st.slotValid, 2 * s + 1),
];
/** Slot s holds its whole track now (VALID, no longer PARTIAL). */
export const markSlotValid = (st: S, s: number): void => {
  Atomics.and(st.slotState, s, ~SLOT.PARTIAL);
  Atomics.or(st.slotState, s, SLOT.VALID);
};
export const driveWriteSeqOf = (st: S, g: number): number => Atomics.load(st.driveWriteSeq, g);
/** Word `word` of device `device`'s header (DEVICE). */
export const deviceWordOf = (st: S, device: number, word: number): number =>
  Atomics.load(st.deviceHeaders, device * DEVICE_WORDS + word);
/** Set word `word` of device `device`'s header, and wake whoever waits on it. */
export function setDeviceWord(st: S, device: number, word: number, value: number): void {
  Atomics.store(st.deviceHeaders, device * DEVICE_WORDS + word, value);
  sched().notify(st.deviceHeaders, device * DEVICE_WORDS + word);
}
/** Longest one wait on a device word lasts before it looks again (ms): a missed wake costs at most this. */
const DEVICE_WAIT_SLICE_MS = 50;
/** Wait until word `word` of device `device`'s header equals `value`, bounded by `waitMs` (`what` names the wait in the error). */
export async function awaitDeviceWord(
  st: S,
  at: { device: number; word: number; value: number },
  waitMs: number,
  what: string,
): Promise<void> {
  const i = at.device * DEVICE_WORDS + at.word;
  const deadline = sched().now() + waitMs;
  for (;;) {
    const v = Atomics.load(st.deviceHeaders, i);
    if (v === at.value) return;
    if (sched().now() > deadline)
      throw new ArrayError('TIMEOUT', `${what}: still ${v}, not ${at.value}, after ${waitMs} ms`);
    await waitWord(st.deviceHeaders, i, v, DEVICE_WAIT_SLICE_MS);
  }
}
/** Take host-request word i (set it to 0, waking its waiters): the count it held. */
export function takeInflight(st: S, i: number): number {
  const n = Atomics.exchange(st.hostInflight, i, 0);
  if (n > 0) sched().notify(st.hostInflight, i);
  return n;
}
