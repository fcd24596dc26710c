// The verifier's sparse per-sector table (src/host/sector-table.ts) against a plain map: any raises
// and loads agree, untouched sectors read 0, memory is taken only for chunks written, and the
// table refuses to grow past its bound with a message naming what to do.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { WORKER_BOOTSTRAP } from '../../src/runtime/slots.ts';
import { CHUNK_SECTORS, createSectorTable, SectorTable } from '../../src/host/sector-table.ts';

const RACER = new URL('../support/sector-table-worker.ts', import.meta.url).href;

describe('sector table', () => {
  it('agrees with a map under any raises and loads, and takes one chunk per chunk written', () => {
    const SECTORS = 40 * CHUNK_SECTORS + 17;
    const op = fc.tuple(fc.nat(SECTORS - 1), fc.integer({ min: 1, max: 1000 }), fc.boolean());
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const t = new SectorTable(createSectorTable(SECTORS, 1 << 30), 'LD1');
        const model = new Map<number, number>();
        for (const [s, v, raise] of ops) {
          if (raise) {
            t.raise(s, v);
            model.set(s, Math.max(model.get(s) ?? 0, v));
          } else expect(t.load(s)).toBe(model.get(s) ?? 0);
        }
        for (const [s, v] of model) expect(t.load(s)).toBe(v);
        const chunks = new Set([...model.keys()].map((s) => Math.floor(s / CHUNK_SECTORS)));
        expect(t.bytes).toBeGreaterThanOrEqual(chunks.size * CHUNK_SECTORS * 4);
        expect(t.bytes).toBeLessThanOrEqual(Math.max(1 << 20, 2 * chunks.size * CHUNK_SECTORS * 4));
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('a 16 TiB device costs nothing until written; past its bound it says so', () => {
    const sectors = 2 ** 35; // 16 TiB of 512 B sectors
    const t = new SectorTable(createSectorTable(sectors, 4 * CHUNK_SECTORS * 4), 'LD9');
    expect(t.bytes).toBe(0);
    t.raise(sectors - 1, 5);
    expect(t.load(sectors - 1)).toBe(5);
    expect(t.load(0)).toBe(0);
    for (let c = 0; c < 3; c++) t.raise(c * CHUNK_SECTORS, 1); // four chunks in all: the bound
    expect(() => t.raise(10 * CHUNK_SECTORS, 1)).toThrow(
      /verifying LD9: the sectors written need more than the [\d.]+ MiB allowed here/,
    );
  });

  it('threads taking the same chunks at once take each chunk once: the pool holds exactly the chunks written', async () => {
    const CHUNKS = 3000;
    const buffers = createSectorTable(CHUNKS * CHUNK_SECTORS, CHUNKS * CHUNK_SECTORS * 4); // no room for a chunk taken twice
    const racers = [1, 2, 3, 4].map(
      (value) =>
        new Promise<{ ok: boolean; error?: string }>((resolve, reject) => {
          const w = new Worker(WORKER_BOOTSTRAP, { workerData: { entry: RACER, buffers, chunks: CHUNKS, value } });
          w.once('message', (m) => void w.terminate().then(() => resolve(m)));
          w.once('error', reject);
        }),
    );
    for (const r of await Promise.all(racers)) expect(r.error).toBeUndefined();
    const t = new SectorTable(buffers, 'LD1');
    for (let c = 0; c < CHUNKS; c++) for (const v of [1, 2, 3, 4]) expect(t.load(c * CHUNK_SECTORS + (v % 7))).toBe(v);
    expect(new Int32Array(buffers.next)[0]).toBe(CHUNKS); // chunk ids taken: one per chunk, none wasted
  });
});
