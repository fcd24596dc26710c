// A physical drive behind an interface, so a file-backed store or a timing model can replace the
// memory store without touching the disk adapter.
import { assert } from '../shared/assert.ts';
import { SECTOR_BYTES } from '../shared/config.ts';
import { ArrayError } from '../shared/errors.ts';
import { IN_STORE, NO_CHUNK, SPARSE, type SharedState } from '../shared/memory.ts';
import { trackSourceOf, type TrackSource } from './track-source.ts';
import { growShared } from '../shared/memory-size.ts';
import { DriveFault } from '../shared/drive-state.ts';
import { addWord, loadWord, storeWord } from '../shared/words.ts';

export interface Drive {
  readonly id: string;
  readonly tracks: number;
  readonly trackBytes: number;
  /** Read physical track `track` (drive-local index) into `dst` (trackBytes long). */
  readTrack(track: number, dst: Uint8Array): Promise<void>;
  /**
   * Read bytes [from, to) of physical track `track` into the same bytes of `dst` (trackBytes long),
   * the rest of `dst` left as it is: a partial stage. `from` and `to` are multiples of `blockBytes`.
   */
  readRange(track: number, dst: Uint8Array, from: number, to: number): Promise<void>;
  /** The least a drive reads (bytes): a partial stage is rounded out to it. */
  readonly blockBytes: number;
  /** Write `src` (trackBytes long) onto physical track `track`. */
  writeTrack(track: number, src: Uint8Array): Promise<void>;
  /**
   * Write bytes [from, to) of `src` (trackBytes long) onto the same bytes of track `track`, the rest
   * of the track left as it is. Only drives without timing have it (a timed drive writes whole tracks).
   */
  writeRange?(track: number, src: Uint8Array, from: number, to: number): Promise<void>;
}

/**
 * A drive whose tracks are bytes in shared memory (dense or sparse): the restripe's direct copy
 * (DirectCopier) moves a track between two of them in one copy.
 */
export interface MemoryStore extends Drive {
  /** Track `track`'s bytes in place (null: never written, it reads as zeros); only its owner asks. */
  trackBytesOf(track: number): Uint8Array | null;
  /**
   * Put `src` (trackBytes long; null: zeros) onto track `track`, under its write seqlock. Asked by
   * the source's owner, which may be another adapter: it holds the track lock of the location this
   * track is, the lock every writer of that location holds.
   */
  copyIn(track: number, src: Uint8Array | null): void;
}

/** What both memory stores are made with. */
interface StoreOptions {
  id: string;
  trackBytes: number;
  driveOwner: Int32Array;
  driveIndex: number;
  adapterIndex: number;
  /** The write seqlock of every global track, and this drive's first global track. */
  writeSeq?: { seq: Int32Array; baseTrack: number };
}

/**
 * A drive whose platters are a SharedArrayBuffer: it outlives the disk adapter worker that owns
 * it, so a replacement adapter finds the data where the old one left it. Every access checks that
 * the calling adapter is the drive's owner in shared memory (only the owning adapter touches a drive).
 */
export class MemoryDrive implements MemoryStore {
  readonly id: string;
  readonly tracks: number;
  readonly trackBytes: number;
  readonly blockBytes = SECTOR_BYTES;
  private readonly bytes: Uint8Array;
  private readonly owner: MemoryOwner;

  constructor(opts: StoreOptions & { data: SharedArrayBuffer }) {
    this.id = opts.id;
    this.trackBytes = opts.trackBytes;
    this.bytes = new Uint8Array(opts.data);
    this.tracks = this.bytes.length / opts.trackBytes;
    this.owner = new MemoryOwner(opts, this.tracks);
    assert(Number.isInteger(this.tracks), `drive ${this.id}: store of ${this.bytes.length} bytes is not whole tracks`);
  }

  private check(track: number, buf: Uint8Array, what: string): void {
    this.owner.check(track, buf, what);
  }

  async readTrack(track: number, dst: Uint8Array): Promise<void> {
    this.check(track, dst, 'read');
    dst.set(this.bytes.subarray(track * this.trackBytes, (track + 1) * this.trackBytes));
  }

  async writeTrack(track: number, src: Uint8Array): Promise<void> {
    this.check(track, src, 'write');
    const g = this.owner.beginWrite(track);
    this.bytes.set(src, track * this.trackBytes);
    this.owner.endWrite(g);
  }

  async readRange(track: number, dst: Uint8Array, from: number, to: number): Promise<void> {
    this.check(track, dst, 'read');
    this.owner.checkRange(from, to);
    dst.set(this.bytes.subarray(track * this.trackBytes + from, track * this.trackBytes + to), from);
  }

  async writeRange(track: number, src: Uint8Array, from: number, to: number): Promise<void> {
    this.check(track, src, 'write');
    this.owner.checkRange(from, to);
    const g = this.owner.beginWrite(track);
    this.bytes.set(src.subarray(from, to), track * this.trackBytes + from);
    this.owner.endWrite(g);
  }

