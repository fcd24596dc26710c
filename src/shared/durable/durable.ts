// What a crash leaves behind (DESIGN §10). The durable image of the array is: the running
// configuration and each open session with the last phase made durable (the service processor's
// record), the PS/IND/FMT bits of every track, and the bytes of every drive track — never the
// cache. A commit writes, in one atomic transaction of the store, only what changed since the
// previous one: the tracks whose drive write seqlock moved, the chunks of flag words that changed,
// and the record. Written before the code that depends on it, so here is why the capture is safe
// while every actor keeps running:
//
//  - What to read comes from the dirty bitmaps (tables/dirty.ts): a drive write sets its track's
//    bit before it begins, a durable bit's change sets its chunk's bit before it is made, and the
//    capture takes the bits it finds, keeping each track and chunk pending until a commit holds it.
//    So a commit costs what changed since the last one, not a scan of every track.
//  - The flags are read first, the drive tracks after. Every durable bit change is made only once
//    its data is on a drive: a fill writes n's drive before it clears IND[n] (R3), a whole-track
//    write clears FMT only after its drive write. So a cleared bit seen here has its data on the
//    drive already, and the tracks read after it hold that data or newer (its write set its track's
//    bit before the bit was cleared: this capture takes it, or an earlier one did and holds it pending).
//  - A bit still set whose location was written meanwhile (split or fill raced the capture) is
//    harmless: recovery splits and fills it again from the BCV, which the switch made durable
//    (R1) and which nothing writes after its own track is filled.
//  - A drive track is read under its seqlock (odd while written), so never half-written.
//  - The record changes only at the service processor's barriers (open, switch, completion), each
//    committed before anything that depends on it proceeds; a capture reads the record as the last
//    barrier left it, so a capture never pairs a layout with data that layout has not reached.
//  - PB is not stored: recovery derives it from PS and IND (PB[B(t)] iff O(t) or N(t) is not split
//    or N(t) not filled), which is exactly what the transfer and the completion count need.
//  - Drive faults (DESIGN §14) are durable as the drives' own condition: the drive words (state,
//    the media serving each position, a rebuild's count) and the STALE, LOST, MEDIA and ROT bits.
//    STALE, MEDIA and ROT are cleared only by a whole-track write once its data is on the drive, so
//    the flags-then-tracks order above holds for them too. The drive words are read last: a copy
//    left unwritten because its drive failed was left after the failure was set, so a capture that
//    holds the other copies' newer bytes holds the failure too (a restart never trusts the failed
//    drive's older copy). A spare rebuilt in a position's place keeps its bytes at its own global
//    tracks, as it does in memory.
//  - Each copy's checksum (checksums.ts) is durable with its bytes: kept at the same index as the
//    bytes' seqlock, and read, with SUMMED, between the two seqlock reads of a copy whose bytes this
//    commit holds (a write clears SUMMED before it begins and notes the new checksum after it ends,
//    so the pair is one write's, or no checksum). A copy not written since the last commit keeps
//    the checksum committed with its bytes: nothing else changes it.
import type { ArrayConfig } from '../config/config.ts';
import type { SessionSpec } from '../restripe/session.ts';
import { DriveMap } from '../layout/layout.ts';
import { assert } from '../errors/assert.ts';
import { ArrayError } from '../errors/errors.ts';
import { driveTrackView } from '../tables/drive-bytes.ts';
import { allPages, FLAG_CHUNK_TRACKS, storedBytes, takeDirty, withPages } from '../tables/dirty.ts';
import { IN_STORE, SPARSE, TRACK, type SharedState } from '../tables/memory.ts';
import { driveWriteSeqOf, flagsOf } from '../tables/tables.ts';
import { exchangeWord, loadWord, storeWord } from '../tables/words.ts';

