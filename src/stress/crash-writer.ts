// The crash harness's host (crash.ts): stamped sector writes aimed where the restripe's ordering
// rules matter, FLUSHes, and the oracle of what each sector may hold after a crash.
import { SECTOR_BYTES } from '../shared/config/config.ts';
import type { ArrayEmulator } from '../runtime/emulator.ts';
import type { HostClient } from '../host/client.ts';
import { PHASE } from '../shared/tables/memory.ts';
import { sched } from '../shared/sched/sched.ts';
import { int } from './seed-plan.ts';

/**
 * Share of host writes aimed at the device being restriped (the rest spread over every device): the
 * ordering rules guard its tracks, so a broken rule shows only where a flushed write sits on a track
 * the restripe moves.
 */
const RESTRIPED_WRITE_SHARE = 0.8;
/**
 * Share of the writes to the restriped device aimed at a track the restripe moves (its location in
 * the new layout differs from the old): only there does a broken ordering rule lose a write a FLUSH
 * covered, and random sectors seldom land on one while it is being moved.
 */
const MOVED_TRACK_SHARE = 0.7;
/** Per device sector: the writes issued to it in order, and the flushed floor by the store's commit count. */
export class Oracle {
  /** device → sector → write ids issued, ascending. */
  readonly writes = new Map<string, Map<number, number[]>>();
  /** [commits in the store when the FLUSH was answered, device → sector → the id it covers]. */
  readonly floors: Array<[number, Map<string, Map<number, number>>]> = [];
  /** Last acknowledged write per sector (what a FLUSH issued now covers). */
  private readonly acked = new Map<string, Map<number, number>>();

  issued(dev: string, sector: number, id: number): void {
    let m = this.writes.get(dev);
    if (!m) this.writes.set(dev, (m = new Map()));
    const l = m.get(sector) ?? [];
    l.push(id);
    m.set(sector, l);
  }

  ackedWrite(dev: string, sector: number, id: number): void {
    let m = this.acked.get(dev);
    if (!m) this.acked.set(dev, (m = new Map()));
    if ((m.get(sector) ?? 0) < id) m.set(sector, id);
  }

  /** What a FLUSH issued now covers. */
  snapshot(): Map<string, Map<number, number>> {
    return new Map([...this.acked].map(([d, m]) => [d, new Map(m)]));
  }

  /** The flushed floor of every sector once `commits` commits are durable. */
  floorAt(commits: number): Map<string, Map<number, number>> {
    const out = new Map<string, Map<number, number>>();
    for (const [at, snap] of this.floors) {
      if (at > commits) continue;
      for (const [d, m] of snap) {
        let o = out.get(d);
        if (!o) out.set(d, (o = new Map()));
        for (const [s, id] of m) if ((o.get(s) ?? 0) < id) o.set(s, id);
      }
    }
    return out;
  }
}

/** A sector's bytes for write `id` (0: zeros): every word names the write, the sector and its place, so a torn or misplaced sector shows. */
function stamp(dst: Uint8Array, dev: number, sector: number, id: number): void {
  const v = new DataView(dst.buffer, dst.byteOffset, SECTOR_BYTES);
  for (let i = 0; i < SECTOR_BYTES / 4; i++)
    v.setUint32(
      i * 4,
      id === 0 ? 0 : (Math.imul(id, 2654435761) ^ Math.imul(sector + 1, 40503) ^ (dev << 24) ^ i) >>> 0,
      true,
    );
}

/** A number of the device's own for its stamps (its index may change when a stale BCV is left out at a restart). */
export function devNumber(id: string): number {
  let h = 0;
  for (const c of id) h = (Math.imul(h, 31) + c.charCodeAt(0)) & 0x7f;
  return h;
}

export function stampId(b: Uint8Array, dev: number, sector: number, candidates: number[]): number | undefined {
  const want = new Uint8Array(SECTOR_BYTES);
  for (const id of candidates) {
    stamp(want, dev, sector, id);
    if (want.every((x, i) => x === b[i])) return id;
  }
  return undefined;
}

