// The host ring's requests in flight by id (DESIGN §11): where each one's data lies in the arena,
// how long it is, whether it is a read and lent, and the caller's own buffer to read into. Kept in
// preallocated columns, open addressing with linear probing, so a request costs no object and no
// Map entry: a Map churned by an insert and a delete a request rehashed its backing store every
// few dozen requests, and under two host processors those stores outlived scavenges (BENCHMARKS).
import { assert } from '../errors/assert.ts';

/** An empty cell of the id column (ids are positive). */
const EMPTY = -1;
/** Flag bits of a request in flight. */
export const REGION = { READ: 1, LEASE: 2 } as const;

export class RegionTable {
  /** Requests in flight now (at most `entries`). */
  size = 0;
  private readonly mask: number;
  private readonly ids: Float64Array;
  /** Arena offset of a request's data (-1: none), its length, its REGION flags, the caller's buffer. */
  readonly at: Int32Array;
  readonly len: Int32Array;
  readonly flags: Uint8Array;
  readonly into: Array<Uint8Array | undefined>;

  /** Room for `entries` requests in flight; the table is at most half full. */
  constructor(readonly entries: number) {
    let cells = 2;
    while (cells < 2 * entries) cells *= 2;
    this.mask = cells - 1;
    this.ids = new Float64Array(cells).fill(EMPTY);
    this.at = new Int32Array(cells);
    this.len = new Int32Array(cells);
    this.flags = new Uint8Array(cells);
    this.into = new Array<Uint8Array | undefined>(cells).fill(undefined);
  }

  /** The cell request `id` starts its probe at (ids come in sequence: consecutive ids, consecutive cells). */
  private home(id: number): number {
    return id % (this.mask + 1);
  }

  /** Note request `id` in flight; it must not be already. */
  add(id: number, at: number, len: number, flags: number, into: Uint8Array | undefined): void {
    assert(id > 0 && Number.isInteger(id), () => `region table: request id ${id} is not a positive integer`);
    assert(this.size < this.entries, () => `region table: ${this.entries} requests in flight already`);
    let i = this.home(id);
    for (let probes = 0; this.ids[i] !== EMPTY; probes++) {
      assert(this.ids[i] !== id && probes <= this.mask, () => `region table: request ${id} is in flight already`);
      i = (i + 1) & this.mask;
    }
    this.ids[i] = id;
    this.at[i] = at;
    this.len[i] = len;
    this.flags[i] = flags;
    this.into[i] = into;
    this.size++;
  }

  /** The cell of request `id`, or -1 if it is not in flight. */
  find(id: number): number {
    let i = this.home(id);
    for (let probes = 0; probes <= this.mask; probes++) {
      if (this.ids[i] === id) return i;
      if (this.ids[i] === EMPTY) return -1;
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  /** Empty cell `cell` (from find), moving later entries of its probe run back so none is cut off. */
  remove(cell: number): void {
    assert(this.ids[cell] !== EMPTY, () => `region table: cell ${cell} is empty`);
    let i = cell;
    for (let moves = 0; moves <= this.mask; moves++) {
      this.ids[i] = EMPTY;
      this.into[i] = undefined;
      const j = this.nextToMove(i);
      if (j < 0) break;
      this.ids[i] = this.ids[j]!;
      this.at[i] = this.at[j]!;
      this.len[i] = this.len[j]!;
      this.flags[i] = this.flags[j]!;
      this.into[i] = this.into[j];
      i = j;
    }
    this.size--;
  }

  /** After cell `hole` emptied: the first later cell of its run whose entry must move into it, or -1. */
  private nextToMove(hole: number): number {
    for (let j = (hole + 1) & this.mask; this.ids[j] !== EMPTY; j = (j + 1) & this.mask) {
      const k = this.home(this.ids[j]!);
      // The entry at j stays if its home lies cyclically in (hole, j]: the hole is not on its probe path.
      const stays = hole <= j ? hole < k && k <= j : hole < k || k <= j;
      if (!stays) return j;
    }
    return -1;
  }
}
