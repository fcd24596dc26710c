// split(p) (DESIGN §3, steps 135-138, 145-146, 151-152, 172, 180-181): shared by the host adapter
// (FIG. 7), the instant split (FIG. 5) and the data transfer (FIG. 6) — one function, one name.
import { NO_SLOT, SLOT, TRACK, WPK_ALL, type SharedState } from '../tables/memory.ts';
import type { Session } from './session.ts';
import { releaseSlot, wholeSlotOf } from '../tables/cache.ts';
import { assert } from '../errors/assert.ts';
import { moveSlot } from '../tables/intent.ts';
import { formatMirrors } from '../mirrors/mirrors.ts';
import { lockTrack, tryLockTrack, unlockTrack } from '../tables/track-lock.ts';
import { casFlags, flagsOf, hasPb, slotOf, slotStateOf } from '../tables/tables.ts';

/**
 * split(p), with p locked by the caller and PS[p] set:
 *  1. write-pending data of p's original track t' = O⁻¹(p) moves to B(t') — the Track ID entry's
 *     slot moves to the BCV drive's entry (step 137) and becomes write-pending there (WP1 of its new
 *     owner); p keeps no mirror bit, so nothing destages old-layout data onto p. A clean slot of p
 *     is freed: its data is p's old-layout content, wrong for p under N.
 *  2. N⁻¹(p) an old track → set IND[p]; a new host track → format p (FMT: reads zeros);
 *  3. clear PS[p].
 * Returns the slot moved to the BCV (so the caller can hint its disk adapter), or NO_SLOT.
 */
export interface SplitResult {
  /** The slot moved to the BCV track (its disk adapter is to be hinted), or NO_SLOT. */
  movedSlot: number;
  bcvTrack: number;
}

export function split(state: SharedState, session: Session, p: number): SplitResult {
  const flags = flagsOf(state, p);
  assert(flags & TRACK.LOCK, () => `split of ${session.drives.dch(p)} without its lock (${state.describeTrack(p)})`);
  assert(flags & TRACK.PS, () => `split of ${session.drives.dch(p)} whose PS is clear (${state.describeTrack(p)})`);
  const original = session.oInv.get(p);
  assert(original >= 0, () => `split of ${session.drives.dch(p)}: PS set on a location outside the original layout`);
  let movedSlot = NO_SLOT;
  let bcvTrack = -1;
  const s = wholeSlotOf(state, p); // a partial slot is clean: freed, as a clean whole one is below
  if (s !== NO_SLOT) {
    const st = slotStateOf(state, s);
    assert(st & SLOT.VALID, () => `split of ${session.drives.dch(p)}: attached ${state.describeSlot(s)} is not VALID`);
    if (st & WPK_ALL) {
      bcvTrack = session.bcvOfOriginal(p);
      assert(
        slotOf(state, bcvTrack) === NO_SLOT,
        () =>
          `split of ${session.drives.dch(p)}: BCV track ${session.drives.dch(bcvTrack)} already holds a slot (${state.describeTrack(bcvTrack)})`,
      );
      // Pending for every copy of the BCV track (WP1, WPk of a mirrored BCV); the caller holds
      // splitBcvTrack(p) locked too.
      moveSlot(state, s, p, bcvTrack, SLOT.VALID | SLOT.WP | session.bcvSlotBits());
      movedSlot = s;
    } else {
      releaseSlot(state, p);
    }
    splitProbe?.(p, 'slot-moved');
  }
  const next = session.nInv.get(p);
  const set = next >= 0 && next < session.oldTracks ? TRACK.IND : next >= 0 ? TRACK.FMT : 0;
  if (set === TRACK.FMT) formatMirrors(state, session.N, next); // its mirrors too may hold anything
  // Steps 2 and 3 are one atomic step: an observer without the lock (the switch's check, a scan)
  // sees PS, or IND/FMT, never both and never neither-yet.
  swapFlags(state, p, TRACK.PS, set, () => `split of ${session.drives.dch(p)}`);
  splitProbe?.(p, 'flags-swapped');
  return { movedSlot, bcvTrack };
}

/** Tries of one flags compare-and-swap before a word that keeps changing under its lock stops the actor. */
export const FLAG_SWAP_TRIES = 64;

/**
 * Clear `clear` and set `set` in track g's flags word in one compare-and-swap. The caller holds g's
 * lock, so only the LOCK/WAITERS bits may change meanwhile (a waiter arriving): the loop is bounded.
 */
export function swapFlags(state: SharedState, g: number, clear: number, set: number, what: () => string): void {
  for (let i = 0; i < FLAG_SWAP_TRIES; i++) {
    const v = flagsOf(state, g);
    if (casFlags(state, g, v, (v & ~clear) | set) === v) return; // (marks a kept bit's chunk first)
  }
  assert(
    false,
    () =>
      `${what()}: flags of track ${g} changed ${FLAG_SWAP_TRIES} times running under its lock (${state.describeTrack(g)})`,
  );
}

/**
 * TEST ONLY: called at each step of split(p) that another actor may observe ('slot-moved' after
 * the write-pending data went to the BCV or the clean slot was freed, 'flags-swapped' after PS gave
 * way to IND/FMT), in the splitting actor's thread, with p still locked. A test runs the switch's
 * check from here, so the check meets a host request inside split.
 */
let splitProbe: ((p: number, step: 'slot-moved' | 'flags-swapped') => void) | undefined;
export function setSplitProbe(probe: typeof splitProbe): void {
  splitProbe = probe;
}

/**
 * The BCV track split(p) may hand p's write-pending data to (B of p's original track), or -1:
 * whoever splits p holds it locked as well as p (main location first, then the BCV track).
 */
export function splitBcvTrack(session: Session, p: number): number {
  return session.B && session.oInv.get(p) >= 0 ? session.bcvOfOriginal(p) : -1;
}

/** split(p), p locked by the caller: takes and frees splitBcvTrack(p)'s lock around it (waiting for it). */
export async function splitHoldingBcv(state: SharedState, session: Session, p: number): Promise<SplitResult> {
  const b = splitBcvTrack(session, p);
  if (b >= 0) await lockTrack(state, b);
  try {
    return split(state, session, p);
  } finally {
    if (b >= 0) unlockTrack(state, b);
  }
}

/** As splitHoldingBcv, but never waits: undefined if the BCV track is locked (for the destager). */
export function trySplitHoldingBcv(state: SharedState, session: Session, p: number): SplitResult | undefined {
  const b = splitBcvTrack(session, p);
  if (b >= 0 && !tryLockTrack(state, b)) return undefined;
  try {
    return split(state, session, p);
  } finally {
    if (b >= 0) unlockTrack(state, b);
  }
}

/** The patent's four scenarios of a host request (FIG. 7), from the state at its arrival. */
export type Scenario = 1 | 2 | 3 | 4;

/**
 * Which scenario a request to logical track t meets: has the instant split process passed t's
 * location (its cursor, per disk adapter), has the data transfer filled t (PB clear)?
 *   1 both acted · 2 instant split only · 3 data transfer only · 4 neither.
 * A new host track is never filled by the data transfer: 2 or 4.
 */
export function scenarioOf(
  state: SharedState,
  session: Session,
  t: number,
  splitPassed: (g: number) => boolean,
): Scenario {
  if (t >= session.oldTracks || !session.B) return splitPassed(session.N.locate(t)) ? 2 : 4;
  const o = session.O.locate(t);
  const b = session.B.locate(t);
  const transferred = !hasPb(state, b, session.y);
  const splitDone = splitPassed(o);
  return splitDone ? (transferred ? 1 : 2) : transferred ? 3 : 4;
}
