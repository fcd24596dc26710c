// The drive stores in memory: a dense drive (MemoryDrive) and the one place that chooses between it
// and a sparse drive (sparse-drive.ts) for each drive.
import { assert } from '../shared/errors/assert.ts';
import { SECTOR_BYTES } from '../shared/config/constants.ts';
import type { SharedState } from '../shared/tables/memory.ts';
import { trackSourceOf } from './track-source.ts';
import type { MemoryStore, StoreOptions, Drive } from './drive.ts';
import { MemoryOwner } from './memory-owner.ts';
import { SparseDrive } from './sparse-drive.ts';

export type { Drive, MemoryStore, StoreOptions } from './drive.ts';
export { SparseDrive } from './sparse-drive.ts';

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
    const g = this.owner.beginWrite(track, from, to);
    this.bytes.set(src.subarray(from, to), track * this.trackBytes + from);
    this.owner.endWrite(g);
  }

  trackBytesOf(track: number): Uint8Array | null {
    this.owner.checkOwner('copy');
    this.owner.checkTrack(track, 'copy');
    return this.bytes.subarray(track * this.trackBytes, (track + 1) * this.trackBytes);
  }

  /** Tracks [track, track + count) in place as one span, for the restripe's span copy (DirectCopier.copySpan); only its owner asks. */
  spanOf(track: number, count: number): Uint8Array {
    this.owner.checkOwner('copy');
    this.checkSpan(track, count);
    return this.bytes.subarray(track * this.trackBytes, (track + count) * this.trackBytes);
  }

  /** copyIn of whole tracks from one span (`src`, a whole number of tracks), each under its write seqlock for the copy. */
  copySpanIn(track: number, src: Uint8Array): void {
    const count = src.length / this.trackBytes;
    this.checkSpan(track, count);
    const first = this.owner.beginWrite(track);
    for (let i = 1; i < count; i++) this.owner.beginWrite(track + i);
    this.bytes.set(src, track * this.trackBytes);
    for (let i = 0; i < count; i++) this.owner.endWrite(first < 0 ? first : first + i);
  }

  private checkSpan(track: number, count: number): void {
    assert(Number.isInteger(count) && count >= 1, () => `drive ${this.id}: a span of ${count} tracks`);
    this.owner.checkTrack(track, 'copy');
    this.owner.checkTrack(track + count - 1, 'copy');
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
    writeSeq: {
      seq: state.driveWriteSeq,
      baseTrack,
      dirty: state.dirtyTracks,
      pages: state.dirtyPages,
      writing: state.driveWriting,
    },
  };
  const sparse = b.sparseIndex[d];
  return sparse
    ? new SparseDrive({
        ...common,
        index: sparse,
        pool: b.sparsePool,
        words: b.sparseWords,
        committedSeq: state.committedSeq,
        source: trackSourceOf(b),
        residentMax: residentShare(state, d),
      })
    : new MemoryDrive({ ...common, data: b.driveData[d]! });
}

/**
 * Sparse drive d's share of the pool (chunks), in proportion to its tracks: over it, the drive's owner
 * lets its own durable tracks go first. A pool that holds every sparse track gives each all of its own.
 */
function residentShare(state: SharedState, d: number): number {
  const b = state.buffers;
  let total = 0;
  for (const index of b.sparseIndex) total += index ? index.byteLength / 4 : 0;
  const own = b.sparseIndex[d]!.byteLength / 4;
  return Math.floor((b.sparsePool.maxByteLength / state.trackBytes) * (own / Math.max(1, total)));
}
