// The disk adapter's parts of a reconfiguration session (DESIGN §3), each one named function per
// patent step: the BCV purge before ESTABLISH (step 105), ESTABLISH (step 104) over this adapter's
// main drives, the instant split (FIG. 5), the data transfer (FIGS. 6A/6B) over its BCV drives,
// fill(t) (steps 150-154, 170-175) and a host adapter's FIG. 7 fill. They work from the shared
// tables and the adapter's drives, through RestripeContext.
import type { Link } from '../shared/links/link.ts';
import { Fill } from './fill.ts';
import {
  CACHE_WAIT_SLICE_MS,
  copyDirectCounted,
  slotWait,
  splitDone,
  type RestripeContext,
} from './restripe-context.ts';
import { NO_SLOT, SLOT, TRACK, WPK_ALL, splitCursorWord, SPLIT_CURSOR_DONE } from '../shared/tables/memory.ts';
import { lockTrack, tryLockTrack, unlockTrack } from '../shared/tables/track-lock.ts';
import { releaseSlot, SlotWait, tryAllocateSlot, wholeSlotOf } from '../shared/tables/cache.ts';
import { errorMessage } from '../shared/errors/errors.ts';
import { splitHoldingBcv, trySplitHoldingBcv, type SplitResult } from '../shared/restripe/split.ts';
import type { Session } from '../shared/restripe/session.ts';
import { assert } from '../shared/errors/assert.ts';
import { nextTurn, sched } from '../shared/sched/sched.ts';
import { AT_ONCE_BATCH, pipeline } from './pipeline.ts';
import { copyServesRead, DriveFault, positionsServed } from '../shared/drive-states/drive-state.ts';
import {
  andSlotState,
  clearFlag,
  hasFlag,
  hasPb,
  orSlotState,
  setSplitCursor,
  slotOf,
  slotStateOf,
} from '../shared/tables/tables.ts';

/**
 * The most locations ESTABLISH or the data transfer copies in one span: a stripe of a cylinder or two,
 * one copy of a few MB, so the track locks it holds are free again within a fraction of a ms.
 */
const SPAN_TRACKS = 32;
/** Tracks the instant split handles per turn. */
const BACKGROUND_BATCH = 16;
/**
 * Tracks of one drive that ESTABLISH and the data transfer keep in flight: enough that the drive
 * always has the next ones of its sequential sweep queued (it streams at its media rate), few
 * enough that the processes of all drives hold a small part of the cache.
 */
const TRACKS_IN_FLIGHT_PER_DRIVE = 8;
export class Restripe {
  private hostFills = 0; // fills asked by host adapters now running: background transfer yields to them
  private readonly hostFillsDone: Array<() => void> = []; // the data transfers waiting for hostFills to reach 0

  private readonly fill: Fill;

  constructor(private readonly ctx: RestripeContext) {
    this.fill = new Fill(ctx);
  }

  /** Before ESTABLISH: cached tracks of the BCV on this adapter's drives are about to go stale. */
  async purgeBcv(session: Session): Promise<void> {
    // Every position this adapter serves: a spare's in a failed drive's place too (its rebuild may
    // have left a slot on a BCV track), not a failed drive's whose place a spare elsewhere took.
    for (const d of this.servedPositions()) {
      for (const b of session.bcvLocationsOn(d)) {
        if (!tryLockTrack(this.ctx.state, b)) await lockTrack(this.ctx.state, b);
        try {
          const s = slotOf(this.ctx.state, b);
          if (s !== NO_SLOT) {
            andSlotState(this.ctx.state, s, ~(SLOT.WP | WPK_ALL)); // the BCV's old content is given up
            releaseSlot(this.ctx.state, b);
          }
          for (const x of this.ctx.model.copiesOf(b)) clearFlag(this.ctx.state, x, TRACK.FMT);
        } finally {
          unlockTrack(this.ctx.state, b);
        }
      }
    }
  }

  /**
   * Step 105's promise to ESTABLISH: no BCV track this adapter serves holds a cache slot. ESTABLISH
   * writes the BCV's drives from the original's slots, so a BCV slot left now would keep older bytes
   * than its drives, and the data transfer would move them into N. The purge is its own round after
   * every adapter has opened the session: an adapter that does not know the session yet may still
   * rebuild a BCV copy through a slot (rebuild.ts bcvCopyLater), after the purge of the BCV's own
   * adapter had run (found by the crash-drives campaign, seed 103, when the purge rode on the open).
   */
  private assertBcvPurged(session: Session): void {
    const { state } = this.ctx;
    for (const d of this.servedPositions())
      for (const b of session.bcvLocationsOn(d)) {
        const s = slotOf(state, b);
        assert(
          s === NO_SLOT,
          () =>
            `${this.ctx.name}: ESTABLISH of session ${session.spec.sid} finds BCV track ${b} (${this.ctx.model.drives.dch(b)} ${state.describeTrack(b)}) in ${state.describeSlot(s)}: step 105 left it cached`,
        );
      }
  }

