// Drive faults asked of a running array (the control API, `run --fail-drive`, tests) and what the
// array says of its drives and of each device's mirrors (DESIGN §14).
import type { ArrayModel } from '../shared/model/model.ts';
import { TRACK, type SharedState } from '../shared/tables/memory.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import {
  driveFailed,
  driveStateName,
  mediaOf,
  rebuildProgress,
  failWholeDrive,
  injectTrackFaults,
  type DriveFaultKind,
  type DriveStateName,
} from '../shared/drive-states/drive-state.ts';
import { mulberry32 } from '../shared/sched/sched.ts';
import { hasFlag } from '../shared/tables/tables.ts';

/** The most tracks one media or rot fault request may hit. */
export const MAX_FAULT_TRACKS = 1 << 20;

export interface DriveFaultRequest {
  drive: string;
  kind: DriveFaultKind;
  /** media and rot: how many tracks (holding some device's data) get the fault. */
  tracks?: number;
  /** The stream that picks those tracks (the same seed picks the same tracks). */
  seed?: number;
}

export interface DriveFaultResult {
  drive: string;
  kind: DriveFaultKind;
  state: DriveStateName;
  /** The tracks hit ([DCH]), for media and rot. */
  tracks: string[];
}

export interface DriveView {
  id: string;
  adapter: string;
  state: DriveStateName;
  /** A spare serving (or being rebuilt) in a failed drive's place: that drive. */
  inPlaceOf?: string;
  /** A failed drive whose place a spare took: that spare. */
  replacedBy?: string;
  /** A spare being rebuilt: copies rewritten so far, of how many. */
  rebuild?: { done: number; total: number; copiesPerSec?: number | null; etaSec?: number | null };
}

/** The drive positions whose tracks drive `id`'s media serves (its own, or the one it took the place of). */
export function positionsServedBy(state: SharedState, model: ArrayModel, id: string): number[] {
  const p = model.drives.ids.indexOf(id);
  return model.drives.ids.flatMap((_, d) => (mediaOf(state, d) === p ? [d] : []));
}

export interface MirrorView {
  mirror: number;
  drives: string[];
  state: 'ok' | 'failed' | 'rebuilding';
}

export interface DeviceMirrorsView {
  id: string;
  state: 'ok' | 'degraded' | 'failed';
  mirrors: MirrorView[];
  /** Tracks with no copy left (LOST): their reads fail, naming them. */
  lostTracks: number;
}

/** Give a drive a fault: USAGE errors name the field and why. */
export function failDrive(model: ArrayModel, state: SharedState, r: DriveFaultRequest): DriveFaultResult {
  const d = model.drives.ids.indexOf(r.drive);
  if (d < 0)
    throw new ArrayError('USAGE', `drive "${r.drive}": no such drive (drives: ${model.drives.ids.join(', ')})`);
  if (r.kind === 'whole') {
    failWholeDrive(state, d);
    return { drive: r.drive, kind: r.kind, state: driveStateName(state, d), tracks: [] };
  }
  const n = r.tracks ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > MAX_FAULT_TRACKS)
    throw new ArrayError('USAGE', `tracks: ${n} must be an integer from 1 to ${MAX_FAULT_TRACKS}`);
  const random = mulberry32(r.seed ?? Date.now());
  const hit = injectTrackFaults(state, model.drives, d, {
    kind: r.kind,
    count: n,
    pick: (m) => Math.floor(random() * m),
    among: (g) => model.copyAt(g) !== undefined, // a location holding some device's copy
  });
  if (hit.length === 0)
    throw new ArrayError('USAGE', `drive "${r.drive}" holds no device's tracks: a ${r.kind} fault would hit nothing`);
  return { drive: r.drive, kind: r.kind, state: driveStateName(state, d), tracks: hit.map((g) => model.drives.dch(g)) };
}

export function driveViews(model: ArrayModel, state: SharedState): DriveView[] {
  const ids = model.drives.ids;
  return ids.map((id, p) => {
    // A drive sits on the adapter the configuration attaches it to, whichever position its media serves.
    const adapter = model.config.diskAdapters.find((a) => a.drives.includes(id))?.id ?? '';
    const view: DriveView = { id, adapter, state: driveStateName(state, p) };
    const served = ids.findIndex((_, d) => d !== p && mediaOf(state, d) === p);
    if (served >= 0) {
      view.inPlaceOf = ids[served];
      if (view.state === 'rebuilding') view.rebuild = rebuildProgress(state, served);
    }
    if (mediaOf(state, p) !== p) view.replacedBy = ids[mediaOf(state, p)];
    return view;
  });
}

/** Each device's copies: mirror 1 its own members, then its `mirrors`; degraded while one has a failed drive. */
export function deviceMirrorViews(model: ArrayModel, state: SharedState): DeviceMirrorsView[] {
  return model.devices.map((dev) => {
    const mirrors = [dev.layout, ...dev.layout.mirrors].map((l, i): MirrorView => {
      const drives = [...new Set(l.members.map((m) => m.driveId))];
      const down = l.members.filter((m) => driveFailed(state, m.drive));
      const rebuilding =
        down.length > 0 && down.every((m) => driveStateName(state, mediaOf(state, m.drive)) === 'rebuilding');
      return { mirror: i + 1, drives, state: down.length === 0 ? 'ok' : rebuilding ? 'rebuilding' : 'failed' };
    });
    const bad = mirrors.filter((m) => m.state !== 'ok').length;
    let lostTracks = 0;
    for (let t = 0; t < dev.layout.tracks; t++) if (hasFlag(state, dev.layout.locate(t), TRACK.LOST)) lostTracks++;
    // Lost tracks: some of the device's data is gone (failed); a copy down: degraded while another serves.
    const st = lostTracks > 0 || bad === mirrors.length ? 'failed' : bad > 0 ? 'degraded' : 'ok';
    return { id: dev.id, state: st, mirrors, lostTracks };
  });
}
