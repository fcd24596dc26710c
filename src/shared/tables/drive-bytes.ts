// Where a drive's tracks lie in the shared buffers (DESIGN §2), the one place that says it: a dense
// drive's track t at t × trackBytes of its own buffer; a sparse drive's through its index (track →
// chunk of the shared pool; NO_CHUNK never written, IN_STORE left in the durable store at a restart
// and not read in yet). The drive stores (src/drives) and the durable capture both read them here.
import { IN_STORE, NO_CHUNK } from '../config/memory-size.ts';
import type { SharedBuffers } from './memory.ts';
import { loadWord } from './words.ts';

/** Chunk `chunk` of the sparse pool: one track's bytes. */
export const chunkBytes = (pool: ArrayBufferLike, chunk: number, trackBytes: number): Uint8Array =>
  new Uint8Array(pool, chunk * trackBytes, trackBytes);

/** One Int32Array view per sparse index buffer, made once (the capture reads every dirty track through it). */
const indexViews = new WeakMap<SharedArrayBuffer, Int32Array>();
function indexView(index: SharedArrayBuffer): Int32Array {
  let view = indexViews.get(index);
  if (!view) indexViews.set(index, (view = new Int32Array(index)));
  return view;
}

/**
 * Track t of drive d as its store holds it now, read by any thread: a view of its bytes, null (never
 * written: zeros), or IN_STORE (in the durable store, not read in). A view, not a copy: the caller
 * copies it under the track's seqlock.
 */
export function driveTrackView(
  buffers: SharedBuffers,
  trackBytes: number,
  d: number,
  t: number,
): Uint8Array | null | typeof IN_STORE {
  const index = buffers.sparseIndex[d];
  if (!index) return new Uint8Array(buffers.driveData[d]!, t * trackBytes, trackBytes);
  const chunk = loadWord(indexView(index), t);
  if (chunk === IN_STORE) return IN_STORE;
  return chunk === NO_CHUNK ? null : chunkBytes(buffers.sparsePool, chunk, trackBytes);
}
