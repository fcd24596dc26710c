// The disk adapter: sole owner of its drives. Stages tracks into cache slots on request, destages
// write-pending slots in the background (host requests first), and flushes on request.
import type { Link, Log } from '../shared/link.ts';
import type { Message } from '../shared/messages.ts';
import type { ArrayModel } from '../shared/model.ts';
import { SLOT, NO_SLOT, NO_TRACK, type SharedState } from '../shared/memory.ts';
import { lockTrack, unlockTrack } from '../shared/track-lock.ts';
import { assert } from '../shared/assert.ts';
import { errorMessage } from '../shared/errors.ts';
import { MemoryDrive, type Drive } from './drive.ts';

/** Slots destaged per turn before the destager yields to staging (host requests come first). */
const DESTAGE_BATCH = 32;
/** Safety-net sweep of every slot for write-pending data of this adapter's drives. */
const SWEEP_INTERVAL_MS = 200;

export interface DiskAdapterOptions {
  model: ArrayModel;
  state: SharedState;
  index: number;
  log: Log;
  /** Build the drive objects (default: memory drives over the shared backing stores). */
  drives?: Map<number, Drive>;
}

export class DiskAdapter {
  readonly name: string;
  readonly index: number;
  private readonly model: ArrayModel;
  private readonly state: SharedState;
  private readonly log: Log;
  private readonly drives: Map<number, Drive>;
  private readonly hostAdapters: Link[] = [];
  private readonly dirty = new Set<number>(); // slots hinted write-pending, bounded by the slot count
  private destaging = false;
  private sweepTimer?: NodeJS.Timeout;
  private stopped = false;
  readonly counters = { staged: 0, destaged: 0, flushes: 0 };

  constructor(opts: DiskAdapterOptions) {
    this.model = opts.model;
    this.state = opts.state;
    this.index = opts.index;
    this.log = opts.log;
    this.name = opts.model.diskAdapterIds[opts.index]!;
    this.drives = opts.drives ?? this.memoryDrives();
  }

  private memoryDrives(): Map<number, Drive> {
    const out = new Map<number, Drive>();
    const { drives } = this.model;
    drives.ids.forEach((id, d) => {
      if (this.state.driveOwner[d] !== this.index) return;
      out.set(
        d,
        new MemoryDrive({
          id,
          data: this.state.buffers.driveData[d]!,
          trackBytes: this.state.trackBytes,
          driveOwner: this.state.driveOwner,
          driveIndex: d,
          adapterIndex: this.index,
        }),
      );
    });
    return out;
  }