  trackBytesOf(track: number): Uint8Array | null {
    this.owner.checkOwner('copy');
    this.owner.checkTrack(track, 'copy');
    return this.bytes.subarray(track * this.trackBytes, (track + 1) * this.trackBytes);
  }

  copyIn(track: number, src: Uint8Array | null): void {
    this.owner.checkTrack(track, 'copy');
    const at = track * this.trackBytes;
    const g = this.owner.beginWrite(track);
    if (src) this.bytes.set(src, at);
    else this.bytes.fill(0, at, at + this.trackBytes);
    this.owner.endWrite(g);
  }
}

/**
 * A drive whose tracks take memory only once written (a full-size drive in far less memory): a
 * shared index (track → chunk of the shared pool, NO_CHUNK while never written) and one growable
 * pool for every sparse drive. Unwritten tracks read as zeros. The index and the pool are shared,
 * so a replacement adapter finds the data where the old one left it; a chunk is published in the
 * index only after its bytes are in (a worker stopped between the two leaks one chunk, nothing more).
 */
export class SparseDrive implements MemoryStore {
  readonly id: string;
  readonly tracks: number;
  readonly trackBytes: number;
  readonly blockBytes = SECTOR_BYTES;
  private readonly index: Int32Array;
  private readonly pool: SharedArrayBuffer;
  private readonly words: Int32Array;
  private readonly owner: MemoryOwner;
  /** Where IN_STORE tracks are read from (a restart's data dir), and this drive's first global track. */
  private readonly source?: { read: TrackSource; baseTrack: number };

  constructor(
    opts: StoreOptions & {
      index: SharedArrayBuffer;
      pool: SharedArrayBuffer;
      words: SharedArrayBuffer;
      source?: TrackSource;
    },
  ) {
    this.id = opts.id;
    this.trackBytes = opts.trackBytes;
    this.index = new Int32Array(opts.index);
    this.tracks = this.index.length;
    this.pool = opts.pool;
    this.words = new Int32Array(opts.words);
    this.owner = new MemoryOwner(opts, this.tracks);
    if (opts.source) this.source = { read: opts.source, baseTrack: opts.writeSeq?.baseTrack ?? 0 };
  }

  /**
   * Track `track`'s chunk (NO_CHUNK: zeros), read in from the store first if a restart left it
   * there (IN_STORE). Not under the seqlock: the bytes are the durable ones, nothing to commit.
   */
  private chunkOf(track: number): number {
    const chunk = loadWord(this.index, track);
    if (chunk !== IN_STORE) return chunk;
    assert(this.source, () => `drive ${this.id}: track ${track} is in the store, and this thread has no source for it`);
    const bytes = this.source.read(this.source.baseTrack + track);
    if (!bytes) {
      storeWord(this.index, track, NO_CHUNK);
      return NO_CHUNK;
    }
    assert(
      bytes.length === this.trackBytes,
      () =>
        `drive ${this.id}: track ${track} in the store has ${bytes.length} bytes, not trackBytes ${this.trackBytes}`,
    );
    const fresh = this.allocate();
    new Uint8Array(this.pool, fresh * this.trackBytes, this.trackBytes).set(bytes);
    storeWord(this.index, track, fresh); // published after its bytes are in
    return fresh;
  }

  async readTrack(track: number, dst: Uint8Array): Promise<void> {
    this.owner.check(track, dst, 'read');
    const chunk = this.chunkOf(track);
    if (chunk === NO_CHUNK) dst.fill(0);
    else dst.set(new Uint8Array(this.pool, chunk * this.trackBytes, this.trackBytes));
  }

  async readRange(track: number, dst: Uint8Array, from: number, to: number): Promise<void> {
    this.owner.check(track, dst, 'read');
    this.owner.checkRange(from, to);
    const chunk = this.chunkOf(track);
    if (chunk === NO_CHUNK) dst.fill(0, from, to);
    else dst.set(new Uint8Array(this.pool, chunk * this.trackBytes + from, to - from), from);
  }

  async writeTrack(track: number, src: Uint8Array): Promise<void> {
    this.owner.check(track, src, 'write');
    this.put(track, 0, src);
  }

  /** A never-written track is zeros: a new chunk is zeros too, so only the range need go in. */
  async writeRange(track: number, src: Uint8Array, from: number, to: number): Promise<void> {
    this.owner.check(track, src, 'write');
    this.owner.checkRange(from, to);
    this.put(track, from, src.subarray(from, to));
  }

  trackBytesOf(track: number): Uint8Array | null {
    this.owner.checkOwner('copy');
    this.owner.checkTrack(track, 'copy');
    const chunk = this.chunkOf(track);
    return chunk === NO_CHUNK ? null : new Uint8Array(this.pool, chunk * this.trackBytes, this.trackBytes);
  }

  copyIn(track: number, src: Uint8Array | null): void {
    this.owner.checkTrack(track, 'copy');
    if (src) this.put(track, 0, src);
    else if (this.chunkOf(track) !== NO_CHUNK) this.put(track, 0, null); // a never-written track reads as zeros already
  }

