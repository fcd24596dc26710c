// fill(t) (steps 150-154, 170-175), run by the adapter owning b = B(t) for the data transfer and a
// host adapter's FIG. 7 fill alike: with o, n, b locked (main locations before BCV ones, each in
// index order): if PS[o] split(o); if PS[n] split(n); if IND[n] copy b → n and clear IND[n]; clear
// PB[b]. `run` waits for what it needs; `now` does it at once or not at all (DESIGN §11, "A
// background track with nothing to wait for").
import { NO_SLOT, SLOT, TRACK, wpOfMirror } from '../shared/tables/memory.ts';
import { lockTrack, tryLockTrack, unlockTrack } from '../shared/tables/track-lock.ts';
import { releaseSlot, SlotWait, tryAllocateSlot, wholeSlotOf } from '../shared/tables/cache.ts';
import { split, splitBcvTrack } from '../shared/restripe/split.ts';
import { moveSlot } from '../shared/tables/intent.ts';
import type { Session } from '../shared/restripe/session.ts';
import { assert } from '../shared/errors/assert.ts';
import { CLEAR_PENDING_TRIES } from './duty.ts';
import { markFillCopies } from './fill-pending.ts';
import {
  andPb,
  andSlotState,
  casFlags,
  flagsOf,
  hasFlag,
  hasPb,
  setSlotState,
  slotOf,
  slotStateOf,
} from '../shared/tables/tables.ts';
import {
  CACHE_WAIT_SLICE_MS,
  copyDirectCounted,
  slotWait,
  splitDone,
  type RestripeContext,
} from './restripe-context.ts';

/** The items of `xs` before the first that fails `ok`. */
function prefix<T>(xs: T[], ok: (x: T) => boolean): T[] {
  const i = xs.findIndex((x) => !ok(x));
  return i < 0 ? xs : xs.slice(0, i);
}

/** fill(t)'s locations o = O(t), n = N(t), b = B(t), and every location it locks, in locking order. */
interface FillLocks {
  o: number;
  n: number;
  b: number;
  order: number[];
}

export class Fill {
  constructor(private readonly ctx: RestripeContext) {}

  /** fill(t): waits for its locks, and for a cache slot with no lock held. */
  async run(session: Session, t: number, from: number): Promise<void> {
    assert(
      session.B && t >= 0 && t < session.oldTracks,
      () => `${this.ctx.name}: fill of track ${t}, not an old track of session ${session.spec.sid}`,
    );
    const wait = new SlotWait(this.ctx.state, {
      what: () => `${this.ctx.name}: fill of track ${t}`,
      onWait: () => slotWait(this.ctx),
      sliceMs: CACHE_WAIT_SLICE_MS,
    });
    for (;;) {
      const seen = wait.seen();
      if (await this.attempt(session, t, from)) return;
      // No slot for n: wait for one with no lock held (a holder of o may own a write-pending slot
      // that only a destage, which needs o's lock, can free).
      await wait.next(seen);
    }
  }

  /**
   * fill(t) at once, if nothing makes it wait: every lock free (each taken by a try, in the same
   * order), and IND[n] needs no cache slot. False, with nothing done that `run` would not do again
   * (a split done stays done): `run` must fill t.
   */
  now(session: Session, t: number, from: number): boolean {
    const { state } = this.ctx;
    const locks = this.lockOrder(session, t);
    let held = 0;
    try {
      for (; held < locks.order.length; held++) if (!tryLockTrack(state, locks.order[held]!)) return false;
      return this.whileHeld(session, locks, from);
    } finally {
      while (held > 0) unlockTrack(state, locks.order[--held]!);
    }
  }

  /**
   * fill(t) at once for BCV locations from b0 in a row (at most `most`) whose new locations n are in
   * a row too, each needing its copy (IND[n], no slot on b or n, n not mirrored): every lock of
   * every track taken by a try, their splits done, the span copied b → n in one copy (DESIGN §11).
   * The tracks done: the longest such span from b0 if it has two or more, else 0 with nothing done
   * that `run` would not do again (a split done stays done).
   */
  spanNow(session: Session, b0: number, most: number): number {
    const { state } = this.ctx;
    let tracks: FillLocks[] = [];
    for (let i = 0; i < most; i++) {
      const x = this.lockOrder(session, session.bInv!.get(b0 + i));
      if (x.b !== b0 + i || (i > 0 && x.n !== tracks[0]!.n + i) || this.ctx.model.mirrored(x.n)) break;
      tracks.push(x);
    }
    if (tracks.length < 2) return 0;
    const locks = [...new Set(tracks.flatMap((x) => x.order))].sort((x, y) => x - y);
    let held = 0;
    try {
      for (; held < locks.length; held++) if (!tryLockTrack(state, locks[held]!)) return 0;
      if (!this.ctx.sessions.has(session.spec.sid)) return 0;
      tracks = prefix(tracks, (x) => hasPb(state, x.b, session.y)); // a track filled meanwhile ends the span
      for (const x of tracks) this.splits(session, x);
      // After the splits (a split of n sets IND[n]; one of o may move o's write-pending slot to b),
      // the tracks whose fill is a copy b → n with no cache slot.
      tracks = prefix(tracks, (x) => this.spanCopies(x));
      if (tracks.length < 2 || !this.ctx.copySpan(b0, tracks[0]!.n, tracks.length)) return 0;
      this.ctx.counters.directCopies += tracks.length;
      for (const { n, b } of tracks) {
        this.filled(n, true);
        this.pbCleared(session, b);
      }
      return tracks.length;
    } finally {
      while (held > 0) unlockTrack(state, locks[--held]!);
    }
  }

