// A disk adapter's part of a rebuild (DESIGN §14): every copy on the drive position being rebuilt
// that is still STALE, and whose first readable other copy is on this adapter's drives, is read into
// its track's cache slot and made write-pending for the stale copy (WPk): the adapter of the spare
// destages it, and that whole-track write clears STALE and counts the copy rebuilt. The same path as
// a media error's repair, and as the patent's copies: through the cache, under the track's lock.
import type { ArrayModel } from '../shared/model.ts';
import { NO_SLOT, SLOT, TRACK, wpOfMirror, type SharedState } from '../shared/memory.ts';
import { lockTrack, unlockTrack } from '../shared/track-lock.ts';
import {
  awaitCacheEvent,
  cacheEvents,
  releaseSlot,
  SLOT_WAIT_MS,
  tryAllocateSlot,
  wholeSlotOf,
} from '../shared/cache.ts';
import { readableOtherCopy } from '../shared/drive-state.ts';
import { assert } from '../shared/assert.ts';
import { markSlotWhole, orSlotState, setSlotState } from '../shared/tables.ts';
import { ArrayError } from '../shared/errors.ts';
import { sched } from '../shared/sched.ts';
import type { BackgroundThrottle } from './throttle.ts';

/** How long one wait for a clean slot lasts before the rebuild looks again (ms). */
const SLOT_WAIT_SLICE_MS = 50;

export interface RebuildContext {
  readonly name: string;
  readonly model: ArrayModel;
  readonly state: SharedState;
  readonly throttle: BackgroundThrottle;
  ownsTrack(g: number): boolean;
  readLocation(g: number, dst: Uint8Array): Promise<void>;
  hintOwner(g: number, s: number): void;
  readonly counters: { rebuildCopies: number };
}

/** This adapter's part of rebuilding drive position `d`: every stale copy whose source it holds. Returns how many it queued. */
export async function rebuildPart(ctx: RebuildContext, d: number): Promise<number> {
  const { model, state } = ctx;
  const base = model.drives.baseTrack[d]!;
  const end = base + model.drives.cylinders[d]! * model.drives.headsPerCylinder;
  let queued = 0;
  for (let g = base; g < end; g++) {
    if (!state.flag(g, TRACK.STALE)) continue;
    const from = readableOtherCopy(model, state, g);
    if (from === undefined || !ctx.ownsTrack(from)) continue;
    await ctx.throttle.gate(model.diskAdapterIds.length);
    if (await rebuildCopy(ctx, g, from)) queued++;
  }
  return queued;
}

/** Locked track `owner`'s whole slot: cached, or a new one read from copy `from`; NO_SLOT if none is free. */
async function slotHolding(ctx: RebuildContext, owner: number, from: number): Promise<number> {
  const { state } = ctx;
  const cached = wholeSlotOf(state, owner);
  if (cached !== NO_SLOT && state.testFault('REBUILD_FROM_DRIVE'))
    await ctx.readLocation(from, state.slotBytes(cached));
  if (cached !== NO_SLOT) return cached;
  const s = tryAllocateSlot(state, owner);
  if (s === NO_SLOT) return s;
  try {
    await ctx.readLocation(from, state.slotBytes(s));
  } catch (err) {
    releaseSlot(state, owner);
    throw err;
  }
  setSlotState(state, s, SLOT.VALID);
  return s;
}

/** Make stale copy `g` pending from copy `from` (on this adapter's drives), under its track's lock. */
async function rebuildCopy(ctx: RebuildContext, g: number, from: number): Promise<boolean> {
  const { model, state } = ctx;
  const copy = model.copyAt(g);
  assert(copy, () => `${ctx.name}: rebuild of ${model.drives.dch(g)}, which is no device's copy`);
  const { owner, k } = copy;
  const deadline = sched().now() + SLOT_WAIT_MS;
  for (;;) {
    const seen = cacheEvents(state);
    await lockTrack(state, owner);
    try {
      if (!state.flag(g, TRACK.STALE)) return false; // a whole-track write rewrote it meanwhile
      const s = await slotHolding(ctx, owner, from);
      if (s !== NO_SLOT) {
        markSlotWhole(state, s); // the destage to M1 writes the whole track (a partial write leaves it stale)
        const was = orSlotState(state, s, SLOT.WP | wpOfMirror(k));
        state.cacheEvent();
        ctx.hintOwner(g, s);
        if (!(was & wpOfMirror(k))) ctx.counters.rebuildCopies++; // else pending already (an earlier round, a host write)
        return true;
      }
    } finally {
      unlockTrack(state, owner);
    }
    if (sched().now() > deadline)
      throw new ArrayError(
        'CACHE_EXHAUSTED',
        `${ctx.name}: rebuild of ${model.drives.dch(g)}: no clean slot within ${SLOT_WAIT_MS} ms`,
      );
    await awaitCacheEvent(state, seen, SLOT_WAIT_SLICE_MS);
  }
}
