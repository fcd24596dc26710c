// The disk adapter's stager: reads tracks a host adapter asked for into the slots it attached,
// beside the slot first (a reused buffer), filling the slot only if the requester still holds the
// track (a requester that failed while the drive read had its slots taken back).
import { markSlotClean } from '../shared/tables/tables.ts';
import type { Link } from '../shared/links/link.ts';
import type { ArrayModel } from '../shared/model/model.ts';
import type { SharedState } from '../shared/tables/memory.ts';
import type { ByteRange, StageRequest } from '../shared/links/messages.ts';
import { lockedBy } from '../shared/tables/track-lock.ts';
import { actorId } from '../shared/links/actor.ts';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';
import { assert } from '../shared/errors/assert.ts';
import { slotOf, slotOwnerOf } from '../shared/tables/tables.ts';
import { DriveFault } from '../shared/drive-states/drive-state.ts';

/** Track buffers a disk adapter keeps for its stages to read into (more are allocated while more are in flight). */
const STAGE_BUFFERS_KEPT = 16;

export interface StagerContext {
  readonly name: string;
  readonly model: ArrayModel;
  readonly state: SharedState;
  readonly counters: { staged: number; stagedBytes: number };
  /** Read location g (only bytes `range` of it, if given). */
  readLocation(g: number, dst: Uint8Array, range?: ByteRange): Promise<void>;
  /** The least location g's drive reads (bytes): a partial stage is rounded out to it. */
  blockBytes(g: number): number;
  /** The host adapter `ha` as logs name it. */
  requesterName(ha: number): string;
}

export class Stager {
  /** Buffers stages read into before filling their slot, reused (not one allocation per stage). */
  private readonly buffers: Uint8Array[] = [];

  constructor(private readonly ctx: StagerContext) {}

  /** Read each track into its slot. The requesting host adapter holds the track locked. */
  async stage(link: Link, ha: number, reqs: StageRequest[]): Promise<void> {
    const replies: Array<StageRequest & { error?: string; fault?: 'failed' | 'media' }> = [];
    const has = this.ctx.model.config.hostAdapters;
    assert(ha >= 0 && ha < has, () => `${this.ctx.name}: stage for HA${ha} (of ${has}) from ${link.peer}`);
    const requester = actorId('ha', ha, has);
    for (const r of reqs) {
      try {
        assert(r.slot >= 0 && r.slot < this.ctx.state.slots, `stage into slot ${r.slot} outside the cache`);
        assert(
          slotOwnerOf(this.ctx.state, r.slot) === r.track && slotOf(this.ctx.state, r.track) === r.slot,
          () =>
            `${this.ctx.name}: stage of track ${r.track} into a slot it does not own (${this.ctx.state.describeSlot(r.slot)}; track ${this.ctx.state.describeTrack(r.track)})`,
        );
        // Read beside the slot, then fill it only if the requester still holds the track: a host
        // adapter that failed while the drive worked had its locks and unfilled slots taken back,
        // and the slot may belong to another track by now (a drive with a timing model takes ms).
        replies.push(await this.stageInto(r, requester, ha));
        this.ctx.counters.staged++;
      } catch (err) {
        replies.push({ ...r, error: errorMessage(err), ...(err instanceof DriveFault ? { fault: err.fault } : {}) });
      }
    }
    link.send({ t: 'staged', reqs: replies });
  }

  /**
   * Read track r.track (bytes [r.lo, r.hi) of it, rounded out to its drive's block, if asked) beside
   * its slot (a reused buffer), then fill the slot if the requester still holds the track. A partial
   * stage leaves the slot's state to the requester (it marks it PARTIAL); a whole one marks it clean.
   */
  private async stageInto(r: StageRequest, requester: number, ha: number): Promise<StageRequest> {
    if (this.ctx.state.hooks.isHeld('stage')) await this.ctx.state.hooks.passHold('stage'); // no await per stage
    const range = this.rangeOf(r);
    const buf = this.buffers.pop() ?? new Uint8Array(this.ctx.state.trackBytes);
    try {
      await this.ctx.readLocation(r.from ?? r.track, buf, range);
      const still =
        lockedBy(this.ctx.state, r.track, requester) &&
        slotOwnerOf(this.ctx.state, r.slot) === r.track &&
        slotOf(this.ctx.state, r.track) === r.slot;
      if (!still)
        throw new ArrayError(
          'ADAPTER_GONE',
          `stage of track ${r.track}: its requester ${this.ctx.requesterName(ha)} let the track go while the drive read it`,
        );
      if (range) {
        this.ctx.state.writeSlot(r.slot, buf.subarray(range[0], range[1]), range[0]);
        this.ctx.counters.stagedBytes += range[1] - range[0];
        return { track: r.track, slot: r.slot, lo: range[0], hi: range[1] };
      }
      this.ctx.state.writeSlot(r.slot, buf, 0);
      markSlotClean(this.ctx.state, r.slot); // the slot holds what its location holds
      this.ctx.counters.stagedBytes += buf.length;
      return { track: r.track, slot: r.slot };
    } finally {
      if (this.buffers.length < STAGE_BUFFERS_KEPT) this.buffers.push(buf);
    }
  }

  /** The bytes a partial stage reads: [r.lo, r.hi) rounded out to the drive's block (none: the whole track, asked or rounded to). */
  private rangeOf(r: StageRequest): ByteRange | undefined {
    if (r.lo === undefined || r.hi === undefined) return undefined;
    const trackBytes = this.ctx.state.trackBytes;
    assert(
      r.lo >= 0 && r.lo < r.hi && r.hi <= trackBytes,
      () => `${this.ctx.name}: partial stage of bytes ${r.lo}..${r.hi} of a ${trackBytes}-byte track ${r.track}`,
    );
    const unit = this.ctx.blockBytes(r.from ?? r.track);
    const lo = Math.floor(r.lo / unit) * unit;
    const hi = Math.min(trackBytes, Math.ceil(r.hi / unit) * unit);
    return lo === 0 && hi === trackBytes ? undefined : [lo, hi];
  }
}
