// A physical drive behind an interface, so a file-backed store or a timing model can replace the
// memory store without touching the disk adapter.
import { assert } from '../shared/assert.ts';

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
  private readonly ownerWord: Int32Array;
  private readonly driveIndex: number;
  private readonly adapterIndex: number;

  constructor(opts: { id: string; data: SharedArrayBuffer; trackBytes: number; driveOwner: Int32Array; driveIndex: number; adapterIndex: number }) {
    this.id = opts.id;
    this.trackBytes = opts.trackBytes;
    this.bytes = new Uint8Array(opts.data);
    this.tracks = this.bytes.length / opts.trackBytes;
    this.ownerWord = opts.driveOwner;
    this.driveIndex = opts.driveIndex;
    this.adapterIndex = opts.adapterIndex;
    assert(Number.isInteger(this.tracks), `drive ${this.id}: store of ${this.bytes.length} bytes is not whole tracks`);
  }

  private check(track: number, buf: Uint8Array, what: string): void {
    const owner = Atomics.load(this.ownerWord, this.driveIndex);
    assert(owner === this.adapterIndex, () => `drive ${this.id}: ${what} by disk adapter #${this.adapterIndex}, but it is owned by #${owner}`);
    assert(track >= 0 && track < this.tracks, () => `drive ${this.id}: ${what} of track ${track} outside 0..${this.tracks - 1}`);
    assert(buf.length === this.trackBytes, () => `drive ${this.id}: ${what} with a buffer of ${buf.length} bytes, not trackBytes ${this.trackBytes}`);
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
