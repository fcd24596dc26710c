// The host path's floor: what the design's crossing alone carries on this machine. Two producer
// threads (the host processors' place) keep HOST_IO_QUEUE_DEPTH requests each in flight through the
// array's own Ring to one consumer thread (the host adapter's place), which answers each at once on
// a reply ring: no lookup, no track lock, no destage. With `copyBytes` the producer writes the
// payload into its arena and the consumer copies it into a slot of a shared cache, as a write does.
// A request through the array can cost no less than this, so it bounds the host I/O rows (DESIGN §11).
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { ringBuffers } from '../src/shared/links/ring.ts';
import { WORKER_BOOTSTRAP } from '../src/runtime/slots.ts';
import { HOST_IO_QUEUE_DEPTH } from './host-io.ts';

const ENTRY = fileURLToPath(new URL('./ring-floor-worker.ts', import.meta.url));
/** Producer threads, as the host I/O rows' host processors. */
const PRODUCERS = 2;
/** Entries of each request and reply ring (a power of two above the queue depth). */
const RING_ENTRIES = 256;
/** The consumer's shared cache: slots of one track each. */
const FLOOR_SLOTS = 1024;
const FLOOR_TRACK_BYTES = 65536;
/** Run before the measured seconds, so the threads' code is optimized when counting starts. */
const WARM_MS = 500;
/** Longest a worker may take to start, or to answer at the end. */
const WORKER_WAIT_MS = 30_000;

export interface RingFloor {
  /** Requests a second answered with nothing done but the crossing. */
  emptyOpsPerSec: number;
  /** The same with 4 KiB written into the arena and copied into a slot, as a 4 KiB write does. */
  copy4kOpsPerSec: number;
}

export interface FloorWorkerData {
  role: 'producer' | 'consumer';
  rings: Array<{ req: ReturnType<typeof ringBuffers>; rep: ReturnType<typeof ringBuffers>; arena: SharedArrayBuffer }>;
  slots: SharedArrayBuffer;
  queueDepth: number;
  copyBytes: number;
  slotCount: number;
  trackBytes: number;
}

function answer<T>(w: Worker, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ring floor: no ${what} in ${WORKER_WAIT_MS} ms`)), WORKER_WAIT_MS);
    const done = (f: () => void) => {
      clearTimeout(timer);
      w.off('error', onError);
      f();
    };
    const onError = (err: Error) => done(() => reject(err));
    w.once('message', (m: T) => done(() => resolve(m)));
    w.once('error', onError);
  });
}

/** One measurement: requests a second over `seconds`, after WARM_MS. */
async function measure(seconds: number, copyBytes: number): Promise<number> {
  const rings = Array.from({ length: PRODUCERS }, () => ({
    req: ringBuffers(RING_ENTRIES),
    rep: ringBuffers(RING_ENTRIES),
    arena: new SharedArrayBuffer(HOST_IO_QUEUE_DEPTH * Math.max(copyBytes, 64)),
  }));
  const slots = new SharedArrayBuffer(FLOOR_SLOTS * FLOOR_TRACK_BYTES);
  const start = (role: FloorWorkerData['role'], r: FloorWorkerData['rings']) =>
    new Worker(WORKER_BOOTSTRAP, {
      workerData: {
        entry: ENTRY,
        role,
        rings: r,
        slots,
        queueDepth: HOST_IO_QUEUE_DEPTH,
        copyBytes,
        slotCount: FLOOR_SLOTS,
        trackBytes: FLOOR_TRACK_BYTES,
      } satisfies FloorWorkerData & { entry: string },
    });
  const workers = [start('consumer', rings), ...rings.map((r) => start('producer', [r]))];
  try {
    await Promise.all(workers.map((w) => answer<string>(w, 'ready')));
    const producers = workers.slice(1);
    for (const w of producers) w.postMessage('go');
    await new Promise((r) => setTimeout(r, WARM_MS));
    const marks = producers.map((w) => answer<number>(w, 'count'));
    for (const w of producers) w.postMessage('count');
    const from = await Promise.all(marks);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const ends = producers.map((w) => answer<number>(w, 'count'));
    for (const w of producers) w.postMessage('count');
    const to = await Promise.all(ends);
    const ms = performance.now() - t0;
    const done = to.reduce((a, b) => a + b, 0) - from.reduce((a, b) => a + b, 0);
    return Math.round((done / ms) * 1000);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The floor with nothing carried, then with a 4 KiB write's two copies, `seconds` each. */
export async function ringFloor(seconds: number, say: (s: string) => void): Promise<RingFloor> {
  const emptyOpsPerSec = await measure(seconds, 0);
  const copy4kOpsPerSec = await measure(seconds, 4096);
  say(`the ring alone: ${emptyOpsPerSec} requests/s answered empty, ${copy4kOpsPerSec}/s carrying 4 KiB`);
  return { emptyOpsPerSec, copy4kOpsPerSec };
}
