// `arrayemu serve`: the array started, every non-BCV logical device an NBD export, on a TCP
// address and/or a Unix socket. Each connection's requests go to the host adapters in turn.
import { existsSync, unlinkSync } from 'node:fs';
import type { ArrayConfig } from '../shared/config/config.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { ArrayEmulator } from '../runtime/emulator.ts';
import { HostClient } from '../host/client.ts';
import { NbdServer, type NbdBackend, type NbdCounters } from './nbd/server.ts';
import { clientsBackend, type DeviceCounters, type DeviceIo } from './nbd/backend.ts';
import { NBD_IN_HOST_ADAPTER, NbdInHostAdapters, type Listen } from './nbd/in-host-adapters.ts';

export const DEFAULT_NBD_PORT = 10809;

export interface ServeOptions {
  /** host:port for TCP (undefined: no TCP listener unless no socket is given either). */
  listen?: string;
  /** A Unix socket path. */
  socket?: string;
  mode?: 'threads' | 'inline';
  log?: (line: string) => void;
  /** Keep the array durable here across restarts, crashes included (DESIGN §10). */
  dataDir?: string;
  /** With a data dir: most bytes the drives' tracks take in memory (the rest stay in the data dir). */
  driveCacheBytes?: number;
  /** Tests: hold some replies back (see NbdServer.replyDelayMs). */
  replyDelayMs?: (r: { type: number; offset: bigint }) => number;
}

/** The NBD server as `serve`'s caller sees it: in this thread, or in the host adapters' (in-host-adapters.ts). */
export interface NbdFront {
  readonly counters: NbdCounters;
  /** Bring `counters` and the device counters up to date (the host adapters' servers' are fetched). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

export interface Serving {
  emu: ArrayEmulator;
  nbd: NbdFront;
  io: DeviceIo;
  uris: string[];
  /** The running configuration (a reconfiguration through the control API replaces it). */
  running: ArrayConfig;
  /** Stop listening, destage the cache and commit it (with a data dir), stop the array. */
  close(): Promise<void>;
}

export type { DeviceCounters, DeviceIo };

/** The array's devices as NBD exports (BCVs are not exported: they belong to reconfiguration), each request counted. */
export function arrayBackend(
  emu: ArrayEmulator,
  io: DeviceIo = { devices: new Map() },
): NbdBackend & { close(): void } {
  const clients = Array.from(
    { length: emu.model.config.hostAdapters },
    (_, i) => new HostClient(emu.hostLink(i), () => emu.hostLink(i)),
  );
  let turn = 0;
  return clientsBackend(
    {
      clients,
      exportNames: () => emu.model.hostDevices().map((d) => d.id),
      sizeOf: (name) => emu.model.hostDevices().find((d) => d.id === name)?.bytes,
      // With a data dir, a flush also commits the drives to the store before it answers (R4).
      flush: async () => {
        await clients[turn++ % clients.length]!.flush();
      },
    },
    io,
  );
}

/** "host:port" → its parts, or a refusal naming the option. */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new ArrayError('USAGE', `--listen ${s}: expected HOST:PORT (e.g. 127.0.0.1:${DEFAULT_NBD_PORT})`);
  return { host: m[1] ?? m[2]!, port };
}

export async function serve(config: ArrayConfig | undefined, o: ServeOptions): Promise<Serving> {
  const emu = await ArrayEmulator.start(config, {
    mode: o.mode ?? 'threads',
    log: o.log && ((level, text) => (level !== 'info' ? o.log!(`${level}: ${text}`) : undefined)),
    durable: o.dataDir ? { dir: o.dataDir, driveCacheBytes: o.driveCacheBytes } : undefined,
    workerModules: [NBD_IN_HOST_ADAPTER],
  });
  if (o.dataDir) {
    const r = emu.recovery;
    o.log?.(
      r
        ? `data dir ${o.dataDir}: restarted from commit ${r.commit}, ${r.tracks} tracks read in ${r.loadMs} ms`
        : `data dir ${o.dataDir}: new`,
    );
    for (const x of r?.sessions ?? [])
      o.log?.(
        `  ${x.device}: ${x.kind} interrupted ${x.stage === 'switched' ? `after its switch: resumed under the new layout, ${x.tracksLeft} of ${x.tracksTotal} tracks to move` : 'before its switch: started again under the original layout'}`,
      );
  }
  const io: DeviceIo = { devices: new Map() };
  const names = emu.model.hostDevices().map((d) => d.id);
  const listen: Listen[] = [];
  if (o.listen !== undefined || o.socket === undefined)
    listen.push(parseListen(o.listen ?? `127.0.0.1:${DEFAULT_NBD_PORT}`));
  if (o.socket !== undefined) {
    if (existsSync(o.socket)) unlinkSync(o.socket); // a socket left by an earlier run
    listen.push({ path: o.socket });
  }
  let front: NbdFront & { flush(): Promise<void> };
  let ports: Array<number | null>;
  try {
    ({ front, ports } = await startNbd(emu, io, listen, o));
  } catch (err) {
    await emu.stop();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL')
      throw new ArrayError('USAGE', `cannot listen: ${e.message}`);
    throw err;
  }
  const uris: string[] = [];
  listen.forEach((where, i) => {
    if ('path' in where) for (const n of names) uris.push(`nbd+unix:///${n}?socket=${where.path}`);
    else {
      const h = where.host.includes(':') ? `[${where.host}]` : where.host;
      for (const n of names) uris.push(`nbd://${h}:${ports[i] ?? where.port}/${n}`);
    }
  });
  return {
    emu,
    nbd: front,
    io,
    uris,
    running: emu.model.config,
    close: async () => {
      await front.close();
      await front.flush(); // destages the cache, and with a data dir commits it
      await emu.stop();
      if (o.socket !== undefined && existsSync(o.socket)) unlinkSync(o.socket);
    },
  };
}

/**
 * The NBD server: in the host adapters' threads when the array runs in threads (in-host-adapters.ts), in this one
 * when the array does (inline) or a test holds replies back (a function, which cannot cross).
 */
async function startNbd(
  emu: ArrayEmulator,
  io: DeviceIo,
  listen: Listen[],
  o: ServeOptions,
): Promise<{ front: NbdFront & { flush(): Promise<void> }; ports: Array<number | null> }> {
  if ((o.mode ?? 'threads') === 'threads' && !o.replyDelayMs) {
    const { servers, ports } = await NbdInHostAdapters.start(emu, io, listen, o.log);
    const front = {
      counters: servers.counters,
      refresh: () => servers.refresh(),
      close: () => servers.close(),
      flush: () => servers.flushArray(),
    };
    return { front, ports };
  }
  const backend = arrayBackend(emu, io);
  const nbd = new NbdServer(backend, o.log, o.replyDelayMs);
  const ports: Array<number | null> = [];
  try {
    for (const where of listen) {
      const a = (await nbd.listen(where)).address();
      ports.push(typeof a === 'object' && a ? a.port : null);
    }
  } catch (err) {
    await nbd.close();
    backend.close();
    throw err;
  }
  const front = {
    counters: nbd.counters,
    refresh: async () => {},
    close: () => nbd.close(),
    flush: async () => {
      await backend.flush();
      backend.close();
    },
  };
  return { front, ports };
}
