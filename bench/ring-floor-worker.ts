// A thread of the ring floor (ring-floor.ts): a producer keeping its requests in flight, or the
// consumer answering every producer's requests at once.
import { parentPort, workerData } from 'node:worker_threads';
import { Ring } from '../src/shared/links/ring.ts';
import type { FloorWorkerData } from './ring-floor.ts';

const data = workerData as FloorWorkerData;
const port = parentPort!;

/** Each request ring's entries answered on its reply ring, a batch at a time; a write's copy into a slot. */
function consumer(): void {
  const cache = new Uint8Array(data.slots);
  for (const r of data.rings) {
    const req = new Ring(r.req);
    const rep = new Ring(r.rep);
    const arena = new Uint8Array(r.arena);
    void req.consume(() => {
      req.take((at) => {
        const id = req.words[at]!;
        if (data.copyBytes > 0) {
          const from = req.words[at + 1]!;
          const to = req.words[at + 2]! * data.trackBytes + req.words[at + 3]!;
          cache.set(arena.subarray(from, from + data.copyBytes), to);
        }
        rep.words[rep.nextEntry()] = id;
        rep.put();
      });
      rep.publish();
    });
  }
  port.on('message', () => {});
  port.postMessage('ready');
}

/** Keep queueDepth requests in flight: each answer sends the next at once (published per batch). */
function producer(): void {
  const r = data.rings[0]!;
  const req = new Ring(r.req);
  const rep = new Ring(r.rep);
  const arena = new Uint8Array(r.arena);
  const payload = new Uint8Array(Math.max(data.copyBytes, 1)).fill(0xa5);
  const blocks = data.trackBytes / Math.max(data.copyBytes, 512);
  let seed = 1;
  let done = 0;
  const send = (id: number): void => {
    const from = id * data.copyBytes;
    if (data.copyBytes > 0) arena.set(payload, from);
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    const at = req.nextEntry();
    req.words[at] = id;
    req.words[at + 1] = from;
    req.words[at + 2] = seed % data.slotCount;
    req.words[at + 3] = (seed % blocks) * data.copyBytes;
    req.put();
  };
  port.on('message', (m: string) => {
    if (m === 'count') return port.postMessage(done);
    for (let id = 0; id < data.queueDepth; id++) send(id);
    req.publish();
    void rep.consume(() => {
      rep.take((at) => {
        done++;
        send(rep.words[at]!);
      });
      req.publish();
    });
  });
  port.postMessage('ready');
}

if (data.role === 'consumer') consumer();
else producer();
