// A bare NBD client for the tests: the handshake by hand, then requests with cookies and their
// replies (simple or structured), so every byte the server sends can be checked.
import { connect, type Socket } from 'node:net';

export class RawNbd {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async open(where: { port: number } | { path: string }): Promise<RawNbd> {
    const s = 'path' in where ? connect(where.path) : connect(where.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    return new RawNbd(s);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The next n bytes from the server; rejects if the connection closes first. */
  async read(n: number, ms = 10_000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.buf.length < n) {
      if (this.closed) throw new Error(`connection closed with ${this.buf.length} of ${n} bytes`);
      if (Date.now() > deadline) throw new Error(`no ${n} bytes within ${ms} ms`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Resolves true if the server closes the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  /** Server greeting, then the client flags. */
  async hello(clientFlags = 3): Promise<{ handshakeFlags: number }> {
    const g = await this.read(18);
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(clientFlags, 0);
    this.write(flags);
    return { handshakeFlags: g.readUInt16BE(16) };
  }

  sendOption(option: number, data: Buffer = Buffer.alloc(0)): void {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(0x49484156454f5054n, 0);
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(data.length, 12);
    this.write(Buffer.concat([h, data]));
  }

  async optionReply(): Promise<{ option: number; type: number; data: Buffer }> {
    const h = await this.read(20);
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: await this.read(h.readUInt32BE(16)) };
  }

  /** NBD_OPT_GO for `name`, asking for `infos`: the replies up to the ACK (or the error). */
  async go(name: string, infos: number[] = [3], option = 7): Promise<Array<{ type: number; data: Buffer }>> {
    const n = Buffer.from(name);
    const d = Buffer.alloc(6 + n.length + 2 * infos.length);
    d.writeUInt32BE(n.length, 0);
    n.copy(d, 4);
    d.writeUInt16BE(infos.length, 4 + n.length);
    infos.forEach((t, i) => d.writeUInt16BE(t, 6 + n.length + 2 * i));
    this.sendOption(option, d);
    const out: Array<{ type: number; data: Buffer }> = [];
    for (;;) {
      const r = await this.optionReply();
      out.push(r);
      if (r.type === 1 || r.type >= 2 ** 31) return out;
    }
  }

  request(type: number, cookie: bigint, offset: bigint, length: number, flags = 0, payload?: Buffer): void {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(0x25609513, 0);
    h.writeUInt16BE(flags, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(cookie, 8);
    h.writeBigUInt64BE(offset, 16);
    h.writeUInt32BE(length, 24);
    this.write(payload ? Buffer.concat([h, payload]) : h);
  }

  /** A simple reply; `dataBytes` of data follow it when it is a successful read. */
  async simpleReply(dataBytes = 0): Promise<{ error: number; cookie: bigint; data?: Buffer }> {
    const h = await this.read(16);
    if (h.readUInt32BE(0) !== 0x67446698)
      throw new Error(`not a simple reply: magic 0x${h.readUInt32BE(0).toString(16)}`);
    const error = h.readUInt32BE(4);
    const cookie = h.readBigUInt64BE(8);
    return { error, cookie, data: error === 0 && dataBytes > 0 ? await this.read(dataBytes) : undefined };
  }

  /** One structured reply chunk. */
  async chunk(): Promise<{ flags: number; type: number; cookie: bigint; payload: Buffer }> {
    const h = await this.read(20);
    if (h.readUInt32BE(0) !== 0x668e33ef)
      throw new Error(`not a structured reply: magic 0x${h.readUInt32BE(0).toString(16)}`);
    return {
      flags: h.readUInt16BE(4),
      type: h.readUInt16BE(6),
      cookie: h.readBigUInt64BE(8),
      payload: await this.read(h.readUInt32BE(16)),
    };
  }

  close(): void {
    this.socket.destroy();
  }
}
