// One disk drive's timing: its queue (FCFS, C-LOOK or SPTF), its segmented cache with read-ahead
// and an immediate-report write cache, and its mechanics. It decides *when* each access completes;
// the bytes live elsewhere (the Drive's store). Time is whatever clock the caller runs (ms): real
// time in the real modes, the discrete-event clock in virtual mode.
import { assert } from '../../shared/errors/assert.ts';
import { DiskMechanics, type HeadState } from './mechanics.ts';
import { BLOCK_BYTES, type HddSpec, type Overheads, type SchedulerName } from './drive-spec.ts';

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

/** What a drive timing model does for the timed drive, trace replay and the closed-loop runs: an HDD or an SSD. */
export interface DriveTiming {
  readonly name: string;
  readonly totalBlocks: number;
  /** The least the drive reads (bytes): a sector for a disk, a page for flash. */
  readonly blockBytes: number;
  /** Idle time after which the drive destages its write cache (ms). */
  readonly idleDestageMs: number;
  readonly counters: {
    hits: number;
    misses: number;
    mediaAccesses: number;
    seekMs: number;
    rotationMs: number;
    transferMs: number;
    /** Time the host interface carried buffer hits (a media access's blocks cross it overlapped with the media). */
    interfaceMs: number;
  };
  readonly writeBehind: readonly DriveRequest[];
  readonly writeBehindHeld: number;
  readonly writeCacheBlocks: number;
  pick(queue: readonly DriveRequest[], nowMs: number): number;
  serve(req: DriveRequest, nowMs: number): Served;
  destageOne(nowMs: number): Served | undefined;
  mustDestageFirst(req: DriveRequest): boolean;
  isHit(req: DriveRequest, nowMs: number): boolean;
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

export class HddModel implements DriveTiming {
  readonly blockBytes = BLOCK_BYTES;
  readonly mech: DiskMechanics;
  readonly spec: HddSpec;
  private head: HeadState = { cylinder: 0, surface: 0 };
  private readonly segments: Segment[] = [];
  private readonly scheduler: SchedulerName;
  private readonly cacheOn: boolean;
  /** Writes reported done (write cache) and not yet on the media: destaged when the queue is idle or the cache is full. */
  readonly writeBehind: DriveRequest[] = [];
  /** Blocks held in `writeBehind`; at most `writeCacheBlocks`. */
  private writeBehindBlocks = 0;
  /** The write cache's capacity (blocks): the buffer's segments together. */
  readonly writeCacheBlocks: number;
  /** When the host interface is next free (ms): transfers to and from the buffer take it, not the mechanism. */
  private busFreeMs = 0;
  counters = { hits: 0, misses: 0, mediaAccesses: 0, seekMs: 0, rotationMs: 0, transferMs: 0, interfaceMs: 0 };

  private readonly writeCacheOn: boolean;

  get name(): string {
    return this.spec.name;
  }
  get totalBlocks(): number {
    return this.mech.totalBlocks;
  }
  /** A revolution: writes arriving meanwhile join the run the drive destages. */
  get idleDestageMs(): number {
    return this.mech.revMs;
  }

  constructor(spec: HddSpec, opts: { cache?: boolean; writeCache?: boolean; scheduler?: SchedulerName } = {}) {
    this.spec = spec;
    this.mech = new DiskMechanics(spec);
    this.scheduler = opts.scheduler ?? spec.scheduler;
    this.cacheOn = opts.cache ?? true;
    this.writeCacheOn = opts.writeCache ?? spec.cache.writeCache;
    this.writeCacheBlocks = Math.max(1, spec.cache.segments) * Math.max(1, spec.cache.segmentBlocks);
  }

  /** Whether every block of `req` is written in the write cache and not on the media yet (a read of them is a hit). */
  private inWriteBehind(req: DriveRequest): boolean {
    let at = req.lbn;
    const end = req.lbn + req.blocks;
    // Runs are few (the cache's capacity); each pass moves `at` past one run or stops.
    for (let pass = 0; pass <= this.writeBehind.length && at < end; pass++) {
      const w = this.writeBehind.find((x) => x.lbn <= at && at < x.lbn + x.blocks);
      if (!w) return false;
      at = w.lbn + w.blocks;
    }
    return at >= end;
  }

