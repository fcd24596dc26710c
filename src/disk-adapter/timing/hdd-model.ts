// One disk drive's timing: its queue (FCFS, C-LOOK or SPTF), its segmented cache with read-ahead
// and an immediate-report write cache, and its mechanics. It decides *when* each access completes;
// the bytes live elsewhere (the Drive's store). Time is whatever clock the caller runs (ms): real
// time in the real modes, the discrete-event clock in virtual mode.
import { assert } from '../../shared/assert.ts';
import { DiskMechanics, type HeadState } from './mechanics.ts';
import type { HddSpec, SchedulerName } from './drive-spec.ts';

export interface DriveRequest {
  id: number;
  lbn: number;
  blocks: number;
  write: boolean;
}

/** How one request was served and when it completes. */
export interface Served {
  req: DriveRequest;
  startMs: number;
  /** When the request completes (its last block has crossed the interface). */
  doneMs: number;
  /** When the mechanism is free for the next access (the last block's interface transfer overlaps it). */
  freeMs: number;
  hit: boolean;
  seekMs: number;
  rotationMs: number;
  transferMs: number;
}

/** A cache segment: blocks [start, end) of which those before `filledTo(t)` are in the buffer. */
interface Segment {
  start: number;
  end: number;
  /** Read-ahead: blocks from `fillFrom` arrive one per `blockMs` from `fillAtMs`, until stopped. */
  fillFrom: number;
  fillAtMs: number;
  blockMs: number;
  stoppedAt: number; // block where read-ahead stopped (end if it ran out)
  usedMs: number; // for LRU
}

/** Longest queue a drive accepts; more is a caller's bug (the disk adapter bounds what it sends). */
export const DRIVE_QUEUE_LIMIT = 4096;

export class HddModel {
  readonly mech: DiskMechanics;
  readonly spec: HddSpec;
  private head: HeadState = { cylinder: 0, surface: 0 };
  private readonly segments: Segment[] = [];
  private readonly scheduler: SchedulerName;
  private readonly cacheOn: boolean;
  /** Writes reported done (write cache) and not yet on the media: destaged when the queue is idle. */
  readonly writeBehind: DriveRequest[] = [];
  counters = { hits: 0, misses: 0, mediaAccesses: 0, seekMs: 0, rotationMs: 0, transferMs: 0 };

  constructor(spec: HddSpec, opts: { cache?: boolean; scheduler?: SchedulerName } = {}) {
    this.spec = spec;
    this.mech = new DiskMechanics(spec);
    this.scheduler = opts.scheduler ?? spec.scheduler;
    this.cacheOn = opts.cache ?? true;
  }

  /** Index in `queue` of the request to serve next at `nowMs`, by the drive's policy. */
  pick(queue: readonly DriveRequest[], nowMs: number): number {
    assert(queue.length > 0 && queue.length <= DRIVE_QUEUE_LIMIT, () => `${this.spec.name}: pick from a queue of ${queue.length}`);
    if (this.scheduler === 'fcfs' || queue.length === 1) return 0;
    if (this.scheduler === 'clook') return this.pickCLook(queue);
    let best = 0;
    let bestMs = Infinity;
    const o = this.spec.overheads;
    queue.forEach((r, i) => {
      const p = this.mech.locate(r.lbn);
      const at = nowMs + (r.write ? o.writeMissMs : o.readMissMs); // the mechanism moves after the command overhead
      const move = this.mech.positionMs(this.head, p, r.write);
      const ms = move + this.mech.rotationWaitMs(at + move, p);
      if (ms < bestMs) {
        bestMs = ms;
        best = i;
      }
    });
    return best;
  }

  /** C-LOOK: the nearest request at or beyond the head's cylinder, else wrap to the lowest. */
  private pickCLook(queue: readonly DriveRequest[]): number {
    let ahead = -1;
    let aheadCyl = Infinity;
    let lowest = 0;
    let lowestCyl = Infinity;
    queue.forEach((r, i) => {
      const c = this.mech.locate(r.lbn).cylinder;
      if (c >= this.head.cylinder && c < aheadCyl) {
        ahead = i;
        aheadCyl = c;
      }
      if (c < lowestCyl) {
        lowest = i;
        lowestCyl = c;
      }
    });
    return ahead >= 0 ? ahead : lowest;
  }

