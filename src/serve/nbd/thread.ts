// The NBD server in a thread of its own (DESIGN §9): the main thread keeps the array and the control
// API, the NBD thread its sockets, so a busy connection, the control API and a FLUSH never queue
// behind each other on one event loop. The NBD thread's host clients reach the host adapters on
// rings as any host's do (a request's data is copied once between socket and slot); it asks this
// thread only for what belongs to the array: a port to a host adapter (at start, and when one is
// replaced), a FLUSH made durable, and it learns each export's size at its switch.
import { Worker, type MessagePort } from 'node:worker_threads';
import { WORKER_BOOTSTRAP } from '../../runtime/slots.ts';
import type { ArrayEmulator } from '../../runtime/emulator.ts';
import { HostClient } from '../../host/client.ts';
import { ArrayError, errorMessage } from '../../shared/errors/errors.ts';
import { PendingRequests } from '../../shared/links/pending.ts';
import type { DeviceCounters, DeviceIo } from './backend.ts';
import type { NbdCounters } from './server.ts';

const ENTRY = new URL('./worker.ts', import.meta.url).href;
/** Longest the NBD thread may take to start listening, answer a snapshot or close (ms). */
export const NBD_THREAD_WAIT_MS = 30_000;

export type Listen = { host: string; port: number } | { path: string };

/** What the NBD thread starts from (its workerData). */
export interface NbdThreadInit {
  entry: string;
  hostAdapters: number;
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

export type ToNbdThread = { t: 'size'; name: string; bytes: number } | { t: 'snapshot'; id: number } | { t: 'close' };

export type FromNbdThread =
  | { t: 'host-port'; ha: number; port: MessagePort }
  /** The TCP port bound for each listen entry (null for a socket path). */
  | { t: 'listening'; ports: Array<number | null> }
  | { t: 'listen-failed'; code?: string; message: string }
  | { t: 'log'; line: string }
  | ({ t: 'snapshot'; id: number } & NbdSnapshot)
  | { t: 'closed' };

/** The main thread's handle on the NBD thread: its counters as last fetched, refresh, close. */
export class NbdThread {
  readonly counters: NbdCounters = { connections: 0, connectionsOpen: 0, requests: new Map() };
  private readonly snapshots = new PendingRequests<NbdSnapshot, undefined>();
  private nextId = 1;
  private flushClient?: HostClient;
  private closed?: () => void;

  private constructor(
    private readonly worker: Worker,
    private readonly emu: ArrayEmulator,
    private readonly io: DeviceIo,
    private readonly log?: (line: string) => void,
  ) {}

  /** Start the NBD thread listening on `listen`; resolves with the TCP port bound per entry. */
  static async start(
    emu: ArrayEmulator,
    io: DeviceIo,
    listen: Listen[],
    log?: (line: string) => void,
  ): Promise<{ thread: NbdThread; ports: Array<number | null> }> {
    const init: NbdThreadInit = {
      entry: ENTRY,
      hostAdapters: emu.model.config.hostAdapters,
      exports: emu.model.hostDevices().map((d) => [d.id, d.bytes]),
      listen,
      log: log !== undefined,
    };
    const worker = new Worker(WORKER_BOOTSTRAP, { workerData: init, name: 'nbd' });
    const thread = new NbdThread(worker, emu, io, log);
    const ports = await new Promise<Array<number | null>>((resolve, reject) => {
      setTimeout(
        () => reject(new ArrayError('TIMEOUT', `the NBD thread did not listen within ${NBD_THREAD_WAIT_MS} ms`)),
        NBD_THREAD_WAIT_MS,
      ).unref();
      worker.once('error', (err) => reject(err));
      worker.on('message', (m: FromNbdThread) => {
        if (m.t === 'listening') resolve(m.ports);
        else if (m.t === 'listen-failed') reject(Object.assign(new Error(m.message), { code: m.code }));
        else thread.onMessage(m);
      });
    }).finally(() => worker.removeAllListeners('error'));
    worker.on('error', (err) => log?.(`error: NBD thread: ${errorMessage(err)}`));
    const onSwitched = (e: { device: string; bytes: number }) =>
      thread.send({ t: 'size', name: e.device, bytes: e.bytes });
    emu.on('switched', onSwitched);
    worker.once('exit', () => emu.off('switched', onSwitched));
    return { thread, ports };
  }

  private send(m: ToNbdThread): void {
    this.worker.postMessage(m);
  }

  private onMessage(m: FromNbdThread): void {
    switch (m.t) {
      case 'host-port':
        return this.emu.attachHostPort(m.ha, m.port);
      case 'log':
        return this.log?.(m.line);
      case 'snapshot':
        this.snapshots.settle(m.id, m);
        return;
      case 'closed':
        return this.closed?.();
      case 'listening':
      case 'listen-failed':
        return; // only at start (NbdThread.start)
    }
  }

  /**
   * A FLUSH from any connection: the array's cache destaged and, with a data dir, committed (R4).
   * Every write the NBD thread acknowledged is in the shared cache, so this thread's own client
   * destages it as well as any.
   */
  private flush(): Promise<void> {
    this.flushClient ??= new HostClient(this.emu.hostLink(0), () => this.emu.hostLink(0));
    const client = this.flushClient;
    return client.flush(); // its host adapter commits before it answers (durable-flush.ts)
  }

  /** Destage the array's cache (and commit it, with a data dir) from this thread: `serve`'s close, after `close`. */
  async flushArray(): Promise<void> {
    await this.flush();
    this.flushClient?.close();
    this.flushClient = undefined;
  }

  /** Fetch the NBD thread's counters into `counters` and the device counters (for status and /metrics). */
  async refresh(): Promise<void> {
    const id = this.nextId++;
    const timeout = () => new ArrayError('TIMEOUT', `the NBD thread did not answer within ${NBD_THREAD_WAIT_MS} ms`);
    const wait = this.snapshots.wait(id, NBD_THREAD_WAIT_MS, timeout, undefined);
    this.send({ t: 'snapshot', id });
    const s = await wait;
    this.counters.connections = s.connections;
    this.counters.connectionsOpen = s.connectionsOpen;
    for (const [k, v] of s.requests) this.counters.requests.set(k, v);
    for (const [name, c] of s.devices) this.io.devices.set(name, c);
  }

  /** Close every connection and the listeners, then end the thread (the caller flushes the array after). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      this.closed = resolve;
      setTimeout(resolve, NBD_THREAD_WAIT_MS).unref();
    });
    this.send({ t: 'close' });
    await closed;
    await this.refresh().catch(() => {}); // the last counts, for whoever reads them after
    await this.worker.terminate();
  }
}
