// A restripe of a mirrored device (DESIGN §14) moves every mirror: mirror k of the target has its
// own members, as the device's own. The array keeps one mirror map per k (M1 location → mirror k's
// location) over the original and the new layout at once, so the two must agree wherever they
// share a location: then every copy a restripe writes to an M1 location (a destage, a fill, a split's
// hand-over) goes to that location's mirrors too, and each mirror ends restriped as M1 is.
import type { ArrayConfig } from '../config/config.ts';
import { deviceLayout, DriveMap, type DeviceLayout } from '../layout/layout.ts';
import { NO_TRACK, TRACK, type SharedState } from '../tables/memory.ts';
import { setFlag } from '../tables/tables.ts';

/** Clashes named in a refusal (the rest are counted). */
const CLASHES_NAMED = 3;

/**
 * Why the target's mirrors of `deviceId` cannot be restriped with it (empty: they can): the same
 * number of copies; each M1 location shared by both layouts mirrored at the same place; no location
 * holding two copies (of two tracks, or of two mirrors); no copy on an M1 or BCV location of the restripe.
 */
export function mirrorMapProblems(
  running: ArrayConfig,
  target: ArrayConfig,
  deviceId: string,
  bcvId?: string,
): string[] {
  const O = deviceLayout(running, deviceId);
  const N = deviceLayout(target, deviceId, running);
  if (O.mirrors.length !== N.mirrors.length)
    return [
      `"${deviceId}" has ${O.mirrors.length + 1} copies now and ${N.mirrors.length + 1} in the target: a restripe keeps the number of copies`,
    ];
  const B = bcvId ? deviceLayout(target, bcvId, running) : undefined;
  if (O.mirrors.length === 0 && !B?.mirrors.length) return [];
  const drives = new DriveMap(target);
  const main = new Uint8Array(drives.totalTracks); // 1: an M1 location of O or N; 2: a BCV location
  for (const l of [O, N]) for (let t = 0; t < l.tracks; t++) main[l.locate(t)] = 1;
  if (B) for (let t = 0; t < B.tracks; t++) main[B.locate(t)] = 2;
  const onMain = bcvMirrorsOnMain(B, main, drives);
  if (onMain.length > 0 || O.mirrors.length === 0) return onMain;
  const clashes: string[] = [];
  let count = 0;
  const clash = (text: () => string) => {
    if (++count <= CLASHES_NAMED) clashes.push(text());
  };
  const tables = { holder: new Int32Array(drives.totalTracks).fill(NO_TRACK), main, drives }; // holder: whose copy a location is
  for (let k = 0; k < O.mirrors.length; k++) {
    const map = new Int32Array(drives.totalTracks).fill(NO_TRACK);
    for (const l of [O, N]) mapMirror(l, k + 2, map, tables, clash);
  }
  if (count > CLASHES_NAMED) clashes.push(`and ${count - CLASHES_NAMED} more`);
  return clashes;
}

/** A mirrored BCV's copies on main locations of the restripe (the new layout would overwrite them): the first named. */
function bcvMirrorsOnMain(B: DeviceLayout | undefined, main: Uint8Array, drives: DriveMap): string[] {
  for (const [i, mirror] of (B?.mirrors ?? []).entries())
    for (let t = 0; t < mirror.tracks; t++)
      if (main[mirror.locate(t)] === 1)
        return [
          `mirror ${i + 2} of BCV "${B!.deviceId}" holds ${drives.dch(mirror.locate(t))}, a main location of the restripe`,
        ];
  return [];
}

/** Add layout `l`'s mirror k to the map, naming each clash with what the map holds already. */
function mapMirror(
  l: DeviceLayout,
  k: number,
  map: Int32Array,
  { holder, main, drives }: { holder: Int32Array; main: Uint8Array; drives: DriveMap },
  clash: (text: () => string) => void,
): void {
  const mirror = l.mirrors[k - 2]!;
  for (let t = 0; t < l.tracks; t++) {
    const g = l.locate(t);
    const m = mirror.locate(t);
    if (map[g] !== NO_TRACK && map[g] !== m) {
      clash(
        () =>
          `mirror ${k} of ${drives.dch(g)} is ${drives.dch(map[g]!)} now and ${drives.dch(m)} in the target (a location both layouts use keeps its mirror)`,
      );
      continue;
    }
    map[g] = m;
    if (main[m])
      clash(
        () =>
          `mirror ${k} of ${drives.dch(g)} would be ${drives.dch(m)}, a ${main[m] === 1 ? 'main' : 'BCV'} location of the restripe`,
      );
    else if (holder[m] !== NO_TRACK && holder[m] !== g)
      clash(() => `${drives.dch(m)} would hold copies of both ${drives.dch(holder[m]!)} and ${drives.dch(g)}`);
    holder[m] = g;
  }
}

/**
 * Mark track t's mirror locations in `layout` formatted (FMT: they may hold anything, so each reads
 * as zeros, and its first write is whole), as its M1 location is: a new host track of a restripe.
 */
export function formatMirrors(state: SharedState, layout: DeviceLayout, t: number): void {
  for (const mirror of layout.mirrors) setFlag(state, mirror.locate(t), TRACK.FMT);
}
