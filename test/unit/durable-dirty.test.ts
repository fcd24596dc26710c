// The durable capture looks only where the dirty bitmaps say (src/shared/tables/dirty.ts): a change of
// a durable flag bit that does not mark its chunk would never be committed. Every write of the flag
// words in the source is listed here, each either marking its chunk or changing only bits a commit
// does not keep: a new writer fails this test until it is looked at and added.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dirtyWords, markDirty, takeDirty } from '../../src/shared/tables/dirty.ts';

/** Each write of trackFlags, by file, and why it is safe. */
const KNOWN_WRITERS: Record<string, string> = {
  'src/shared/tables/tables.ts: Atomics.compareExchange(st.trackFlags':
    'casFlags marks the chunk when a kept bit changes',
  'src/shared/tables/tables.ts: Atomics.store(st.trackFlags':
    'restoreFlagsWord: a restart loading the image (the baseline)',
  'src/shared/tables/track-lock.ts: Atomics.and(state.trackFlags': 'LOCK, WAITERS, the owner: not kept',
  'src/shared/tables/track-lock.ts: Atomics.compareExchange(flags': 'the lock bits: not kept',
  'src/shared/tables/tables.ts: Atomics.or(st.trackFlags': 'setFlag marks the chunk for a kept bit',
  'src/shared/tables/tables.ts: Atomics.and(st.trackFlags': 'clearFlag marks the chunk for a kept bit',
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('dirty bitmaps', () => {
  it('every write of the track flag words is a known one (marking its chunk, or keeping no durable bit)', () => {
    const found = new Set<string>();
    // Atomics itself, or the words.ts helpers (loadWord, orWord, …) that wrap it.
    const write =
      /(?:Atomics\.|\b)(or|and|xor|store|exchange|compareExchange|add|sub|orWord|andWord|storeWord|exchangeWord|casWord|addWord)\(\s*((?:\w+\.)?(?:trackFlags|flags))\b/g;
    for (const file of sources('src'))
      for (const m of readFileSync(file, 'utf8').matchAll(write)) {
        if (m[2] === 'flags' && !file.endsWith('track-lock.ts')) continue; // another word called flags
        found.add(`${file}: Atomics.${m[1]}(${m[2]}`);
      }
    expect([...found].sort()).toEqual(Object.keys(KNOWN_WRITERS).sort());
  });

  it('takes each bit set once, in order, and leaves the words clear', () => {
    const words = new Int32Array(new SharedArrayBuffer(dirtyWords(100) * 4));
    for (const i of [99, 0, 31, 32, 63, 64, 31]) markDirty(words, i);
    const taken: number[] = [];
    takeDirty(words, (i) => taken.push(i));
    expect(taken).toEqual([0, 31, 32, 63, 64, 99]);
    expect([...words].every((w) => w === 0)).toBe(true);
  });
});
