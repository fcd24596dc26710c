// A host adapter's cache slots for its pieces: find a track's slot (staging it on a miss through
// the owning disk adapter), take one for a whole-track overwrite, copy in and out, and make a write
// pending — for the BCV too (WPB) while ESTABLISH mirrors the device.
import { deviceWordOf, widenSlotDirty } from '../shared/tables/tables.ts';
import type { ArrayModel, DeviceEntry } from '../shared/model/model.ts';
import { DEVICE, NO_SLOT, NO_TRACK, SLOT, wpOfMirror, type SharedState } from '../shared/tables/memory.ts';
import type { Session } from '../shared/restripe/session.ts';
import { releaseSlot, SlotWait, tryAllocateSlot } from '../shared/tables/cache.ts';
import { assert } from '../shared/errors/assert.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { NoSlotNow } from './piece.ts';
import {
  addSlotSeq,
  andSlotState,
  markSlotPartial,
  markSlotValid,
  orSlotState,
  slotOf,
  slotStateOf,
  slotValidOf,
} from '../shared/tables/tables.ts';
import type { ByteRange } from '../shared/links/messages.ts';

export interface HostSlotsContext {
  readonly name: string;
  readonly model: ArrayModel;
  readonly sessions: Map<number, Session>;
  readonly counters: { hits: number; misses: number };
  /** Stage track g (bytes `range` of it, if given) into `slot` through its owning disk adapter: the bytes read, none if all. */
  stage(g: number, slot: number, range?: ByteRange): Promise<ByteRange | undefined>;
  /** Slot s holds data pending for location g. */
  hint(g: number, s: number): void;
  /** Ask the disk adapters to destage (no slot is free). */
  askDestage(): void;
}

/** Each unlocked wait for a clean cache slot is bounded too (a missed cache event costs at most this). */
const SLOT_WAIT_SLICE_MS = 20;

export class HostSlots {
  constructor(
    private readonly state: SharedState,
    private readonly ctx: HostSlotsContext,
  ) {}

  /** The wait of work on track g that found no free slot, begun at `sinceMs` (bounded: SlotWait). */
  waitFor(g: number, sinceMs: number): SlotWait {
    return new SlotWait(
      this.state,
      {
        what: () => this.ctx.model.drives.dch(g),
        why: () => `${this.state.slots} slots, all write-pending or locked: ${this.state.describeSlots()}`,
        onWait: () => this.ctx.askDestage(),
        sliceMs: SLOT_WAIT_SLICE_MS,
      },
      sinceMs,
    );
  }

  /** Copy `len` bytes of slot s from `at` into `out` at `pos` (the slot is referenced: the clock keeps it). */
  read(s: number, at: number, len: number, out: Uint8Array, pos: number): void {
    out.set(this.state.slotRange(s, at, len), pos);
    orSlotState(this.state, s, SLOT.REF);
  }

  /** Put `src` into slot s of locked track g at `at`, and make it write-pending (for the BCV too while it mirrors). */
  write(dev: DeviceEntry, g: number, s: number, src: Uint8Array, at: number): void {
    this.state.writeSlot(s, src, at);
    widenSlotDirty(this.state, s, at, at + src.length);
    addSlotSeq(this.state, s, 1);
    // While a BCV is established on the device the write is also pending for it (WPB). Read under
    // the track lock: ESTABLISH sets MIRROR before its copy pass locks each track; the switch
    // clears it only while no piece is inside its critical section.
    const mirror = this.mirrorSession(dev);
    // WP1, and WPk for each mirror k of the device (DESIGN §14): each mirror's adapter destages its copy.
    const copies = this.ctx.model.mirrorBits(g);
    // WPB, and WPBk for each mirror k of a mirrored BCV.
    const b = mirror ? mirror.bcvOfOriginal(g) : NO_TRACK;
    const bcvCopies = mirror ? this.ctx.model.bcvBits(b) : 0;
    const was = orSlotState(this.state, s, SLOT.VALID | SLOT.WP | copies | SLOT.REF | bcvCopies);
    if (was & SLOT.PARTIAL) {
      // A partial slot is written only whole (forOverwrite); a smaller write staged the track first.
      assert(
        at === 0 && src.length === this.state.trackBytes,
        () => `track ${g}: a write of ${src.length} bytes at ${at} into partial ${this.state.describeSlot(s)}`,
      );
      andSlotState(this.state, s, ~SLOT.PARTIAL);
    }
    this.ctx.hint(g, s);
    for (let k = 2; copies & wpOfMirror(k); k++) this.ctx.hint(this.ctx.model.mirrorLocation(g, k), s);
    if (mirror) for (const x of this.ctx.model.copiesOf(b)) this.ctx.hint(x, s);
  }

