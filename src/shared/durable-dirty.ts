// What changed since the durable capture last looked (DESIGN §10): one bit per track whose drive
// write began, and one bit per chunk of FLAG_CHUNK_TRACKS flag words in which a durable bit changed.
// Writers set a bit (one atomic OR) before the change it announces; the capture takes the bits it
// finds (an atomic exchange per word) and looks only there, so a commit costs what was written since
// the last one, not a scan of every track's words. A bit set after the capture took its word is
// found by the next commit.

/** Track flag words per stored chunk: a commit rewrites only the chunks that changed. */
export const FLAG_CHUNK_TRACKS = 4096;

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
