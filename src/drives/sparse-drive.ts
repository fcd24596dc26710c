// A drive whose tracks take memory only while held (DESIGN §10). Without a data dir, a track takes a
// chunk of the shared pool when first written and keeps it. With one, the drive's bytes are the
// store's and the pool is their cache, bounded by `--drive-cache-mib`: a track whose bytes are in a
// durable commit unchanged (its write seqlock equals committedSeq) may be evicted, and is read back
// from the store when next touched. Why eviction is safe while other threads run:
//
//  - Only the drive's owner evicts, in its own thread, so never under its own reads or writes; the
//    one other writer, a direct copy from another adapter (copyIn), never writes into a published
//    chunk: it fills a fresh chunk and swaps it in with a compare-and-swap, so whichever of the two
//    takes the old chunk out of the index frees it, once.
//  - The durable capture reads only tracks whose seqlock differs from committedSeq, and the owner
//    evicts only tracks whose seqlock equals it; committedSeq moves only after a commit is on
//    stable storage (durable.ts), so an evicted track's bytes are the store's.
//  - A freed chunk goes to the freeing thread's own list and is taken only by that thread's next
//    allocation: a chunk a thread still reads from within the same synchronous step (a direct
//    copy's source) is never handed to another thread mid-copy.
//  - The store's reader starts a fresh read transaction for each read-back (LmdbStore.track), so it
//    sees the commit whose committedSeq let the chunk go.
import { assert } from '../shared/errors/assert.ts';
import { SECTOR_BYTES } from '../shared/config/constants.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { IN_STORE, NO_CHUNK, SPARSE } from '../shared/tables/memory.ts';
import { growShared } from '../shared/config/memory-size.ts';
import { addWord, casWord, loadWord, storeWord } from '../shared/tables/words.ts';
import type { MemoryStore, StoreOptions } from './drive.ts';
import { MemoryOwner } from './memory-owner.ts';
import type { TrackSource } from './track-source.ts';
import { chunkBytes } from '../shared/tables/drive-bytes.ts';

/**
 * A write found no room in the pool: every chunk holds a track not yet durable (or, without a data
 * dir, the pool is full). The write is the caller's to retry after the next commit; the adapter goes on.
 */
export class NoRoom extends ArrayError {
  constructor(message: string) {
    super('CACHE_EXHAUSTED', message);
    this.name = 'NoRoom';
  }
}

/** The sparse pool grows by at least this much at a time. */
const SPARSE_GROW_MIN_BYTES = 16 * 2 ** 20;
/** Chunks one eviction frees at most, so the next allocations find one at hand. */
const EVICT_BATCH = 32;
/** Chunks a thread keeps freed for its own next allocations at most (an eviction adds at most EVICT_BATCH to an empty list). */
const FREE_KEPT_MAX = 4 * EVICT_BATCH;
/** Tracks one eviction looks at most (its clock hand goes on from there next time). */
const EVICT_SCAN_TRACKS = 16_384;
/** Tries to swap a track's chunk while its owner may evict it: a failed try means the owner just did, so two suffice. */
const SWAP_TRIES = 4;

/** Per thread and pool: the chunks this thread freed (for its own next allocations) and its drives on the pool. */
interface ThreadChunks {
  free: number[];
  drives: Set<SparseDrive>;
}
const threadChunks = new WeakMap<SharedArrayBuffer, ThreadChunks>();

function chunksOf(pool: SharedArrayBuffer): ThreadChunks {
  let t = threadChunks.get(pool);
  if (!t) threadChunks.set(pool, (t = { free: [], drives: new Set() }));
  return t;
}

export interface SparseOptions extends StoreOptions {
  index: SharedArrayBuffer;
  pool: SharedArrayBuffer;
  words: SharedArrayBuffer;
  /** Per global track, the seqlock value last made durable (shared: the durable capture writes it). */
  committedSeq?: Int32Array;
  /** Where IN_STORE tracks are read from (the data dir's store, in this thread): eviction needs one. */
  source?: TrackSource;
  /** Chunks this drive keeps before its owner evicts its own first (its share of the pool). */
  residentMax?: number;
}