/** What a writer counts (the seed's result). */
export interface WriterCounts {
  writes: number;
  flushes: number;
}

interface Aim {
  dev: { id: string; index: number };
  first: number;
  n: number;
}

/** The host of one seed's write phase: each write stamped and told to the oracle, each FLUSH's floor kept. */
export class HostWriter {
  private readonly devices: Array<{ id: string; index: number }>;
  private readonly restriped?: { id: string; index: number };
  private readonly trackSectors: number;
  /** Sectors in flight (two writes in flight never overlap: the oracle orders a sector's writes by id). */
  private readonly busy = new Set<string>();
  /** Tracks of the restriped device the restripe moves. */
  private readonly moved: number[];
  private nextId = 1;
  private readonly commitsNow: () => number;

  constructor(
    private readonly emu: ArrayEmulator,
    private readonly client: HostClient,
    private readonly oracle: Oracle,
    private readonly counts: WriterCounts,
    private readonly r: () => number,
    to: {
      restripedId: string;
      /** Its tracks the restripe moves. */
      moved: number[];
      /** Commits in the store now (a FLUSH's floor holds from the commit count it was answered at). */
      commitsNow: () => number;
    },
  ) {
    this.commitsNow = to.commitsNow;
    this.moved = to.moved;
    this.devices = emu.model.hostDevices().map((d) => ({ id: d.id, index: devNumber(d.id) }));
    this.restriped = this.devices.find((d) => d.id === to.restripedId);
    this.trackSectors = emu.model.trackBytes / SECTOR_BYTES;
  }

  private sectorsOf(id: string): number {
    return this.emu.model.device(id).bytes / SECTOR_BYTES;
  }

  /**
   * Before the restripe: a sector or two of every track of the device to be restriped written and
   * FLUSHed, so every track it moves holds a write a crash must not lose (a never-written track
   * reads zeros whatever the order, and hides a broken rule).
   */
  async prefill(inFlight: number): Promise<void> {
    const dev = this.restriped;
    if (!dev) return;
    const tracks = Math.ceil(this.sectorsOf(dev.id) / this.trackSectors);
    for (let t0 = 0; t0 < tracks; t0 += inFlight) {
      const batch: Array<Promise<void>> = [];
      for (let t = t0; t < Math.min(tracks, t0 + inFlight); t++) batch.push(this.writeOne(this.inTrack(dev, t)));
      await Promise.all(batch);
    }
    await this.flush();
  }

  /** A write of 1-4 sectors inside track `track` of `dev`. */
  private inTrack(dev: Aim['dev'], track: number): Aim {
    const last = Math.min(this.sectorsOf(dev.id), (track + 1) * this.trackSectors);
    const first = Math.min(last - 1, track * this.trackSectors + int(this.r, 0, this.trackSectors - 1));
    return { dev, first, n: Math.min(int(this.r, 1, 4), last - first) };
  }

  /** Where the next write goes: mostly the restriped device, mostly a track it moves. */
  private aim(): Aim {
    const { r, restriped, devices, moved } = this;
    const dev = restriped && r() < RESTRIPED_WRITE_SHARE ? restriped : devices[int(r, 0, devices.length - 1)]!;
    if (dev === restriped && moved.length > 0 && r() < MOVED_TRACK_SHARE)
      return this.inTrack(dev, moved[int(r, 0, moved.length - 1)]!);
    const n = Math.min(int(r, 1, 4), this.sectorsOf(dev.id));
    return { dev, first: int(r, 0, Math.max(0, this.sectorsOf(dev.id) - n)), n };
  }

