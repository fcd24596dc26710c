// A flash drive's timing: the drive's logical pages are spread over its dies (page p on die
// p mod dies, die d on channel d mod channels). A read occupies its die for the page read time,
// then the die's channel for the page's transfer; a write crosses the channel first, then
// occupies its die for the program time. The controller takes the next command after its command
// time, so requests on different dies run in parallel: the queue depth is what buys throughput.
// No garbage collection or write amplification (a fresh drive): reads and writes at their
// datasheet latencies.
import { assert } from '../../shared/errors/assert.ts';
import { BLOCK_BYTES } from './drive-spec.ts';
import type { DriveRequest, DriveTiming, Served } from './hdd-model.ts';

export interface SsdSpec {
  kind: 'ssd';
  name: string;
  capacityBlocks: number;
  channels: number;
  diesPerChannel: number;
  pageBytes: number;
  /** Page read (array to die register) and program times (ms). */
  pageReadMs: number;
  pageProgramMs: number;
  /** Each flash channel's transfer rate (MB/s). */
  channelMBps: number;
  /** The controller's time per command (ms). */
  commandMs: number;
}

/**
 * `ssd`: an enterprise flash drive of the first generation arrays took (2008: 18 GB SLC drives, the
 * class EMC put in the DMX-4), from datasheet-class figures: 8 channels × 4 dies, 4 KiB pages,
 * 50 µs page read, 500 µs page program, 200 MB/s flash channels, 10 µs of controller time per
 * command (so about 100,000 commands a second at best).
 */
export function ssdPreset(): SsdSpec {
  return {
    kind: 'ssd',
    name: 'ssd',
    capacityBlocks: (18 * 1000 ** 3) / BLOCK_BYTES,
    channels: 8,
    diesPerChannel: 4,
    pageBytes: 4096,
    pageReadMs: 0.05,
    pageProgramMs: 0.5,
    channelMBps: 200,
    commandMs: 0.01,
  };
}

export class SsdModel implements DriveTiming {
  readonly spec: SsdSpec;
  readonly idleDestageMs = 0;
  readonly blockBytes: number;
  readonly writeBehind: DriveRequest[] = [];
  readonly writeBehindHeld = 0;
  readonly writeCacheBlocks = 0;
  counters = { hits: 0, misses: 0, mediaAccesses: 0, seekMs: 0, rotationMs: 0, transferMs: 0, interfaceMs: 0 };
  private readonly dieFreeMs: number[];
  private readonly channelFreeMs: number[];
  private readonly pageXferMs: number;

  constructor(spec: SsdSpec) {
    this.blockBytes = spec.pageBytes;
    assert(
      spec.channels >= 1 && spec.diesPerChannel >= 1 && spec.pageBytes % BLOCK_BYTES === 0,
      () => `${spec.name}: ${spec.channels} channels × ${spec.diesPerChannel} dies, ${spec.pageBytes} B pages`,
    );
    this.spec = spec;
    this.dieFreeMs = new Array<number>(spec.channels * spec.diesPerChannel).fill(0);
    this.channelFreeMs = new Array<number>(spec.channels).fill(0);
    this.pageXferMs = spec.pageBytes / (spec.channelMBps * 1000);
  }

  get name(): string {
    return this.spec.name;
  }
  get totalBlocks(): number {
    return this.spec.capacityBlocks;
  }

  /** First come, first served: the dies' parallelism, not the order, is what a flash queue exploits. */
  pick(queue: readonly DriveRequest[]): number {
    assert(queue.length > 0, `${this.spec.name}: pick from an empty queue`);
    return 0;
  }

  serve(req: DriveRequest, nowMs: number): Served {
    assert(
      req.blocks > 0 && req.lbn + req.blocks <= this.totalBlocks,
      () => `${this.spec.name}: access of ${req.blocks} blocks at ${req.lbn} past the end (${this.totalBlocks})`,
    );
    const ready = nowMs + this.spec.commandMs;
    const perPage = this.spec.pageBytes / BLOCK_BYTES;
    const first = Math.floor(req.lbn / perPage);
    const last = Math.floor((req.lbn + req.blocks - 1) / perPage);
    let doneMs = ready;
    for (let page = first; page <= last; page++)
      doneMs = Math.max(doneMs, req.write ? this.program(page, ready) : this.read(page, ready));
    this.counters.misses++;
    this.counters.mediaAccesses++;
    this.counters.transferMs += (last - first + 1) * this.pageXferMs;
    return {
      req,
      startMs: nowMs,
      doneMs,
      freeMs: ready,
      hit: false,
      seekMs: 0,
      rotationMs: 0,
      transferMs: (last - first + 1) * this.pageXferMs,
    };
  }

  private read(page: number, readyMs: number): number {
    const die = page % this.dieFreeMs.length;
    const ch = die % this.channelFreeMs.length;
    const sensed = Math.max(readyMs, this.dieFreeMs[die]!) + this.spec.pageReadMs;
    const out = Math.max(sensed, this.channelFreeMs[ch]!) + this.pageXferMs;
    this.channelFreeMs[ch] = out;
    this.dieFreeMs[die] = out; // the die's register holds the page until it is out
    return out;
  }

  private program(page: number, readyMs: number): number {
    const die = page % this.dieFreeMs.length;
    const ch = die % this.channelFreeMs.length;
    const sent = Math.max(readyMs, this.channelFreeMs[ch]!, this.dieFreeMs[die]!) + this.pageXferMs;
    this.channelFreeMs[ch] = sent;
    this.dieFreeMs[die] = sent + this.spec.pageProgramMs;
    return this.dieFreeMs[die]!;
  }

  destageOne(): Served | undefined {
    return undefined;
  }
  mustDestageFirst(): boolean {
    return false;
  }
  isHit(): boolean {
    return false;
  }
}
