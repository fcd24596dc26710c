// The NBD server's backend over host clients, the same in whichever thread serves NBD: each
// request goes to the host adapters in turn and is counted per device as it enters the array
// (node_exporter's disk counters). The exports, their sizes and how a FLUSH is made durable come
// from the caller: the array itself on the main thread, messages from it in a host adapter's thread.
import { newLatencyBuckets, recordLatency } from '../histogram.ts';
import { performance } from 'node:perf_hooks';
import { failedReply, type HostClient } from '../../host/client.ts';
import { blankRequest, type IoReply, type IoRequest } from '../../shared/links/messages.ts';
import type { Leased, NbdBackend } from './server.ts';
import { BufferPool } from './buffer-pool.ts';
import { assert } from '../../shared/errors/assert.ts';

/** Per logical device, what its hosts did: counted as host I/O enters the array. */
export interface DeviceCounters {
  reads: number;
  readBytes: number;
  readMs: number;
  writes: number;
  writtenBytes: number;
  writeMs: number;
  inFlight: number;
  /** Every request's latency, reads and writes (src/serve/histogram.ts). */
  latency: number[];
}

export interface DeviceIo {
  devices: Map<string, DeviceCounters>;
}

export interface BackendSource {
  /** One client per host adapter, in the order requests take turns over them. */
  clients: HostClient[];
  exportNames(): string[];
  sizeOf(name: string): number | undefined;
  /** Every write acknowledged so far on the drives (and, with a data dir, committed: R4). */
  flush(): Promise<void>;
  /**
   * The host adapter's fast path in this thread (ExtensionContext.serveNow), tried before the link:
   * a hit's reply at once, undefined to go over the link. None on the main thread.
   */
  direct?: (req: IoRequest) => IoReply | undefined;
}

export function clientsBackend(src: BackendSource, io: DeviceIo): NbdBackend & { close(): void } {
  let turn = 0;
  const pool = new BufferPool();
  const client = () => src.clients[turn++ % src.clients.length]!;
  const counted = async <T>(name: string, write: boolean, bytes: number, op: () => Promise<T>): Promise<T> => {
    const c = countersOf(io, name);
    const t0 = performance.now();
    c.inFlight++;
    let ok = false;
    try {
      const r = await op();
      ok = true;
      return r;
    } finally {
      c.inFlight--;
      ended(c, write, bytes, ok, performance.now() - t0);
    }
  };
  const { readNow, writeNow } = directPath(src, io, pool);
  return {
    exportNames: () => src.exportNames(),
    sizeOf: (name) => src.sizeOf(name),
    read: (name, offset, length) => counted(name, false, length, () => client().read(name, offset, length)),
    readNow,
    writeNow,
    // Over the link (readNow is the fast path): a read lands in a buffer of the pool, given back
    // once the socket has sent it — no buffer made per read.
    readLeased: (name, offset, length) => {
      const into = pool.take(length);
      return counted(name, false, length, async () => {
        const data = await client().readInto(name, offset, into);
        return { data, release: () => pool.give(into) };
      });
    },
    // Over the link (writeNow is the fast path). The NBD server never touches a payload again once
    // written: the host adapter may keep it uncopied.
    write: (name, offset, data) => counted(name, true, data.length, () => client().write(name, offset, data, true)),
    flush: () => src.flush(),
    // The clients' timers and links hold the array (its reconnect reaches the emulator): closed, it can be freed.
    close: () => src.clients.forEach((c) => c.close()),
  };
}

/** A request's end in the device's counters: done (ok) or not, after `ms`. */
function ended(c: DeviceCounters, write: boolean, bytes: number, ok: boolean, ms: number): void {
  if (ok && write) {
    c.writes++;
    c.writtenBytes += bytes;
  } else if (ok) {
    c.reads++;
    c.readBytes += bytes;
  }
  if (write) c.writeMs += ms;
  else c.readMs += ms;
  recordLatency(c.latency, ms);
}

/**
 * The host adapter's fast path in this thread (BackendSource.direct), counted as it is taken: a
 * read lands in a buffer of `pool`, given back once the socket has sent it. Each gives undefined
 * when the fast path does not take the request now (none on the main thread).
 */
function directPath(
  src: BackendSource,
  io: DeviceIo,
  pool: BufferPool,
): Pick<Required<NbdBackend>, 'readNow' | 'writeNow'> {
  // One request object for every call: the fast path answers in the call and keeps nothing of it
  // (HostAdapter.served), taken or not; its buffers are let go after each.
  const req = blankRequest();
  /** The request set in `req` through the adapter's fast path if it takes it now (counted), else undefined. */
  const now = (name: string, write: boolean, offset: number, length: number): IoReply | undefined => {
    req.op = write ? 'write' : 'read';
    req.device = name;
    req.offsetBytes = offset;
    req.lengthBytes = length;
    const t0 = performance.now();
    const r = src.direct?.(req);
    req.data = req.into = undefined;
    if (r) ended(countersOf(io, name), write, length, r.ok, performance.now() - t0);
    return r;
  };
  /** A read through the fast path, landed in a buffer of the pool (given back once sent): undefined if not taken. */
  const readNow = (name: string, offset: number, length: number): Leased | Error | undefined => {
    if (!src.direct) return undefined;
    const into = (req.into = pool.take(length));
    const r = now(name, false, offset, length);
    if (!r?.ok) {
      pool.give(into);
      return r && failedReply(r);
    }
    assert(
      r.data?.length === length,
      () => `NBD read of ${length} bytes at ${offset}: the adapter gave ${r.data?.length}`,
    );
    return { data: r.data, release: () => pool.give(into) }; // `into`, filled from the slot
  };
  /** A write through the fast path (copied into its slot): undefined if not taken. */
  const writeNow = (name: string, offset: number, data: Uint8Array): true | Error | undefined => {
    if (!src.direct) return undefined;
    req.data = data;
    const r = now(name, true, offset, data.length);
    return r && (r.ok || failedReply(r));
  };
  return { readNow, writeNow };
}

function countersOf(io: DeviceIo, name: string): DeviceCounters {
  let c = io.devices.get(name);
  if (!c)
    io.devices.set(
      name,
      (c = {
        reads: 0,
        readBytes: 0,
        readMs: 0,
        writes: 0,
        writtenBytes: 0,
        writeMs: 0,
        inFlight: 0,
        latency: newLatencyBuckets(),
      }),
    );
  return c;
}
