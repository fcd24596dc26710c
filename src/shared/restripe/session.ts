// A reconfiguration session (DESIGN §3) as every actor sees it: the original layout O, the new
// layout N, the BCV layout B (a mirror of O), their inverses over the global track index, and the
// session's PB column. Built identically by every actor from the same RECONF message.
import type { ArrayConfig } from '../config/config.ts';
import { deviceLayout, DriveMap, type DeviceLayout } from '../layout/layout.ts';
import { assert } from '../errors/assert.ts';
import type { ArrayModel } from '../model/model.ts';
import { DEVICE, MAX_SESSIONS, wpOfMirror, type SharedState } from '../tables/memory.ts';
import { deviceWordOf } from '../tables/tables.ts';

/** Every kind of reconfiguration the planner makes (shared/restripe/reconf-plan.ts), the one list of them. */
export const RECONF_KINDS = [
  'expansion',
  'stripe-change',
  'expansion+stripe-change',
  'more-rows',
  'meta-expansion',
] as const;
export type ReconfKind = (typeof RECONF_KINDS)[number];

/** What the service processor sends every actor to open a session (plain data, msgpackr-able). */
export interface SessionSpec {
  sid: number; // session id, unique in the array's lifetime
  y: number; // PB column; -1 for a meta expansion (no data moves, no column)
  deviceId: string;
  deviceIndex: number;
  kind: ReconfKind;
  oldGen: number;
  newGen: number;
  bcvId?: string;
  bcvIndex?: number;
  running: ArrayConfig;
  target: ArrayConfig;
}

/** What a replacement adapter learns from the service processor when it is linked (reconf-sync). */
export interface Resume {
  /** The running configuration (devices reconfigured since the array started). */
  running: ArrayConfig;
  /** Sessions open now, as their reconf-open carried them. */
  sessions: SessionSpec[];
  /** Session ids below this that are not open have closed. */
  closedBelow: number;
}

/**
 * A layout's inverse: global track → logical track, -1 where the layout has none, by arithmetic
 * (DeviceLayout.logicalOf), not a table: building a table of a layout's tracks in every actor as it
 * learns a session took most of that step (2-24 ms cold at 1080 tracks, DESIGN §11), and a device
 * of full-size drives holds millions. Its global tracks are listed per drive, in increasing order,
 * when first asked (the background processes walk them drive by drive).
 */
export class TrackInverse {
  private readonly onDrive = new Map<number, Int32Array>();

  constructor(
    private readonly layout: DeviceLayout,
    drives: DriveMap,
  ) {
    // Members must not overlap: each global track holds at most one logical track.
    const ranges = this.drivesUsed().flatMap((d) => layout.rangesOn(d));
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++)
      assert(
        ranges[i]![0] >= ranges[i - 1]![1],
        () =>
          `${layout.deviceId}: global track ${drives.dch(ranges[i]![0])} mapped twice (members overlap: ${ranges.map(([a, b]) => `${a}..${b - 1}`).join(', ')})`,
      );
  }

  /** The logical track at global track g, or -1. */
  get(g: number): number {
    return this.layout.logicalOf(g);
  }

  /** The layout's global tracks on drive d, in increasing order. */
  on(d: number): Int32Array {
    let list = this.onDrive.get(d);
    if (!list) {
      const ranges = this.layout.rangesOn(d);
      list = new Int32Array(ranges.reduce((n, [a, b]) => n + b - a, 0));
      let i = 0;
      for (const [a, b] of ranges) for (let g = a; g < b; g++) list[i++] = g;
      this.onDrive.set(d, list);
    }
    return list;
  }

  /** The drives holding any of the layout's tracks. */
  drivesUsed(): number[] {
    return [...new Set(this.layout.members.map((e) => e.drive))];
  }
}

const NONE = new Int32Array(0);

export class Session {
  readonly spec: SessionSpec;
  readonly y: number;
  readonly O: DeviceLayout;
  readonly N: DeviceLayout;
  readonly B?: DeviceLayout;
  readonly oInv: TrackInverse;
  readonly nInv: TrackInverse;
  readonly bInv?: TrackInverse;
  /** Logical tracks of O: a track t < oldTracks is an old track; any other is a new host track. */
  readonly oldTracks: number;
  readonly drives: DriveMap;

  constructor(spec: SessionSpec) {
    this.spec = spec;
    this.y = spec.y;
    this.drives = new DriveMap(spec.target);
    this.O = deviceLayout(spec.running, spec.deviceId);
    this.N = deviceLayout(spec.target, spec.deviceId, spec.running);
    this.oldTracks = this.O.tracks;
    this.oInv = new TrackInverse(this.O, this.drives);
    this.nInv = new TrackInverse(this.N, this.drives);
    if (spec.bcvId !== undefined) {
      this.B = deviceLayout(spec.target, spec.bcvId, spec.running);
      this.bInv = new TrackInverse(this.B, this.drives);
      assert(
        this.B.tracks === this.O.tracks,
        () => `${spec.bcvId}: BCV holds ${this.B!.tracks} tracks, device ${this.O.tracks}`,
      );
    }
  }

  /** The BCV location of the original track held at main location p (p ∈ O). */
  bcvOfOriginal(p: number): number {
    const t = this.oInv.get(p);
    assert(t >= 0 && this.B, () => `session ${this.y}: ${this.drives.dch(p)} is not a location of the original layout`);
    return this.B!.locate(t);
  }