/** Format of the durable record; a store written by another format is refused, naming both (2: tracks stored by page, flag chunks of 1024 tracks). */
export const DURABLE_FORMAT = 2;
/**
 * The track flag bits that are durable: the restripe's (PS, IND, FMT) and the drive faults' (STALE,
 * LOST, MEDIA, ROT). The lock, its owner and WAITERS are not (a restart has no lock holders), nor
 * the cache's or a fill's.
 */
export const DURABLE_FLAGS = TRACK.PS | TRACK.IND | TRACK.FMT | TRACK.STALE | TRACK.LOST | TRACK.MEDIA | TRACK.ROT;
export { FLAG_CHUNK_TRACKS } from '../tables/dirty.ts';
/** A track's flags as they may be made durable: a fill whose data is not on its drive yet (FILLPEND) keeps IND (R3). */
export const durableFlags = (f: number): number => (f & DURABLE_FLAGS) | (f & TRACK.FILLPEND ? TRACK.IND : 0);

/**
 * Reads of a track whose seqlock is odd (a write in progress: microseconds, unless its thread was
 * descheduled mid-write on a busy machine) before this capture gives up with CaptureBusy: the commit
 * is then tried again a moment later (durable-commits.ts). Skipping the track instead would be wrong:
 * a flag read earlier may depend on bytes it holds.
 */
const SEQLOCK_TRIES = 100_000;

/** A capture met a track mid-write for SEQLOCK_TRIES reads: nothing was captured; try the commit again. */
export class CaptureBusy extends ArrayError {
  constructor(message: string) {
    super('BUSY', message);
    this.name = 'CaptureBusy';
  }
}

/** How far a session had come when it was last made durable. */
export type DurableStage = 'opened' | 'switched';

/** The service processor's durable record. */
export interface DurableMeta {
  format: number;
  /** The running configuration: every device as it runs outside its open session (O for a session's device). */
  running: ArrayConfig;
  /** Session ids below this were used. */
  nextSid: number;
  nextGen: number;
  sessions: Array<{ spec: SessionSpec; stage: DurableStage }>;
  /** Commits made so far (this one included): a restart says from which it came back. */
  commits: number;
  /** The scrub running when this commit was made, if one was (a restart takes it up). */
  scrub?: ScrubRecord;
}

/** How far a scrub had come (runtime/scrub-run.ts): a restart goes on from the next drive position. */
export interface ScrubRecord {
  id: number;
  device: string | null;
  positionsDone: number;
  tracksChecked: number;
  skipped: number;
  /** Pairs (copy, its track's M1 location) found bad so far: judged and repaired at the end. */
  bad: number[];
  startedMs: number;
}

/** One commit: what changed since the previous one. A null track is all zeros (stored as a hole). */
export interface DurableCommit {
  meta: DurableMeta;
  /** Chunks of FLAG_CHUNK_TRACKS copies' checksums that changed: the checksums, then 1 for each known (0: none). */
  sumChunks: Array<[chunk: number, words: Int32Array]>;
  /** Every drive's words (drive-state.ts: state, media, a rebuild's count), read last. */
  driveWords: Int32Array;
  /** Tracks written since the last commit: their bytes (null: zeros) and the pages of them written (tables/dirty.ts). */
  tracks: Array<[g: number, data: Uint8Array | null, pages: number]>;
  flagChunks: Array<[chunk: number, words: Int32Array]>;
  reason: string;
}

/** What a store hands back at a restart. */
export interface DurableImage {
  meta: DurableMeta;
  /** Every track that is not all zeros. */
  tracks(): Iterable<[g: number, data: Uint8Array]>;
  /** Global track g's bytes (null: zeros): what a drive reads in for a track a restart left in the store. */
  track(g: number): Uint8Array | null;
  /** Durable flags of every track (zeros where never stored). */
  flags(totalTracks: number): Int32Array;
  /** The drive words last committed (undefined: a store written before drive faults were durable). */
  driveWords(): Int32Array | undefined;
  /** Every copy's checksum and whether it is known (none known where never stored). */
  sums(totalTracks: number): { sums: Int32Array; known: Uint8Array };
}