  /**
   * The slot attached to locked track `g` if it holds bytes [lo, hi) of it (the whole track if not
   * given), else NO_SLOT. An attached slot is VALID or PARTIAL whenever its track is unlocked, so one
   * found under the lock must be. (Two numbers, not a range: the fast path asks it of every hit.)
   */
  cached(g: number, lo = -1, hi = -1): number {
    const s = slotOf(this.state, g);
    return s !== NO_SLOT && this.holds(g, s, lo, hi) ? s : NO_SLOT;
  }

  /** Slot s of locked track g holds bytes [lo, hi) of it (all of them if lo < 0). */
  private holds(g: number, s: number, lo: number, hi: number): boolean {
    const st = slotStateOf(this.state, s);
    assert(
      st & (SLOT.VALID | SLOT.PARTIAL),
      () =>
        `track ${g}: attached ${this.state.describeSlot(s)} is neither VALID nor PARTIAL while its track is unlocked-then-locked`,
    );
    if (st & SLOT.VALID) return true;
    if (lo < 0) return false;
    const [from, to] = slotValidOf(this.state, s);
    return from <= lo && hi <= to;
  }

  /**
   * The slot of locked track `g` holding bytes `want` of it (the whole track if not given), staging
   * on a miss: only `want` (a partial stage, for a random read; a partial slot missing some of it
   * stages the span of both), else the whole track. It runs before the piece's critical section (the
   * switch never waits for a drive); if a switch comes meanwhile, enterWithSlot gives the slot up
   * before the piece translates again.
   */
  async withData(g: number, want?: ByteRange): Promise<number> {
    let s = slotOf(this.state, g);
    if (s !== NO_SLOT && this.holds(g, s, want?.[0] ?? -1, want?.[1] ?? -1)) {
      this.ctx.counters.hits++;
      return s;
    }
    this.ctx.counters.misses++;
    let range = want;
    if (s === NO_SLOT) s = this.allocate(g);
    else if (want) {
      const [lo, hi] = slotValidOf(this.state, s); // a partial slot: keep what it holds
      range = [Math.min(lo, want[0]), Math.max(hi, want[1])];
    }
    let read: ByteRange | undefined;
    try {
      read = await this.ctx.stage(g, s, range);
    } catch (err) {
      releaseSlot(this.state, g);
      throw err;
    }
    if (read) markSlotPartial(this.state, s, read[0], read[1]);
    else markSlotValid(this.state, s);
    return s;
  }

  /** A slot for locked track `g` whose whole content is about to be overwritten: no stage needed. */
  forOverwrite(g: number): number {
    const s = slotOf(this.state, g);
    if (s !== NO_SLOT) return s;
    return this.allocate(g);
  }

  /** A free or clean slot for locked track g, now: NoSlotNow if every slot is write-pending or locked. */
  allocate(g: number): number {
    const s = tryAllocateSlot(this.state, g);
    if (s === NO_SLOT) throw new NoSlotNow();
    return s;
  }

  /** The session whose BCV mirrors `dev` now (ESTABLISH to the switch), if any. */
  private mirrorSession(dev: DeviceEntry): Session | undefined {
    if (deviceWordOf(this.state, dev.index, DEVICE.MIRROR) === 0) return undefined;
    for (const s of this.ctx.sessions.values()) if (s.spec.deviceIndex === dev.index && s.B) return s;
    throw new ArrayError('INVARIANT', `${this.ctx.name}: ${dev.id} has a BCV established but no session is known`);
  }
}
