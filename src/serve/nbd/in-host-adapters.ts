// The NBD server in the host adapters' threads (DESIGN §9), as the main thread holds it: each listen
// address belongs to one host adapter (address i to HA i mod the adapters), whose thread runs an NBD
// server (in-host-adapter.ts) that terminates its hosts' connections and hands their requests to the
// adapter without crossing a thread. The main thread keeps the array and the control API: a busy
// connection, the control API and a FLUSH never queue behind each other on one event loop. It tells
// the servers each export's size at its switch, and sums their counters for status and /metrics.
import type { MessagePort } from 'node:worker_threads';
import type { ArrayEmulator } from '../../runtime/emulator.ts';
import { HostClient } from '../../host/client.ts';
import { ArrayError } from '../../shared/errors/errors.ts';
import { PendingRequests } from '../../shared/links/pending.ts';
import type { DeviceCounters, DeviceIo } from './backend.ts';
import type { NbdCounters } from './server.ts';

/** The NBD server's module, loaded into each host adapter's thread (serve bundles it with the actors': StartOptions.workerModules). */
export const NBD_IN_HOST_ADAPTER = new URL('./in-host-adapter.ts', import.meta.url).href;
/** Longest an NBD server may take to start listening, answer a snapshot or close (ms). */
export const NBD_SERVER_WAIT_MS = 30_000;

export type Listen = { host: string; port: number } | { path: string };

/** What an NBD server in a host adapter's thread starts from. */
export interface NbdServerInit {
  /** Each export's name and bytes now. */
  exports: Array<[string, number]>;
  listen: Listen[];
  /** Forward the NBD server's log lines to this thread. */
  log: boolean;
}

/** Counters as they cross threads (maps as entry lists). */
export interface NbdSnapshot {
  connections: number;
  connectionsOpen: number;
  requests: Array<[string, number]>;
  devices: Array<[string, DeviceCounters]>;
}

export type ToNbdServer = { t: 'size'; name: string; bytes: number } | { t: 'snapshot'; id: number } | { t: 'close' };

export type FromNbdServer =
  /** The server could not be loaded into the host adapter's thread, or failed to start there (worker-host.ts). */
  | { t: 'extension-failed'; message: string }
  /** The TCP port bound for each listen entry (null for a socket path). */
  | { t: 'listening'; ports: Array<number | null> }
  | { t: 'listen-failed'; code?: string; message: string }
  | { t: 'log'; line: string }
  | ({ t: 'snapshot'; id: number } & NbdSnapshot)
  | { t: 'closed' };

/** One host adapter's NBD server as the main thread holds it. */
interface Endpoint {
  ha: number;
  port?: MessagePort;
  init: NbdServerInit;
  /** Indexes of its listen addresses in serve's list. */
  at: number[];
}

/** The main thread's handle on the NBD servers in the host adapters: their counters as last fetched, refresh, close. */
export class NbdInHostAdapters {
  readonly counters: NbdCounters = { connections: 0, connectionsOpen: 0, requests: new Map() };
  private readonly snapshots = new PendingRequests<NbdSnapshot, undefined>();
  private nextId = 1;
  private flushClient?: HostClient;
  private readonly closed = new Map<Endpoint, () => void>();
  private readonly listening = new Map<Endpoint, (m: FromNbdServer) => void>();

  private constructor(
    private readonly endpoints: Endpoint[],
    private readonly emu: ArrayEmulator,
    private readonly io: DeviceIo,
    private readonly log?: (line: string) => void,
  ) {}

  /** Start an NBD server in each host adapter given a listen address; resolves with the TCP port bound per entry. */
  static async start(
    emu: ArrayEmulator,
    io: DeviceIo,
    listen: Listen[],
    log?: (line: string) => void,
  ): Promise<{ servers: NbdInHostAdapters; ports: Array<number | null> }> {
    const adapters = emu.model.config.hostAdapters;
    const exports: Array<[string, number]> = emu.model.hostDevices().map((d) => [d.id, d.bytes]);
    const endpoints: Endpoint[] = [];
    listen.forEach((where, i) => {
      const ha = i % adapters;
      let e = endpoints.find((x) => x.ha === ha);
      if (!e) endpoints.push((e = { ha, init: { exports, listen: [], log: log !== undefined }, at: [] }));
      e.init.listen.push(where);
      e.at.push(i);
    });
    const servers = new NbdInHostAdapters(endpoints, emu, io, log);
    const ports: Array<number | null> = listen.map(() => null);
    for (const e of endpoints) {
      const bound = await servers.load(e);
      e.at.forEach((i, k) => (ports[i] = bound[k] ?? null));
      // A replacement adapter listens again on the port bound now (not on port 0 again).
      e.init.listen = e.init.listen.map((w, k) => ('port' in w ? { ...w, port: bound[k] ?? w.port } : w));
    }
    const onSwitched = (ev: { device: string; bytes: number }) => {
      for (const x of exports) if (x[0] === ev.device) x[1] = ev.bytes;
      servers.sendAll({ t: 'size', name: ev.device, bytes: ev.bytes });
    };
    emu.on('switched', onSwitched);
    servers.offSwitched = () => emu.off('switched', onSwitched);
    return { servers, ports };
  }

