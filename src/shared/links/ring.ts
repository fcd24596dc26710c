// The host path's shared memory (DESIGN §11): a bounded single-producer single-consumer ring of
// request descriptors in a SharedArrayBuffer, and the byte arena their data lives in.
//
// Why: a host request that crosses threads as a message is packed (msgpackr), cloned, and its
// data copied or transferred, and each batch costs a postMessage. On a ring the producer writes a
// few numbers into a slot it owns and publishes its tail with one Atomics.store per batch; the
// consumer is woken (Atomics.notify) only when it said it sleeps. Data is written once into the
// arena and read where it lies.
//
// The ring's header words: HEAD (the consumer's count of entries taken), TAIL (the producer's count
// of entries published), SLEEPING (1 while the consumer waits for a doorbell), DOORBELL (bumped to
// wake it). Counts run on as int32 and wrap; `tail - head` is always in 0..entries.
import { assert } from '../errors/assert.ts';
import { IdTable } from './id-table.ts';
import { sched } from '../sched/sched.ts';

const HEAD = 0;
const TAIL = 1;
const SLEEPING = 2;
const DOORBELL = 3;
const HEADER_WORDS = 4;
/** Numbers in one ring entry (float64: exact for integers below 2^53, such as byte offsets). */
export const ENTRY_WORDS = 6;
/** Longest one doorbell wait lasts before the consumer looks again (a missed wake-up costs at most this). */
export const DOORBELL_WAIT_MS = 250;

/** The buffers of one ring, as they cross threads. */
export interface RingBuffers {
  header: SharedArrayBuffer;
  entries: SharedArrayBuffer;
}

export function ringBuffers(entries: number): RingBuffers {
  assert(entries > 0 && (entries & (entries - 1)) === 0, `ring: ${entries} entries is not a power of two`);
  return {
    header: new SharedArrayBuffer(HEADER_WORDS * 4),
    entries: new SharedArrayBuffer(entries * ENTRY_WORDS * 8),
  };
}

/** One end of a ring: the producer puts and publishes, the consumer takes. Each end is used by one thread. */
export class Ring {
  readonly entries: number;
  private readonly header: Int32Array;
  /** The entries' numbers, ENTRY_WORDS per entry. */
  readonly words: Float64Array;
  private readonly mask: number;
  /** Producer: entries put but not yet published. */
  private tail: number;
  private closed = false;

  constructor(b: RingBuffers) {
    this.header = new Int32Array(b.header);
    this.words = new Float64Array(b.entries);
    this.entries = this.words.length / ENTRY_WORDS;
    this.mask = this.entries - 1;
    this.tail = Atomics.load(this.header, TAIL);
  }

  /** Producer: entries that may still be put before the consumer takes some. */
  room(): number {
    return this.entries - ((this.tail - Atomics.load(this.header, HEAD)) | 0);
  }

  /** Producer: the word index of the next entry (fill its ENTRY_WORDS numbers, then put()). */
  nextEntry(): number {
    assert(this.room() > 0, () => `ring: full (${this.entries} entries) and asked to put one more`);
    return (this.tail & this.mask) * ENTRY_WORDS;
  }

  put(): void {
    this.tail = (this.tail + 1) | 0;
  }

  /** Producer: make what was put visible, and ring the doorbell if the consumer sleeps. */
  publish(): void {
    if (Atomics.load(this.header, TAIL) === this.tail) return;
    Atomics.store(this.header, TAIL, this.tail);
    if (Atomics.load(this.header, SLEEPING) === 1) {
      Atomics.add(this.header, DOORBELL, 1);
      sched().notify(this.header, DOORBELL);
    }
  }

  /** Consumer: call `each(wordIndex)` for every published entry, then free them. How many were taken. */
  take(each: (at: number) => void): number {
    const head = Atomics.load(this.header, HEAD);
    const tail = Atomics.load(this.header, TAIL);
    const n = (tail - head) | 0;
    assert(n >= 0 && n <= this.entries, () => `ring: head ${head}, tail ${tail}: ${n} entries published`);
    for (let i = 0; i < n; i++) each(((head + i) & this.mask) * ENTRY_WORDS);
    if (n > 0) Atomics.store(this.header, HEAD, tail);
    return n;
  }