  /** Serve `req` beginning at `nowMs` (the drive is idle): a cache hit, or the mechanism. */
  serve(req: DriveRequest, nowMs: number): Served {
    const o = this.spec.overheads;
    const bus = req.blocks * this.spec.busBlockMs;
    if (req.write && this.cacheOn && this.spec.cache.writeCache) {
      // Immediate report: done once in the buffer; the media write waits for an idle moment.
      this.invalidate(req.lbn, req.blocks);
      this.writeBehind.push(req);
      return this.done(req, nowMs, nowMs + o.writeHitMs + bus, true);
    }
    const inBufferMs = !req.write && this.cacheOn ? this.inBufferAt(req.lbn, req.blocks, nowMs + o.readHitMs) : undefined;
    if (inBufferMs !== undefined) {
      // A hit, perhaps on blocks the read-ahead is still bringing in: each crosses as it arrives.
      this.counters.hits++;
      return this.done(req, nowMs, Math.max(nowMs + o.readHitMs + bus, inBufferMs + this.spec.busBlockMs), true);
    }
    return this.media(req, nowMs + (req.write ? o.writeMissMs : o.readMissMs), nowMs);
  }

  /** Destage one write-behind block run (the queue is idle); undefined if there is none. */
  destageOne(nowMs: number): Served | undefined {
    const w = this.writeBehind.shift();
    return w ? this.media(w, nowMs, nowMs) : undefined;
  }

  private media(req: DriveRequest, atMs: number, startMs: number): Served {
    this.stopReadAhead(atMs);
    if (req.write) this.invalidate(req.lbn, req.blocks);
    const m = this.mech.access(atMs, this.head, req.lbn, req.blocks, req.write);
    this.head = m.head;
    this.counters.misses++;
    this.counters.mediaAccesses++;
    this.counters.seekMs += m.seekMs;
    this.counters.rotationMs += m.rotationMs;
    this.counters.transferMs += m.transferMs;
    // The last block crosses the interface after the media (the rest overlaps the media transfer).
    const doneMs = m.doneMs + this.spec.busBlockMs;
    if (!req.write && this.cacheOn && this.spec.cache.segments > 0) this.startReadAhead(req, m.doneMs);
    return { req, startMs, doneMs, freeMs: m.doneMs, hit: false, seekMs: m.seekMs, rotationMs: m.rotationMs, transferMs: m.transferMs };
  }

  private done(req: DriveRequest, startMs: number, doneMs: number, hit: boolean): Served {
    return { req, startMs, doneMs, freeMs: doneMs, hit, seekMs: 0, rotationMs: 0, transferMs: 0 };
  }

  /** After a read from the media, keep reading ahead into a segment (LRU) until the next access. */
  private startReadAhead(req: DriveRequest, atMs: number): void {
    const c = this.spec.cache;
    const end = Math.min(this.mech.totalBlocks, req.lbn + req.blocks + c.readAheadBlocks, req.lbn + Math.max(req.blocks, c.segmentBlocks));
    const p = this.mech.locate(Math.min(req.lbn + req.blocks, this.mech.totalBlocks - 1));
    const seg: Segment = {
      start: req.lbn,
      end,
      fillFrom: req.lbn + req.blocks,
      fillAtMs: atMs,
      blockMs: this.mech.revMs / this.mech.blocksPerTrack(p),
      stoppedAt: end,
      usedMs: atMs,
    };
    if (this.segments.length >= c.segments) {
      let lru = 0;
      this.segments.forEach((s, i) => {
        if (s.usedMs < this.segments[lru]!.usedMs) lru = i;
      });
      this.segments.splice(lru, 1);
    }
    this.segments.push(seg);
  }

  /** Read-ahead stops when the mechanism is wanted for another access. */
  private stopReadAhead(atMs: number): void {
    for (const s of this.segments) {
      const n = Math.max(0, Math.floor((atMs - s.fillAtMs) / s.blockMs));
      s.stoppedAt = Math.min(s.stoppedAt, s.fillFrom + n);
    }
  }

  /**
   * When blocks [lbn, lbn + blocks) are all in a segment, given the read-ahead still running at
   * `atMs` (it is not stopped by a hit); undefined if no segment holds or will hold them.
   */
  private inBufferAt(lbn: number, blocks: number, atMs: number): number | undefined {
    for (const s of this.segments) {
      const last = lbn + blocks;
      if (lbn < s.start || last > s.stoppedAt) continue;
      s.usedMs = atMs;
      return last <= s.fillFrom ? atMs : s.fillAtMs + (last - s.fillFrom) * s.blockMs;
    }
    return undefined;
  }

  private invalidate(lbn: number, blocks: number): void {
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const s = this.segments[i]!;
      if (lbn < s.end && s.start < lbn + blocks) this.segments.splice(i, 1);
    }
  }
}
