// What a disk adapter sees of a physical drive (an interface, so a store in memory, a sparse store
// over the data dir, or a timing model can stand behind it without touching the disk adapter).
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
export interface StoreOptions {
  id: string;
  trackBytes: number;
  driveOwner: Int32Array;
  driveIndex: number;
  adapterIndex: number;
  /**
   * The write seqlock of every global track, this drive's first global track, the dirty track bits
   * and page masks, and the disk adapters' records of the writes they have open (SharedBuffers.driveWriting).
   */
  writeSeq?: { seq: Int32Array; baseTrack: number; dirty?: Int32Array; pages?: Int32Array; writing?: Int32Array };
}