  /**
   * Consumer: run `drain` now and whenever entries are published, until closed. Between drains it
   * sleeps on the doorbell: it says so (SLEEPING) and looks once more, so a producer that published
   * meanwhile either saw SLEEPING and rings, or its entries are seen here (both words are seq-cst).
   */
  async consume(drain: () => void): Promise<void> {
    while (!this.closed) {
      drain();
      const bell = Atomics.load(this.header, DOORBELL);
      Atomics.store(this.header, SLEEPING, 1);
      if (Atomics.load(this.header, TAIL) === Atomics.load(this.header, HEAD) && !this.closed)
        await sched().waitAsync(this.header, DOORBELL, bell, DOORBELL_WAIT_MS).value;
      Atomics.store(this.header, SLEEPING, 0);
    }
  }

  /** Stop consuming (the consumer's loop ends at its next wake-up, which this causes). */
  close(): void {
    this.closed = true;
    Atomics.add(this.header, DOORBELL, 1);
    sched().notify(this.header, DOORBELL);
  }
}

/** Byte alignment of arena allocations (a cache line: two requests' data never share one). */
const ARENA_ALIGN_BYTES = 64;

interface Block {
  at: number;
  end: number;
  freed: boolean;
}

/**
 * The arena's allocator, used by its one owner (the host client's end): regions are handed out in
 * order around the arena and freed in any order; space comes back as the oldest regions are freed.
 * A region held long (a read staging from a slow drive) holds back the space after it, so the arena
 * is sized for many requests in flight (see RING_ARENA_BYTES).
 */
export class Arena {
  readonly bytes: number;
  private readonly blocks: Block[] = [];
  private first = 0; // index in `blocks` of the oldest block still held
  private readonly byAt = new IdTable<Block>(); // not a Map: id-table.ts

  constructor(bytes: number) {
    assert(bytes % ARENA_ALIGN_BYTES === 0, `arena: ${bytes} bytes is not a multiple of ${ARENA_ALIGN_BYTES}`);
    this.bytes = bytes;
  }

  /** Bytes held now (including what a wrap left unused at the end). */
  held(): number {
    if (this.first === this.blocks.length) return 0;
    const head = this.blocks[this.first]!.at;
    const tail = this.blocks.at(-1)!.end;
    return tail > head ? tail - head : this.bytes - head + tail;
  }

  /** The offset of a region of `n` bytes, or -1 if there is no room now. */
  alloc(n: number): number {
    const size = Math.max(ARENA_ALIGN_BYTES, Math.ceil(n / ARENA_ALIGN_BYTES) * ARENA_ALIGN_BYTES);
    if (size > this.bytes) return -1;
    if (this.first === this.blocks.length) {
      this.blocks.length = 0;
      this.first = 0;
      return this.add(0, size, false);
    }
    const head = this.blocks[this.first]!.at;
    const last = this.blocks.at(-1)!;
    const wrapped = last.end <= head && last.at < head;
    if (wrapped) return last.end + size <= head ? this.add(last.end, size, false) : -1;
    if (last.end + size <= this.bytes) return this.add(last.end, size, false);
    if (size > head) return -1;
    if (last.end < this.bytes) this.add(last.end, this.bytes - last.end, true); // the end, left unused
    return this.add(0, size, false);
  }

  private add(at: number, size: number, freed: boolean): number {
    const b: Block = { at, end: at + size, freed };
    this.blocks.push(b);
    if (!freed) this.byAt.set(at, b);
    return at;
  }

  free(at: number): void {
    const b = this.byAt.get(at);
    assert(b !== undefined && !b.freed, () => `arena: freeing byte ${at}, which is not held`);
    b.freed = true;
    this.byAt.delete(at);
    while (this.first < this.blocks.length && this.blocks[this.first]!.freed) this.first++;
    if (this.first > 1024 && this.first * 2 > this.blocks.length) {
      this.blocks.splice(0, this.first);
      this.first = 0;
    }
  }
}
