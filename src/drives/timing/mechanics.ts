// A disk drive's mechanics, the way DiskSim models them: logical block → (cylinder, surface,
// sector) through the zone table with track and cylinder skew; seek time from a measured table
// (interpolated) or a curve fitted to datasheet figures; an explicit platter angle that follows
// time (angle 0 at time 0: rotational position is computed, never drawn at random); head switch,
// write settle and media transfer. Pure: it keeps no state but what it is given.
import { assert } from '../../shared/errors/assert.ts';
import type { HddSpec, SeekSpec } from './drive-spec.ts';

export interface HeadState {
  cylinder: number;
  surface: number;
}

export interface Phys {
  cylinder: number;
  surface: number;
  /** Logical block index on its track (0 = the first block of the track in LBN order). */
  sector: number;
  zone: number;
}

/** Where the time of one media access went (ms). */
export interface MediaTiming {
  doneMs: number;
  seekMs: number;
  rotationMs: number;
  transferMs: number;
  head: HeadState;
}

/** Most tracks one access may cross (bounds the transfer loop: 64 MiB of 512 B blocks on 16-block tracks). */
const MAX_TRACKS_PER_ACCESS = 1 << 13;
/** Blocks of rounding a head exactly at a block boundary may be off by (that block is under it, not the next). */
const ZERO_LATENCY_EPSILON = 1e-9;

export class DiskMechanics {
  readonly spec: HddSpec;
  readonly revMs: number;
  readonly totalBlocks: number;
  private readonly zoneFirstLbn: number[] = [];
  private readonly seekFn: (d: number) => number;

  constructor(spec: HddSpec) {
    this.spec = spec;
    this.revMs = 60_000 / spec.rpm;
    let lbn = 0;
    for (const z of spec.zones) {
      assert(
        z.lastCylinder >= z.firstCylinder && z.blocksPerTrack > 0,
        () => `${spec.name}: zone ${z.firstCylinder}..${z.lastCylinder} is empty`,
      );
      this.zoneFirstLbn.push(lbn);
      lbn += (z.lastCylinder - z.firstCylinder + 1) * spec.surfaces * z.blocksPerTrack;
    }
    this.totalBlocks = lbn;
    this.seekFn = seekCurve(spec.seek, spec.cylinders);
  }

  /** The zone holding `lbn` (binary search over the zones' first blocks). */
  private zoneOfLbn(lbn: number): number {
    let lo = 0;
    let hi = this.zoneFirstLbn.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.zoneFirstLbn[mid]! <= lbn) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  locate(lbn: number): Phys {
    assert(
      Number.isInteger(lbn) && lbn >= 0 && lbn < this.totalBlocks,
      () => `${this.spec.name}: block ${lbn} outside 0..${this.totalBlocks - 1}`,
    );
    const zone = this.zoneOfLbn(lbn);
    const z = this.spec.zones[zone]!;
    const off = lbn - this.zoneFirstLbn[zone]!;
    const perCylinder = this.spec.surfaces * z.blocksPerTrack;
    const cylinder = z.firstCylinder + Math.floor(off / perCylinder);
    const inCylinder = off % perCylinder;
    return {
      cylinder,
      surface: Math.floor(inCylinder / z.blocksPerTrack),
      sector: inCylinder % z.blocksPerTrack,
      zone,
    };
  }

  /** Blocks per track at `lbn`'s zone. */
  blocksPerTrack(p: Phys): number {
    return this.spec.zones[p.zone]!.blocksPerTrack;
  }

  /**
   * Where block p starts on the platter, as a fraction of a revolution: its sector shifted by the
   * skews accumulated from the zone's first track (a track switch adds the track skew, a cylinder
   * switch the cylinder skew), so the next track's first block arrives after the switch.
   */
  angleOf(p: Phys): number {
    const z = this.spec.zones[p.zone]!;
    const cyl = p.cylinder - z.firstCylinder;
    const skew =
      cyl * ((this.spec.surfaces - 1) * z.trackSkewBlocks + z.cylinderSkewBlocks) + p.surface * z.trackSkewBlocks;
    return ((p.sector + skew) % z.blocksPerTrack) / z.blocksPerTrack;
  }

  /** The platter's angle at time `ms` (fraction of a revolution; 0 at time 0). */
  platterAngle(ms: number): number {
    const a = (ms / this.revMs) % 1;
    return a < 0 ? a + 1 : a;
  }

  seekMs(distanceCylinders: number): number {
    return distanceCylinders === 0 ? 0 : this.seekFn(Math.abs(distanceCylinders));
  }

  /** Moving the head from `from` to p's track: a seek, or a head switch on the same cylinder; writes settle after. */
  positionMs(from: HeadState, p: Phys, write: boolean): number {
    const d = Math.abs(p.cylinder - from.cylinder);
    const move = d > 0 ? this.seekMs(d) : p.surface !== from.surface ? this.spec.headSwitchMs : 0;
    return move > 0 && write ? move + this.spec.writeSettleMs : move;
  }

  /** How long after `atMs` block p comes under the head. */
  rotationWaitMs(atMs: number, p: Phys): number {
    const wait = this.angleOf(p) - this.platterAngle(atMs);
    return (wait < 0 ? wait + 1 : wait) * this.revMs;
  }

