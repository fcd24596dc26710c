// A data dir whose store stops taking commits (its disk full): the FLUSH that asked gets a clear error
// (STORE_FAILED, naming the last durable commit); the commits nobody waits for (background, a disk
// adapter asking for room) are logged once per retry interval, not once per ask.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/shared/config/config.ts';
import { createSharedBuffers, SharedState } from '../../src/shared/tables/memory.ts';
import { MemoryDurableStore, type DurableCommit } from '../../src/shared/durable/durable.ts';
import { DurableCommits } from '../../src/service-processor/durable-commits.ts';
import { smallRaw } from '../support/helpers.ts';

class FullStore extends MemoryDurableStore {
  full = false;
  override commit(c: DurableCommit): void {
    if (this.full) throw new Error('MDB_MAP_FULL: Environment mapsize limit reached');
    super.commit(c);
  }
}

describe('a store that stops taking commits', () => {
  it('a FLUSH gets STORE_FAILED; asks nobody waits for are logged once per retry interval', async () => {
    const cfg = parseConfig(smallRaw('fig2'));
    const state = new SharedState(createSharedBuffers(cfg, { allSparse: true }));
    const store = new FullStore();
    const errors: string[] = [];
    const commits = new DurableCommits(store, {
      state,
      log: (level, text) => level === 'error' && errors.push(text),
      everyMs: 60_000,
      meta: (n) => ({ format: 2, running: cfg, nextSid: 0, nextGen: 0, sessions: [], commits: n }),
    });
    commits.start(cfg, false);
    try {
      expect(await commits.commit('flush')).toBe(2); // 1 was the new store's first, full commit
      store.full = true;
      await expect(commits.commit('flush')).rejects.toMatchObject({
        code: 'STORE_FAILED',
        message: expect.stringMatching(
          /did not take commit 3 \(flush\): MDB_MAP_FULL.*nothing after commit 2 is durable/,
        ),
      });
      for (let i = 0; i < 50; i++) {
        commits.commitLater(`room ${i}`);
        await new Promise((r) => setTimeout(r, 1));
      }
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/SP: commit \(room 0\) failed, tried again in 1000 ms/);
      store.full = false;
      expect(await commits.commit('flush')).toBe(3); // the disk has room again: the next commit takes
    } finally {
      commits.close();
    }
  });
});
