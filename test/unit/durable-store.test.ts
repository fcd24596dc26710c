// The data dir's store as a disk adapter reads it back (drives/durable-store.ts): a track evicted after
// commit n must read as commit n left it, even when another thread made that commit within the reader's
// event turn. lmdb keeps one read snapshot per turn; a reset one was once measured still to predate
// another thread's commit, which this test does not reproduce every time: so the read back checks its
// snapshot's commit number, and the fallback a snapshot too old takes is tested on its own.
import { expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../../src/drives/durable-store.ts';
import type { DurableCommit } from '../../src/shared/durable/durable.ts';

/** How long the reader spins for the writer thread's commit (ms). */
const COMMIT_WAIT_MS = 10_000;

const commit = (commits: number, byte: number): DurableCommit => ({
  meta: { format: 2, running: { geometry: { trackBytes: 1 } } as never, nextSid: 0, nextGen: 0, sessions: [], commits },
  tracks: [[5, new Uint8Array([byte]), 1]],
  flagChunks: [],
  sumChunks: [],
  driveWords: new Int32Array(1),
  reason: 'test',
});

it("reads a track from the commit it needs, made by another thread within this thread's turn", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'arrayemu-store-'));
  const reader = new LmdbStore(dir);
  reader.commit(commit(1, 1));
  await new Promise((r) => setTimeout(r, 20)); // a turn later: this thread's snapshot is renewed
  const committed = new Int32Array(new SharedArrayBuffer(4));
  // Commit 2 (track 5 now 2) by another thread, through the same store code, after this thread's first read.
  // The writer opens the store as the service processor's LmdbStore does (its options and keys).
  const writer = new Worker(
    `const { workerData } = require('node:worker_threads');
     const { open } = require('lmdb');
     const db = open({ path: workerData.dir, encoding: 'binary', noSync: false, overlappingSync: false, compression: false });
     setTimeout(() => {
       const n = Buffer.alloc(4);
       n.writeInt32LE(2, 0);
       db.transactionSync(() => { db.put(['p', 5, 0], Buffer.from([2])); db.put('n', n); });
       Atomics.store(workerData.committed, 0, 2);
     }, 100);`,
    { eval: true, workerData: { dir, committed } },
  );
  try {
    // One synchronous turn: a read before the commit, a spin until it is made, then the read back.
    expect(reader.track(5)![0]).toBe(1);
    const t0 = Date.now();
    while (Atomics.load(committed, 0) === 0 && Date.now() - t0 < COMMIT_WAIT_MS);
    expect(Atomics.load(committed, 0), 'the writer thread committed').toBe(2);
    expect(reader.track(5, 2)![0]).toBe(2);
    // A snapshot older than the commit asked for (none is numbered 3 yet): read again in a write transaction.
    const before = reader.staleReads;
    expect(reader.track(5, 3)![0]).toBe(2);
    expect(reader.staleReads).toBe(before + 1);
  } finally {
    await writer.terminate();
    reader.close();
  }
});
