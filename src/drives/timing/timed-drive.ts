// A drive with time: the store keeps the bytes, the timing model decides when each access
// completes. Requests queue at the drive and are served one at a time in the model's order (FCFS,
// C-LOOK, SPTF); the drive keeps its own clock (when the mechanism is next free), so a timer that
// fires late (real timers resolve to ~1 ms) delays the notice of a completion, never the drive.
import { assert } from '../../shared/errors/assert.ts';
import { ArrayError } from '../../shared/errors/errors.ts';
import { sched } from '../../shared/sched/sched.ts';
import { modelPreset, type DriveModelConfig } from '../../shared/config/drive-models.ts';
import type { ArrayConfig } from '../../shared/config/config.ts';
import type { Drive } from '../store.ts';
import { BLOCK_BYTES, hddPreset } from './drive-spec.ts';
import { DRIVE_QUEUE_LIMIT, HddModel, type DriveRequest, type DriveTiming, type Served } from './hdd-model.ts';
import { SsdModel, ssdPreset } from './ssd-model.ts';
import { Channel } from './channel.ts';
import { DEFAULT_CHANNEL_MBPS } from '../../shared/config/drive-models.ts';
import { DEFAULT_DA_COMMAND_MS } from '../../shared/cost/cost.ts';

/** Most blocks the drive joins into one media write (1 MiB). */
const CONCAT_BLOCKS_MAX = 2048;

/** Rounding slack when the idle timer looks at the write cache (ms). */
const IDLE_SLACK_MS = 1e-6;

/** A request waiting at the drive: itself a DriveRequest, so the queue goes to the model's pick as it is. */
interface Queued extends DriveRequest {
  arrivedMs: number;
  done: () => void;
}

/** The timing model of a configured drive, or undefined for `instant` (no time at all). */
export function timingModel(m: DriveModelConfig | undefined): DriveTiming | undefined {
  const preset = modelPreset(m);
  if (preset === 'instant') return undefined;
  if (preset === 'ssd') return new SsdModel(ssdPreset());
  const opts = typeof m === 'object' ? { scheduler: m.scheduler, cache: m.cache, writeCache: m.writeCache } : {};
  return new HddModel(hddPreset(preset), opts);
}

/** The back-end link of disk adapter `i` if any of its drives has a timing model (its `channelMBps`, or the default). */
export function adapterChannel(cfg: ArrayConfig, i: number): Channel | undefined {
  const da = cfg.diskAdapters[i]!;
  const timed = da.drives.some((id) => timingModel(cfg.drives.find((d) => d.id === id)?.model) !== undefined);
  return timed ? new Channel(da.channelMBps ?? DEFAULT_CHANNEL_MBPS, da.commandMs ?? DEFAULT_DA_COMMAND_MS) : undefined;
}

/** Every drive's model can hold the drive as configured: refused naming the field, before anything starts. */
export function checkDriveModels(cfg: ArrayConfig): void {
  const blocksPerTrack = cfg.geometry.trackBytes / BLOCK_BYTES;
  cfg.drives.forEach((d, i) => {
    const model = timingModel(d.model);
    if (!model) return;
    const blocks = d.cylinders * cfg.geometry.headsPerCylinder * blocksPerTrack;
    if (blocks > model.totalBlocks) {
      throw new ArrayError(
        'CONFIG',
        `drives[${i}].model: drive "${d.id}" holds ${blocks} blocks of 512 B, more than the ${model.name}'s ${model.totalBlocks}`,
      );
    }
  });
}

export class TimedDrive implements Drive {
  readonly id: string;
  readonly tracks: number;
  readonly trackBytes: number;
  readonly blockBytes: number;
  readonly model: DriveTiming;
  private readonly store: Drive;
  private readonly blocksPerTrack: number;
  private readonly queue: Queued[] = [];
  private busy = false;
  /** The drive's own clock: when its mechanism is next free (ms, the scheduler's time base). */
  private freeMs = 0;
  private nextId = 1;
  /** When the last request arrived (ms), and whether a timer will look at the write cache once the drive has been idle. */
  private lastArrivalMs = 0;
  private idleTimer = false;

  private readonly channel?: Channel;
  /** Bytes read from and written to this drive (its tracks, as the adapter asked for them). */
  readBytes = 0;
  writtenBytes = 0;