  private offSwitched = () => {};

  /** Load the NBD server into host adapter `e.ha`'s thread; resolves with the TCP ports it bound. */
  private load(e: Endpoint): Promise<Array<number | null>> {
    return new Promise<Array<number | null>>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new ArrayError('TIMEOUT', `HA${e.ha}'s NBD server did not listen within ${NBD_SERVER_WAIT_MS} ms`)),
        NBD_SERVER_WAIT_MS,
      );
      timer.unref();
      this.listening.set(e, (m) => {
        clearTimeout(timer);
        if (m.t === 'listening') resolve(m.ports);
        else if (m.t === 'listen-failed') reject(Object.assign(new Error(m.message), { code: m.code }));
        else if (m.t === 'extension-failed') reject(new ArrayError('INVARIANT', m.message));
      });
      // Loaded again into a replacement host adapter: a new port each time.
      this.emu.extendHostAdapter(e.ha, NBD_IN_HOST_ADAPTER, e.init, (port) => {
        e.port?.close();
        e.port = port;
        port.on('message', (m: FromNbdServer) => this.onMessage(e, m));
      });
    });
  }

  private sendAll(m: ToNbdServer): void {
    for (const e of this.endpoints) e.port?.postMessage(m);
  }

  private onMessage(e: Endpoint, m: FromNbdServer): void {
    switch (m.t) {
      case 'log':
        return this.log?.(m.line);
      case 'snapshot':
        this.snapshots.settle(`${e.ha}:${m.id}`, m);
        return;
      case 'closed':
        return this.closed.get(e)?.();
      case 'listening':
      case 'listen-failed':
      case 'extension-failed':
        if (!this.listening.has(e)) this.log?.(`HA${e.ha}'s NBD server, loaded again: ${m.t}`);
        this.listening.get(e)?.(m);
        this.listening.delete(e);
        return;
    }
  }

  /**
   * A FLUSH from this thread: the array's cache destaged and, with a data dir, committed (R4).
   * Every write the NBD servers acknowledged is in the shared cache, so this thread's own client
   * destages it as well as any.
   */
  private flush(): Promise<void> {
    this.flushClient ??= new HostClient(this.emu.hostLink(0), () => this.emu.hostLink(0));
    return this.flushClient.flush(); // its host adapter commits before it answers (durable-flush.ts)
  }

  /** Destage the array's cache (and commit it, with a data dir) from this thread: `serve`'s close, after `close`. */
  async flushArray(): Promise<void> {
    await this.flush();
    this.flushClient?.close();
    this.flushClient = undefined;
  }

  /** Fetch every NBD server's counters, summed, into `counters` and the device counters (for status and /metrics). */
  async refresh(): Promise<void> {
    const id = this.nextId++;
    const timeout = () => new ArrayError('TIMEOUT', `an NBD server did not answer within ${NBD_SERVER_WAIT_MS} ms`);
    const waits = this.endpoints.map((e) => {
      const w = this.snapshots.wait(`${e.ha}:${id}`, NBD_SERVER_WAIT_MS, timeout, undefined);
      e.port?.postMessage({ t: 'snapshot', id } satisfies ToNbdServer);
      return w;
    });
    const all = await Promise.all(waits);
    this.counters.connections = sum(all.map((s) => s.connections));
    this.counters.connectionsOpen = sum(all.map((s) => s.connectionsOpen));
    this.counters.requests.clear();
    this.io.devices.clear();
    for (const s of all) {
      for (const [k, v] of s.requests) this.counters.requests.set(k, (this.counters.requests.get(k) ?? 0) + v);
      for (const [name, c] of s.devices) this.io.devices.set(name, addCounters(this.io.devices.get(name), c));
    }
  }

  /** Close every connection and the listeners (the caller flushes the array after, then stops it). */
  async close(): Promise<void> {
    const closed = this.endpoints.map(
      (e) =>
        new Promise<void>((resolve) => {
          this.closed.set(e, resolve);
          setTimeout(resolve, NBD_SERVER_WAIT_MS).unref();
        }),
    );
    await this.refresh().catch(() => {}); // the last counts, for whoever reads them after
    this.sendAll({ t: 'close' });
    await Promise.all(closed);
    this.offSwitched();
    for (const e of this.endpoints) e.port?.close();
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Two host adapters' counters of one device, added (latency buckets bucket by bucket). */
function addCounters(a: DeviceCounters | undefined, b: DeviceCounters): DeviceCounters {
  if (!a) return b;
  return {
    reads: a.reads + b.reads,
    readBytes: a.readBytes + b.readBytes,
    readMs: a.readMs + b.readMs,
    writes: a.writes + b.writes,
    writtenBytes: a.writtenBytes + b.writtenBytes,
    writeMs: a.writeMs + b.writeMs,
    inFlight: a.inFlight + b.inFlight,
    latency: a.latency.map((n, i) => n + (b.latency[i] ?? 0)),
  };
}