  /** Whether fill(t) of these locations (all locked, split done) is a copy b → n that needs no cache slot. */
  private spanCopies({ n, b }: FillLocks): boolean {
    const { state } = this.ctx;
    if (!hasFlag(state, n, TRACK.IND)) return false;
    return slotOf(state, n) === NO_SLOT && wholeSlotOf(state, b) === NO_SLOT;
  }

  /**
   * fill(t)'s locations, and the order it locks them in: main locations before BCV ones, each in
   * index order. A split of n hands n's original data to its own BCV track, which is locked too.
   */
  private lockOrder(session: Session, t: number): FillLocks {
    const o = session.O.locate(t);
    const n = session.N.locate(t);
    const b = session.B!.locate(t);
    const main = o === n ? [o] : o < n ? [o, n] : [n, o];
    const bn = splitBcvTrack(session, n);
    const bcv = bn < 0 || bn === b ? [b] : b < bn ? [b, bn] : [bn, b];
    return { o, n, b, order: [...main, ...bcv] };
  }

  /** One attempt at fill(t) under the locks; false if n needed a slot and none was free. */
  private async attempt(session: Session, t: number, from: number): Promise<boolean> {
    const locks = this.lockOrder(session, t);
    const held: number[] = [];
    try {
      for (const g of locks.order) {
        await lockTrack(this.ctx.state, g);
        held.push(g);
      }
      if (this.whileHeld(session, locks, from)) return true;
      if (!(await this.copyBcvToMain(locks.b, locks.n, from))) return false;
      if (this.ctx.state.hooks.isHeld('fill-copied')) await this.ctx.state.hooks.passHold('fill-copied');
      this.filled(locks.n, false);
      this.pbCleared(session, locks.b);
      return true;
    } finally {
      for (const g of held.reverse()) unlockTrack(this.ctx.state, g);
    }
  }

  /**
   * fill(t)'s steps that need no wait, every lock held: false, IND[n] is left for copyBcvToMain
   * (n needs a cache slot); any split done stays done.
   */
  private whileHeld(session: Session, { o, n, b }: FillLocks, from: number): boolean {
    const { state } = this.ctx;
    // The session may have closed while this fill waited for its locks (a host fill that queued
    // behind a request stalled on a full cache): every track was filled before it closed, and
    // PB column y may already belong to the next session, whose bits this one must not touch.
    if (!this.ctx.sessions.has(session.spec.sid)) return true;
    if (!hasPb(state, b, session.y)) return true; // filled meanwhile
    this.splits(session, { o, n });
    if (hasFlag(state, n, TRACK.IND) && !this.filledWithoutCache(b, n, from)) return false;
    this.pbCleared(session, b);
    return true;
  }

  /** fill(t)'s splits, its locks held: if PS[o] split(o); if PS[n] split(n). */
  private splits(session: Session, { o, n }: Pick<FillLocks, 'o' | 'n'>): void {
    const { state } = this.ctx;
    // (TEST_FAULT.BROKEN_FILL skips split(o), to prove the stress run catches it.)
    if (hasFlag(state, o, TRACK.PS) && !state.hooks.testFault('BROKEN_FILL'))
      splitDone(this.ctx, split(state, session, o));
    if (hasFlag(state, n, TRACK.PS)) splitDone(this.ctx, split(state, session, n));
  }

  /** fill(t)'s last step: PB[b] of the session cleared, counted. */
  private pbCleared(session: Session, b: number): void {
    andPb(this.ctx.state, b, ~(1 << session.y));
    this.ctx.counters.fills++;
  }