/** An embedded transactional store: each commit is atomic (all of it or none after a crash). */
export interface DurableStore {
  load(): DurableImage | undefined;
  /** Global track g's bytes as last committed (null: zeros): live, from commit `atLeast` (meta.commits) on. */
  track(g: number, atLeast?: number): Uint8Array | null;
  commit(c: DurableCommit): void;
  close(): void;
}

/** Bytes of a commit's track data (figures and logs). */
export function commitBytes(c: DurableCommit): number {
  return c.tracks.reduce((n, [, d, pages]) => n + (d ? storedBytes(d.length, pages) : 0), 0);
}

/**
 * The capture side of the durable store, run by the service processor: remembers what the last
 * commit held (per track, its drive write seqlock and durable flags) and builds the next commit.
 */
export class DurableCapture {
  private readonly committedSeq: Int32Array;
  private readonly committedFlags: Int32Array;
  /** Each copy's checksum and known-ness as committed (known 2: never committed, so any value differs). */
  private readonly committedSums: Int32Array;
  private readonly committedKnown: Uint8Array;
  /** The same as this commit reads them. */
  private readonly sums: Int32Array;
  private readonly known: Uint8Array;
  private readonly drives: DriveMap;
  private readonly buf: Uint8Array;
  /** The drive words at the start (TEST ONLY: UNDURABLE_DRIVES commits these). */
  private readonly startDriveWords: Int32Array;

  /** The state as it stands now is what is durable (a fresh store was just written, or an image just loaded). */
  constructor(
    private readonly state: SharedState,
    config: ArrayConfig,
  ) {
    this.drives = new DriveMap(config);
    this.committedSeq = new Int32Array(state.totalTracks);
    this.committedFlags = new Int32Array(state.totalTracks);
    this.committedSums = new Int32Array(state.totalTracks);
    this.committedKnown = new Uint8Array(state.totalTracks);
    this.sums = new Int32Array(state.totalTracks);
    this.known = new Uint8Array(state.totalTracks);
    for (let g = 0; g < state.totalTracks; g++) {
      // What a previous capture made durable, or (none yet: NEVER_COMMITTED, 0) the bytes as loaded or
      // created. A track written since (a recovery's write before the capture began) is in the next commit.
      const seq = loadWord(state.committedSeq, g);
      this.committedSeq[g] = seq;
      if (driveWriteSeqOf(state, g) !== seq) {
        this.pendingTracks.add(g); // (a dirty bit another capture took: its pages too)
        this.pendingPages.set(g, allPages(state.trackBytes));
      }
      this.committedFlags[g] = durableFlags(flagsOf(state, g));
      this.readSum(g);
    }
    this.committedSums.set(this.sums);
    this.committedKnown.set(this.known);
    this.buf = new Uint8Array(state.trackBytes);
    this.startDriveWords = state.driveState.slice();
  }

  /** For a fresh store: every flag chunk (the tracks are those written since the baseline, as ever). */
  full(meta: DurableMeta, reason: string): DurableCommit {
    this.committedFlags.fill(-1);
    this.committedKnown.fill(2);
    for (let chunk = 0; chunk * FLAG_CHUNK_TRACKS < this.state.totalTracks; chunk++) this.pendingChunks.add(chunk);
    return this.next(meta, reason);
  }

  /** The next commit: flags first, then the tracks written since the last commit (see the header for why this order). */
  next(meta: DurableMeta, reason: string): DurableCommit {
    const flagChunks = this.changedFlags();
    const tracks = this.changedTracks(); // (each copy read has its checksum read with it)
    const sumChunks = this.changedSums();
    const driveWords = new Int32Array(this.state.driveState.length);
    for (let i = 0; i < driveWords.length; i++) driveWords[i] = loadWord(this.state.driveState, i);
    if (this.state.hooks.testFault('UNDURABLE_DRIVES')) driveWords.set(this.startDriveWords);
    return { meta, flagChunks, sumChunks, tracks, driveWords, reason };
  }