  /** One stamped write (skipped if it would overlap one in flight). */
  async writeOne(to: Aim = this.aim()): Promise<void> {
    const { dev, first, n } = to;
    const sectors = Array.from({ length: n }, (_, i) => first + i);
    if (sectors.some((s) => this.busy.has(`${dev.id}:${s}`))) return;
    const id = this.nextId++;
    const data = new Uint8Array(n * SECTOR_BYTES);
    for (const [i, s] of sectors.entries()) {
      stamp(data.subarray(i * SECTOR_BYTES), dev.index, s, id);
      this.busy.add(`${dev.id}:${s}`);
      this.oracle.issued(dev.id, s, id);
    }
    try {
      await this.client.write(dev.id, first * SECTOR_BYTES, data);
      this.counts.writes++;
      for (const s of sectors) this.oracle.ackedWrite(dev.id, s, id);
    } finally {
      for (const s of sectors) this.busy.delete(`${dev.id}:${s}`);
    }
  }

  /** A FLUSH, through the array's durable commit; its floor holds from the commit it was answered at. */
  async flush(): Promise<void> {
    const covers = this.oracle.snapshot();
    await this.client.flush();
    this.oracle.floors.push([this.commitsNow(), covers]);
    this.counts.flushes++;
  }
}

/**
 * Batches of host writes the restripe is held for, at the switch (the BCV established and mirrored)
 * and again at the start of its transfer (nothing moved yet but by host fills): the windows the
 * ordering rules guard are then open while the host writes and FLUSHes, not a few steps long.
 */
const HELD_BATCHES = 2;
/** The restripe's processes held, each for HELD_BATCHES once its phase is reached. */
const HELD = ['establish', 'switch', 'transfer'] as const;
/** Longest the main destage is held across the switch (virtual ms; a switch takes well under one). */
const DESTAGE_HOLD_MS = 2;

/**
 * The restripe held at the switch and at its transfer's start, each for HELD_BATCHES of the host's
 * batches; the main destage held across the switch itself, so writes the host made just before it
 * are still in cache at the instant split (they go to the BCV's tracks, and their fills through the
 * cache: the window of R3).
 */
export class PhaseHolds {
  private readonly left = { establish: HELD_BATCHES, switch: HELD_BATCHES, transfer: HELD_BATCHES };
  private destageHeld = false;

  constructor(
    private readonly emu: ArrayEmulator,
    private readonly deviceId: string,
  ) {
    for (const name of HELD) emu.test.hold(name, true);
  }

  /**
   * A FLUSH may be sent now: not while the main destage is held (it would wait for it), nor while
   * the switch is held (its destage would leave no write of the BCV's pending at the switch: R1's
   * window). Writes FLUSHed before the restripe are what these windows can lose.
   */
  get flushAllowed(): boolean {
    return !this.destageHeld && this.left.switch === 0;
  }

  /** A batch of the host's ended: a hold whose phase has been reached counts it, and lets go after its last. */
  afterBatch(): void {
    const phase = this.emu.test.phase(this.deviceId);
    if (this.destageHeld && phase >= PHASE.TRANSFERRING) this.holdDestage(false);
    if (this.left.establish > 0 && phase >= PHASE.ESTABLISHING && --this.left.establish === 0)
      this.emu.test.hold('establish', false);
    if (this.left.switch > 0 && phase >= PHASE.SYNCHRONISED && --this.left.switch === 0) {
      this.holdDestage(true);
      // Bounded: in a small cache the host's writes may need a destage to go on at all.
      sched().after(DESTAGE_HOLD_MS, () => this.holdDestage(false), false);
      this.emu.test.hold('switch', false);
    }
    if (this.left.transfer > 0 && phase >= PHASE.TRANSFERRING && --this.left.transfer === 0)
      this.emu.test.hold('transfer', false);
  }

  private holdDestage(held: boolean): void {
    if (this.destageHeld === held) return;
    this.destageHeld = held;
    this.emu.test.hold('destage-main', held);
  }

  /** Every hold let go (the restripe ended, or the run stops). */
  release(): void {
    for (const name of HELD) {
      if (this.left[name] > 0) this.emu.test.hold(name, false);
      this.left[name] = 0;
    }
    if (this.destageHeld) this.holdDestage(false);
  }
}
