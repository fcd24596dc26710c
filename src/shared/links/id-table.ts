// Values by a non-negative integer key (a request id, an arena offset) for tables that take an
// insert and a delete a request (DESIGN §11, "No Map on the hot path"). Open addressing with linear
// probing over a key column and a value array, entries shifted back on delete (no tombstones), at
// most half full, doubled when it would be more; a delete never allocates. A key's home cell is a
// multiplicative (Fibonacci) hash of it, not the key itself: an arena's offsets are multiples of a
// request's size (4 KiB apart), and as their own homes they all started their probe at cell 0.
//
// Why not a Map: a Map churned by an insert and a delete a request rehashes its backing store
// every few dozen requests, and an old store keeps pointing at the new one and at the entries it
// held (for iterators). Once a store has been promoted to the old generation, each store after it
// is kept alive from there until the next full collection: every scavenge then promoted ~1.8 MB
// and paused 4-9 ms in a host processor under cached 4 KiB reads, against ~1 KB and under 1 ms
// without (BENCHMARKS).
import { assert } from '../errors/assert.ts';

/** An empty cell of the key column (keys are non-negative). */
const EMPTY = -1;
/** Cells a table starts with. */
const INITIAL_CELLS = 64;
/** Most cells a table grows to (16M: far above any number of requests in flight). */
const MAX_CELLS = 1 << 24;
/** 2^32 / φ, odd: multiplying by it spreads keys that differ by any power of two over the top bits. */
const FIBONACCI_MULTIPLIER = 0x9e3779b1;
/** Mixes a key's high 32 bits (ids past 2^32) into its low ones before the hash. */
const HIGH_HALF_MIX = 0x85ebca6b;
const TWO_TO_32 = 4294967296;

export class IdTable<T> {
  /** Entries now. */
  size = 0;
  private keys!: Float64Array;
  private values!: Array<T | undefined>;
  private mask!: number;
  /** 32 − log2(cells): a hash's top bits name the home cell. */
  private shift!: number;

  constructor(cells = INITIAL_CELLS) {
    let n = INITIAL_CELLS;
    while (n < cells) n *= 2;
    this.empty(n);
  }

  /** Empty columns of `cells` cells (a power of two), and the mask and shift that go with them. */
  private empty(cells: number): void {
    this.keys = new Float64Array(cells).fill(EMPTY);
    this.values = new Array<T | undefined>(cells).fill(undefined);
    this.mask = cells - 1;
    this.shift = 32 - Math.log2(cells);
  }

  /** The cell key `k` starts its probe at: the top bits of its Fibonacci hash (both 32-bit halves). */
  private home(k: number): number {
    const mixed = (k >>> 0) ^ Math.imul((k / TWO_TO_32) >>> 0, HIGH_HALF_MIX);
    return Math.imul(mixed, FIBONACCI_MULTIPLIER) >>> this.shift;
  }

  /** The cell holding key `k`, or -1. */
  private cellOf(k: number): number {
    let i = this.home(k);
    for (let probes = 0; probes <= this.mask; probes++) {
      if (this.keys[i] === k) return i;
      if (this.keys[i] === EMPTY) return -1;
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  get(k: number): T | undefined {
    const c = this.cellOf(k);
    return c < 0 ? undefined : this.values[c];
  }

  has(k: number): boolean {
    return this.cellOf(k) >= 0;
  }

  /** Set key `k` to `value` (a new entry, or replacing its value). */
  set(k: number, value: T): void {
    assert(Number.isInteger(k) && k >= 0, () => `id table: key ${k} is not a non-negative integer`);
    const c = this.cellOf(k);
    if (c >= 0) {
      this.values[c] = value;
      return;
    }
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    this.insert(k, value);
    this.size++;
  }

  private insert(k: number, value: T): void {
    let i = this.home(k);
    for (let probes = 0; this.keys[i] !== EMPTY; probes++) {
      assert(probes <= this.mask, () => `id table: no empty cell among ${this.mask + 1}`);
      i = (i + 1) & this.mask;
    }
    this.keys[i] = k;
    this.values[i] = value;
  }

  private grow(): void {
    const cells = 2 * (this.mask + 1);
    assert(cells <= MAX_CELLS, () => `id table: more than ${MAX_CELLS / 2} entries`);
    const { keys, values } = this;
    this.empty(cells);
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) this.insert(keys[i]!, values[i] as T);
  }

  /** Delete key `k`; false if it was not there. */
  delete(k: number): boolean {
    let i = this.cellOf(k);
    if (i < 0) return false;
    for (let moves = 0; moves <= this.mask; moves++) {
      this.keys[i] = EMPTY;
      this.values[i] = undefined;
      const j = this.nextToMove(i);
      if (j < 0) break;
      this.keys[i] = this.keys[j]!;
      this.values[i] = this.values[j];
      i = j;
    }
    this.size--;
    return true;
  }

  /** After cell `hole` emptied: the first later cell of its run whose entry must move into it, or -1. */
  private nextToMove(hole: number): number {
    for (
      let j = (hole + 1) & this.mask, n = 0;
      this.keys[j] !== EMPTY && n <= this.mask;
      j = (j + 1) & this.mask, n++
    ) {
      const k = this.home(this.keys[j]!);
      // The entry at j stays if its home lies cyclically in (hole, j]: the hole is not on its probe path.
      const stays = hole <= j ? hole < k && k <= j : hole < k || k <= j;
      if (!stays) return j;
    }
    return -1;
  }

  /** The most cells a probe can cross: the longest run of occupied cells (what a lookup or delete may scan). */
  longestRun(): number {
    let longest = 0;
    let run = 0;
    // Twice round, so a run that wraps past the last cell is counted whole.
    for (let i = 0; i <= 2 * this.mask + 1; i++) {
      run = this.keys[i & this.mask] === EMPTY ? 0 : run + 1;
      longest = Math.max(longest, Math.min(run, this.mask + 1));
    }
    return longest;
  }

  /** Every entry, in increasing key order (a table of ids: the order they were given in). */
  entries(): Array<[number, T]> {
    const out: Array<[number, T]> = [];
    for (let i = 0; i <= this.mask; i++) if (this.keys[i] !== EMPTY) out.push([this.keys[i]!, this.values[i] as T]);
    return out.sort((a, b) => a[0] - b[0]);
  }
}