  /**
   * The WPk bits of a write-pending slot of a BCV track (WP1, and one per mirror of a mirrored BCV):
   * each copy of the BCV track gets it.
   */
  bcvSlotBits(): number {
    let bits = wpOfMirror(1);
    for (let k = 2; k <= (this.B?.mirrors.length ?? 0) + 1; k++) bits |= wpOfMirror(k);
    return bits;
  }

  /** Global tracks of O ∪ N on drive `d`, in increasing order (the instant split visits them so). */
  mainLocationsOn(d: number): number[] {
    const o = this.oInv.on(d);
    const n = this.nInv.on(d);
    const out: number[] = [];
    let i = 0;
    let j = 0;
    while (i < o.length || j < n.length) {
      const a = i < o.length ? o[i]! : Infinity;
      const b = j < n.length ? n[j]! : Infinity;
      out.push(Math.min(a, b));
      if (a <= b) i++;
      if (b <= a) j++;
    }
    return out;
  }

  /**
   * How many disk adapters copy in the background phase `phase` (`driveOwner`: each drive's adapter):
   * ESTABLISH runs on the adapters holding the original layout, the data transfer on those holding
   * the BCV. The throttle's array-wide rate is shared out among them.
   */
  copyingAdapters(phase: 'establish' | 'transfer', driveOwner: ArrayLike<number>): number {
    let n = this.copying.get(phase);
    if (n === undefined) {
      const inv = phase === 'establish' ? this.oInv : this.bInv;
      n = Math.max(1, new Set((inv?.drivesUsed() ?? []).map((d) => driveOwner[d])).size);
      this.copying.set(phase, n);
    }
    return n;
  }
  private readonly copying = new Map<string, number>();

  /** BCV tracks on drive `d` in increasing order (the data transfer visits them so). */
  bcvLocationsOn(d: number): Int32Array {
    return this.bInv?.on(d) ?? NONE;
  }
}

/**
 * A replacement adapter learns the array as it stands (reconf-sync): the running configuration
 * and the device generations, then exactly the open sessions (each opened by `open`, the adapter's
 * reconf-open) — any it knew of that has closed is dropped. Returns the ids of those it dropped.
 */
export function syncSessionsIn(
  sessions: Map<number, Session>,
  model: ArrayModel,
  state: SharedState,
  sync: Resume,
  open: (spec: SessionSpec) => void,
): number[] {
  model.adoptRunning(sync.running, (d) => deviceWordOf(state, d, DEVICE.GENERATION));
  const listed = new Set(sync.sessions.map((s) => s.sid));
  const dropped = [...sessions.keys()].filter((sid) => !listed.has(sid));
  for (const sid of dropped) closeSessionIn(sessions, model, sid);
  for (const spec of sync.sessions) open(spec);
  return dropped;
}

/**
 * An adapter opens session `spec` (reconf-open, or a replacement learning the open sessions): it
 * joins `sessions`, and `model` learns the new generation's layouts. One open session per device.
 */
export function openSessionIn(
  actor: string,
  sessions: Map<number, Session>,
  model: ArrayModel,
  spec: SessionSpec,
): Session {
  assert(
    model.devices[spec.deviceIndex]?.id === spec.deviceId && spec.newGen > spec.oldGen && spec.sid >= 0,
    () =>
      `${actor}: session ${spec.sid} names ${spec.deviceId} as device #${spec.deviceIndex} (${model.devices[spec.deviceIndex]?.id ?? 'none'}), generations ${spec.oldGen} → ${spec.newGen}`,
  );
  assert(
    spec.y < 0 === (spec.kind === 'meta-expansion') &&
      spec.y < MAX_SESSIONS &&
      (spec.bcvIndex === undefined ? spec.bcvId === undefined : model.devices[spec.bcvIndex]?.id === spec.bcvId),
    () =>
      `${actor}: session ${spec.sid} (${spec.kind}) has PB column ${spec.y} and BCV ${spec.bcvId ?? 'none'} #${spec.bcvIndex ?? '-'}`,
  );
  for (const other of sessions.values()) {
    assert(
      other.spec.sid === spec.sid || other.spec.deviceIndex !== spec.deviceIndex,
      () =>
        `${actor}: session ${spec.sid} opens on ${spec.deviceId} while session ${other.spec.sid} is still open there`,
    );
  }
  const session = new Session(spec);
  sessions.set(spec.sid, session);
  learnNewGeneration(model, session);
  return session;
}

/**
 * `model` learns session `session`'s new generation: N for its device, the target's layout for its
 * BCV; O stays live beside N (its locations and mirrors hold the device's copies) until it closes.
 */
export function learnNewGeneration(model: ArrayModel, session: Session): void {
  const { spec } = session;
  if (spec.bcvId) model.addGeneration(spec.bcvId, spec.newGen, session.B!);
  model.addGeneration(spec.deviceId, spec.newGen, session.N);
  model.holdLayout(spec.deviceId, session.O);
}

/** An adapter closes session `sid` (reconf-close, or a replacement learning it closed): O is no longer live. */
export function closeSessionIn(sessions: Map<number, Session>, model: ArrayModel, sid: number): void {
  const session = sessions.get(sid);
  if (!session) return;
  sessions.delete(sid);
  model.releaseLayout(session.spec.deviceId);
}
