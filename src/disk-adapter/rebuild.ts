// A disk adapter's part of a rebuild (DESIGN §14): every copy on the drive position being rebuilt
// that is still STALE, and whose first readable other copy is on this adapter's drives, is read into
// its track's cache slot and made write-pending for the stale copy (WPk): the adapter of the spare
// destages it, and that whole-track write clears STALE and counts the copy rebuilt. The same path as
// a media error's repair, and as the patent's copies: through the cache, under the track's lock.
import type { ArrayModel } from '../shared/model/model.ts';
import { DEVICE, NO_SLOT, PHASE, SLOT, TRACK, wpOfMirror, type SharedState } from '../shared/tables/memory.ts';
import { lockTrack, unlockTrack } from '../shared/tables/track-lock.ts';
import {
  awaitCacheEvent,
  cacheEvents,
  releaseSlot,
  SLOT_WAIT_MS,
  tryAllocateSlot,
  wholeSlotOf,
} from '../shared/tables/cache.ts';
import { addRebuilt, readableOtherCopy } from '../shared/drive-states/drive-state.ts';
import type { Session } from '../shared/restripe/session.ts';
import { assert } from '../shared/errors/assert.ts';
import { clearFlag, deviceWordOf, hasFlag, markSlotWhole, orSlotState, setSlotState } from '../shared/tables/tables.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { sched } from '../shared/sched/sched.ts';
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
  /** The open sessions: a restripe's new locations hold nothing to rebuild until it fills them. */
  readonly sessions: ReadonlyMap<number, Session>;
}

/**
 * What stale copy g (of M1 location `owner`) needs now: 'format' — g is formatted (FMT: it reads as
 * zeros and its first write is whole), so it is rebuilt as it is; 'later' — a restripe's fill will
 * write every copy of its track (IND), or its session has not set its bits yet; 'copy' — read another copy.
 */
function rebuildNeed(ctx: RebuildContext, g: number, owner: number): 'format' | 'later' | 'copy' {
  const { state } = ctx;
  if (hasFlag(state, g, TRACK.FMT)) return 'format';
  if (hasFlag(state, owner, TRACK.IND)) return 'later';
  for (const s of ctx.sessions.values()) {
    const phase = deviceWordOf(state, s.spec.deviceIndex, DEVICE.PHASE);
    if (s.oInv.get(owner) < 0 && s.nInv.get(owner) >= 0 && phase === PHASE.PREPARING) return 'later';
    if (bcvCopyLater(state, s, owner, phase)) return 'later';
  }
  return 'copy';
}

/**
 * A copy of BCV track b of an open session waits: until the switch, ESTABLISH writes every BCV copy
 * (WPB, WPBk) under the original's lock, not b's, and a spare that took a place makes ESTABLISH run
 * again; after it, until b's original is split (a split moves a pending slot onto b).
 */
function bcvCopyLater(state: SharedState, s: Session, b: number, phase: number): boolean {
  const t = s.bInv?.get(b) ?? -1;
  if (t < 0) return false;
  if (phase !== PHASE.TRANSFERRING && phase !== PHASE.COMPLETING) return true;
  return hasFlag(state, s.O.locate(t), TRACK.PS);
}

/**
 * This adapter's part of rebuilding drive position `d`: every stale copy whose source it holds.
 * Returns how many it queued, or is leaving to a restripe's fill.
 */
export async function rebuildPart(ctx: RebuildContext, d: number): Promise<number> {
  const { model, state } = ctx;
  const base = model.drives.baseTrack[d]!;
  const end = model.drives.endTrack(d);
  let queued = 0;
  for (let g = base; g < end; g++) {
    if (!hasFlag(state, g, TRACK.STALE)) continue;
    const copy = model.copyAt(g);
    if (!copy) {
      // No device's copy now (a BCV left out at a restart, a layout that moved on): nothing reads
      // it, so there is nothing to rebuild.
      await underLock(ctx, g, () => rebuiltAsUnused(ctx, g));
      continue;
    }
    // A location awaiting a restripe's fill holds no data of its track yet: the fill writes every
    // copy of it (a slot here would be one no fill made). Counted, so the rounds go on.
    const owner = copy.owner;
    const need = rebuildNeed(ctx, g, owner);
    if (need === 'format') await underLock(ctx, owner, () => rebuiltAsFormatted(ctx, g));
    if (need !== 'copy') {
      queued++;
      continue;
    }
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
  if (cached !== NO_SLOT && state.hooks.testFault('REBUILD_FROM_DRIVE'))
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
      if (!hasFlag(state, g, TRACK.STALE)) return false; // a whole-track write rewrote it meanwhile
      const need = rebuildNeed(ctx, g, owner); // a split or the session's bits meanwhile
      if (need === 'format') rebuiltAsFormatted(ctx, g);
      if (need !== 'copy') return false;
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

async function underLock(ctx: RebuildContext, owner: number, fn: () => void): Promise<void> {
  await lockTrack(ctx.state, owner);
  try {
    fn();
  } finally {
    unlockTrack(ctx.state, owner);
  }
}

/** Stale location g holds no device's copy (checked again under its lock): it counts rebuilt. */
function rebuiltAsUnused(ctx: RebuildContext, g: number): void {
  if (!hasFlag(ctx.state, g, TRACK.STALE) || ctx.model.copyAt(g)) return;
  clearFlag(ctx.state, g, TRACK.STALE);
  addRebuilt(ctx.state, ctx.model.drives.driveOf(g), 1);
}

/**
 * Stale copy g is formatted: nothing of it is ever read (it reads as zeros until written whole), so
 * it counts rebuilt. Under its owner's lock, as every writer of g (whose whole write counts it too).
 */
function rebuiltAsFormatted(ctx: RebuildContext, g: number): void {
  if (!hasFlag(ctx.state, g, TRACK.STALE) || !hasFlag(ctx.state, g, TRACK.FMT)) return;
  clearFlag(ctx.state, g, TRACK.STALE);
  addRebuilt(ctx.state, ctx.model.drives.driveOf(g), 1);
}