  /** The commit `c`, the last `next()` made, is durable: it is the new baseline. */
  committed(c: DurableCommit): void {
    for (const [chunk, words] of c.flagChunks) {
      this.committedFlags.set(words, chunk * FLAG_CHUNK_TRACKS);
      this.pendingChunks.delete(chunk);
    }
    for (const [chunk, words] of c.sumChunks) {
      const n = words.length / 2;
      this.committedSums.set(words.subarray(0, n), chunk * FLAG_CHUNK_TRACKS);
      for (let i = 0; i < n; i++) this.committedKnown[chunk * FLAG_CHUNK_TRACKS + i] = words[n + i]!;
    }
    // Published only now the commit is on stable storage: a drive may evict these tracks' chunks and
    // read them back from the store (drives/sparse-drive.ts), from this commit or a later one.
    storeWord(new Int32Array(this.state.buffers.sparseWords), SPARSE.COMMITTED, c.meta.commits);
    for (const [g, seq] of this.seqsOfNext) {
      this.pendingTracks.delete(g); // (written again since: its bit is set again)
      // Its pages go with it unless a write began since the read: that write's pages may be in the mask taken.
      if (driveWriteSeqOf(this.state, g) === seq) this.pendingPages.delete(g);
      this.committedSeq[g] = seq;
      storeWord(this.state.committedSeq, g, seq);
    }
  }

  /** Seqlock values of the tracks the last `next()` read. */
  private readonly seqsOfNext = new Map<number, number>();

  /**
   * Take the dirty bitmaps' bits into the sets below; returns how many were set (0: no drive write
   * and no kept flag change since the last take).
   */
  takeChanges(): number {
    let n = 0;
    takeDirty(this.state.dirtyFlagChunks, (chunk) => (n++, this.pendingChunks.add(chunk)));
    takeDirty(this.state.dirtyTracks, (g) => (n++, this.pendingTracks.add(g)));
    return n;
  }

  /** Tracks and flag chunks the dirty bitmaps named that no commit has held yet (tables/dirty.ts). */
  private readonly pendingTracks = new Set<number>();
  /** Per track, the pages written that no commit holds yet (taken from state.dirtyPages after each read). */
  private readonly pendingPages = new Map<number, number>();
  private readonly pendingChunks = new Set<number>();

  /**
   * Chunks of durable flag words that differ from the last commit (a chunk is copied only if it
   * changed), looked for only in the chunks whose durable bits changed since (the dirty bitmap).
   */
  private changedFlags(): Array<[number, Int32Array]> {
    const out: Array<[number, Int32Array]> = [];
    const total = this.state.totalTracks;
    this.takeChanges();
    for (const chunk of [...this.pendingChunks].sort((a, b) => a - b)) {
      const base = chunk * FLAG_CHUNK_TRACKS;
      const end = Math.min(total, base + FLAG_CHUNK_TRACKS);
      let g = base;
      while (g < end && durableFlags(flagsOf(this.state, g)) === this.committedFlags[g]) g++;
      if (g === end) {
        this.pendingChunks.delete(chunk); // changed and changed back
        continue;
      }
      const words = this.committedFlags.slice(base, end);
      for (; g < end; g++) words[g - base] = durableFlags(flagsOf(this.state, g));
      out.push([chunk, words]);
    }
    return out;
  }

  /** Copy g's checksum as it stands: SUMMED first, then the checksum (setSum stores them the other way round). */
  private readSum(g: number): void {
    const known = flagsOf(this.state, g) & TRACK.SUMMED ? 1 : 0;
    this.known[g] = known;
    this.sums[g] = known ? loadWord(this.state.trackSums, g) : 0;
  }

