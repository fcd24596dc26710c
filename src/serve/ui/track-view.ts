// What the live view draws (DESIGN §13): every physical track's bits and owner, read from the
// shared tables without taking a lock (a torn view of a track lasts one update), and the changes
// between two reads. Pure over the tables: the page's server sends what this computes.
import type { ArrayModel } from '../../shared/model/model.ts';
import { DEVICE, SLOT, TRACK, NO_SLOT, type SharedState } from '../../shared/tables/memory.ts';
import { pbWordOf, deviceWordOf, flagsOf, slotOf, slotStateOf } from '../../shared/tables/tables.ts';

/** One byte a track: the bits the page colours it by. */
export const CELL = {
  PS: 1 << 0,
  IND: 1 << 1,
  PB: 1 << 2, // some session's PB is set: the BCV track's data has not reached its new location
  FMT: 1 << 3,
  CACHED: 1 << 4, // a slot is attached (clean)
  WP: 1 << 5, // its slot is write-pending
  LOCK: 1 << 6,
  FILLPEND: 1 << 7,
} as const;

/** What a location is to its device: in the layout hosts use now, in a layout being left or taken up, or a BCV's. */
export const ROLE = { ACTIVE: 0, OLD: 1, NEW: 2, BCV: 3 } as const;
/** The owner byte of a location no device holds. */
export const NO_OWNER = 255;
/** Most devices the owner byte can name (NO_OWNER excluded). */
const OWNERS_MAX = 254;

/** Beyond this share of tracks changed, an update sends them all (a delta would be longer). */
const FULL_UPDATE_SHARE = 0.25;

export interface ViewGeometry {
  trackBytes: number;
  headsPerCylinder: number;
  drives: Array<{ id: string; cylinders: number; baseTrack: number; adapter: number }>;
  devices: Array<{ id: string; index: number; bcvOf: string | null }>;
}

export function viewGeometry(model: ArrayModel, state: SharedState): ViewGeometry {
  const d = model.drives;
  return {
    trackBytes: state.trackBytes,
    headsPerCylinder: d.headsPerCylinder,
    drives: d.ids.map((id, i) => ({
      id,
      cylinders: d.cylinders[i]!,
      baseTrack: d.baseTrack[i]!,
      adapter: state.driveOwner[i]!,
    })),
    devices: model.devices.map((dev) => ({ id: dev.id, index: dev.index, bcvOf: dev.bcvOf ?? null })),
  };
}

/** Every track's cell byte, read now (into `out` if given). */
export function readCells(state: SharedState, out: Uint8Array = new Uint8Array(state.totalTracks)): Uint8Array {
  for (let g = 0; g < state.totalTracks; g++) {
    const f = flagsOf(state, g);
    let c = 0;
    if (f & TRACK.PS) c |= CELL.PS;
    if (f & TRACK.IND) c |= CELL.IND;
    if (f & TRACK.FMT) c |= CELL.FMT;
    if (f & TRACK.LOCK) c |= CELL.LOCK;
    if (f & TRACK.FILLPEND) c |= CELL.FILLPEND;
    if (pbWordOf(state, g) !== 0) c |= CELL.PB;
    const s = slotOf(state, g);
    if (s !== NO_SLOT) c |= slotStateOf(state, s) & SLOT.WP ? CELL.WP : CELL.CACHED;
    out[g] = c;
  }
  return out;
}

/** What each location is: its device (index) and role, from every layout each device still has. */
export function readOwners(model: ArrayModel, state: SharedState): { owners: Uint8Array; roles: Uint8Array } {
  const owners = new Uint8Array(state.totalTracks).fill(NO_OWNER);
  const roles = new Uint8Array(state.totalTracks);
  const heads = model.drives.headsPerCylinder;
  for (const dev of model.devices) {
    if (dev.index >= OWNERS_MAX) continue; // the page names the first 254 devices
    const active = deviceWordOf(state, dev.index, DEVICE.GENERATION);
    // The active layout first: a location both layouts hold is shown as the hosts see it.
    const gens = [...dev.layouts.keys()].sort((a, b) => (a === active ? -1 : b === active ? 1 : a - b));
    for (const gen of gens) {
      const role = dev.bcvOf ? ROLE.BCV : gen === active ? ROLE.ACTIVE : gen < active ? ROLE.OLD : ROLE.NEW;
      for (const m of dev.layouts.get(gen)!.members) {
        const base = model.drives.baseTrack[m.drive]! + m.startCylinder * heads;
        claim({ owners, roles }, base, base + m.cylinders * heads, dev.index, role);
      }
    }
  }
  return { owners, roles };
}

/** Locations [from, to) not claimed yet are device `owner`'s, in `role`. */
function claim(
  t: { owners: Uint8Array; roles: Uint8Array },
  from: number,
  to: number,
  owner: number,
  role: number,
): void {
  for (let g = from; g < to; g++) {
    if (t.owners[g] !== NO_OWNER) continue;
    t.owners[g] = owner;
    t.roles[g] = role;
  }
}

/** What changed from `before` to `now`: [track, byte] pairs, or null when so many did that all should go. */
export function cellChanges(before: Uint8Array, now: Uint8Array): number[] | null {
  const limit = Math.max(1, Math.floor(now.length * FULL_UPDATE_SHARE));
  const out: number[] = [];
  for (let g = 0; g < now.length; g++) {
    if (before[g] === now[g]) continue;
    if (out.length / 2 >= limit) return null;
    out.push(g, now[g]!);
  }
  return out;
}

/** A signature of every device's layouts and active generation: the owners change exactly when it does. */
export function layoutSignature(model: ArrayModel, state: SharedState): string {
  return model.devices
    .map((d) => `${d.index}:${deviceWordOf(state, d.index, DEVICE.GENERATION)}:${[...d.layouts.keys()].join(',')}`)
    .join(';');
}