  /** Whether the buffer serves `req` without the mechanism at `nowMs`: a write the cache takes, or a read it holds in full. */
  isHit(req: DriveRequest, nowMs: number): boolean {
    if (!this.cacheOn) return false;
    if (req.write) return this.writeCaching && !this.mustDestageFirst(req);
    if (this.inWriteBehind(req)) return true;
    const at = this.inBufferAt(req.lbn, req.blocks, nowMs, false);
    return at !== undefined && at <= nowMs;
  }

  /** Blocks in the write cache, not on the media yet. */
  get writeBehindHeld(): number {
    return this.writeBehindBlocks;
  }

  /** Whether `req` is a write that the write cache cannot take before some of it is destaged. */
  mustDestageFirst(req: DriveRequest): boolean {
    return (
      req.write &&
      this.writeCaching &&
      this.writeBehind.length > 0 &&
      this.writeBehindBlocks + req.blocks > this.writeCacheBlocks
    );
  }

  /** The kind of the last host command served (a write-behind destage is the drive's own, not one). */
  private lastWrite = false;

  /** The controller overheads of the next command: DiskSim's, by the kind of the one before it. */
  private overheadsNow(): Overheads {
    return this.lastWrite ? this.spec.overheads.afterWrite : this.spec.overheads.afterRead;
  }

  private get writeCaching(): boolean {
    return this.cacheOn && this.writeCacheOn;
  }

  /** Index in `queue` of the request to serve next at `nowMs`, by the drive's policy. */
  pick(queue: readonly DriveRequest[], nowMs: number): number {
    assert(
      queue.length > 0 && queue.length <= DRIVE_QUEUE_LIMIT,
      () => `${this.spec.name}: pick from a queue of ${queue.length}`,
    );
    if (this.scheduler === 'fcfs' || queue.length === 1) return 0;
    if (this.scheduler === 'clook') return this.pickCLook(queue);
    let best = 0;
    let bestMs = Infinity;
    const o = this.overheadsNow(); // the next command follows the last one served
    queue.forEach((r, i) => {
      const ms = this.positioningMs(r, nowMs, o);
      if (ms < bestMs) {
        bestMs = ms;
        best = i;
      }
    });
    return best;
  }

  /** SPTF's cost of `r` at `nowMs`: a write the cache takes or a read in the buffer costs only the wait for its blocks. */
  private positioningMs(r: DriveRequest, nowMs: number, o: Overheads): number {
    if (r.write && this.writeCaching && !this.mustDestageFirst(r)) return 0;
    if (!r.write && this.cacheOn && this.inWriteBehind(r)) return 0;
    const inBufferMs = !r.write && this.cacheOn ? this.inBufferAt(r.lbn, r.blocks, nowMs, false) : undefined;
    if (inBufferMs !== undefined) return inBufferMs - nowMs;
    const p = this.mech.locate(r.lbn);
    const at = nowMs + (r.write ? o.writeMissMs : o.readMissMs); // the mechanism moves after the command overhead
    const move = this.mech.positionMs(this.head, p, r.write);
    return move + this.mech.rotationWaitMs(at + move, p);
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
    const o = this.overheadsNow();
    this.lastWrite = req.write; // the next command's overheads follow this one's kind
    const bus = req.blocks * this.spec.busBlockMs;
    if (req.write && this.writeCaching) {
      // Immediate report: done once in the buffer; the media write waits for an idle moment (or
      // for room: the caller destages first when the cache is full, see mustDestageFirst).
      assert(
        !this.mustDestageFirst(req),
        () =>
          `${this.spec.name}: a write of ${req.blocks} blocks into a full write cache (${this.writeBehindBlocks} held)`,
      );
      this.invalidate(req.lbn, req.blocks);
      this.writeBehind.push(req);
      this.writeBehindBlocks += req.blocks;
      this.counters.hits++;
      return this.hit(req, nowMs, nowMs + o.writeHitMs, bus);
    }
    const inBufferMs =
      !req.write && this.cacheOn
        ? this.inWriteBehind(req)
          ? nowMs + o.readHitMs
          : this.inBufferAt(req.lbn, req.blocks, nowMs + o.readHitMs, true)
        : undefined;
    if (inBufferMs !== undefined) {
      // A hit, perhaps on blocks the read-ahead is still bringing in: each crosses as it arrives.
      this.counters.hits++;
      return this.hit(req, nowMs, nowMs + o.readHitMs, bus, inBufferMs + this.spec.busBlockMs);
    }
    return this.media(req, nowMs + (req.write ? o.writeMissMs : o.readMissMs), nowMs);
  }

