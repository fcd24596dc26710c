// The checks every drive store in memory makes on each access (owner, bounds) and its write seqlock.
import { assert } from '../shared/errors/assert.ts';
import { DriveFault } from '../shared/drive-states/drive-state.ts';
import { addWord, loadWord, orWord, storeWord } from '../shared/tables/words.ts';
import { WRITING, WRITING_WORDS } from '../shared/tables/memory.ts';
import { markDirty, pagesTouched } from '../shared/tables/dirty.ts';
import type { StoreOptions } from './drive.ts';

/**
 * The owner and bounds check every drive store makes on each access, and the write seqlock
 * (SharedBuffers.driveWriteSeq): odd while a track is being written, so the durable store never
 * reads half a write and knows which tracks changed since its last commit.
 */
export class MemoryOwner {
  private readonly id: string;
  private readonly trackBytes: number;
  private readonly ownerWord: Int32Array;
  private readonly driveIndex: number;
  private readonly adapterIndex: number;
  private readonly writeSeq?: StoreOptions['writeSeq'];

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

  /**
   * A write of bytes [from, to) of drive track `track` starts: its global track's seqlock goes odd,
   * then its pages and its dirty bit are marked. In that order: a capture that takes the bit finds
   * the seqlock odd (or the write done) and reads the track after the write, and takes the pages
   * after its read (shared/tables/dirty.ts). Marked before the seqlock, a bit taken between the two let
   * the capture read the track before the write and count it committed: the write left out of
   * every commit until the track was written again.
   */
  beginWrite(track: number, from = 0, to = this.trackBytes): number {
    if (!this.writeSeq) return -1;
    const g = this.writeSeq.baseTrack + track;
    this.noteOpen(g); // before the seqlock goes odd: a worker ended between the two leaves it even
    const was = addWord(this.writeSeq.seq, g, 1);
    assert((was & 1) === 0, () => `drive ${this.id}: track ${track} written by two writers at once (seqlock ${was})`);
    if (this.writeSeq.pages) orWord(this.writeSeq.pages, g, pagesTouched(this.trackBytes, from, to));
    if (this.writeSeq.dirty) markDirty(this.writeSeq.dirty, g);
    return g;
  }

  endWrite(g: number): void {
    if (g < 0) return;
    addWord(this.writeSeq!.seq, g, 1);
    const w = this.writeSeq!.writing;
    if (!w) return;
    const at = this.adapterIndex * WRITING_WORDS;
    const open = loadWord(w, at + WRITING.OPEN) - 1;
    assert(
      open >= 0,
      () =>
        `drive ${this.id}: a write of global track ${g} ended that disk adapter #${this.adapterIndex} had not begun`,
    );
    storeWord(w, at + WRITING.OPEN, open);
    if (open === 0) storeWord(w, at + WRITING.SPAN, 0);
  }

  /**
   * Global track `g`'s write is open at this adapter (SharedBuffers.driveWriting): the first of a
   * span, or the next track of the span open now (a span's writes begin in track order).
   */
  private noteOpen(g: number): void {
    const w = this.writeSeq!.writing;
    if (!w) return;
    const at = this.adapterIndex * WRITING_WORDS;
    const open = loadWord(w, at + WRITING.OPEN);
    const span = loadWord(w, at + WRITING.SPAN);
    if (open === 0) {
      storeWord(w, at + WRITING.FIRST, g);
      storeWord(w, at + WRITING.SPAN, 1);
    } else {
      const next = loadWord(w, at + WRITING.FIRST) + span;
      assert(
        g === next,
        () => `drive ${this.id}: a write of global track ${g} begun with ${open} open from track ${next - span}`,
      );
      storeWord(w, at + WRITING.SPAN, span + 1);
    }
    storeWord(w, at + WRITING.OPEN, open + 1);
  }

  checkRange(from: number, to: number): void {
    assert(
      Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from < to && to <= this.trackBytes,
      () => `drive ${this.id}: an access to bytes ${from}..${to} of a ${this.trackBytes}-byte track`,
    );
  }

  /** This thread's adapter owns the drive now (no spare has taken its place). */
  isOwner(): boolean {
    return loadWord(this.ownerWord, this.driveIndex) === this.adapterIndex;
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
