// The NBD server's backend over host clients, the same in whichever thread serves NBD: each
// request goes to the host adapters in turn and is counted per device as it enters the array
// (node_exporter's disk counters). The exports, their sizes and how a FLUSH is made durable come
// from the caller: the array itself on the main thread, messages from it in a host adapter's thread.
import { newLatencyBuckets, recordLatency } from '../histogram.ts';
import { performance } from 'node:perf_hooks';
import type { HostClient } from '../../host/client.ts';
import type { NbdBackend } from './server.ts';
import { BufferPool } from './buffer-pool.ts';

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
}

export function clientsBackend(src: BackendSource, io: DeviceIo): NbdBackend & { close(): void } {
  let turn = 0;
  const pool = new BufferPool();
  const client = () => src.clients[turn++ % src.clients.length]!;
  const counted = async <T>(name: string, write: boolean, bytes: number, op: () => Promise<T>): Promise<T> => {
    const c = countersOf(io, name);
    const t0 = performance.now();
    c.inFlight++;
    try {
      const r = await op();
      if (write) {
        c.writes++;
        c.writtenBytes += bytes;
      } else {
        c.reads++;
        c.readBytes += bytes;
      }
      return r;
    } finally {
      c.inFlight--;
      const ms = performance.now() - t0;
      if (write) c.writeMs += ms;
      else c.readMs += ms;
      recordLatency(c.latency, ms);
    }
  };
  return {
    exportNames: () => src.exportNames(),
    sizeOf: (name) => src.sizeOf(name),
    read: (name, offset, length) => counted(name, false, length, () => client().read(name, offset, length)),
    // A read lands in a buffer of the pool, given back once the socket has sent it: no buffer made per read.
    readLeased: (name, offset, length) =>
      counted(name, false, length, async () => {
        const into = await client().readInto(name, offset, pool.take(length));
        return { data: into, release: () => pool.give(into) };
      }),
    // The NBD server never touches a payload again once written: the host adapter may keep it uncopied.
    write: (name, offset, data) => counted(name, true, data.length, () => client().write(name, offset, data, true)),
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
