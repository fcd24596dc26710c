// Layouts (DESIGN §8): where each logical track of a device lives, as a global physical track index.
//
// Global track index: every drive's tracks laid end to end in the order of `drives` in the config;
// drive d's track (cylinder c, head h) is `driveBaseTrack[d] + c * headsPerCylinder + h`. The Track ID
// tables (DESIGN §2) are indexed by it.
import type { ArrayConfig, DeviceConfig } from '../config/config.ts';
import { assert } from '../errors/assert.ts';
import { ArrayError } from '../errors/errors.ts';

/** Logical cylinder names as in the patent's figures: A..Z, AA, AB, … */
export function cylinderName(index: number): string {
  let name = '';
  let n = index;
  do {
    name = String.fromCharCode(65 + (n % 26)) + name;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return name;
}

export interface Geometry {
  trackBytes: number;
  headsPerCylinder: number;
}

/** The drives of an array and where each starts in the global track index. */
export class DriveMap {
  readonly ids: string[];
  readonly cylinders: number[];
  readonly baseTrack: number[];
  readonly totalTracks: number;
  readonly headsPerCylinder: number;
  private readonly indexById = new Map<string, number>();

  constructor(cfg: ArrayConfig) {
    this.headsPerCylinder = cfg.geometry.headsPerCylinder;
    this.ids = cfg.drives.map((d) => d.id);
    this.cylinders = cfg.drives.map((d) => d.cylinders);
    this.baseTrack = [];
    let base = 0;
    cfg.drives.forEach((d, i) => {
      this.indexById.set(d.id, i);
      this.baseTrack.push(base);
      base += d.cylinders * this.headsPerCylinder;
    });
    this.totalTracks = base;
  }

  index(driveId: string): number {
    const i = this.indexById.get(driveId);
    if (i === undefined) throw new ArrayError('CONFIG', `unknown drive id "${driveId}"`);
    return i;
  }

  /** One past drive d's last global track (its tracks are baseTrack[d] up to this). */
  endTrack(d: number): number {
    return this.baseTrack[d]! + this.cylinders[d]! * this.headsPerCylinder;
  }

  /** The drive holding global track `g` (drives are few: a linear scan is fine off the hot path). */
  driveOf(g: number): number {
    assert(g >= 0 && g < this.totalTracks, () => `global track ${g} outside 0..${this.totalTracks - 1}`);
    let d = this.baseTrack.length - 1;
    while (this.baseTrack[d]! > g) d--;
    return d;
  }

  /** `[DCH]` name of a global track, e.g. `31/c4/h2`. */
  dch(g: number): string {
    const d = this.driveOf(g);
    const local = g - this.baseTrack[d]!;
    return `${this.ids[d]}/c${Math.floor(local / this.headsPerCylinder)}/h${local % this.headsPerCylinder}`;
  }
}

export interface Extent {
  drive: number; // drive index
  driveId: string;
  startCylinder: number;
  cylinders: number;
}

export type LayoutKind = 'striped' | 'concatenated';

/** A device's address map: logical cylinder → (drive, physical cylinder); head unchanged. */
export class DeviceLayout {
  readonly deviceId: string;
  readonly kind: LayoutKind;
  readonly cylinders: number;
  readonly stripeCylinders: number; // 0 for concatenated
  readonly members: Extent[];
  readonly headsPerCylinder: number;
  readonly tracks: number;
  /** Mirrors 2..4 of the device (its `mirrors`), each this layout member for member on other drives. */
  mirrors: DeviceLayout[] = [];
  private readonly memberBase: Int32Array; // global track of each member's first cylinder
  private readonly concatEnd: Int32Array; // cumulative logical cylinders, concatenated only

  constructor(deviceId: string, kind: LayoutKind, members: Extent[], stripeCylinders: number, drives: DriveMap) {
    this.deviceId = deviceId;
    this.kind = kind;
    this.members = members;
    this.stripeCylinders = stripeCylinders;
    this.headsPerCylinder = drives.headsPerCylinder;
    this.cylinders = members.reduce((n, m) => n + m.cylinders, 0);
    this.tracks = this.cylinders * this.headsPerCylinder;
    this.memberBase = Int32Array.from(
      members,
      (m) => drives.baseTrack[m.drive]! + m.startCylinder * this.headsPerCylinder,
    );
    const ends: number[] = [];
    members.reduce((end, m) => (ends.push(end + m.cylinders), end + m.cylinders), 0);
    this.concatEnd = Int32Array.from(ends);
    if (kind === 'striped') {
      const perMember = members[0]!.cylinders;
      assert(
        members.every((m) => m.cylinders === perMember) && perMember % stripeCylinders === 0,
        () => `${deviceId}: striped members must be equal and whole stripes (${members.map((m) => m.cylinders)})`,
      );
    }
  }

  /** Member index and cylinder offset inside that member of logical cylinder `c`. */
  memberOf(c: number): { member: number; offset: number } {
    assert(
      c >= 0 && c < this.cylinders,
      () => `${this.deviceId}: logical cylinder ${c} outside 0..${this.cylinders - 1}`,
    );
    if (this.kind === 'striped') {
      const S = this.stripeCylinders;
      const M = this.members.length;
      const s = Math.floor(c / S);
      return { member: s % M, offset: Math.floor(s / M) * S + (c % S) };
    }
    let m = 0;
    while (this.concatEnd[m]! <= c) m++;
    return { member: m, offset: c - (m === 0 ? 0 : this.concatEnd[m - 1]!) };
  }

  /** Physical location of logical cylinder `c`. */
  cylinderLocation(c: number): { drive: number; driveId: string; cylinder: number } {
    const { member, offset } = this.memberOf(c);
    const e = this.members[member]!;
    return { drive: e.drive, driveId: e.driveId, cylinder: e.startCylinder + offset };
  }

  /** Global track index of logical track `t` (the hot path of every host request). */
  locate(t: number): number {
    const H = this.headsPerCylinder;
    const c = (t / H) | 0;
    const h = t - c * H;
    if (this.kind === 'striped') {
      const S = this.stripeCylinders;
      const M = this.members.length;
      const s = (c / S) | 0;
      const m = s % M;
      return this.memberBase[m]! + (((s / M) | 0) * S + (c - s * S)) * H + h;
    }
    const { member, offset } = this.memberOf(c);
    return this.memberBase[member]! + offset * H + h;
  }

  /**
   * The logical track held at global track `g`, or -1 where the layout has none: locate()'s inverse
   * in arithmetic (no table), O(members). Every track of a member holds one logical track.
   */
  logicalOf(g: number): number {
    const H = this.headsPerCylinder;
    for (let m = 0; m < this.memberBase.length; m++) {
      const local = g - this.memberBase[m]!;
      if (local < 0 || local >= this.members[m]!.cylinders * H) continue;
      const lc = (local / H) | 0; // the member's cylinder
      const h = local - lc * H;
      if (this.kind === 'concatenated') return ((m === 0 ? 0 : this.concatEnd[m - 1]!) + lc) * H + h;
      const S = this.stripeCylinders;
      const row = (lc / S) | 0;
      return ((row * this.members.length + m) * S + (lc - row * S)) * H + h;
    }
    return -1;
  }

  /** The global track ranges [first, end) of the layout's members on drive `d`, in increasing order. */
  rangesOn(d: number): Array<[number, number]> {
    const H = this.headsPerCylinder;
    const out: Array<[number, number]> = [];
    this.members.forEach((e, m) => {
      if (e.drive === d) out.push([this.memberBase[m]!, this.memberBase[m]! + e.cylinders * H]);
    });
    return out.sort((a, b) => a[0] - b[0]);
  }

  /** Per drive, the logical cylinders it holds in physical order (the patent's FIG. 8/9 tables). */
  cylindersByDrive(): Map<string, number[]> {
    const out = new Map<string, Array<[number, number]>>();
    for (const m of this.members) if (!out.has(m.driveId)) out.set(m.driveId, []);
    for (let c = 0; c < this.cylinders; c++) {
      const loc = this.cylinderLocation(c);
      out.get(loc.driveId)!.push([loc.cylinder, c]);
    }
    return new Map([...out].map(([d, list]) => [d, list.sort((a, b) => a[0] - b[0]).map(([, c]) => c)]));
  }

  /** A copy mapped onto other extents, member for member (how a BCV mirrors its device). */
  mirroredOnto(deviceId: string, extents: Extent[], drives: DriveMap): DeviceLayout {
    assert(extents.length === this.members.length, `${deviceId}: a mirror needs ${this.members.length} members`);
    const paired = extents.map((e, i) => ({ ...e, cylinders: this.members[i]!.cylinders }));
    return new DeviceLayout(deviceId, this.kind, paired, this.stripeCylinders, drives);
  }
}

function extentsOf(dev: Pick<DeviceConfig, 'members'>, drives: DriveMap, sizes: (m: number) => number): Extent[] {
  return dev.members.map((m, i) => ({
    drive: drives.index(m.drive),
    driveId: m.drive,
    startCylinder: m.startCylinder,
    cylinders: sizes(i),
  }));
}

/**
 * The layout of device `deviceId` in `cfg`. A BCV takes its device's layout in `running` (the
 * configuration the array runs now: docs/DESIGN.md §8), mapped onto its own members.
 */
export function deviceLayout(cfg: ArrayConfig, deviceId: string, running: ArrayConfig = cfg): DeviceLayout {
  const drives = new DriveMap(cfg);
  const dev = cfg.devices.find((d) => d.id === deviceId);
  if (!dev)
    throw new ArrayError(
      'UNKNOWN_DEVICE',
      `unknown device "${deviceId}" (devices: ${cfg.devices.map((d) => d.id).join(', ')})`,
    );
  if (dev.layout === 'striped' || dev.layout === 'concatenated') {
    const size = (i: number) =>
      dev.layout === 'striped' ? dev.cylinders / dev.members.length : dev.members[i]!.cylinders;
    const own = new DeviceLayout(
      dev.id,
      dev.layout,
      extentsOf(dev, drives, size),
      dev.layout === 'striped' ? dev.stripeCylinders : 0,
      drives,
    );
    own.mirrors = (dev.mirrors ?? []).map((m) =>
      own.mirroredOnto(
        dev.id,
        m.members.map((x, i) => ({
          drive: drives.index(x.drive),
          driveId: x.drive,
          startCylinder: x.startCylinder,
          cylinders: size(i),
        })),
        drives,
      ),
    );
    return own;
  }
  const of = deviceLayout(running, dev.of, running);
  // A detached BCV (after a restripe its device has other members): its extents, in order.
  const detached = dev.members.length !== of.members.length && dev.members.every((m) => m.cylinders !== undefined);
  const shape = detached
    ? new DeviceLayout(
        dev.id,
        'concatenated',
        extentsOf(dev, drives, (i) => dev.members[i]!.cylinders!),
        0,
        drives,
      )
    : of.mirroredOnto(
        dev.id,
        extentsOf(dev, drives, (i) => of.members[i]!.cylinders),
        drives,
      );
  // Its mirrors 2..4: the BCV's shape on their own members (WPB2..WPB4 write them).
  shape.mirrors = (dev.mirrors ?? []).map((m) =>
    shape.mirroredOnto(
      dev.id,
      extentsOf(m, drives, () => 0),
      drives,
    ),
  );
  return shape;
}

/** One row of the transfer plan: where an old cylinder lives before, on the BCV, and after. */
export interface TransferRow {
  cylinder: string;
  from: string; // drive:cylinder under the original layout
  bcv: string; // drive:cylinder on the BCV
  to: string; // drive:cylinder under the new layout
  moves: boolean;
}

export function transferPlan(original: DeviceLayout, bcv: DeviceLayout, target: DeviceLayout): TransferRow[] {
  const at = (l: DeviceLayout, c: number) => {
    const loc = l.cylinderLocation(c);
    return `${loc.driveId}:${loc.cylinder}`;
  };
  const rows: TransferRow[] = [];
  for (let c = 0; c < original.cylinders; c++) {
    const from = at(original, c);
    const to = at(target, c);
    rows.push({ cylinder: cylinderName(c), from, bcv: at(bcv, c), to, moves: from !== to });
  }
  return rows;
}