/**
 * A shared index (track → chunk of the shared pool: NO_CHUNK never written, zeros; IN_STORE in the
 * store, not read in) and one growable pool for every sparse drive. The index and the pool are
 * shared, so a replacement adapter finds the data where the old one left it; a chunk is published
 * in the index only after its bytes are in (a worker stopped between the two leaks one chunk).
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
  private readonly source?: { read: TrackSource; baseTrack: number; committedSeq?: Int32Array };
  private readonly residentWord: number;
  private readonly residentMax: number;
  private readonly chunks: ThreadChunks;
  private readonly maxChunks: number;
  private readonly writeSeq?: Int32Array;
  /** Where the next eviction looks first (a clock hand over the drive's tracks). */
  private hand = 0;

  constructor(opts: SparseOptions) {
    this.id = opts.id;
    this.trackBytes = opts.trackBytes;
    this.index = new Int32Array(opts.index);
    this.tracks = this.index.length;
    this.pool = opts.pool;
    this.words = new Int32Array(opts.words);
    this.owner = new MemoryOwner(opts, this.tracks);
    const baseTrack = opts.writeSeq?.baseTrack ?? 0;
    if (opts.source) this.source = { read: opts.source, baseTrack, committedSeq: opts.committedSeq };
    this.writeSeq = opts.writeSeq?.seq;
    this.residentWord = SPARSE.RESIDENT + opts.driveIndex;
    assert(this.residentWord < this.words.length, () => `drive ${this.id}: no resident word ${this.residentWord}`);
    this.maxChunks = Math.floor(this.pool.maxByteLength / this.trackBytes);
    this.residentMax = Math.max(1, opts.residentMax ?? this.maxChunks);
    this.chunks = chunksOf(this.pool);
    this.chunks.drives.add(this);
  }

  /** Chunks this drive holds now (shared: every thread's allocations and evictions count). */
  get resident(): number {
    return loadWord(this.words, this.residentWord);
  }

  /**
   * Track `track`'s chunk (NO_CHUNK: zeros), read in from the store first if it is there (IN_STORE).
   * Not under the seqlock: the bytes are the durable ones, nothing to commit. NoRoom: none was free.
   */
  private chunkOf(track: number): number {
    const chunk = loadWord(this.index, track);
    if (chunk !== IN_STORE) return chunk;
    const bytes = this.fromStore(track);
    if (!bytes) {
      storeWord(this.index, track, NO_CHUNK);
      return NO_CHUNK;
    }
    const fresh = this.allocate();
    chunkBytes(this.pool, fresh, this.trackBytes).set(bytes);
    storeWord(this.index, track, fresh); // published after its bytes are in
    addWord(this.words, this.residentWord, 1);
    return fresh;
  }

  /** Track `track`'s bytes as the store holds them (null: zeros). */
  private fromStore(track: number): Uint8Array | null {
    const source = this.source;
    assert(source, () => `drive ${this.id}: track ${track} is in the store, and this thread has no source for it`);
    const bytes = source.read(source.baseTrack + track, loadWord(this.words, SPARSE.COMMITTED));
    assert(
      !bytes || bytes.length === this.trackBytes,
      () =>
        `drive ${this.id}: track ${track} in the store has ${bytes!.length} bytes, not trackBytes ${this.trackBytes}`,
    );
    return bytes;
  }

  /** Track `track`'s bytes to read (null: zeros): in the pool, or straight from the store when no chunk is free. */
  private bytesToRead(track: number): Uint8Array | null {
    let chunk: number;
    try {
      chunk = this.chunkOf(track);
    } catch (err) {
      if (!(err instanceof NoRoom)) throw err;
      return this.fromStore(track); // a read needs no room: it is served from the store, not kept
    }
    return chunk === NO_CHUNK ? null : chunkBytes(this.pool, chunk, this.trackBytes);
  }

  async readTrack(track: number, dst: Uint8Array): Promise<void> {
    this.owner.check(track, dst, 'read');
    const bytes = this.bytesToRead(track);
    if (bytes) dst.set(bytes);
    else dst.fill(0);
  }

  async readRange(track: number, dst: Uint8Array, from: number, to: number): Promise<void> {
    this.owner.check(track, dst, 'read');
    this.owner.checkRange(from, to);
    const bytes = this.bytesToRead(track);
    if (bytes) dst.set(bytes.subarray(from, to), from);
    else dst.fill(0, from, to);
  }

  async writeTrack(track: number, src: Uint8Array): Promise<void> {
    this.owner.check(track, src, 'write');
    this.put(track, 0, src);
  }

  /** Only the range goes in (onto the track's bytes, or onto zeros where it was never written). */
  async writeRange(track: number, src: Uint8Array, from: number, to: number): Promise<void> {
    this.owner.check(track, src, 'write');
    this.owner.checkRange(from, to);
    this.put(track, from, src.subarray(from, to));
  }

  trackBytesOf(track: number): Uint8Array | null {
    this.owner.checkOwner('copy');
    this.owner.checkTrack(track, 'copy');
    return this.bytesToRead(track);
  }

  /**
   * A direct copy onto track `track`, maybe from another adapter's thread: into a fresh chunk (null:
   * none, zeros), swapped in for the old one, which the swap's winner frees (see the header).
   */
  copyIn(track: number, src: Uint8Array | null): void {
    this.owner.checkTrack(track, 'copy');
    const fresh = src ? this.allocate() : NO_CHUNK;
    if (src) chunkBytes(this.pool, fresh, this.trackBytes).set(src);
    const g = this.owner.beginWrite(track);
    try {
      for (let i = 0; i < SWAP_TRIES; i++) {
        const old = loadWord(this.index, track);
        if (casWord(this.index, track, old, fresh) !== old) continue; // its owner evicted it meanwhile
        if (fresh >= 0) addWord(this.words, this.residentWord, 1);
        if (old >= 0) this.dropChunk(old);
        return;
      }
      assert(false, () => `drive ${this.id}: track ${track}'s chunk changed under ${SWAP_TRIES} swaps`);
    } finally {
      this.owner.endWrite(g);
    }
  }

  /**
   * Put `bytes` at byte `at` of track `track` (null: zeros over the whole track), taking a chunk for
   * it first if it has none, under its write seqlock; the chunk is published after its bytes are in.
   */
  private put(track: number, at: number, bytes: Uint8Array | null): void {
    const whole = bytes === null || (at === 0 && bytes.length === this.trackBytes);
    // A part written over a track still in the store: the rest of it is read in first.
    let chunk = whole ? loadWord(this.index, track) : this.chunkOf(track);
    const fresh = chunk === NO_CHUNK || chunk === IN_STORE;
    if (fresh) chunk = this.allocate();
    const g = whole ? this.owner.beginWrite(track) : this.owner.beginWrite(track, at, at + bytes.length);
    const dst = chunkBytes(this.pool, chunk, this.trackBytes);
    // A reused chunk holds the bytes of the track it was evicted from: a part written onto a track
    // that reads as zeros (never written) zeroes the rest first.
    if (fresh && !whole) dst.fill(0);
    if (bytes) dst.set(bytes, at);
    else dst.fill(0);
    storeWord(this.index, track, chunk);
    if (fresh) addWord(this.words, this.residentWord, 1);
    this.owner.endWrite(g);
  }

  /**
   * A chunk for a track of this drive: one this thread freed; over its share, one it evicts from its
   * own durable tracks; a never-used one; or one evicted from any of this thread's drives.
   */
  private allocate(): number {
    if (this.resident >= this.residentMax && this.chunks.free.length === 0) this.evict(EVICT_BATCH);
    const freed = this.chunks.free.pop();
    if (freed !== undefined) return freed;
    const unused = this.unused();
    if (unused !== NO_CHUNK) return unused;
    for (const drive of this.chunks.drives) if (drive.evict(EVICT_BATCH) > 0) break;
    const evicted = this.chunks.free.pop();
    if (evicted !== undefined) return evicted;
    throw new NoRoom(
      `drive ${this.id}: the drive cache (${this.pool.maxByteLength} bytes) holds no track that is durable yet: ` +
        (this.source ? 'a write waits for the next commit' : 'the sparse store is full'),
    );
  }

  /** A chunk never used before (the pool grown to hold it), or NO_CHUNK when every one has been. */
  private unused(): number {
    if (loadWord(this.words, SPARSE.NEXT_CHUNK) >= this.maxChunks) return NO_CHUNK;
    const chunk = addWord(this.words, SPARSE.NEXT_CHUNK, 1);
    if (chunk >= this.maxChunks) return NO_CHUNK; // another thread took the last one meanwhile
    const grown = growShared(this.pool, (chunk + 1) * this.trackBytes, SPARSE_GROW_MIN_BYTES);
    assert(grown === 'ok', () => `drive ${this.id}: chunk ${chunk} of ${this.maxChunks} does not fit the pool`);
    return chunk;
  }

  /** A chunk taken out of this drive's index: one fewer held, kept for this thread's next allocation. */
  private dropChunk(chunk: number): void {
    const was = addWord(this.words, this.residentWord, -1);
    assert(was > 0, () => `drive ${this.id}: chunk ${chunk} let go while the drive holds ${was} chunks`);
    this.chunks.free.push(chunk);
    assert(
      this.chunks.free.length <= FREE_KEPT_MAX,
      () => `drive ${this.id}: this thread keeps ${this.chunks.free.length} freed chunks (most ${FREE_KEPT_MAX})`,
    );
  }

  /**
   * Evict up to `most` of this drive's tracks whose bytes are durable unchanged (their seqlock equals
   * committedSeq), looking at EVICT_SCAN_TRACKS at most; only by the drive's owner. Returns how many.
   */
  evict(most: number): number {
    const committed = this.source?.committedSeq;
    if (!committed || !this.writeSeq || !this.owner.isOwner()) return 0;
    const base = this.source!.baseTrack;
    let freed = 0;
    for (let n = 0; n < Math.min(this.tracks, EVICT_SCAN_TRACKS) && freed < most; n++) {
      const t = this.hand;
      this.hand = (t + 1) % this.tracks;
      const chunk = loadWord(this.index, t);
      if (chunk < 0) continue;
      const seq = loadWord(this.writeSeq, base + t);
      if (seq & 1 || seq !== loadWord(committed, base + t)) continue; // not durable as it stands
      if (casWord(this.index, t, chunk, IN_STORE) !== chunk) continue; // a direct copy swapped it meanwhile
      this.dropChunk(chunk);
      freed++;
    }
    return freed;
  }
}