  /**
   * Destage the oldest write-behind run, joined with the writes that continue it (a sequential
   * stream goes to the media in one access, as a drive's cache does); undefined if there is none.
   */
  destageOne(nowMs: number): Served | undefined {
    const first = this.writeBehind.shift();
    if (!first) return undefined;
    const run = { ...first };
    for (let i = 0; i < this.writeBehind.length && run.blocks < this.writeCacheBlocks;) {
      const w = this.writeBehind[i]!;
      if (w.lbn === run.lbn + run.blocks) {
        run.blocks += w.blocks;
        this.writeBehind.splice(i, 1);
        i = 0;
      } else i++;
    }
    this.writeBehindBlocks -= run.blocks;
    assert(this.writeBehindBlocks >= 0, () => `${this.spec.name}: write cache holds ${this.writeBehindBlocks} blocks`);
    return this.media(run, nowMs, nowMs);
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
    return {
      req,
      startMs,
      doneMs,
      freeMs: m.doneMs,
      hit: false,
      seekMs: m.seekMs,
      rotationMs: m.rotationMs,
      transferMs: m.transferMs,
    };
  }

  /**
   * A buffer hit: the controller's overhead holds the drive until `readyMs`; the blocks then cross
   * the host interface (not before `availableMs`, for read-ahead still arriving), which the
   * mechanism does not wait for: it may start its next access meanwhile.
   */
  private hit(req: DriveRequest, startMs: number, readyMs: number, busMs: number, availableMs = 0): Served {
    const crossAt = Math.max(readyMs, this.busFreeMs, availableMs - busMs);
    this.busFreeMs = crossAt + busMs;
    this.counters.interfaceMs += busMs;
    return {
      req,
      startMs,
      doneMs: this.busFreeMs,
      freeMs: readyMs,
      hit: true,
      seekMs: 0,
      rotationMs: 0,
      transferMs: 0,
    };
  }

  /** After a read from the media, keep reading ahead into a segment (LRU) until the next access. */
  private startReadAhead(req: DriveRequest, atMs: number): void {
    const c = this.spec.cache;
    const end = Math.min(
      this.mech.totalBlocks,
      req.lbn + req.blocks + c.readAheadBlocks,
      req.lbn + Math.max(req.blocks, c.segmentBlocks),
    );
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
  private inBufferAt(lbn: number, blocks: number, atMs: number, use: boolean): number | undefined {
    for (const s of this.segments) {
      const last = lbn + blocks;
      if (lbn < s.start || last > s.stoppedAt) continue;
      if (use) this.readOn(s, last, atMs);
      return last <= s.fillFrom ? atMs : s.fillAtMs + (last - s.fillFrom) * s.blockMs;
    }
    return undefined;
  }

  /**
   * A hit up to block `last` on a segment the mechanism has not left: the read-ahead goes on
   * another read-ahead's worth past it (a sequential stream keeps the mechanism reading), and the
   * segment drops what lies more than a segment behind.
   */
  private readOn(s: Segment, last: number, atMs: number): void {
    s.usedMs = atMs;
    if (s.stoppedAt !== s.end) return; // stopped: the mechanism went elsewhere
    const c = this.spec.cache;
    const ranOutMs = s.fillAtMs + (s.end - s.fillFrom) * s.blockMs;
    if (ranOutMs <= atMs) {
      // It had filled its read-ahead and stopped; the hit frees room, and it reads on from where it
      // stopped once that block comes round under the head again.
      s.fillAtMs = ranOutMs + Math.ceil((atMs - ranOutMs) / this.mech.revMs) * this.mech.revMs;
      s.fillFrom = s.end;
    }
    s.end = s.stoppedAt = Math.min(this.mech.totalBlocks, Math.max(s.end, last + c.readAheadBlocks));
    s.start = Math.max(s.start, last - c.segmentBlocks);
  }

  private invalidate(lbn: number, blocks: number): void {
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const s = this.segments[i]!;
      if (lbn < s.end && s.start < lbn + blocks) this.segments.splice(i, 1);
    }
  }
}
