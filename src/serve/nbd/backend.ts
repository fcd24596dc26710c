// The NBD server's backend over host clients, the same in whichever thread serves NBD: each
// request goes to the host adapters in turn and is counted per device as it enters the array
// (node_exporter's disk counters). The exports, their sizes and how a FLUSH is made durable come
// from the caller: the array itself on the main thread, messages from it in a host adapter's thread.
import { newLatencyBuckets, recordLatency } from '../histogram.ts';
import { performance } from 'node:perf_hooks';
import { failedReply, type HostClient } from '../../host/client.ts';
import type { IoReply, IoRequest } from '../../shared/links/messages.ts';
import type { NbdBackend } from './server.ts';
import { BufferPool } from './buffer-pool.ts';
import { assert } from '../../shared/errors/assert.ts';
import { RESOLVED } from '../../shared/sched/sched.ts';

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
  /** A request's end in the device's counters: done (ok) or not, after `ms`. */
  const ended = (c: DeviceCounters, write: boolean, bytes: number, ok: boolean, ms: number): void => {
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
  };
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
  /** `req` through the adapter's fast path if it takes it now (counted), else undefined. */
  const now = (name: string, write: boolean, req: IoRequest): IoReply | undefined => {
    const t0 = performance.now();
    const r = src.direct?.(req);
    if (r) ended(countersOf(io, name), write, req.lengthBytes, r.ok, performance.now() - t0);
    return r;
  };
  return {
    exportNames: () => src.exportNames(),
    sizeOf: (name) => src.sizeOf(name),
    read: (name, offset, length) => counted(name, false, length, () => client().read(name, offset, length)),
    // A read lands in a buffer of the pool, given back once the socket has sent it: no buffer made per read.
    readLeased: (name, offset, length) => {
      const into = pool.take(length);
      const release = () => pool.give(into);
      const r = now(name, false, { id: 0, op: 'read', device: name, offsetBytes: offset, lengthBytes: length, into });
      if (r?.ok) {
        assert(
          r.data?.length === length,
          () => `NBD read of ${length} bytes at ${offset}: the adapter gave ${r.data?.length}`,
        );
        return Promise.resolve({ data: r.data, release }); // `into`, filled from the slot
      }
      if (r) {
        release();
        return Promise.reject(failedReply(r));
      }
      return counted(name, false, length, async () => {
        const data = await client().readInto(name, offset, into);
        return { data, release };
      });
    },
    // The NBD server never touches a payload again once written: the host adapter may keep it uncopied.
    write: (name, offset, data) => {
      const r = now(name, true, {
        id: 0,
        op: 'write',
        device: name,
        offsetBytes: offset,
        lengthBytes: data.length,
        data,
      });
      if (r) return r.ok ? RESOLVED : Promise.reject(failedReply(r));
      return counted(name, true, data.length, () => client().write(name, offset, data, true));
    },
    flush: () => src.flush(),
    // The clients' timers and links hold the array (its reconnect reaches the emulator): closed, it can be freed.
    close: () => src.clients.forEach((c) => c.close()),
  };
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
