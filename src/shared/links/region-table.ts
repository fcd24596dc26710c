// The host ring's requests in flight by id (DESIGN §11): where each one's data lies in the arena,
// how long it is, whether it is a read and lent, and the caller's own buffer to read into. Kept in
// preallocated columns, a slot each, found by id through an IdTable, so a request costs no object
// and no Map entry (id-table.ts says why that matters to the collector).
import { assert } from '../errors/assert.ts';
import { IdTable } from './id-table.ts';

/** Flag bits of a request in flight. */
export const REGION = { READ: 1, LEASE: 2 } as const;

export class RegionTable {
  private readonly slotOf: IdTable<number>;
  /** Slots not in use, a stack of `entries - size` (its top at that index less one). */
  private readonly free: Int32Array;
  /** By slot: arena offset of the request's data (-1: none), its length, its REGION flags, the caller's buffer. */
  readonly at: Int32Array;
  readonly len: Int32Array;
  readonly flags: Uint8Array;
  readonly into: Array<Uint8Array | undefined>;

  /** Room for `entries` requests in flight. */
  constructor(readonly entries: number) {
    this.slotOf = new IdTable<number>(2 * entries);
    this.free = Int32Array.from({ length: entries }, (_, i) => entries - 1 - i);
    this.at = new Int32Array(entries);
    this.len = new Int32Array(entries);
    this.flags = new Uint8Array(entries);
    this.into = new Array<Uint8Array | undefined>(entries).fill(undefined);
  }

  /** Requests in flight now. */
  get size(): number {
    return this.slotOf.size;
  }

  /** Note request `id` in flight; it must not be already. */
  add(id: number, at: number, len: number, flags: number, into: Uint8Array | undefined): void {
    assert(this.size < this.entries, () => `region table: ${this.entries} requests in flight already`);
    assert(!this.slotOf.has(id), () => `region table: request ${id} is in flight already`);
    const s = this.free[this.entries - this.size - 1]!;
    this.at[s] = at;
    this.len[s] = len;
    this.flags[s] = flags;
    this.into[s] = into;
    this.slotOf.set(id, s);
  }

  /** The slot of request `id`, or -1 if it is not in flight. */
  find(id: number): number {
    return this.slotOf.get(id) ?? -1;
  }

  /** Request `id`, in slot `slot` (from find), is answered. */
  remove(id: number, slot: number): void {
    assert(this.slotOf.get(id) === slot, () => `region table: request ${id} is not in slot ${slot}`);
    this.slotOf.delete(id);
    this.into[slot] = undefined;
    this.free[this.entries - this.size - 1] = slot;
  }
}