  /**
   * Put `bytes` at byte `at` of track `track` (null: zeros over the whole track), taking a chunk for
   * it first if it has none, under its write seqlock; the chunk is published after its bytes are in.
   */
  private put(track: number, at: number, bytes: Uint8Array | null): void {
    const whole = bytes === null || (at === 0 && bytes.length === this.trackBytes);
    // A part written over a track still in the store: the rest of it is read in first.
    let chunk = whole ? loadWord(this.index, track) : this.chunkOf(track);
    if (chunk === NO_CHUNK || chunk === IN_STORE) chunk = this.allocate();
    const g = this.owner.beginWrite(track);
    const dst = new Uint8Array(this.pool, chunk * this.trackBytes, this.trackBytes);
    if (bytes) dst.set(bytes, at);
    else dst.fill(0);
    storeWord(this.index, track, chunk);
    this.owner.endWrite(g);
  }

  /** A new chunk of the pool, growing it if needed (several adapters may grow it at once). */
  private allocate(): number {
    const chunk = addWord(this.words, SPARSE.NEXT_CHUNK, 1);
    if (growShared(this.pool, (chunk + 1) * this.trackBytes, SPARSE_GROW_MIN_BYTES) === 'full')
      throw new ArrayError(
        'CACHE_EXHAUSTED',
        `drive ${this.id}: the sparse store is full (${this.pool.maxByteLength} bytes written)`,
      );
    return chunk;
  }
}

/** The sparse pool grows by at least this much at a time. */
const SPARSE_GROW_MIN_BYTES = 16 * 2 ** 20;

/**
 * The owner and bounds check every drive store makes on each access, and the write seqlock
 * (SharedBuffers.driveWriteSeq): odd while a track is being written, so the durable store never
 * reads half a write and knows which tracks changed since its last commit.
 */
class MemoryOwner {
  private readonly id: string;
  private readonly trackBytes: number;
  private readonly ownerWord: Int32Array;
  private readonly driveIndex: number;
  private readonly adapterIndex: number;
  private readonly writeSeq?: { seq: Int32Array; baseTrack: number };

  constructor(
    opts: StoreOptions,
    private readonly tracks: number,
  ) {
    this.id = opts.id;
    this.trackBytes = opts.trackBytes;
    this.ownerWord = opts.driveOwner;
    this.driveIndex = opts.driveIndex;
    this.adapterIndex = opts.adapterIndex;
    this.writeSeq = opts.writeSeq;
  }

  /** A write of drive track `track` starts: its global track's seqlock goes odd. */
  beginWrite(track: number): number {
    if (!this.writeSeq) return -1;
    const g = this.writeSeq.baseTrack + track;
    const was = addWord(this.writeSeq.seq, g, 1);
    assert((was & 1) === 0, () => `drive ${this.id}: track ${track} written by two writers at once (seqlock ${was})`);
    return g;
  }

  endWrite(g: number): void {
    if (g >= 0) addWord(this.writeSeq!.seq, g, 1);
  }

  checkRange(from: number, to: number): void {
    assert(
      Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from < to && to <= this.trackBytes,
      () => `drive ${this.id}: an access to bytes ${from}..${to} of a ${this.trackBytes}-byte track`,
    );
  }

  checkOwner(what: string): void {
    const owner = loadWord(this.ownerWord, this.driveIndex);
    // The owner changes only when a spare takes this failed drive's place (drive-state.ts handOver),
    // which another thread may do between an adapter's check of the drive and this access: the
    // access meets a failed drive, as it would have a moment later.
    if (owner !== this.adapterIndex)
      throw new DriveFault(
        'failed',
        `drive ${this.id}: ${what} by disk adapter #${this.adapterIndex}, but a spare on #${owner} has taken its place`,
      );
  }

  checkTrack(track: number, what: string): void {
    assert(
      Number.isInteger(track) && track >= 0 && track < this.tracks,
      () => `drive ${this.id}: ${what} of track ${track} outside 0..${this.tracks - 1}`,
    );
  }

  check(track: number, buf: Uint8Array, what: string): void {
    this.checkOwner(what);
    this.checkTrack(track, what);
    assert(
      buf.length === this.trackBytes,
      () => `drive ${this.id}: ${what} with a buffer of ${buf.length} bytes, not trackBytes ${this.trackBytes}`,
    );
  }
}

/**
 * Drive `d`'s store over the shared buffers, as adapter `adapterIndex` sees it: sparse if the drive
 * keeps its tracks sparsely, dense otherwise (the one place that chooses).
 */
export function driveStore(state: SharedState, id: string, d: number, adapterIndex: number, baseTrack: number): Drive {
  const b = state.buffers;
  const common = {
    id,
    trackBytes: state.trackBytes,
    driveOwner: state.driveOwner,
    driveIndex: d,
    adapterIndex,
    writeSeq: { seq: state.driveWriteSeq, baseTrack },
  };
  const sparse = b.sparseIndex[d];
  return sparse
    ? new SparseDrive({ ...common, index: sparse, pool: b.sparsePool, words: b.sparseWords, source: trackSourceOf(b) })
    : new MemoryDrive({ ...common, data: b.driveData[d]! });
}