  start(): void {
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  attachHostAdapter(link: Link): void {
    this.hostAdapters.push(link);
    link.onMessages((msgs) => {
      for (const m of msgs) this.handle(link, m);
    });
  }

  private handle(link: Link, m: Message): void {
    switch (m.t) {
      case 'stage':
        void this.stage(link, m.reqs);
        return;
      case 'destage-hint':
        for (const s of m.slots) if (s >= 0 && s < this.state.slots) this.dirty.add(s);
        this.kick();
        return;
      case 'destage-now':
        this.sweep();
        return;
      case 'flush':
        void this.flush().then(
          () => link.send({ t: 'flushed', id: m.id }),
          (err) => link.send({ t: 'flushed', id: m.id, error: errorMessage(err) }),
        );
        return;
      default:
        this.log('warn', `${this.name}: dropped unexpected "${m.t}" message from ${link.peer}`);
    }
  }

  /** The drive and drive-local track of global track `g`, asserting this adapter owns it. */
  private driveTrack(g: number): { drive: Drive; track: number } {
    const d = this.model.drives.driveOf(g);
    const drive = this.drives.get(d);
    assert(drive, () => `${this.name}: asked to touch ${this.model.drives.dch(g)} on a drive it does not own`);
    return { drive, track: g - this.model.drives.baseTrack[d]! };
  }

  private ownsTrack(g: number): boolean {
    return this.drives.has(this.model.drives.driveOf(g));
  }

  /** Read each track into its slot. The requesting host adapter holds the track locked. */
  private async stage(link: Link, reqs: Array<{ track: number; slot: number }>): Promise<void> {
    const replies: Array<{ track: number; slot: number; error?: string }> = [];
    for (const r of reqs) {
      try {
        assert(r.slot >= 0 && r.slot < this.state.slots, `stage into slot ${r.slot} outside the cache`);
        assert(
          Atomics.load(this.state.slotOwner, r.slot) === r.track && Atomics.load(this.state.trackSlot, r.track) === r.slot,
          () => `${this.name}: stage of track ${r.track} into a slot it does not own (${this.state.describeSlot(r.slot)}; track ${this.state.describeTrack(r.track)})`,
        );
        const { drive, track } = this.driveTrack(r.track);
        await drive.readTrack(track, this.state.slotBytes(r.slot));
        this.counters.staged++;
        replies.push(r);
      } catch (err) {
        replies.push({ ...r, error: errorMessage(err) });
      }
    }
    link.send({ t: 'staged', reqs: replies });
  }

  private kick(): void {
    if (this.destaging || this.stopped) return;
    this.destaging = true;
    setImmediate(() => void this.destageLoop());
  }

  private async destageLoop(): Promise<void> {
    try {
      while (this.dirty.size > 0 && !this.stopped) {
        let n = 0;
        for (const s of this.dirty) {
          this.dirty.delete(s);
          await this.destageSlot(s);
          if (++n >= DESTAGE_BATCH) break;
        }
        await new Promise<void>((r) => setImmediate(r)); // let stage requests in
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.destaging = false;
    }
  }

  /** Destage slot `s` to mirror 1 (its owner track) if that track is on one of this adapter's drives. */
  async destageSlot(s: number): Promise<boolean> {
    const { state } = this;
    const owner = Atomics.load(state.slotOwner, s);
    if (owner === NO_TRACK || !(Atomics.load(state.slotState, s) & SLOT.WP1) || !this.ownsTrack(owner)) return false;
    await lockTrack(state, owner);
    try {
      // Under the owner's lock the slot cannot be moved, evicted or rewritten.
      const st = Atomics.load(state.slotState, s);
      if (Atomics.load(state.slotOwner, s) !== owner || !(st & SLOT.WP1)) return false;
      assert(
        Atomics.load(state.trackSlot, owner) === s && st & SLOT.VALID && st & SLOT.WP,
        () => `${this.name}: write-pending ${state.describeSlot(s)} is not the valid slot of track ${owner} (${state.describeTrack(owner)})`,
      );
      const { drive, track } = this.driveTrack(owner);
      await drive.writeTrack(track, state.slotBytes(s));
      const after = Atomics.and(state.slotState, s, ~SLOT.WP1) & ~SLOT.WP1;
      if (!(after & (SLOT.WP2 | SLOT.WP3 | SLOT.WP4))) Atomics.and(state.slotState, s, ~SLOT.WP);
      this.counters.destaged++;
    } finally {
      unlockTrack(state, owner);
    }
    state.cacheEvent();
    return true;
  }

  /** Write-pending slots whose mirror 1 is on this adapter's drives. */
  private pendingSlots(): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.state.slots; s++) {
      if (!(Atomics.load(this.state.slotState, s) & SLOT.WP1)) continue;
      const owner = Atomics.load(this.state.slotOwner, s);
      if (owner !== NO_TRACK && this.ownsTrack(owner)) out.push(s);
    }
    return out;
  }

  private sweep(): void {
    for (const s of this.pendingSlots()) this.dirty.add(s);
    if (this.dirty.size > 0) this.kick();
  }

  /** Destage everything write-pending on this adapter's drives now. */
  async flush(): Promise<void> {
    this.counters.flushes++;
    for (const s of this.pendingSlots()) await this.destageSlot(s);
  }

  private fail(err: unknown): void {
    this.log('error', `${this.name}: stopping: ${errorMessage(err)}`);
    this.stop();
    throw err;
  }

  status(): Record<string, number> {
    return { ...this.counters, dirtyHints: this.dirty.size, drives: this.drives.size, noSlot: NO_SLOT };
  }
}
