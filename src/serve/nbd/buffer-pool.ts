// Read buffers kept for reuse (issue: no allocation per request on the hot path): a read's data is
// filled in a buffer from here and given back once the socket has sent it. Buffers are kept by
// length (NBD clients read a few sizes over and over), bounded in count and in bytes; a length not
// kept, or the bound reached, falls back to allocating and lets the garbage collector have it.
import { assert } from '../../shared/errors/assert.ts';
import { ownsWhole } from '../../shared/links/messages.ts';

/** Most bytes the pool keeps idle. */
export const POOL_IDLE_BYTES_LIMIT = 64 * 1024 * 1024;
/** Largest buffer kept (a longer read allocates its own). */
export const POOL_BUFFER_BYTES_LIMIT = 1024 * 1024;
/** Most distinct lengths kept. */
export const POOL_LENGTHS_LIMIT = 16;

export class BufferPool {
  private readonly idle = new Map<number, Uint8Array[]>();
  private idleBytes = 0;

  /** A buffer of exactly `lengthBytes`, each its own ArrayBuffer (so an in-thread link passes it on as it is). */
  take(lengthBytes: number): Uint8Array {
    const list = this.idle.get(lengthBytes);
    const b = list?.pop();
    if (b) {
      this.idleBytes -= lengthBytes;
      return b;
    }
    return new Uint8Array(lengthBytes);
  }

  /** Give `b` back (its contents are not needed any more). */
  give(b: Uint8Array): void {
    assert(ownsWhole(b), () => 'buffer pool: given a view or shared memory, not a buffer of its own');
    const n = b.length;
    if (n > POOL_BUFFER_BYTES_LIMIT || this.idleBytes + n > POOL_IDLE_BYTES_LIMIT) return;
    let list = this.idle.get(n);
    if (!list) {
      if (this.idle.size >= POOL_LENGTHS_LIMIT) return;
      this.idle.set(n, (list = []));
    }
    list.push(b);
    this.idleBytes += n;
  }
}
