// The verifier's per-sector word (DESIGN §6: the largest start tick among acknowledged writes),
// kept only for the sectors written: a directory of chunks over the device, each chunk taken from
// one growable shared pool the first time a write of its sectors is acknowledged. A full-size
// drive array verifies in the memory its workload touches, not 4 bytes for each of its sectors.
// Shared by every host processor thread: the first thread to need a chunk claims its directory
// entry (a compare-and-swap to PENDING), takes the next chunk id and publishes it; a thread that
// finds the entry PENDING looks again (a few instructions later it is published). No chunk is ever
// taken twice, so the pool never needs more than the device's chunks.
import { ArrayError } from '../shared/errors/errors.ts';
import { GROWABLE_MAX_BYTES, growShared } from '../shared/config/memory-size.ts';
import { addWord, casWord, loadWord, storeWord } from '../shared/tables/words.ts';

/** Sectors per chunk of the table (16 KiB of words: 2 MiB of the device). */
export const CHUNK_SECTORS = 4096;
/** A directory entry of a chunk never written (chunk ids count from 1). */
const NO_CHUNK = 0;
/** A directory entry another thread is taking a chunk for right now. */
const PENDING = -1;
/** Looks at a PENDING entry before the verifier stops loudly (its taker died between claim and publish). */
const PENDING_LOOKS = 10_000_000;
/** The pool grows by at least this many bytes at a time. */
const GROW_MIN_BYTES = 1 << 20;
/** Compare-and-swaps of one sector's word before the verifier stops loudly (each lost one means another writer raised it). */
const RAISE_TRIES = 1_000_000;

export interface SectorTableBuffers {
  /** Chunk id of each CHUNK_SECTORS sectors, NO_CHUNK while none of them was written. */
  dir: SharedArrayBuffer;
  /** The chunks' words (growable). */
  pool: SharedArrayBuffer;
  /** [0]: chunks taken so far. */
  next: SharedArrayBuffer;
}

export function createSectorTable(sectors: number, maxBytes: number): SectorTableBuffers {
  const chunks = Math.max(1, Math.ceil(sectors / CHUNK_SECTORS));
  const most = Math.min(maxBytes, GROWABLE_MAX_BYTES, chunks * CHUNK_SECTORS * 4);
  return {
    dir: new SharedArrayBuffer(chunks * 4),
    pool: new SharedArrayBuffer(0, { maxByteLength: Math.max(most, CHUNK_SECTORS * 4) }),
    next: new SharedArrayBuffer(4),
  };
}

export class SectorTable {
  private readonly dir: Int32Array;
  private readonly pool: SharedArrayBuffer;
  /** The pool's words: a length-tracking view, so it sees the pool grown by any thread. */
  private readonly words: Int32Array;
  private readonly next: Int32Array;

  constructor(
    b: SectorTableBuffers,
    private readonly what: string,
  ) {
    this.dir = new Int32Array(b.dir);
    this.pool = b.pool;
    this.words = new Int32Array(b.pool);
    this.next = new Int32Array(b.next);
  }

  /** Bytes of the pool taken now. */
  get bytes(): number {
    return this.pool.byteLength;
  }

  /** Sector s's word (0 where never written). */
  load(s: number): number {
    const chunk = loadWord(this.dir, Math.floor(s / CHUNK_SECTORS));
    if (chunk <= NO_CHUNK) return 0; // never written, or being taken: no write of it acknowledged yet
    return loadWord(this.words, (chunk - 1) * CHUNK_SECTORS + (s % CHUNK_SECTORS));
  }

  /** Raise sector s's word to `value` unless it is at least that already. */
  raise(s: number, value: number): void {
    const at = (this.chunkOf(s) - 1) * CHUNK_SECTORS + (s % CHUNK_SECTORS);
    const words = this.words;
    for (let i = 0; i < RAISE_TRIES; i++) {
      const cur = loadWord(words, at);
      if (cur >= value || casWord(words, at, cur, value) === cur) return;
    }
    throw new ArrayError(
      'INVARIANT',
      `verifying ${this.what}: sector ${s}'s word changed under ${RAISE_TRIES} compare-and-swaps running`,
    );
  }

  /** The chunk of sector s, taken now if none of its sectors was written before. */
  private chunkOf(s: number): number {
    const d = Math.floor(s / CHUNK_SECTORS);
    for (let i = 0; i < PENDING_LOOKS; i++) {
      const had = loadWord(this.dir, d);
      if (had > NO_CHUNK) return had;
      if (had === NO_CHUNK && casWord(this.dir, d, NO_CHUNK, PENDING) === NO_CHUNK) return this.take(d);
      // PENDING: another thread is taking it (or just lost the claim to one): look again
    }
    throw new ArrayError(
      'INVARIANT',
      `verifying ${this.what}: chunk ${d} of the sector table stayed claimed and unpublished for ${PENDING_LOOKS} looks`,
    );
  }

  /** Directory entry d is claimed (PENDING) by this thread: take the next chunk, publish it. */
  private take(d: number): number {
    const id = addWord(this.next, 0, 1) + 1;
    try {
      this.ensure(id * CHUNK_SECTORS * 4);
    } catch (err) {
      storeWord(this.dir, d, NO_CHUNK); // unclaimed again: another thread may try
      throw err;
    }
    storeWord(this.dir, d, id);
    return id;
  }

  private ensure(need: number): void {
    if (growShared(this.pool, need, GROW_MIN_BYTES) === 'full')
      throw new ArrayError(
        'USAGE',
        `verifying ${this.what}: the sectors written need more than the ${(this.pool.maxByteLength / 2 ** 20).toFixed(1)} MiB allowed here (4 bytes per sector written); verify fewer or shorter runs, or switch verification off`,
      );
  }
}