  /**
   * Fill IND location n from BCV track b (o, n, b locked) where no new cache slot is needed, and
   * clear IND[n]; false: the copy must go through the cache (copyBcvToMain).
   */
  private filledWithoutCache(b: number, n: number, from: number): boolean {
    const { state } = this.ctx;
    // A slot on n while IND is set: a failed predecessor copied b to n and stopped before
    // clearing IND (nothing else attaches a slot to an IND location). That copy stands, pending
    // still or destaged since (by the mirrors' adapters, or a replacement of this one).
    const done = slotOf(state, n);
    if (done !== NO_SLOT) {
      assert(
        (slotStateOf(state, done) & (SLOT.VALID | SLOT.FILL)) === (SLOT.VALID | SLOT.FILL),
        () =>
          `fill: IND location ${this.ctx.model.drives.dch(n)} holds a slot that no fill made (${state.describeSlot(done)}; ${state.describeTrack(n)})`,
      );
      this.filled(n, false);
      return true;
    }
    // Neither b nor n in cache: b goes onto n's drive in one copy. Every writer of n holds n's lock,
    // every writer of b b's lock or o's (a mirror destage of o's slot): all are held here. A mirrored
    // n is filled through the cache: its write-pending slot carries a WPk for each mirror.
    if (wholeSlotOf(state, b) !== NO_SLOT || this.ctx.model.mirrored(n) || !copyDirectCounted(this.ctx, from, n))
      return false;
    this.filled(n, true);
    return true;
  }

  /**
   * Clear IND[n]. Unless n's drive holds its data already (`onDrive`: a direct copy), it is in a
   * write-pending slot, so FILLPEND is set in the same atomic step and stays until every copy of n
   * pending in it is written (the durable store keeps IND set until then: R3; fill-pending.ts).
   */
  private filled(n: number, onDrive: boolean): void {
    const s = slotOf(this.ctx.state, n);
    const pending = onDrive || s === NO_SLOT ? 0 : slotStateOf(this.ctx.state, s);
    const marked = markFillCopies(this.ctx.state, this.ctx.model, n, pending);
    const keep = !marked || this.ctx.state.hooks.testFault('EARLY_IND_CLEAR') ? 0 : TRACK.FILLPEND;
    for (let i = 0; i < CLEAR_PENDING_TRIES; i++) {
      const f = flagsOf(this.ctx.state, n);
      if (casFlags(this.ctx.state, n, f, (f & ~TRACK.IND) | keep) !== f) continue;
      if (s !== NO_SLOT) andSlotState(this.ctx.state, s, ~SLOT.FILL); // n is no longer IND: the mark has served
      return;
    }
    assert(
      false,
      () =>
        `fill: flags of ${this.ctx.model.drives.dch(n)} changed under its lock ${CLEAR_PENDING_TRIES} times running (${this.ctx.state.describeTrack(n)})`,
    );
  }

  /**
   * Copy BCV track b to main location n through the cache: n gets a write-pending slot (WP1, and WPk
   * for each mirror of n). False: no slot free.
   */
  private async copyBcvToMain(b: number, n: number, from: number): Promise<boolean> {
    const { state } = this.ctx;
    assert(
      slotOf(state, n) === NO_SLOT,
      () => `fill: IND location ${this.ctx.model.drives.dch(n)} holds a slot (${state.describeTrack(n)})`,
    );
    const copies = this.ctx.model.mirrorBits(n);
    let s = wholeSlotOf(state, b);
    const pending = s === NO_SLOT ? 0 : slotStateOf(state, s) & (SLOT.WP1 | SLOT.WP2 | SLOT.WP3 | SLOT.WP4);
    if (pending & ~SLOT.WP1 || (pending && !this.ctx.ownsTrack(b))) {
      // Pending for a copy this adapter does not write (a mirror of a mirrored BCV, or b itself when
      // this fill reads a mirror copy): those adapters destage it first (they need b's lock, so the
      // fill lets go and waits, as for a slot).
      this.ctx.sweepAll();
      return false;
    }
    if (s !== NO_SLOT) {
      // The BCV track is in cache (split moved pending data there): keep the BCV's point-in-time
      // image on its drive, then hand the slot itself to n.
      if (slotStateOf(state, s) & SLOT.WP1) await this.ctx.writeLocation(b, state.slotBytes(s));
      moveSlot(state, s, b, n, SLOT.VALID | SLOT.WP | SLOT.FILL | copies);
    } else {
      s = tryAllocateSlot(state, n);
      if (s === NO_SLOT) return false;
      try {
        await this.ctx.readLocation(from, state.slotBytes(s)); // b, or a readable copy of a mirrored BCV
      } catch (err) {
        releaseSlot(state, n);
        throw err;
      }
    }
    setSlotState(state, s, SLOT.VALID | SLOT.WP | SLOT.FILL | copies);
    state.cacheEvent();
    this.ctx.hintOwner(n, s);
    for (let k = 2; copies & wpOfMirror(k); k++) this.ctx.hintOwner(this.ctx.model.mirrorLocation(n, k), s);
    return true;
  }
}
