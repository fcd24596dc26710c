// `arrayemu serve`: the array started, every non-BCV logical device an NBD export, on a TCP
// address and/or a Unix socket. Each connection's requests go to the host adapters in turn.
import { existsSync, unlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { ArrayConfig } from '../../shared/config.ts';
import { ArrayError } from '../../shared/errors.ts';
import { ArrayEmulator } from '../../runtime/emulator.ts';
import { HostClient } from '../../host/client.ts';
import { NbdServer, type NbdBackend } from './server.ts';

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
  /** Tests: hold some replies back (see NbdServer.replyDelayMs). */
  replyDelayMs?: (r: { type: number; offset: bigint }) => number;
}

export interface Serving {
  emu: ArrayEmulator;
  nbd: NbdServer;
  io: DeviceIo;
  uris: string[];
  /** The running configuration (a reconfiguration through the control API replaces it). */
  running: ArrayConfig;
  /** Stop listening, destage the cache and commit it (with a data dir), stop the array. */
  close(): Promise<void>;
}

/** Per logical device, what its hosts did (node_exporter's disk counters): counted as host I/O enters the array. */
export interface DeviceCounters {
  reads: number;
  readBytes: number;
  readMs: number;
  writes: number;
  writtenBytes: number;
  writeMs: number;
  inFlight: number;
}

export interface DeviceIo {
  devices: Map<string, DeviceCounters>;
}

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
  const client = () => clients[turn++ % clients.length]!;
  const counted = async <T>(name: string, write: boolean, bytes: number, op: () => Promise<T>): Promise<T> => {
    let c = io.devices.get(name);
    if (!c)
      io.devices.set(
        name,
        (c = { reads: 0, readBytes: 0, readMs: 0, writes: 0, writtenBytes: 0, writeMs: 0, inFlight: 0 }),
      );
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
      if (write) c.writeMs += performance.now() - t0;
      else c.readMs += performance.now() - t0;
    }
  };
  return {
    exportNames: () => emu.model.hostDevices().map((d) => d.id),
    sizeOf: (name) => emu.model.hostDevices().find((d) => d.id === name)?.bytes,
    read: (name, offset, length) => counted(name, false, length, () => client().read(name, offset, length)),
    readLeased: (name, offset, length) => counted(name, false, length, () => client().readLeased(name, offset, length)),
    write: (name, offset, data) => counted(name, true, data.length, () => client().write(name, offset, data)),
    // With a data dir, a flush also commits the drives to the store before it answers (R4).
    flush: async () => {
      await emu.flushDurable(() => client().flush());
    },
    // The clients' timers and links hold the array (its reconnect reaches the emulator): closed, it can be freed.
    close: () => clients.forEach((c) => c.close()),
  };
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
    durable: o.dataDir ? { dir: o.dataDir } : undefined,
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
  const backend = arrayBackend(emu, io);
  const nbd = new NbdServer(backend, o.log, o.replyDelayMs);
  const uris: string[] = [];
  const names = emu.model.hostDevices().map((d) => d.id);
  try {
    if (o.listen !== undefined || o.socket === undefined) {
      const { host, port } = parseListen(o.listen ?? `127.0.0.1:${DEFAULT_NBD_PORT}`);
      const server = await nbd.listen({ host, port });
      const bound = server.address();
      const actual = typeof bound === 'object' && bound ? bound.port : port;
      const h = host.includes(':') ? `[${host}]` : host;
      for (const n of names) uris.push(`nbd://${h}:${actual}/${n}`);
    }
    if (o.socket !== undefined) {
      if (existsSync(o.socket)) unlinkSync(o.socket); // a socket left by an earlier run
      await nbd.listen({ path: o.socket });
      for (const n of names) uris.push(`nbd+unix:///${n}?socket=${o.socket}`);
    }
  } catch (err) {
    await nbd.close();
    backend.close();
    await emu.stop();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL')
      throw new ArrayError('USAGE', `cannot listen: ${e.message}`);
    throw err;
  }
  const serving: Serving = {
    emu,
    nbd,
    io,
    uris,
    running: emu.model.config,
    close: async () => {
      await nbd.close();
      await backend.flush(); // destages the cache, and with a data dir commits it
      backend.close();
      await emu.stop();
      if (o.socket !== undefined && existsSync(o.socket)) unlinkSync(o.socket);
    },
  };
  return serving;
}