  /**
   * Chunks of checksums that differ from the last commit (the checksums, then the known flags): only
   * chunks holding a copy this commit read, since a copy's checksum changes only with its bytes.
   */
  private changedSums(): Array<[number, Int32Array]> {
    const out: Array<[number, Int32Array]> = [];
    const total = this.state.totalTracks;
    const chunks = new Set<number>();
    for (const g of this.seqsOfNext.keys()) chunks.add(Math.floor(g / FLAG_CHUNK_TRACKS));
    for (const chunk of [...chunks].sort((a, b) => a - b)) {
      const base = chunk * FLAG_CHUNK_TRACKS;
      const end = Math.min(total, base + FLAG_CHUNK_TRACKS);
      let g = base;
      while (g < end && this.known[g] === this.committedKnown[g] && this.sums[g] === this.committedSums[g]) g++;
      if (g === end) continue;
      const words = new Int32Array(2 * (end - base));
      words.set(this.sums.subarray(base, end));
      for (let i = base; i < end; i++) words[end - base + i - base] = this.known[i]!;
      out.push([base / FLAG_CHUNK_TRACKS, words]);
    }
    return out;
  }

  /** The tracks written since the last commit (those the dirty bitmap named), in track order. */
  private changedTracks(): DurableCommit['tracks'] {
    this.seqsOfNext.clear();
    this.takeChanges();
    const out: DurableCommit['tracks'] = [];
    for (const g of [...this.pendingTracks].sort((a, b) => a - b)) {
      if (driveWriteSeqOf(this.state, g) === this.committedSeq[g]) {
        this.pendingTracks.delete(g); // its write is in a commit already
        continue;
      }
      const seq = this.readTrack(g, this.buf);
      if (seq === this.committedSeq[g]) continue;
      this.seqsOfNext.set(g, seq);
      // Taken after the read: every write the read holds marked its pages before it began.
      const pages = (this.pendingPages.get(g) ?? 0) | exchangeWord(this.state.dirtyPages, g, 0);
      assert(
        pages !== 0,
        () => `durable capture: track ${this.drives.dch(g)} changed (seqlock ${seq}) with no page marked`,
      );
      this.pendingPages.set(g, pages);
      out.push([g, this.buf.every((x) => x === 0) ? null : this.buf.slice(), pages]);
    }
    return out;
  }

  /** Read drive track g into dst, never half-written; returns the (even) seqlock value read under. */
  readTrack(g: number, dst: Uint8Array): number {
    for (let i = 0; i < SEQLOCK_TRIES; i++) {
      const before = driveWriteSeqOf(this.state, g);
      if (before & 1) continue;
      readDriveTrack(this.state, this.drives, g, dst);
      this.readSum(g); // between the two seqlock reads: this write's checksum, or none
      if (driveWriteSeqOf(this.state, g) === before) return before;
    }
    throw new CaptureBusy(
      `durable store: track ${this.drives.dch(g)} stayed mid-write for ${SEQLOCK_TRIES} reads (seqlock ${driveWriteSeqOf(this.state, g)})`,
    );
  }
}

/** The bytes of global track g straight from its drive's store (dense or sparse), as the drive holds them. */
export function readDriveTrack(state: SharedState, drives: DriveMap, g: number, dst: Uint8Array): void {
  const d = drives.driveOf(g);
  const view = driveTrackView(state.buffers, state.trackBytes, d, g - drives.baseTrack[d]!);
  // (A track a restart left in the store is read in before its first write: never captured unread.)
  assert(view !== IN_STORE, () => `durable store: track ${g} was written, yet is still in the store unread`);
  if (view) dst.set(view);
  else dst.fill(0);
}

/** Check that a stored record is one this build reads, naming what differs. */
export function checkMeta(meta: DurableMeta, where: string): DurableMeta {
  assert(typeof meta === 'object' && meta !== null, () => `${where}: the durable record is not an object`);
  if (meta.format !== DURABLE_FORMAT)
    throw new ArrayError(
      'USAGE',
      `${where}: durable record format ${String(meta.format)}, this build reads ${DURABLE_FORMAT}`,
    );
  return meta;
}