  /**
   * ESTABLISH (step 104), for the original layout's locations on this adapter's drives: each track
   * goes into cache (if not there) and is marked WPB, so the BCV's adapter destages it to the BCV.
   * Host writes meanwhile set WPB themselves (the device header's MIRROR word). `fromCopies` (pairs
   * o, x: DESIGN §14) names the originals whose own copy cannot be read this attempt, each with the
   * mirror copy x to read instead: whoever serves x copies o from it, and o's own adapter skips it.
   */
  async establish(session: Session, fromCopies: readonly number[] = []): Promise<void> {
    this.assertBcvPurged(session);
    const { elsewhere, mine } = this.readElsewhere(fromCopies);
    const skip = (g: number) => session.oInv.get(g) < 0 || elsewhere.has(g);
    await this.eachPosition((d) =>
      this.ctx.channel
        ? pipeline(session.mainLocationsOn(d), this.tracksInFlight, (g) => this.establishOne(session, g, g), skip)
        : this.establishSpans(session, session.mainLocationsOn(d), skip),
    );
    await pipeline(mine, this.tracksInFlight, ([o, x]) => this.establishOne(session, o, x));
  }

  /**
   * A step's pairs (g, x) of locations read from another copy this attempt: every such g (its own
   * adapter skips it), and the pairs whose copy x this adapter serves (it reads them).
   */
  private readElsewhere(fromCopies: readonly number[]): { elsewhere: Set<number>; mine: Array<[number, number]> } {
    const elsewhere = new Set<number>();
    const mine: Array<[number, number]> = [];
    for (let i = 0; i + 1 < fromCopies.length; i += 2) {
      elsewhere.add(fromCopies[i]!);
      if (this.ctx.ownsTrack(fromCopies[i + 1]!)) mine.push([fromCopies[i]!, fromCopies[i + 1]!]);
    }
    return { elsewhere, mine };
  }

  /**
   * ESTABLISH over one instant drive's main locations `locs` (in order), a span of locations at a
   * time where it can (establishSpanNow), else a track at a time; a turn for the thread's other work
   * every AT_ONCE_BATCH steps.
   */
  private async establishSpans(session: Session, locs: readonly number[], skip: (g: number) => boolean): Promise<void> {
    let steps = 0;
    for (let i = 0; i < locs.length;) {
      const g = locs[i]!;
      const done = skip(g) ? 1 : this.establishSpanNow(session, locs, i, skip);
      if (done === 0 && !this.establishNow(session, g)) await this.establishOne(session, g, g);
      i += Math.max(done, 1);
      if (++steps % AT_ONCE_BATCH === 0) await nextTurn();
    }
  }

  /**
   * ESTABLISH at once of the span of locations from locs[i]: original locations in a row (up to
   * SPAN_TRACKS) whose BCV locations are in a row too, none to skip. Every lock taken by a try, none
   * holding a slot, the span copied drive to drive in one copy (DESIGN §11). The locations done (0:
   * none, nothing done: go a track at a time).
   */
  private establishSpanNow(session: Session, locs: readonly number[], i: number, skip: (g: number) => boolean): number {
    const { state, model } = this.ctx;
    if (state.hooks.isHeld('establish') || !this.ctx.throttle.goesNow()) return 0; // before the span is looked for
    const g = locs[i]!;
    const b = session.bcvOfOriginal(g);
    let n = 1;
    while (n < SPAN_TRACKS && i + n < locs.length && locs[i + n] === g + n && !skip(g + n)) {
      if (session.bcvOfOriginal(g + n) !== b + n) break;
      n++;
    }
    if (n < 2 || model.mirrored(b) || model.mirrored(b + n - 1)) return 0;
    let held = 0;
    try {
      for (; held < n; held++) if (!tryLockTrack(state, g + held)) return 0;
      for (let k = 0; k < n; k++) if (wholeSlotOf(state, g + k) !== NO_SLOT) return 0;
      if (!this.ctx.copySpan(g, b, n)) return 0;
    } finally {
      while (held > 0) unlockTrack(state, g + --held);
    }
    this.ctx.counters.established += n;
    this.ctx.counters.directCopies += n;
    return n;
  }

