// What changed since the durable capture last looked (DESIGN §10): one bit per track whose drive
// write began, and one bit per chunk of FLAG_CHUNK_TRACKS flag words in which a durable bit changed.
// Writers set a bit (one atomic OR) before the change it announces (a drive write after its
// seqlock went odd, so a capture that takes the bit reads the track after the write: memory-owner.ts);
// the capture takes the bits it finds (an atomic exchange per word) and looks only there, so a commit costs what was written since
// the last one, not a scan of every track's words. A bit set after the capture took its word is
// found by the next commit.

/** Track flag words per stored chunk: a commit rewrites only the chunks that changed. */
export const FLAG_CHUNK_TRACKS = 1024;

/** Bits per word of a dirty bitmap. */
const WORD_BITS = 32;

/** Words of a bitmap with one bit for each of `n` things. */
export const dirtyWords = (n: number): number => Math.ceil(n / WORD_BITS);

/** Set bit i of bitmap `words`. */
export function markDirty(words: Int32Array, i: number): void {
  Atomics.or(words, (i / WORD_BITS) | 0, 1 << (i % WORD_BITS));
}

/** Track g's flag chunk changed (a durable bit of g was set or cleared). */
export function markFlagChunk(words: Int32Array, g: number): void {
  markDirty(words, (g / FLAG_CHUNK_TRACKS) | 0);
}

/** Take every bit set in `words` (each word cleared as it is read), calling `each` with its index, in order. */
export function takeDirty(words: Int32Array, each: (i: number) => void): void {
  for (let w = 0; w < words.length; w++) {
    if (Atomics.load(words, w) === 0) continue;
    let bits = Atomics.exchange(words, w, 0);
    while (bits !== 0) {
      const low = bits & -bits;
      each(w * WORD_BITS + (31 - Math.clz32(low)));
      bits ^= low;
    }
  }
}

// Pages: a commit stores only the parts of a track written since the last commit that held it. Each
// drive write ORs the pages it touches into its track's word of a per-track page mask (with its
// write seqlock odd, before the track's dirty bit); the capture takes the mask after it has read the
// track, and keeps it until a commit holds the track unchanged since (durable.ts).

/** The least a commit stores of a track (bytes): the file system's and LMDB's page. */
export const PAGE_BYTES_MIN = 4096;
/** Pages a track has at most: one bit each in its mask word. */
export const PAGES_MAX = 32;

/** The page size of tracks of `trackBytes`: PAGE_BYTES_MIN, larger for tracks of more than PAGES_MAX of them, the track for smaller ones. */
export function pageBytesOf(trackBytes: number): number {
  return Math.min(trackBytes, Math.max(PAGE_BYTES_MIN, Math.ceil(trackBytes / PAGES_MAX)));
}

/** Pages of a track of `trackBytes`. */
export const pagesOf = (trackBytes: number): number => Math.ceil(trackBytes / pageBytesOf(trackBytes));

/** The mask of every page of a track of `trackBytes`. */
export const allPages = (trackBytes: number): number => {
  const n = pagesOf(trackBytes);
  return n >= PAGES_MAX ? -1 : (1 << n) - 1;
};

/** The mask of the pages bytes [from, to) of a track of `trackBytes` touch. */
export function pagesTouched(trackBytes: number, from: number, to: number): number {
  const p = pageBytesOf(trackBytes);
  const first = Math.floor(from / p);
  const last = Math.floor((to - 1) / p);
  let mask = 0;
  for (let i = first; i <= last; i++) mask |= 1 << i;
  return mask;
}

/**
 * `into` (trackBytes long, the track as stored before; null: zeros) with the pages `mask` names
 * taken from `data` (null: the whole track is zeros now). Returns a new track, or null for zeros.
 */
export function withPages(into: Uint8Array | null, data: Uint8Array | null, mask: number): Uint8Array | null {
  if (!data) return null;
  if (mask === allPages(data.length)) return data;
  const out = into ? into.slice() : new Uint8Array(data.length);
  const p = pageBytesOf(data.length);
  for (let i = 0; i < pagesOf(data.length); i++)
    if (mask & (1 << i)) out.set(data.subarray(i * p, Math.min(data.length, (i + 1) * p)), i * p);
  return out;
}

/** Bytes a commit stores of a track of `trackBytes` whose `mask` pages were written. */
export function storedBytes(trackBytes: number, mask: number): number {
  const p = pageBytesOf(trackBytes);
  let n = 0;
  for (let i = 0; i < pagesOf(trackBytes); i++) if (mask & (1 << i)) n += Math.min(p, trackBytes - i * p);
  return n;
}
