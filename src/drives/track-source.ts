// Where a restarted array's drive tracks are until first touched (DESIGN §10): the data dir's store.
// A restart reads no track bytes: every sparse index entry is IN_STORE, and the drive that first
// reads or partly writes a track reads it in from its source, so the time to serve does not grow
// with the data held. One source per thread and array (keyed by the array's shared buffers): the
// thread that owns a drive store reads through its own handle on the store (an LMDB environment is
// opened once per thread; inline, the image the restart loaded).
import type { SharedBuffers } from '../shared/tables/memory.ts';

/** Global track g's bytes as the store holds them from commit `atLeast` on (null: never written, zeros). */
export type TrackSource = (g: number, atLeast: number) => Uint8Array | null;

const sources = new WeakMap<SharedArrayBuffer, TrackSource>();

/** Tracks marked IN_STORE in these buffers are read from `source` in this thread. */
export function setTrackSource(buffers: SharedBuffers, source: TrackSource): void {
  sources.set(buffers.sparseWords, source);
}

export function trackSourceOf(buffers: SharedBuffers): TrackSource | undefined {
  return sources.get(buffers.sparseWords);
}
