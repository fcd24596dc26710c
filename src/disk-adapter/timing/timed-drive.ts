// A drive with time: the store keeps the bytes, the timing model decides when each access
// completes. Requests queue at the drive and are served one at a time in the model's order (FCFS,
// C-LOOK, SPTF); the drive keeps its own clock (when the mechanism is next free), so a timer that
// fires late (real timers resolve to ~1 ms) delays the notice of a completion, never the drive.
import { assert } from '../../shared/assert.ts';
import { ArrayError } from '../../shared/errors.ts';
import { sched } from '../../shared/sched.ts';
import { modelPreset, type DriveModelConfig } from '../../shared/drive-models.ts';
import type { ArrayConfig } from '../../shared/config.ts';
import type { Drive } from '../drive.ts';
import { BLOCK_BYTES, hddPreset } from './drive-spec.ts';
import { DRIVE_QUEUE_LIMIT, HddModel, type DriveRequest } from './hdd-model.ts';
import { Channel } from './channel.ts';
import { DEFAULT_CHANNEL_MBPS } from '../../shared/drive-models.ts';

/** A request waiting at the drive: itself a DriveRequest, so the queue goes to the model's pick as it is. */
interface Queued extends DriveRequest {
  arrivedMs: number;
  done: () => void;
}

/** The timing model of a configured drive, or undefined for `instant` (no time at all). */
export function timingModel(m: DriveModelConfig | undefined): HddModel | undefined {
  const preset = modelPreset(m);
  if (preset === 'instant') return undefined;
  const opts = typeof m === 'object' ? { scheduler: m.scheduler, cache: m.cache } : {};
  return new HddModel(hddPreset(preset), opts);
}

/** The back-end link of disk adapter `i` if any of its drives has a timing model (its `channelMBps`, or the default). */
export function adapterChannel(cfg: ArrayConfig, i: number): Channel | undefined {
  const da = cfg.diskAdapters[i]!;
  const timed = da.drives.some((id) => timingModel(cfg.drives.find((d) => d.id === id)?.model) !== undefined);
  return timed ? new Channel(da.channelMBps ?? DEFAULT_CHANNEL_MBPS) : undefined;
}

/** Every drive's model can hold the drive as configured: refused naming the field, before anything starts. */
export function checkDriveModels(cfg: ArrayConfig): void {
  const blocksPerTrack = cfg.geometry.trackBytes / BLOCK_BYTES;
  cfg.drives.forEach((d, i) => {
    const model = timingModel(d.model);
    if (!model) return;
    const blocks = d.cylinders * cfg.geometry.headsPerCylinder * blocksPerTrack;
    if (blocks > model.mech.totalBlocks) {
      throw new ArrayError('CONFIG', `drives[${i}].model: drive "${d.id}" holds ${blocks} blocks of 512 B, more than the ${model.spec.name}'s ${model.mech.totalBlocks}`);
    }
  });
}

export class TimedDrive implements Drive {
  readonly id: string;
  readonly tracks: number;
  readonly trackBytes: number;
  readonly model: HddModel;
  private readonly store: Drive;
  private readonly blocksPerTrack: number;
  private readonly queue: Queued[] = [];
  private busy = false;
  /** The drive's own clock: when its mechanism is next free (ms, the scheduler's time base). */
  private freeMs = 0;
  private nextId = 1;

  private readonly channel?: Channel;

  /** `channel`: the disk adapter's back-end link, shared by its drives (none: no link cost). */
  constructor(store: Drive, model: HddModel, channel?: Channel) {
    this.store = store;
    this.model = model;
    this.channel = channel;
    this.id = store.id;
    this.tracks = store.tracks;
    this.trackBytes = store.trackBytes;
    this.blocksPerTrack = store.trackBytes / BLOCK_BYTES;
    assert(this.tracks * this.blocksPerTrack <= model.mech.totalBlocks, () => `drive ${this.id}: ${this.tracks} tracks do not fit the ${model.spec.name}`);
  }

  async readTrack(track: number, dst: Uint8Array): Promise<void> {
    await this.access(track, false);
    await this.store.readTrack(track, dst);
  }

  async writeTrack(track: number, src: Uint8Array): Promise<void> {
    await this.access(track, true);
    await this.store.writeTrack(track, src);
  }

  /** Requests waiting for the mechanism now. */
  get queued(): number {
    return this.queue.length;
  }

  private access(track: number, write: boolean): Promise<void> {
    assert(this.queue.length < DRIVE_QUEUE_LIMIT, () => `drive ${this.id}: ${DRIVE_QUEUE_LIMIT} requests queued`);
    return new Promise<void>((done) => {
      this.queue.push({ id: this.nextId++, lbn: track * this.blocksPerTrack, blocks: this.blocksPerTrack, write, arrivedMs: sched().now(), done });
      this.dispatch();
    });
  }

  /** Serve the next request (or destage the write cache when nothing waits), by the drive's clock. */
  private dispatch(): void {
    if (this.busy) return;
    const now = sched().now();
    if (this.queue.length === 0) {
      const w = this.model.destageOne(Math.max(now, this.freeMs));
      if (w) this.occupy(w.freeMs, now);
      return;
    }
    // By the drive's clock: a request that arrived while the mechanism was busy starts when it
    // freed, exactly (not when this late timer fired); one that found it idle starts on arrival.
    let firstArrival = Infinity;
    for (const q of this.queue) firstArrival = Math.min(firstArrival, q.arrivedMs);
    const start = Math.max(this.freeMs, firstArrival);
    const [item] = this.queue.splice(this.model.pick(this.queue, start), 1);
    const req = item!;
    const bytes = req.blocks * BLOCK_BYTES;
    // A write's data crosses the back-end link before the drive can take it; a read's after.
    const at = Math.max(start, item!.arrivedMs);
    const s = this.model.serve(req, req.write && this.channel ? this.channel.transfer(bytes, at) : at);
    const doneMs = !req.write && this.channel ? this.channel.transfer(bytes, s.doneMs) : s.doneMs;
    sched().after(Math.max(0, doneMs - now), item!.done);
    this.occupy(s.freeMs, now);
  }

  private occupy(freeMs: number, now: number): void {
    this.busy = true;
    this.freeMs = freeMs;
    sched().after(Math.max(0, freeMs - now), () => {
      this.busy = false;
      this.dispatch();
    });
  }
}
