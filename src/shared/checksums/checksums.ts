// A checksum per copy (DESIGN §14, scrub): the CRC-32 of the bytes a copy location last got, kept
// beside the Track ID table (trackSums, SUMMED), as dm-integrity keeps a tag with each sector of
// each mirror leg. A write of a whole copy through the cache notes it (a destage writes the slot's
// whole track, or its dirty range over the same bytes), and a direct copy carries its source's over.
// A copy none of whose writes was seen has none (SUMMED clear), nor has a formatted location (FMT:
// it reads as zeros whatever its bytes): a scrub then compares the copies with each other.
//
// Kept at the index the drive's media keeps the bytes at (a spare's own track for a position it
// took over: drive-state.ts mediaTrack), with the bytes' write seqlock.
// Durable with the drive bytes it describes (durable.ts): a write clears SUMMED before its drive
// write begins and notes the new checksum after it ends, so a capture that reads a copy's bytes
// under its write seqlock, and SUMMED and the checksum between the two seqlock reads, gets the pair
// of one write, or no checksum.
import { crc32 } from 'node:zlib';
import { TRACK, type SharedState } from '../tables/memory.ts';
import { clearFlag, flagsOf, setFlag } from '../tables/tables.ts';
import { loadWord, storeWord } from '../tables/words.ts';

/** The checksum of a track's bytes. */
export const trackSum = (bytes: Uint8Array): number => crc32(bytes) | 0;

/** Copy location g is about to be written: no checksum of it holds until the write has ended. */
export function sumUnknown(state: SharedState, g: number): void {
  clearFlag(state, g, TRACK.SUMMED);
}

/** Copy location g holds `bytes` now (its whole track): its checksum is theirs. */
export function noteSum(state: SharedState, g: number, bytes: Uint8Array): void {
  setSum(state, g, trackSum(bytes));
}

/** The checksum first, then SUMMED: whoever sees SUMMED reads this checksum. */
export function setSum(state: SharedState, g: number, sum: number): void {
  storeWord(state.trackSums, g, sum);
  setFlag(state, g, TRACK.SUMMED);
}

/**
 * Copy location g's checksum, kept at `at` (its media's track: drive-state.ts mediaTrack), or
 * undefined if none is known (or g is formatted: it reads as zeros).
 */
export function sumOf(state: SharedState, g: number, at = g): number | undefined {
  if (flagsOf(state, g) & TRACK.FMT || !(flagsOf(state, at) & TRACK.SUMMED)) return undefined;
  return loadWord(state.trackSums, at);
}

/** A direct copy made location `to` hold what location `from` did: `to` takes its checksum, or none. */
export function carrySum(state: SharedState, from: number, to: number): void {
  const sum = sumOf(state, from);
  if (sum === undefined) sumUnknown(state, to);
  else setSum(state, to, sum);
}