  /**
   * The time a run of `n` blocks from p on one track spends not transferring, the head over p's track
   * at `atMs`: the wait for its first block; or, zero-latency, a head that lands inside the run with
   * a whole block of it still ahead reads from the next block boundary to the run's end and then its
   * first blocks when they come round: the part of a block to that boundary and the gap of the track
   * outside the run (a whole revolution and that part in all, against the wait for the first block
   * and the run's transfer).
   */
  runWaitMs(atMs: number, p: Phys, n: number, zeroLatency: boolean): number {
    const wait = this.rotationWaitMs(atMs, p);
    if (!zeroLatency || wait === 0) return wait;
    const bpt = this.blocksPerTrack(p);
    const into = 1 - wait / this.revMs; // how far into the run the head is (fraction of a revolution)
    const boundary = Math.ceil(into * bpt - ZERO_LATENCY_EPSILON); // the first whole block under the head
    if (boundary >= n) return wait; // outside the run, or too near its end: wait for its first block
    return (boundary / bpt - into + 1 - n / bpt) * this.revMs;
  }

  /** The media part of an access of `blocks` blocks from `lbn`, beginning at `atMs` with the head at `head`. */
  access(atMs: number, head: HeadState, lbn: number, blocks: number, write: boolean): MediaTiming {
    const zeroLatency = write ? this.spec.zeroLatency.write : this.spec.zeroLatency.read;
    assert(
      blocks > 0 && lbn + blocks <= this.totalBlocks,
      () => `${this.spec.name}: access of ${blocks} blocks at ${lbn} past the end (${this.totalBlocks})`,
    );
    const out: MediaTiming = { doneMs: atMs, seekMs: 0, rotationMs: 0, transferMs: 0, head };
    let t = atMs;
    let at = lbn;
    let left = blocks;
    for (let track = 0; left > 0; track++) {
      assert(
        track < MAX_TRACKS_PER_ACCESS,
        () => `${this.spec.name}: one access crosses more than ${MAX_TRACKS_PER_ACCESS} tracks`,
      );
      const p = this.locate(at);
      const bpt = this.blocksPerTrack(p);
      const n = Math.min(left, bpt - p.sector);
      const move = this.positionMs(out.head, p, write);
      const xfer = (n / bpt) * this.revMs;
      const wait = this.runWaitMs(t + move, p, n, zeroLatency);
      out.seekMs += move;
      out.rotationMs += wait;
      out.transferMs += xfer;
      t += move + wait + xfer;
      out.head = { cylinder: p.cylinder, surface: p.surface };
      at += n;
      left -= n;
    }
    out.doneMs = t;
    return out;
  }
}

/** Seek time (ms) by distance: the measured table interpolated, or a + b·√d + c·d through three figures. */
export function seekCurve(seek: SeekSpec, cylinders: number): (d: number) => number {
  if ('table' in seek) {
    // Two typed columns, not rows destructured per call: the curve is asked for each queued request
    // at every SPTF choice (an array destructured in the loop allocated an iterator each time).
    const rows = [...seek.table].sort((a, b) => a[0] - b[0]);
    const dist = Float64Array.from(rows, (r) => r[0]);
    const ms = Float64Array.from(rows, (r) => r[1]);
    const last = rows.length - 1;
    return (d) => {
      if (d <= dist[0]!) return ms[0]!;
      for (let i = 1; i <= last; i++) {
        if (d <= dist[i]!) return ms[i - 1]! + ((ms[i]! - ms[i - 1]!) * (d - dist[i - 1]!)) / (dist[i]! - dist[i - 1]!);
      }
      return ms[last]!;
    };
  }
  // Through (1, single), (C/3, average), (C−1, full stroke): the average of uniformly random pairs
  // is close to the time at a third of the stroke.
  const pts: Array<[number, number]> = [
    [1, seek.singleMs],
    [cylinders / 3, seek.averageMs],
    [cylinders - 1, seek.fullStrokeMs],
  ];
  const [a, b, c] = solve3(
    pts.map(([d]) => [1, Math.sqrt(d), d]),
    pts.map(([, t]) => t),
  );
  return (d) => a + b * Math.sqrt(d) + c * d;
}

/** Solve a 3×3 linear system (Cramer's rule). */
function solve3(m: number[][], y: number[]): [number, number, number] {
  const det = (q: number[][]) =>
    q[0]![0]! * (q[1]![1]! * q[2]![2]! - q[1]![2]! * q[2]![1]!) -
    q[0]![1]! * (q[1]![0]! * q[2]![2]! - q[1]![2]! * q[2]![0]!) +
    q[0]![2]! * (q[1]![0]! * q[2]![1]! - q[1]![1]! * q[2]![0]!);
  const d = det(m);
  assert(Math.abs(d) > 1e-12, 'seek curve: the three seek figures do not define a curve');
  const col = (k: number) => m.map((row, i) => row.map((v, j) => (j === k ? y[i]! : v)));
  return [det(col(0)) / d, det(col(1)) / d, det(col(2)) / d];
}