  /** `channel`: the disk adapter's back-end link, shared by its drives (none: no link cost). */
  constructor(store: Drive, model: DriveTiming, channel?: Channel) {
    this.store = store;
    this.model = model;
    this.channel = channel;
    this.id = store.id;
    this.tracks = store.tracks;
    this.trackBytes = store.trackBytes;
    this.blocksPerTrack = store.trackBytes / BLOCK_BYTES;
    this.blockBytes = model.blockBytes;
    assert(
      this.tracks * this.blocksPerTrack <= model.totalBlocks,
      () => `drive ${this.id}: ${this.tracks} tracks do not fit the ${model.name}`,
    );
  }

  async readTrack(track: number, dst: Uint8Array): Promise<void> {
    await this.access(track, false);
    await this.store.readTrack(track, dst);
    this.readBytes += this.trackBytes;
  }

  /** Bytes [from, to) of a track: only their blocks are read, and cross the link. */
  async readRange(track: number, dst: Uint8Array, from: number, to: number): Promise<void> {
    assert(
      from % BLOCK_BYTES === 0 && to % BLOCK_BYTES === 0 && from >= 0 && from < to && to <= this.trackBytes,
      () => `drive ${this.id}: a read of bytes ${from}..${to} of a ${this.trackBytes}-byte track`,
    );
    await this.access(track, false, from / BLOCK_BYTES, (to - from) / BLOCK_BYTES);
    await this.store.readRange(track, dst, from, to);
    this.readBytes += to - from;
  }

  async writeTrack(track: number, src: Uint8Array): Promise<void> {
    await this.access(track, true);
    await this.store.writeTrack(track, src);
    this.writtenBytes += this.trackBytes;
  }

  /** Requests waiting for the mechanism now. */
  get queued(): number {
    return this.queue.length;
  }

  /** Queue an access to `blocks` blocks of `track` from its block `firstBlock` (the whole track by default). */
  private access(track: number, write: boolean, firstBlock = 0, blocks = this.blocksPerTrack): Promise<void> {
    assert(this.queue.length < DRIVE_QUEUE_LIMIT, () => `drive ${this.id}: ${DRIVE_QUEUE_LIMIT} requests queued`);
    this.lastArrivalMs = sched().now();
    return new Promise<void>((done) => {
      this.queue.push({
        id: this.nextId++,
        lbn: track * this.blocksPerTrack + firstBlock,
        blocks,
        write,
        arrivedMs: sched().now(),
        done,
      });
      this.dispatch();
    });
  }

  /**
   * Serve what the buffer can at once (hits need only the controller and the interface), then the
   * next request that needs the mechanism, or destage the write cache when nothing needs it; by the
   * drive's clock.
   */
  private dispatch(): void {
    const now = sched().now();
    this.serveHits(now);
    if (this.busy) return;
    if (this.queue.length === 0) {
      this.destageWhenIdle(now);
      return;
    }
    // By the drive's clock: a request that arrived while the mechanism was busy starts when it
    // freed, exactly (not when this late timer fired); one that found it idle starts on arrival.
    let firstArrival = Infinity;
    for (const q of this.queue) firstArrival = Math.min(firstArrival, q.arrivedMs);
    const start = Math.max(this.freeMs, firstArrival);
    const pick = this.model.pick(this.queue, start);
    if (this.model.mustDestageFirst(this.queue[pick]!)) {
      // The write cache is full: make room before the write can be taken.
      this.occupy(this.model.destageOne(start)!.freeMs, now);
      return;
    }
    const item = this.queue[pick]!;
    this.queue.splice(pick, 1);
    const at = Math.max(start, item.arrivedMs);
    const served =
      item.write && !this.model.isHit(item, at)
        ? this.startWrites(this.concatWrites(item), at, now)
        : this.start(item, at, now);
    this.occupy(served.freeMs, now);
  }

  /** Serve `item` from `atMs`: a write's data crosses the back-end link before the drive can take it; a read's after. */
  private start(item: Queued, atMs: number, now: number): Served {
    const bytes = item.blocks * BLOCK_BYTES;
    const s = this.model.serve(item, item.write && this.channel ? this.channel.transfer(bytes, atMs) : atMs);
    const doneMs = !item.write && this.channel ? this.channel.transfer(bytes, s.doneMs) : s.doneMs;
    sched().after(Math.max(0, doneMs - now), item.done);
    return s;
  }

  /**
   * `first` and the queued writes that continue it, block after block (up to CONCAT_BLOCKS_MAX):
   * written through to the media, they go in one access, as a drive's queue joins sequential
   * writes, instead of one per revolution (each would find its first block just passed).
   */
  private concatWrites(first: Queued): Queued[] {
    const run = [first];
    let end = first.lbn + first.blocks;
    let blocks = first.blocks;
    for (let i = 0; i < this.queue.length && blocks < CONCAT_BLOCKS_MAX;) {
      const q = this.queue[i]!;
      if (q.write && q.lbn === end) {
        this.queue.splice(i, 1);
        run.push(q);
        end += q.blocks;
        blocks += q.blocks;
        i = 0;
      } else i++;
    }
    return run;
  }

