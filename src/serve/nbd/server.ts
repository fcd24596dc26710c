// An NBD server: every export a logical device of the array. Fixed newstyle handshake (options
// EXPORT_NAME, ABORT, LIST, INFO, GO, STRUCTURED_REPLY), then transmission: requests on a
// connection run concurrently and are answered as each finishes, by cookie; a bounded number of
// requests and bytes in flight per connection (past it the socket is paused: back-pressure, not
// buffering). Bad input is answered or ends that connection alone; nothing else is touched.
import { BufferPool } from './buffer-pool.ts';
import { createServer, type Server, type Socket } from 'node:net';
import { readingInto, SOCKET_READ_BYTES } from './socket-read.ts';
import { FrameReader, type Frame } from './frame.ts';
import { assert } from '../../shared/errors/assert.ts';
import {
  CFLAG,
  errnoOf,
  CHUNK,
  CLIENT_FLAGS_KNOWN,
  CMD,
  CMD_NAMES,
  EXPORT_FLAGS,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  MAX_PAYLOAD_BYTES,
  MIN_BLOCK_BYTES,
  NBD_ERR,
  NBD_MAGIC,
  OPT,
  OPTION_REPLY_MAGIC,
  PREFERRED_BLOCK_BYTES,
  REP,
  SIMPLE_REPLY_MAGIC,
  allowedFlags,
  chunkHeader,
  writeHalves,
  einval,
  replyKey,
  parseInfoRequest,
} from './protocol.ts';

/** Data lent by the backend: `release` once the socket has sent it. */
export interface Leased {
  data: Uint8Array;
  release: () => void;
}

/** What the server serves: the array's logical devices, by name. */
export interface NbdBackend {
  exportNames(): string[];
  /** Bytes of export `name` now, or undefined if there is none. */
  sizeOf(name: string): number | undefined;
  read(name: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array>;
  /** A read whose data is lent until `release` (it is sent from where it lies); `read` if absent. */
  readLeased?(name: string, offsetBytes: number, lengthBytes: number): Promise<Leased>;
  write(name: string, offsetBytes: number, data: Uint8Array): Promise<void>;
  /**
   * A read served in this turn (the host adapter's fast path, a cache hit): its lent data, an Error
   * if it failed there, or undefined — then `readLeased` or `read` (over the link). Absent: never at once.
   */
  readNow?(name: string, offsetBytes: number, lengthBytes: number): Leased | Error | undefined;
  /** A write served in this turn: true once its data is in the cache (copied), an Error, or undefined (then `write`, over the link). */
  writeNow?(name: string, offsetBytes: number, data: Uint8Array): true | Error | undefined;
  /** Every write acknowledged so far is on the drives when this resolves. */
  flush(): Promise<void>;
}

/** Requests one connection keeps in flight before it stops reading its socket. */
export const CONNECTION_INFLIGHT_REQUESTS = 128;
/** Payload bytes (reads asked for and writes received) one connection keeps in flight before it stops reading. */
export const CONNECTION_INFLIGHT_BYTES = 64 * 1024 * 1024;
/** Zeros written per request of a WRITE_ZEROES or TRIM. */
const ZERO_CHUNK_BYTES = 1024 * 1024;

export interface NbdCounters {
  connections: number;
  connectionsOpen: number;
  /** Requests by command and result ("read ok", "write EINVAL", …). */
  requests: Map<string, number>;
}

type Request = Extract<Frame, { t: 'request' }>;

export class NbdServer {
  readonly counters: NbdCounters = { connections: 0, connectionsOpen: 0, requests: new Map() };
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly backend: NbdBackend,
    private readonly log: (line: string) => void = () => {},
    /** Tests: hold a request's reply back this long (ms) after it is served, to force replies out of order. */
    readonly replyDelayMs?: (r: { type: number; offset: bigint }) => number,
  ) {}

  /** Listen on a TCP address or a Unix socket path; resolves once listening. */
  async listen(where: { host: string; port: number } | { path: string }): Promise<Server> {
    const server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen('path' in where ? where.path : { host: where.host, port: where.port }, () => resolve());
    });
    return server;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  count(key: string): void {
    this.counters.requests.set(key, (this.counters.requests.get(key) ?? 0) + 1);
  }

  private accept(accepted: Socket): void {
    const read = Buffer.allocUnsafe(SOCKET_READ_BYTES);
    // (conn is made below, before the socket's first read: reads start on a later turn.)
    const socket = readingInto(accepted, read, (chunk) => conn.received(chunk));
    const conn = new Connection(socket, this.backend, this, this.log);
    socket.setNoDelay(true);
    this.sockets.add(socket);
    this.counters.connections++;
    this.counters.connectionsOpen++;
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.counters.connectionsOpen--;
    });
    conn.start();
  }
}

