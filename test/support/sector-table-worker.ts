// A thread raising sector-table words (test/unit/sector-table.test.ts): every chunk's first sector,
// in order, as fast as it can, so several threads take the same chunks at the same moment.
import { parentPort, workerData } from 'node:worker_threads';
import { CHUNK_SECTORS, SectorTable, type SectorTableBuffers } from '../../src/host/sector-table.ts';

const { buffers, chunks, value } = workerData as { buffers: SectorTableBuffers; chunks: number; value: number };
const t = new SectorTable(buffers, 'LD1');
try {
  for (let c = 0; c < chunks; c++) t.raise(c * CHUNK_SECTORS + (value % 7), value);
  parentPort!.postMessage({ ok: true });
} catch (err) {
  parentPort!.postMessage({ ok: false, error: String(err) });
}
