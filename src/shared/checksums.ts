// A checksum per track (DESIGN §14, scrub): the CRC-32 of the bytes its copies last got, kept on its
// M1 location beside the Track ID table. Every write of a whole copy through the cache notes it (a
// destage writes the slot's whole track, or its dirty range over the same bytes), and a direct copy
// carries the source's over. A track none of whose copies was written since the array started has
// none (SUMMED clear): a scrub then compares the copies with each other. Not durable yet: a restart
// starts with none.
import { crc32 } from 'node:zlib';
import { TRACK, type SharedState } from './memory.ts';
import type { ArrayModel } from './model.ts';

/** The checksum of a track's bytes. */
export const trackSum = (bytes: Uint8Array): number => crc32(bytes) | 0;

/** Track `owner` (an M1 location) now holds `bytes` on the copy just written: its checksum is theirs. */
export function noteSum(state: SharedState, owner: number, bytes: Uint8Array): void {
  setSum(state, owner, trackSum(bytes));
}

function setSum(state: SharedState, owner: number, sum: number): void {
  Atomics.store(state.trackSums, owner, sum);
  Atomics.or(state.trackFlags, owner, TRACK.SUMMED);
}

/** Location `owner` is to hold another track (a restripe's IND or FMT): no checksum known until a copy of it is written. */
export function forgetSum(state: SharedState, owner: number): void {
  Atomics.and(state.trackFlags, owner, ~TRACK.SUMMED);
}

/** Track `owner`'s checksum, or undefined if none is known. */
export function sumOf(state: SharedState, owner: number): number | undefined {
  if (!(Atomics.load(state.trackFlags, owner) & TRACK.SUMMED)) return undefined;
  return Atomics.load(state.trackSums, owner);
}

/** A copy of track `from` became track `to`'s (a direct copy): `to` takes its checksum, or none. */
export function carrySum(state: SharedState, from: number, to: number): void {
  const sum = sumOf(state, from);
  if (sum === undefined) Atomics.and(state.trackFlags, to, ~TRACK.SUMMED);
  else setSum(state, to, sum);
}

/** Copy location g now holds `bytes`, its track's whole content: the track's checksum. */
export function noteCopySum(model: ArrayModel, state: SharedState, g: number, bytes: Uint8Array): void {
  noteSum(state, model.ownerOfCopy(g), bytes);
}

/** A direct copy made location dst hold what location src did: dst's track takes src's track's checksum. */
export function carryCopySum(model: ArrayModel, state: SharedState, src: number, dst: number): void {
  carrySum(state, model.ownerOfCopy(src), model.ownerOfCopy(dst));
}