class Connection {
  /** Write payloads are assembled in buffers of this pool (given back once written): none made a write. */
  private readonly payloads = new BufferPool();
  private readonly reader = new FrameReader((n) => this.payloads.take(n));
  private structured = false;
  private noZeroes = false;
  private exportName?: string;
  private inflight = 0;
  private inflightBytes = 0;
  private closing = false;
  /** The socket is corked until the end of this tick (replies of one turn in one write). */
  private corked = false;

  constructor(
    private readonly socket: Socket,
    private readonly backend: NbdBackend,
    private readonly server: NbdServer,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    const hello = Buffer.alloc(18);
    hello.writeBigUInt64BE(NBD_MAGIC, 0);
    hello.writeBigUInt64BE(IHAVEOPT, 8);
    hello.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
    this.socket.write(hello);
    this.socket.on('error', () => this.socket.destroy());
  }

  /** Bytes read off the socket: a view of its read buffer, read into again once this returns. */
  received(chunk: Buffer): void {
    this.reader.push(chunk);
    this.pump();
    this.reader.retain();
  }

  /** Take frames while there are whole ones and room in flight. */
  private pump(): void {
    while (!this.closing && !this.overLimit()) {
      const f = this.reader.next();
      if (!f) break;
      this.onFrame(f);
    }
    if (this.overLimit()) this.socket.pause();
    else if (this.socket.isPaused()) this.socket.resume();
  }

  private overLimit(): boolean {
    return this.inflight >= CONNECTION_INFLIGHT_REQUESTS || this.inflightBytes >= CONNECTION_INFLIGHT_BYTES;
  }

  private onFrame(f: Frame): void {
    if (f.t === 'fatal') return this.drop(f.reason);
    if (f.t === 'client-flags') {
      if (f.flags & ~CLIENT_FLAGS_KNOWN) return this.drop(`unknown client flags 0x${f.flags.toString(16)}`);
      this.noZeroes = (f.flags & FLAG_NO_ZEROES) !== 0;
      this.reader.startOptions();
      return;
    }
    if (f.t === 'option') return this.onOption(f.option, f.data);
    this.onRequest(f);
  }

  private drop(reason: string): void {
    this.log(`nbd: closing a connection: ${reason}`);
    this.closing = true;
    this.socket.destroy();
  }

  // ---- handshake ----------------------------------------------------------------------------