  /**
   * ESTABLISH of original location g at once, if nothing makes it wait (DESIGN §11): no hold, the
   * throttle lets it go, g's lock free, and g goes to its BCV location drive to drive. False, with
   * nothing done: establishOne must run.
   */
  private establishNow(session: Session, g: number): boolean {
    const { state, model } = this.ctx;
    if (state.hooks.isHeld('establish') || !this.ctx.throttle.goesNow() || !tryLockTrack(state, g)) return false;
    try {
      const b = session.bcvOfOriginal(g);
      if (wholeSlotOf(state, g) !== NO_SLOT || model.mirrored(b) || !this.copyDirect(g, b)) return false;
    } finally {
      unlockTrack(state, g);
    }
    this.ctx.counters.established++;
    return true;
  }

  /** ESTABLISH of original location g, read from its copy `from` (g itself, or a mirror's). */
  private async establishOne(session: Session, g: number, from: number): Promise<void> {
    await this.ctx.state.hooks.passHold('establish');
    await this.ctx.throttle.gate(session.copyingAdapters('establish', this.ctx.state.driveOwner));
    const b = session.bcvOfOriginal(g);
    const s = await this.establishTrack(g, b, from);
    if (s !== NO_SLOT) for (const x of this.ctx.model.copiesOf(b)) this.ctx.hintOwner(x, s);
    if (s !== NO_SLOT && from !== g) this.ctx.hintOwner(g, s); // g rewritten from its mirror (md's read-error correction)
    this.ctx.counters.established++;
  }

  /**
   * Tracks in flight per drive for ESTABLISH and the data transfer: deep for timed drives (their
   * queues stream), one for instant ones (an access takes no time, so more in flight would only add turns).
   */
  private get tracksInFlight(): number {
    return this.ctx.channel ? TRACKS_IN_FLIGHT_PER_DRIVE : 1;
  }

  /**
   * Run `fn` for every drive position this adapter's drives serve (its own, and those a spare of its
   * took the place of: DESIGN §14), at once for timed drives.
   */
  private async eachPosition(fn: (d: number) => Promise<void>): Promise<void> {
    await this.atOnce(this.servedPositions(), fn);
  }

  /** The drive positions this adapter's drives serve (its own, and those a spare of its took the place of). */
  private servedPositions(): number[] {
    return positionsServed(this.ctx.state, this.ctx.model.drives.ids.length, this.ctx.drives);
  }

  /** `fn` for each of `drives`: at once for timed drives, one after another for instant ones (nothing to overlap). */
  private async atOnce(drives: number[], fn: (d: number) => Promise<void>): Promise<void> {
    if (this.ctx.channel) await Promise.all(drives.map(fn));
    else for (const d of drives) await fn(d);
  }

  /**
   * Put track g in cache (staged if not there) and mark it WPB, so its BCV location b gets it. The
   * wait for a clean slot happens with g unlocked: holding g while waiting could close a cycle with
   * a holder of g that waits for a slot only a destage of g's own data would free.
   *
   * When no host holds g in cache, g goes to b drive to drive instead (NO_SLOT returned). Under g's
   * lock that is safe: every writer of b before the switch holds g's lock (a mirror destage of g's
   * slot; b's own slots were purged and none comes before the split), and a host write after this
   * finds no slot, takes one and mirrors it (WPB) as it would after a staged ESTABLISH.
   */
  private async establishTrack(g: number, b: number, from: number): Promise<number> {
    const wait = new SlotWait(this.ctx.state, {
      what: () => `${this.ctx.name}: ESTABLISH of ${this.ctx.model.drives.dch(g)}`,
      onWait: () => this.slotWait(),
      sliceMs: CACHE_WAIT_SLICE_MS,
    });
    for (;;) {
      const seen = wait.seen();
      await lockTrack(this.ctx.state, g);
      try {
        let s = wholeSlotOf(this.ctx.state, g); // a host's partial slot goes: the copy is whole-track
        // (A mirrored BCV goes through the cache: its slot carries a WPBk for each BCV mirror.)
        if (s === NO_SLOT && from === g && !this.ctx.model.mirrored(b) && this.copyDirect(g, b)) return NO_SLOT;
        if (s === NO_SLOT) s = tryAllocateSlot(this.ctx.state, g);
        if (s !== NO_SLOT) {
          // Read from a mirror: g's own copy is rewritten from it too (WP1), as a host read's repair.
          const repair = !(slotStateOf(this.ctx.state, s) & SLOT.VALID) && from !== g ? SLOT.WP1 : 0;
          await this.stageIfInvalid(g, s, from);
          orSlotState(this.ctx.state, s, SLOT.WP | this.ctx.model.bcvBits(b) | repair);
          return s;
        }
      } finally {
        unlockTrack(this.ctx.state, g);
      }
      await wait.next(seen);
    }
  }