  /** Write a run of queued writes in one media access; each completes when the run does. */
  private startWrites(run: Queued[], atMs: number, now: number): Served {
    if (run.length === 1) return this.start(run[0]!, atMs, now);
    const blocks = run.reduce((n, q) => n + q.blocks, 0);
    const joined: Queued = { ...run[0]!, blocks, done: () => run.forEach((q) => q.done()) };
    return this.start(joined, atMs, now);
  }

  /**
   * While the mechanism is busy, the buffer still takes writes (while the write cache has room)
   * and answers reads it holds: those need only the controller and the interface.
   */
  private serveHits(now: number): void {
    for (let i = 0; i < this.queue.length;) {
      const item = this.queue[i]!;
      if (!this.model.isHit(item, now)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.start(item, Math.max(now, item.arrivedMs), now);
    }
  }

  /**
   * Nothing waits: destage the write cache once the drive has been idle for a revolution (writes
   * arriving meanwhile join the run, so a stream goes to the media in long runs, not one track per
   * revolution), or at once when the cache is half full.
   */
  private destageWhenIdle(now: number): void {
    if (this.model.writeBehind.length === 0) return;
    const idleMs = now - this.lastArrivalMs;
    // (A timer set for the idle time can fire a rounding error early: that counts as idle.)
    if (
      idleMs >= this.model.idleDestageMs - IDLE_SLACK_MS ||
      this.model.writeBehindHeld * 2 >= this.model.writeCacheBlocks
    ) {
      const w = this.model.destageOne(Math.max(now, this.freeMs));
      if (w) this.occupy(w.freeMs, now);
      return;
    }
    if (this.idleTimer) return;
    this.idleTimer = true;
    sched().after(this.model.idleDestageMs - idleMs, () => {
      this.idleTimer = false;
      this.dispatch();
    });
  }

  private occupy(freeMs: number, now: number): void {
    this.busy = true;
    this.freeMs = freeMs;
    sched().after(Math.max(0, freeMs - now), this.freed);
  }

  /** The mechanism is free (one function for every access, not a closure each). */
  private readonly freed = (): void => {
    this.busy = false;
    this.dispatch();
  };
}

/** What an adapter's timed drives and back-end link did, summed (ms rounded to µs): all zero for instant drives. */
/**
 * Each timed drive's own figures, keyed `drive:<id>:<figure>`: bytes read and written, the
 * milliseconds its mechanism was busy (seek, rotation, media transfer) and its interface carried hits.
 */
function perDriveTiming(drives: Iterable<Drive>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of drives) {
    if (!(d instanceof TimedDrive)) continue;
    const c = d.model.counters;
    out[`drive:${d.id}:readBytes`] = d.readBytes;
    out[`drive:${d.id}:writtenBytes`] = d.writtenBytes;
    out[`drive:${d.id}:busyMs`] = Math.round((c.seekMs + c.rotationMs + c.transferMs) * 1000) / 1000;
    out[`drive:${d.id}:interfaceMs`] = Math.round(c.interfaceMs * 1000) / 1000;
  }
  return out;
}

/** The adapter's timed drives summed (and each one's own figures, perDriveTiming), and its link's busy time. */
export function drivesTiming(iterable: Iterable<Drive>, channel?: Channel): Record<string, number> {
  const drives = [...iterable];
  const t = {
    driveHits: 0,
    driveMediaAccesses: 0,
    driveSeekMs: 0,
    driveRotationMs: 0,
    driveTransferMs: 0,
    driveQueued: 0,
    channelBusyMs: channel?.busyMs ?? 0,
    channelBytes: channel?.bytes ?? 0,
  };
  for (const d of drives) {
    if (!(d instanceof TimedDrive)) continue;
    const c = d.model.counters;
    t.driveHits += c.hits;
    t.driveMediaAccesses += c.mediaAccesses;
    t.driveSeekMs += c.seekMs;
    t.driveRotationMs += c.rotationMs;
    t.driveTransferMs += c.transferMs;
    t.driveQueued += d.queued;
  }
  for (const k of ['driveSeekMs', 'driveRotationMs', 'driveTransferMs', 'channelBusyMs'] as const)
    t[k] = Math.round(t[k] * 1000) / 1000;
  return { ...t, ...perDriveTiming(drives) };
}
