// A physical drive behind an interface, so a file-backed store or a timing model can replace the
// memory store without touching the disk adapter.
import { assert } from '../shared/assert.ts';
import { ArrayError } from '../shared/errors.ts';
import { NO_CHUNK, SPARSE, type SharedState } from '../shared/memory.ts';

export interface Drive {
  readonly id: string;
  readonly tracks: number;
  readonly trackBytes: number;
  /** Read physical track `track` (drive-local index) into `dst` (trackBytes long). */
  readTrack(track: number, dst: Uint8Array): Promise<void>;
  /** Write `src` (trackBytes long) onto physical track `track`. */
  writeTrack(track: number, src: Uint8Array): Promise<void>;
}

/**
 * A drive whose platters are a SharedArrayBuffer: it outlives the disk adapter worker that owns
 * it, so a replacement adapter finds the data where the old one left it. Every access checks that
 * the calling adapter is the drive's owner in shared memory (only the owning adapter touches a drive).
 */
export class MemoryDrive implements Drive {
  readonly id: string;
  readonly tracks: number;
  readonly trackBytes: number;
  private readonly bytes: Uint8Array;
  private readonly owner: MemoryOwner;

  constructor(opts: { id: string; data: SharedArrayBuffer; trackBytes: number; driveOwner: Int32Array; driveIndex: number; adapterIndex: number }) {
    this.id = opts.id;
    this.trackBytes = opts.trackBytes;
    this.bytes = new Uint8Array(opts.data);
    this.tracks = this.bytes.length / opts.trackBytes;
    this.owner = new MemoryOwner(opts.id, this.tracks, opts.trackBytes, opts.driveOwner, opts.driveIndex, opts.adapterIndex);
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
    this.bytes.set(src, track * this.trackBytes);
  }
}

/**
 * A drive whose tracks take memory only once written (a full-size drive in far less memory): a
 * shared index (track → chunk of the shared pool, NO_CHUNK while never written) and one growable
 * pool for every sparse drive. Unwritten tracks read as zeros. The index and the pool are shared,
 * so a replacement adapter finds the data where the old one left it; a chunk is published in the
 * index only after its bytes are in (a worker stopped between the two leaks one chunk, nothing more).
 */
export class SparseDrive implements Drive {
  readonly id: string;
  readonly tracks: number;
  readonly trackBytes: number;
  private readonly index: Int32Array;
  private readonly pool: SharedArrayBuffer;
  private readonly words: Int32Array;
  private readonly owner: MemoryOwner;

  constructor(opts: {
    id: string;
    index: SharedArrayBuffer;
    pool: SharedArrayBuffer;
    words: SharedArrayBuffer;
    trackBytes: number;
    driveOwner: Int32Array;
    driveIndex: number;
    adapterIndex: number;
  }) {
    this.id = opts.id;
    this.trackBytes = opts.trackBytes;
    this.index = new Int32Array(opts.index);
    this.tracks = this.index.length;
    this.pool = opts.pool;
    this.words = new Int32Array(opts.words);
    this.owner = new MemoryOwner(opts.id, this.tracks, opts.trackBytes, opts.driveOwner, opts.driveIndex, opts.adapterIndex);
  }

  async readTrack(track: number, dst: Uint8Array): Promise<void> {
    this.owner.check(track, dst, 'read');
    const chunk = Atomics.load(this.index, track);
    if (chunk === NO_CHUNK) dst.fill(0);
    else dst.set(new Uint8Array(this.pool, chunk * this.trackBytes, this.trackBytes));
  }

  async writeTrack(track: number, src: Uint8Array): Promise<void> {
    this.owner.check(track, src, 'write');
    let chunk = Atomics.load(this.index, track);
    if (chunk === NO_CHUNK) chunk = this.allocate();
    new Uint8Array(this.pool, chunk * this.trackBytes, this.trackBytes).set(src);
    Atomics.store(this.index, track, chunk);
  }

  /** A new chunk of the pool, growing it if needed (several adapters may grow it at once). */
  private allocate(): number {
    const chunk = Atomics.add(this.words, SPARSE.NEXT_CHUNK, 1);
    const need = (chunk + 1) * this.trackBytes;
    for (let i = 0; i < SPARSE_GROW_TRIES && this.pool.byteLength < need; i++) {
      const want = Math.min(this.pool.maxByteLength, Math.max(need, this.pool.byteLength * 2, SPARSE_GROW_MIN_BYTES));
      if (want < need) throw new ArrayError('CACHE_EXHAUSTED', `drive ${this.id}: the sparse store is full (${this.pool.maxByteLength} bytes written)`);
      try {
        this.pool.grow(want);
      } catch {
        // another adapter grew it meanwhile (to less than `want`): look again
      }
    }
    assert(this.pool.byteLength >= need, () => `drive ${this.id}: the sparse store did not grow to ${need} bytes`);
    return chunk;
  }
}

/** Tries to grow the sparse pool while other adapters grow it too. */
const SPARSE_GROW_TRIES = 16;
/** The sparse pool grows by at least this much at a time. */
const SPARSE_GROW_MIN_BYTES = 16 * 2 ** 20;

/** The owner and bounds check every drive store makes on each access. */
class MemoryOwner {
  constructor(
    private readonly id: string,
    private readonly tracks: number,
    private readonly trackBytes: number,
    private readonly ownerWord: Int32Array,
    private readonly driveIndex: number,
    private readonly adapterIndex: number,
  ) {}

  check(track: number, buf: Uint8Array, what: string): void {
    const owner = Atomics.load(this.ownerWord, this.driveIndex);
    assert(owner === this.adapterIndex, () => `drive ${this.id}: ${what} by disk adapter #${this.adapterIndex}, but it is owned by #${owner}`);
    assert(track >= 0 && track < this.tracks, () => `drive ${this.id}: ${what} of track ${track} outside 0..${this.tracks - 1}`);
    assert(buf.length === this.trackBytes, () => `drive ${this.id}: ${what} with a buffer of ${buf.length} bytes, not trackBytes ${this.trackBytes}`);
  }
}

/**
 * Drive `d`'s store over the shared buffers, as adapter `adapterIndex` sees it: sparse if the drive
 * keeps its tracks sparsely, dense otherwise (the one place that chooses).
 */
export function driveStore(state: SharedState, id: string, d: number, adapterIndex: number): Drive {
  const b = state.buffers;
  const common = { id, trackBytes: state.trackBytes, driveOwner: state.driveOwner, driveIndex: d, adapterIndex };
  const sparse = b.sparseIndex[d];
  return sparse ? new SparseDrive({ ...common, index: sparse, pool: b.sparsePool, words: b.sparseWords }) : new MemoryDrive({ ...common, data: b.driveData[d]! });
}