  /** Copy location src onto dst drive to drive (both locked), counted; false if the drives cannot. */
  private copyDirect(src: number, dst: number): boolean {
    return copyDirectCounted(this.ctx, src, dst);
  }

  private slotWait(): void {
    slotWait(this.ctx);
  }

  /** Read locked track g (from its copy `from`) into its slot s unless s holds it already (a slot just taken is not VALID). */
  private async stageIfInvalid(g: number, s: number, from = g): Promise<void> {
    if (slotStateOf(this.ctx.state, s) & SLOT.VALID) return;
    try {
      await this.ctx.readLocation(from, this.ctx.state.slotBytes(s));
    } catch (err) {
      releaseSlot(this.ctx.state, g);
      throw err;
    }
    orSlotState(this.ctx.state, s, SLOT.VALID);
  }

  /** The instant split (FIG. 5): every location of O ∪ N on this adapter's drives, in order. */
  async instantSplit(session: Session): Promise<void> {
    const cursor = splitCursorWord(session.y < 0 ? 0 : session.y, this.ctx.index);
    let n = 0;
    for (const d of this.servedPositions()) {
      for (const p of session.mainLocationsOn(d)) {
        if (this.ctx.state.hooks.isHeld('split')) await this.ctx.state.hooks.passHold('split');
        if (!tryLockTrack(this.ctx.state, p)) await lockTrack(this.ctx.state, p);
        try {
          if (hasFlag(this.ctx.state, p, TRACK.PS))
            this.splitDone(
              trySplitHoldingBcv(this.ctx.state, session, p) ?? (await splitHoldingBcv(this.ctx.state, session, p)),
            );
          // The cursor says which locations the process has passed (scenario counting, FIG. 7).
          setSplitCursor(this.ctx.state, cursor, p + 1);
        } finally {
          unlockTrack(this.ctx.state, p);
        }
        if (++n % BACKGROUND_BATCH === 0) await nextTurn();
      }
    }
    setSplitCursor(this.ctx.state, cursor, SPLIT_CURSOR_DONE);
  }

  /** After a split: count it, and hint the BCV track's adapter of the slot it moved there. */
  splitDone(result: SplitResult): void {
    splitDone(this.ctx, result);
  }

  /**
   * The data transfer (FIGS. 6A/6B): every BCV track on this adapter's drives whose PB is set.
   * `fromCopies` (pairs b, x: a mirrored BCV, DESIGN §14) names the BCV tracks whose own copy cannot
   * be read this attempt, each with the BCV mirror copy x to fill from: whoever serves x fills b.
   */
  async dataTransfer(session: Session, fromCopies: readonly number[] = []): Promise<void> {
    const bInv = session.bInv;
    assert(session.B && bInv, `${this.ctx.name}: data transfer of session ${session.spec.sid} without a BCV`);
    const { elsewhere, mine } = this.readElsewhere(fromCopies);
    const fillOne = async (b: number, from: number) => {
      await this.ctx.state.hooks.passHold('transfer');
      if (this.hostFills > 0) await this.noHostFills(); // host requests have the highest priority
      if (!hasPb(this.ctx.state, b, session.y)) return;
      await this.ctx.throttle.gate(session.copyingAdapters('transfer', this.ctx.state.driveOwner));
      await this.fill.run(session, bInv.get(b), from);
    };
    await this.eachPosition((d) =>
      this.ctx.channel
        ? pipeline(
            session.bcvLocationsOn(d),
            this.tracksInFlight,
            (b) => fillOne(b, b),
            (b) => elsewhere.has(b),
          )
        : this.transferSpans(session, session.bcvLocationsOn(d), elsewhere, (b) => fillOne(b, b)),
    );
    await pipeline(mine, this.tracksInFlight, ([b, x]) => fillOne(b, x));
  }

