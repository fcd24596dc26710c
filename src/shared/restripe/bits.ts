// Every scan of a session's bits in one place (DESIGN §3): what is left to move (PB), the bits left
// at completion (step 122) and their counts for /metrics, and the bit invariants the switch and the
// harnesses check. Each reads the shared tables without locks, one flags word per location.
import { NO_SLOT, TRACK, type SharedState } from '../tables/memory.ts';
import type { Session } from './session.ts';
import { assert } from '../errors/assert.ts';
import { flagsOf, hasFlag, hasPb, slotOf } from '../tables/tables.ts';

/** The PB, PS and IND bits of one session still set, over its own locations (O ∪ N, and B for PB). */
export interface SessionBitCounts {
  pb: number;
  ps: number;
  ind: number;
  /** The first few locations with a bit set, each as its [DCH] and its table row. */
  first: string[];
}

/**
 * No location of N holds a fill still only in cache (FILLPEND: IND cleared, n's drive not written
 * yet). At completion with a data dir, once the fills are destaged, there must be none (R5,
 * DESIGN §10): a record without the session would read such a location as filled.
 */
export function assertNoFillPending(state: SharedState, session: Session, max = 5): void {
  const out: string[] = [];
  for (let t = 0; t < session.N.tracks && out.length < max; t++) {
    const n = session.N.locate(t);
    if (flagsOf(state, n) & TRACK.FILLPEND)
      out.push(`${session.drives.dch(n)} ${state.describeTrack(n)}${slotNote(state, n)}`);
  }
  assert(
    out.length === 0,
    () => `${session.spec.deviceId}: fills still only in cache at completion: ${out.join('; ')}`,
  );
}

/** Track g's slot, described (empty if none). */
function slotNote(state: SharedState, g: number): string {
  const s = slotOf(state, g);
  return s === NO_SLOT ? '' : ` (${state.describeSlot(s)})`;
}

/** Tracks of the session still to move: PB set in its column on the BCV. */
export function pbLeft(state: SharedState, session: Session): number {
  if (!session.B || session.y < 0) return 0;
  let n = 0;
  for (let t = 0; t < session.oldTracks; t++) if (hasPb(state, session.B.locate(t), session.y)) n++;
  return n;
}

/**
 * The session's bits still set — PS and IND on its own locations (O ∪ N, each once), PB in its
 * column on the BCV — naming the first `named` locations. Another session's bits on other devices
 * are not counted.
 */
export function sessionBitCounts(state: SharedState, session: Session, named = 0): SessionBitCounts {
  const out: SessionBitCounts = { pb: 0, ps: 0, ind: 0, first: [] };
  const note = (g: number) => {
    if (out.first.length < named) out.first.push(`${session.drives.dch(g)} ${state.describeTrack(g)}`);
  };
  const seen = new Set<number>();
  const check = (g: number) => {
    if (seen.has(g)) return;
    seen.add(g);
    const flags = flagsOf(state, g);
    if (flags & TRACK.PS) out.ps++;
    if (flags & TRACK.IND) out.ind++;
    if (flags & (TRACK.PS | TRACK.IND)) note(g);
  };
  for (let t = 0; t < session.O.tracks; t++) check(session.O.locate(t));
  for (let t = 0; t < session.N.tracks; t++) check(session.N.locate(t));
  if (session.B && session.y >= 0) {
    for (let t = 0; t < session.B.tracks; t++) {
      const b = session.B.locate(t);
      if (!hasPb(state, b, session.y)) continue;
      out.pb++;
      note(b);
    }
  }
  return out;
}

/**
 * The session's bit invariants (DESIGN §3), which hold between any two steps of any process once
 * the bits are set:
 *   PS[p] ⇒ p is a location of O;   IND[p] ⇒ N⁻¹(p) is an old track and PS[p] is clear;
 *   IND[N(t)] ⇒ PB[B(t)] (t not filled yet);   ¬PB[B(t)] ⇒ O(t) and N(t) split and N(t) filled.
 *
 * Safe to run while host requests, the instant split and the data transfer change the bits (it
 * takes no lock), because every legal intermediate state passes it:
 *  - split swaps PS for IND/FMT in one compare-and-swap, and each location's bits are read from one
 *    load of its flags word, so no scan sees IND and PS both set half-way through a split;
 *  - fill clears PS[o], PS[n] and IND[n] before PB[b], and nothing sets any of them again while the
 *    session is open; PB[b] is read first, so a clear PB means the rest were cleared already.
 * Returns the first few violations, each naming the track, the locations and their bits.
 */
export function sessionBitProblems(state: SharedState, session: Session, max = 5): string[] {
  const out: string[] = [];
  const say = (text: string) => out.length < max && out.push(text);
  const at = (g: number) => `${session.drives.dch(g)} (${state.describeTrack(g)})`;
  const seen = new Set<number>();
  for (const layout of [session.O, session.N]) {
    for (let t = 0; t < layout.tracks; t++) {
      const p = layout.locate(t);
      if (seen.has(p)) continue;
      seen.add(p);
      const flags = flagsOf(state, p);
      if (flags & TRACK.PS && session.oInv.get(p) < 0) say(`PS set on ${at(p)}, not a location of the original layout`);
      if (flags & TRACK.IND) {
        const next = session.nInv.get(p);
        if (next < 0 || next >= session.oldTracks) say(`IND set on ${at(p)}, which receives no old track`);
        if (flags & TRACK.PS) say(`IND and PS both set on ${at(p)}`);
      }
    }
  }
  if (session.B && session.y >= 0) {
    for (let t = 0; t < session.oldTracks; t++) {
      const b = session.B.locate(t);
      const n = session.N.locate(t);
      const o = session.O.locate(t);
      if (hasPb(state, b, session.y)) continue; // read first: see above
      if (hasFlag(state, n, TRACK.IND)) say(`track ${t}: PB clear on ${at(b)} but IND still set on ${at(n)}`);
      if (hasFlag(state, o, TRACK.PS)) say(`track ${t}: PB clear on ${at(b)} but ${at(o)} not split`);
      if (hasFlag(state, n, TRACK.PS)) say(`track ${t}: PB clear on ${at(b)} but ${at(n)} not split`);
    }
  }
  return out;
}
