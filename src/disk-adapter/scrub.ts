// A disk adapter's part of a scrub (DESIGN §14): every copy on one drive position it serves is read
// under its track's lock and its checksum compared with its own (checksums.ts). A copy whose
// checksum differs, or that fails with a media error, is bad; every other copy has its checksum
// returned, for the scrub to compare a track's copies with each other. A track with a
// write pending in cache, one a restripe is moving, or a copy not readable now (a failed drive, a
// stale copy a rebuild will rewrite) is skipped: the scrub is read-only here, its repair is the
// rebuild's path (runtime/scrub-run.ts).
import type { ArrayModel } from '../shared/model/model.ts';
import { NO_SLOT, TRACK, WPK_ALL, type SharedState } from '../shared/tables/memory.ts';
import { lockTrack, unlockTrack } from '../shared/tables/track-lock.ts';
import { hasFlag, slotOf, slotStateOf } from '../shared/tables/tables.ts';
import { DriveFault, mediaTrack } from '../shared/drive-states/drive-state.ts';
import { sumOf, trackSum } from '../shared/checksums/checksums.ts';
import type { Session } from '../shared/restripe/session.ts';
import type { DeviceLayout } from '../shared/layout/layout.ts';
import type { BackgroundThrottle } from './throttle.ts';

export interface ScrubContext {
  readonly model: ArrayModel;
  readonly state: SharedState;
  readonly throttle: BackgroundThrottle;
  readonly sessions: ReadonlyMap<number, Session>;
  ownsTrack(g: number): boolean;
  readLocation(g: number, dst: Uint8Array): Promise<void>;
}

/** What one drive position's scrub found. */
export interface ScrubPart {
  checked: number;
  skipped: number;
  /** Pairs (copy, its track's M1 location): its bytes differ from its checksum, or it fails with a media error. */
  bad: number[];
  /** Quadruples (copy, its track's M1 location, the checksum of its bytes, 1 if that is its own checksum else 0) of the other copies read. */
  read: number[];
}

/** Scrub every copy on drive position d (of device `deviceId` only, if given). */
export async function scrubPosition(ctx: ScrubContext, d: number, deviceId?: string): Promise<ScrubPart> {
  const { model } = ctx;
  const part: ScrubPart = { checked: 0, skipped: 0, bad: [], read: [] };
  const only = deviceId === undefined ? undefined : ownersOf(model, deviceId);
  const base = model.drives.baseTrack[d]!;
  const end = model.drives.endTrack(d);
  const buf = new Uint8Array(ctx.state.trackBytes);
  for (let g = base; g < end; g++) {
    const owner = model.copyAt(g)?.owner;
    if (owner === undefined || (only && !only.has(owner))) continue;
    if (!ctx.ownsTrack(g) || restriped(ctx, owner) || hasFlag(ctx.state, g, TRACK.STALE)) {
      part.skipped++;
      continue;
    }
    await ctx.throttle.gate(model.diskAdapterIds.length);
    await scrubCopy(ctx, g, owner, buf, part);
  }
  return part;
}

/** Read copy g of track `owner` under the track's lock and judge it. */
async function scrubCopy(ctx: ScrubContext, g: number, owner: number, buf: Uint8Array, part: ScrubPart): Promise<void> {
  await lockTrack(ctx.state, owner);
  try {
    const s = slotOf(ctx.state, owner);
    if (s !== NO_SLOT && slotStateOf(ctx.state, s) & WPK_ALL) return void part.skipped++; // copies differ until destaged
    try {
      await ctx.readLocation(g, buf);
    } catch (err) {
      if (!(err instanceof DriveFault)) throw err;
      if (err.fault === 'media')
        part.bad.push(g, owner); // a latent sector error: rewritten from a good copy
      else part.skipped++; // its drive failed meanwhile: the rebuild's
      return;
    }
    part.checked++;
    const sum = trackSum(buf);
    const want = sumOf(ctx.state, g, mediaTrack(ctx.state, ctx.model.drives, g));
    if (want !== undefined && sum !== want) part.bad.push(g, owner);
    else part.read.push(g, owner, sum, want === undefined ? 0 : 1);
  } finally {
    unlockTrack(ctx.state, owner);
  }
}

/** Whether an open session moves track `owner` (its copies are the restripe's until it ends). */
function restriped(ctx: ScrubContext, owner: number): boolean {
  for (const s of ctx.sessions.values())
    if (s.oInv.get(owner) >= 0 || s.nInv.get(owner) >= 0 || (s.bInv?.get(owner) ?? -1) >= 0) return true;
  return false;
}

/** Each layout's M1 locations, built once (a scrub asks for them on every drive position). */
const ownersByLayout = new WeakMap<DeviceLayout, Set<number>>();

/** The M1 locations of device `id`'s tracks. */
function ownersOf(model: ArrayModel, id: string): Set<number> {
  const layout = model.device(id).layout;
  let out = ownersByLayout.get(layout);
  if (!out) {
    out = new Set<number>();
    for (let t = 0; t < layout.tracks; t++) out.add(layout.locate(t));
    ownersByLayout.set(layout, out);
  }
  return out;
}