  /**
   * The data transfer over one instant drive's BCV locations `locs` (in order): a span at a time
   * where it can (Fill.spanNow), else a track at a time; a turn for the thread's other work every
   * AT_ONCE_BATCH steps. Locations in `elsewhere` are another adapter's to fill.
   */
  private async transferSpans(
    session: Session,
    locs: Int32Array,
    elsewhere: ReadonlySet<number>,
    fillOne: (b: number) => Promise<void>,
  ): Promise<void> {
    let steps = 0;
    for (let i = 0; i < locs.length;) {
      const b = locs[i]!;
      const done = elsewhere.has(b) ? 1 : this.fillSpanNow(session, locs, i, elsewhere);
      if (done === 0 && !this.fillNow(session, b)) await fillOne(b);
      i += Math.max(done, 1);
      if (++steps % AT_ONCE_BATCH === 0) await nextTurn();
    }
  }

  /** Fill.spanNow from locs[i] over the BCV locations in a row there (none elsewhere's), if nothing makes it wait; the tracks done. */
  private fillSpanNow(session: Session, locs: Int32Array, i: number, elsewhere: ReadonlySet<number>): number {
    if (this.ctx.state.hooks.isHeld('transfer') || this.hostFills > 0 || !this.ctx.throttle.goesNow()) return 0;
    const b = locs[i]!;
    let n = 1;
    while (n < SPAN_TRACKS && i + n < locs.length && locs[i + n] === b + n && !elsewhere.has(b + n)) n++;
    return n < 2 ? 0 : this.fill.spanNow(session, b, n);
  }

  /**
   * The data transfer's fill of BCV track b at once, if nothing makes it wait (DESIGN §11): no hold,
   * no host fill running, the throttle lets it go, every lock free, and no cache slot needed. False,
   * with nothing done that the awaited fill would not do again: the awaited fill must run.
   */
  private fillNow(session: Session, b: number): boolean {
    const { state } = this.ctx;
    if (state.hooks.isHeld('transfer') || this.hostFills > 0) return false;
    if (!hasPb(state, b, session.y)) return true;
    if (!this.ctx.throttle.goesNow()) return false;
    return this.fill.now(session, session.bInv!.get(b), b);
  }

  /** Resolves once no host fill runs here (the data transfer waits for it instead of spinning). */
  private noHostFills(): Promise<void> {
    return new Promise<void>((resolve) => this.hostFillsDone.push(resolve));
  }

  private hostFillEnded(): void {
    if (--this.hostFills > 0) return;
    for (const wake of this.hostFillsDone.splice(0)) sched().defer(wake);
  }

  /** A host adapter's FIG. 7 "disconnect": fill track t now, then answer ("reconnect"). */
  async hostFill(link: Link, sid: number, t: number, id: number): Promise<void> {
    this.ctx.counters.hostFills++;
    try {
      const session = this.ctx.sessions.get(sid);
      if (session) {
        assert(
          session.B !== undefined && Number.isInteger(t) && t >= 0 && t < session.N.tracks,
          () =>
            `${this.ctx.name}: fill of track ${t} from ${link.peer}, outside session ${sid}'s ${session.N.tracks} tracks or with no BCV`,
        );
        // Test hook: the fill has found its session and holds no lock yet. It does not count as
        // running while held, so the data transfer goes on (and may close the session meanwhile).
        await this.ctx.state.hooks.passHold('host-fill');
        this.hostFills++;
        try {
          await this.fill.run(session, t, this.bcvCopyToRead(session.B!.locate(t)));
        } finally {
          this.hostFillEnded();
        }
      }
      // A closed session filled every track before it closed: the host adapter saw IND just before
      // the data transfer cleared it. Nothing is left to do; any other session id is a bug.
      else
        assert(
          this.ctx.closedSessions.has(sid) || sid < this.ctx.closedSidsBelow(),
          () => `${this.ctx.name}: fill for unknown session ${sid}`,
        );
      link.send({ t: 'filled', id });
    } catch (err) {
      const fault = err instanceof DriveFault ? { fault: err.fault } : {};
      link.send({ t: 'filled', id, error: errorMessage(err), ...fault });
    }
  }

  /** The copy of BCV track b a host's fill reads here: the first readable copy on this adapter's drives (b itself first). */
  private bcvCopyToRead(b: number): number {
    const { model, state } = this.ctx;
    const mine = model.copiesOf(b).find((x) => this.ctx.ownsTrack(x) && copyServesRead(state, model.drives, x));
    if (mine !== undefined) return mine;
    if (this.ctx.ownsTrack(b)) return b; // its read fails, naming the fault
    // Routed here before a drive's state changed: the host adapter asks again, where a copy is readable now.
    throw new DriveFault('failed', `${model.drives.dch(b)}: no readable copy of it on ${this.ctx.name} now`);
  }
}
