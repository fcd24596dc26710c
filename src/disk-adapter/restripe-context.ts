// What the restripe processes (restripe.ts, fill.ts) use of their disk adapter, and the small steps
// both take: a split counted and its moved slot hinted, a direct copy counted, a wait for a slot.
import type { ArrayModel } from '../shared/model/model.ts';
import { NO_SLOT, type SharedState } from '../shared/tables/memory.ts';
import type { SplitResult } from '../shared/restripe/split.ts';
import type { Session } from '../shared/restripe/session.ts';
import type { Drive } from '../drives/store.ts';
import type { Channel } from '../drives/timing/channel.ts';
import type { BackgroundThrottle } from './throttle.ts';

/** Each wait for a clean cache slot (no lock held) is bounded: a missed cache event costs at most this. */
export const CACHE_WAIT_SLICE_MS = 20;

/** What the restripe processes use of their disk adapter. */
export interface RestripeContext {
  readonly name: string;
  readonly index: number;
  readonly model: ArrayModel;
  readonly state: SharedState;
  readonly drives: Map<number, Drive>;
  /** The back-end link of its timed drives (none: instant drives). */
  readonly channel?: Channel;
  readonly sessions: ReadonlyMap<number, Session>;
  /** Session ids closed lately, and the id below which every session not open has closed. */
  readonly closedSessions: Set<number>;
  closedSidsBelow(): number;
  readonly counters: {
    established: number;
    splits: number;
    fills: number;
    hostFills: number;
    slotWaits: number;
    /** Tracks ESTABLISH or a fill copied drive to drive in one copy (no cache slot). */
    directCopies: number;
  };
  readonly throttle: BackgroundThrottle;
  readLocation(g: number, dst: Uint8Array): Promise<void>;
  writeLocation(g: number, src: Uint8Array): Promise<void>;
  /** Location g is on a drive this adapter serves. */
  ownsTrack(g: number): boolean;
  /**
   * Copy location src (this adapter's) onto dst drive to drive in one copy, both locked by the
   * caller; false if either drive cannot (DirectCopier).
   */
  copyDirect(src: number, dst: number): boolean;
  /** copyDirect of `count` locations in a row onto `count` in a row, in one copy; false, nothing done: copy each. */
  copySpan(src: number, dst: number, count: number): boolean;
  /** Tell whichever adapter owns location g that slot s has data pending for it. */
  hintOwner(g: number, s: number): void;
  /** Ask every adapter to destage now: the cache is full. */
  sweepAll(): void;
}

/** After a split: count it, and hint the BCV track's adapter of the slot it moved there. */
export function splitDone(ctx: RestripeContext, { movedSlot, bcvTrack }: SplitResult): void {
  ctx.counters.splits++;
  if (movedSlot !== NO_SLOT) for (const x of ctx.model.copiesOf(bcvTrack)) ctx.hintOwner(x, movedSlot);
}

/** Copy location src onto dst drive to drive (both locked), counted; false if the drives cannot. */
export function copyDirectCounted(ctx: RestripeContext, src: number, dst: number): boolean {
  if (!ctx.copyDirect(src, dst)) return false;
  ctx.counters.directCopies++;
  return true;
}

/** No slot: count the wait and ask every adapter to destage now. */
export function slotWait(ctx: RestripeContext): void {
  ctx.counters.slotWaits++;
  ctx.sweepAll();
}