  private optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): void {
    const h = Buffer.alloc(20);
    h.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(type, 12);
    h.writeUInt32BE(data.length, 16);
    this.socket.write(data.length ? Buffer.concat([h, data]) : h);
  }

  private onOption(option: number, data: Buffer): void {
    switch (option) {
      case OPT.EXPORT_NAME:
        return this.exportNameOption(data.toString('utf8'));
      case OPT.ABORT:
        this.optionReply(option, REP.ACK);
        this.closing = true;
        this.socket.end();
        return;
      case OPT.LIST:
        return this.list(data);
      case OPT.STRUCTURED_REPLY:
        if (data.length !== 0) return this.optionReply(option, REP.ERR_INVALID);
        this.structured = true;
        return this.optionReply(option, REP.ACK);
      case OPT.INFO:
      case OPT.GO:
        return this.infoOrGo(option, data);
      default:
        return this.optionReply(option, REP.ERR_UNSUP);
    }
  }

  /** NBD_OPT_EXPORT_NAME: no error reply exists, so an unknown export closes the connection. */
  private exportNameOption(name: string): void {
    const size = this.backend.sizeOf(name);
    if (size === undefined) return this.drop(`NBD_OPT_EXPORT_NAME for unknown export "${name}"`);
    const out = Buffer.alloc(this.noZeroes ? 10 : 134);
    out.writeBigUInt64BE(BigInt(size), 0);
    out.writeUInt16BE(EXPORT_FLAGS, 8);
    this.socket.write(out);
    this.enter(name);
  }

  private list(data: Buffer): void {
    if (data.length !== 0) return this.optionReply(OPT.LIST, REP.ERR_INVALID);
    for (const name of this.backend.exportNames()) {
      const n = Buffer.from(name, 'utf8');
      const d = Buffer.alloc(4 + n.length);
      d.writeUInt32BE(n.length, 0);
      n.copy(d, 4);
      this.optionReply(OPT.LIST, REP.SERVER, d);
    }
    this.optionReply(OPT.LIST, REP.ACK);
  }

  private infoOrGo(option: number, data: Buffer): void {
    const parsed = parseInfoRequest(data);
    if (!parsed) return this.optionReply(option, REP.ERR_INVALID);
    const size = this.backend.sizeOf(parsed.name);
    if (size === undefined) return this.optionReply(option, REP.ERR_UNKNOWN);
    const exp = Buffer.alloc(12);
    exp.writeUInt16BE(INFO.EXPORT, 0);
    exp.writeBigUInt64BE(BigInt(size), 2);
    exp.writeUInt16BE(EXPORT_FLAGS, 10);
    this.optionReply(option, REP.INFO, exp);
    if (parsed.infos.includes(INFO.NAME))
      this.optionReply(option, REP.INFO, Buffer.concat([u16(INFO.NAME), Buffer.from(parsed.name, 'utf8')]));
    if (parsed.infos.includes(INFO.BLOCK_SIZE) || option === OPT.GO) {
      const b = Buffer.alloc(14);
      b.writeUInt16BE(INFO.BLOCK_SIZE, 0);
      b.writeUInt32BE(MIN_BLOCK_BYTES, 2);
      b.writeUInt32BE(PREFERRED_BLOCK_BYTES, 6);
      b.writeUInt32BE(MAX_PAYLOAD_BYTES, 10);
      this.optionReply(option, REP.INFO, b);
    }
    this.optionReply(option, REP.ACK);
    if (option === OPT.GO) this.enter(parsed.name);
  }

  private enter(name: string): void {
    this.exportName = name;
    this.reader.startTransmission();
  }

  // ---- transmission -------------------------------------------------------------------------

  private onRequest(r: Request): void {
    if (r.type === CMD.DISC) {
      this.closing = true;
      this.finishThenClose();
      return;
    }
    const refusal = this.check(r);
    if (refusal !== undefined) return this.reply(r, refusal.errno, undefined, refusal.why);
    if (this.servedNow(r)) return;
    const bytes = r.type === CMD.READ || r.type === CMD.WRITE ? r.length : 0;
    this.inflight++;
    this.inflightBytes += bytes;
    this.serve(r)
      .then(async (data) => {
        const hold = this.server.replyDelayMs?.(r) ?? 0;
        if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold));
        return data;
      })
      .then(
        (data) => this.reply(r, 0, data),
        (err: unknown) => this.reply(r, errnoOf(err), undefined, err instanceof Error ? err.message : String(err)),
      )
      .finally(() => {
        this.inflight--;
        this.inflightBytes -= bytes;
        assert(this.inflight >= 0 && this.inflightBytes >= 0, () => `nbd: ${this.inflight} requests in flight`);
        if (this.closing) this.finishThenClose();
        else this.pump();
      });
  }

  /**
   * A read or write the host adapter's fast path serves in this turn (a cache hit), answered at
   * once: no promise, nothing left in flight. The one place a read or a write (not FUA: its flush
   * waits) tries the fast path; what it declines goes over the link (serve).
   */
  private servedNow(r: Request): boolean {
    const b = this.backend;
    const name = this.exportName!;
    const got =
      r.type === CMD.READ
        ? b.readNow?.(name, r.offsetBytes, r.length)
        : r.type === CMD.WRITE && !(r.flags & CFLAG.FUA)
          ? b.writeNow?.(name, r.offsetBytes, r.payload!)
          : undefined;
    if (got === undefined) return false;
    if (got instanceof Error) this.reply(r, errnoOf(got), undefined, got.message);
    else if (got === true) {
      this.payloads.give(r.payload!); // copied into its slot: the connection's again
      this.reply(r, 0, undefined);
    } else this.reply(r, 0, got);
    return true;
  }

  /** A write the fast path takes if it can (a FUA write, a chunk of zeros), else over the link. */
  private async writeAny(name: string, offset: number, data: Uint8Array): Promise<void> {
    const got = this.backend.writeNow?.(name, offset, data);
    if (got instanceof Error) throw got;
    if (got === undefined) await this.backend.write(name, offset, data);
  }

  /** Why request `r` is refused before it runs (errno and a message), or undefined. */
  private check(r: Request): { errno: number; why: string } | undefined {
    const allowed = allowedFlags(r.type, this.structured);
    if (allowed === undefined) return einval(`unknown command ${r.type}`);
    if (r.flags & ~allowed) return einval(`flags 0x${r.flags.toString(16)} not allowed on ${CMD_NAMES[r.type]}`);
    if (r.type === CMD.FLUSH)
      return r.offsetBytes !== 0 || r.length !== 0 ? einval('flush with a non-zero offset or length') : undefined;
    if (r.oversize) return einval(`write of ${r.length} bytes, more than the ${MAX_PAYLOAD_BYTES} advertised`);
    if (r.type === CMD.READ && r.length > MAX_PAYLOAD_BYTES)
      return einval(`read of ${r.length} bytes, more than the ${MAX_PAYLOAD_BYTES} advertised`);
    if (r.length === 0) return einval(`${CMD_NAMES[r.type]} of 0 bytes`);
    // In numbers, not BigInts (no object a request); an offset past 2^53 is past any device's end.
    const size = this.backend.sizeOf(this.exportName!) ?? 0;
    if (r.offsetInexact || r.offsetBytes + r.length > size) {
      const why = `${CMD_NAMES[r.type]} of bytes ${r.offset}..${r.offset + BigInt(r.length) - 1n} past the end (${size} bytes)`;
      return r.type === CMD.WRITE ? { errno: NBD_ERR.ENOSPC, why } : einval(why);
    }
    return undefined;
  }

  private async serve(r: Request): Promise<Uint8Array | Leased | undefined> {
    const name = this.exportName!;
    const offset = r.offsetBytes;
    switch (r.type) {
      case CMD.READ:
        return this.backend.readLeased
          ? this.backend.readLeased(name, offset, r.length)
          : this.backend.read(name, offset, r.length);
      case CMD.WRITE:
        // A FUA write has not tried the fast path (servedNow); any other was just declined there.
        if (r.flags & CFLAG.FUA) await this.writeAny(name, offset, r.payload!);
        else await this.backend.write(name, offset, r.payload!);
        // Written: the host adapter has copied it and holds it no more. (Not after a failure: one that
        // timed out may still be held by the adapter, to be copied later; the collector takes it then.)
        this.payloads.give(r.payload!);
        break;
      case CMD.FLUSH:
        await this.backend.flush();
        return undefined;
      case CMD.CACHE:
        await this.backend.read(name, offset, r.length); // brought into the array's cache
        return undefined;
      case CMD.TRIM:
      case CMD.WRITE_ZEROES:
        // Trimmed blocks read back as zeros: the simplest contract, and what a thin device does.
        for (let at = 0; at < r.length; at += ZERO_CHUNK_BYTES)
          await this.writeAny(name, offset + at, zeros(Math.min(ZERO_CHUNK_BYTES, r.length - at)));
        break;
    }
    if (r.flags & CFLAG.FUA) await this.backend.flush();
    return undefined;
  }

  /**
   * Replies of one turn leave in one write (the socket is corked until the next tick); lent data is
   * given back once the socket has sent it (or at once if the socket is gone).
   */
  private reply(r: Request, errno: number, answer?: Uint8Array | Leased, why?: string): void {
    const key = replyKey(r.type, errno);
    this.server.count(key);
    const data = answer instanceof Uint8Array ? answer : answer?.data;
    const release = answer instanceof Uint8Array ? undefined : answer?.release;
    // A read answered with other than its length would shift every reply after it on the stream.
    assert(
      errno !== 0 || r.type !== CMD.READ || data?.length === r.length,
      () => `nbd: a read of ${r.length} bytes answered with ${data?.length ?? 'no'} bytes`,
    );
    if (this.socket.destroyed) return release?.();
    if (errno !== 0 && why) this.log(`nbd: ${key}: ${why}`);
    this.corkForTurn();
    this.writeReply(r, errno, data, why, release);
  }

  private corkForTurn(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => {
      this.corked = false;
      this.socket.uncork();
    });
  }

  private writeReply(
    r: Request,
    errno: number,
    data: Uint8Array | undefined,
    why?: string,
    release?: () => void,
  ): void {
    const sent = release ? () => release() : undefined;
    // Reply headers come from Node's pool (allocUnsafe, every byte written): not an ArrayBuffer of their own a reply.
    if (!this.structured) {
      const h = Buffer.allocUnsafe(16);
      h.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
      h.writeUInt32BE(errno, 4);
      writeHalves(h, 8, r.cookieHi, r.cookieLo);
      this.socket.write(h);
      if (errno === 0 && data) this.socket.write(data, sent);
      else sent?.();
    } else if (errno !== 0) {
      const msg = Buffer.from((why ?? '').slice(0, 4096), 'utf8');
      const payload = Buffer.alloc(6 + msg.length);
      payload.writeUInt32BE(errno, 0);
      payload.writeUInt16BE(msg.length, 4);
      msg.copy(payload, 6);
      this.socket.write(Buffer.concat([chunkHeader(r, CHUNK.ERROR, payload.length), payload]));
      sent?.();
    } else if (data) {
      const h = chunkHeader(r, CHUNK.OFFSET_DATA, 8 + data.length, 8);
      writeHalves(h, 20, r.offsetHi, r.offsetLo);
      this.socket.write(h);
      this.socket.write(data, sent);
    } else {
      this.socket.write(chunkHeader(r, CHUNK.NONE, 0));
      sent?.();
    }
  }

  /** NBD_CMD_DISC: answer what is in flight, then close. */
  private finishThenClose(): void {
    if (this.inflight === 0) this.socket.end();
  }
}

const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return b;
};

let zeroBuffer = Buffer.alloc(0);
function zeros(n: number): Buffer {
  if (zeroBuffer.length < n) zeroBuffer = Buffer.alloc(ZERO_CHUNK_BYTES);
  return zeroBuffer.subarray(0, n);
}