/** A store in memory that keeps every commit: the crash harness restarts from any prefix of them. */
export class MemoryDurableStore implements DurableStore {
  readonly log: DurableCommit[] = [];
  /** Each track's bytes as last committed (base and log). */
  private readonly latest = new Map<number, Uint8Array | null>();
  constructor(private readonly base: DurableCommit[] = []) {
    for (const c of base) this.apply(c);
  }

  track(g: number): Uint8Array | null {
    return this.latest.get(g) ?? null;
  }

  load(): DurableImage | undefined {
    return imageOf([...this.base, ...this.log]);
  }

  commit(c: DurableCommit): void {
    this.log.push(copyOfCommit(c)); // copied: the caller's buffers are its own
    this.apply(this.log[this.log.length - 1]!);
  }

  /** Only the pages a commit names are stored, as LmdbStore stores them: a page a write left unmarked is lost here too. */
  private apply(c: DurableCommit): void {
    for (const [g, d, pages] of c.tracks) this.latest.set(g, withPages(this.latest.get(g) ?? null, d, pages));
  }

  close(): void {}

  /** Every commit so far, the base included (a restart from a prefix of them is a crash after that commit). */
  all(): DurableCommit[] {
    return [...this.base, ...this.log];
  }
}

/** A commit that shares no buffer with `c`. */
export function copyOfCommit(c: DurableCommit): DurableCommit {
  return {
    meta: structuredClone(c.meta),
    reason: c.reason,
    driveWords: c.driveWords.slice(),
    sumChunks: c.sumChunks.map(([i, w]) => [i, w.slice()]),
    flagChunks: c.flagChunks.map(([i, w]) => [i, w.slice()]),
    tracks: c.tracks.map(([g, d, pages]) => [g, d && d.slice(), pages]),
  };
}

/** The image left by applying `commits` in order (undefined if there are none). */
export function imageOf(commits: DurableCommit[]): DurableImage | undefined {
  if (commits.length === 0) return undefined;
  const tracks = new Map<number, Uint8Array | null>();
  const chunks = new Map<number, Int32Array>();
  const sumChunks = new Map<number, Int32Array>();
  for (const c of commits) {
    for (const [g, d, pages] of c.tracks) tracks.set(g, withPages(tracks.get(g) ?? null, d, pages));
    for (const [i, w] of c.flagChunks) chunks.set(i, w);
    for (const [i, w] of c.sumChunks ?? []) sumChunks.set(i, w);
  }
  const last = commits[commits.length - 1]!;
  return {
    meta: structuredClone(last.meta),
    track: (g) => tracks.get(g) ?? null,
    driveWords: () => last.driveWords?.slice(),
    sums: (total) => sumsOf(sumChunks, total),
    *tracks() {
      for (const [g, d] of tracks) if (d) yield [g, d];
    },
    flags(total) {
      const out = new Int32Array(total);
      for (const [i, w] of chunks)
        out.set(w.subarray(0, Math.max(0, Math.min(w.length, total - i * FLAG_CHUNK_TRACKS))), i * FLAG_CHUNK_TRACKS);
      return out;
    },
  };
}

/** Every copy's checksum from its stored chunks (each: the checksums, then the known flags). */
export function sumsOf(chunks: Iterable<[number, Int32Array]>, total: number): { sums: Int32Array; known: Uint8Array } {
  const out = { sums: new Int32Array(total), known: new Uint8Array(total) };
  for (const [i, w] of chunks) {
    const n = w.length / 2;
    const base = i * FLAG_CHUNK_TRACKS;
    for (let j = 0; j < n && base + j < total; j++) {
      out.sums[base + j] = w[j]!;
      out.known[base + j] = w[n + j]!;
    }
  }
  return out;
}
