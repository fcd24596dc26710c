// The client's byte stream cut into NBD frames: the client flags, then option requests, then
// transmission requests (a write's payload with it). Pure and incremental: bytes go in as they
// arrive, whole frames come out; nothing is allocated for a length before it is checked, and an
// oversized write payload is dropped as it arrives, never held.
import {
  DISCARD_LIMIT_BYTES,
  IHAVEOPT,
  MAX_OPTION_BYTES,
  MAX_PAYLOAD_BYTES,
  REQUEST_HEADER_BYTES,
  REQUEST_MAGIC,
  CMD,
} from './protocol.ts';
import { assert } from '../../shared/errors/assert.ts';

/** Offsets from 2^53 up have a high half of at least this: a number no longer holds them exactly. */
const OFFSET_HI_INEXACT = 2 ** 21;

/**
 * A transmission request. Its cookie and offset are kept as two 32-bit halves each: the cookie is
 * only echoed and the offset used as a number, so no BigInt is made a request; `cookie` and
 * `offset` give them as BigInts (messages, tests).
 */
export class RequestFrame {
  readonly t = 'request' as const;
  /** A write's payload (absent for other commands, and for a write whose payload was too big and dropped). */
  payload?: Uint8Array = undefined;
  /** The write's payload was over MAX_PAYLOAD_BYTES: read off the socket and dropped. */
  oversize?: boolean = undefined;

  readonly flags: number;
  readonly type: number;
  readonly cookieHi: number;
  readonly cookieLo: number;
  readonly offsetHi: number;
  readonly offsetLo: number;
  readonly length: number;

  /** The request in header `h` (REQUEST_HEADER_BYTES, its magic checked). */
  constructor(h: Buffer) {
    this.flags = h.readUInt16BE(4);
    this.type = h.readUInt16BE(6);
    this.cookieHi = h.readUInt32BE(8);
    this.cookieLo = h.readUInt32BE(12);
    this.offsetHi = h.readUInt32BE(16);
    this.offsetLo = h.readUInt32BE(20);
    this.length = h.readUInt32BE(24);
  }

  get cookie(): bigint {
    return (BigInt(this.cookieHi) << 32n) | BigInt(this.cookieLo);
  }

  get offset(): bigint {
    return (BigInt(this.offsetHi) << 32n) | BigInt(this.offsetLo);
  }

  /** The offset as a number: exact unless `offsetInexact` (then past the end of any device). */
  get offsetBytes(): number {
    return this.offsetHi * 2 ** 32 + this.offsetLo;
  }

  /** The offset is 2^53 or more: past what a number holds exactly. */
  get offsetInexact(): boolean {
    return this.offsetHi >= OFFSET_HI_INEXACT;
  }
}

export type Frame =
  | { t: 'client-flags'; flags: number }
  | { t: 'option'; option: number; data: Buffer }
  | RequestFrame
  /** The stream cannot be followed any further: the connection must close (no reply). */
  | { t: 'fatal'; reason: string };

type Phase = 'client-flags' | 'options' | 'transmission' | 'dead';

export class FrameReader {
  /**
   * `payloadBuffer` gives the buffer each kept write payload is assembled in (exactly its length; a
   * pool's, say): the payload is copied into it as its bytes arrive, so no payload is a view of a
   * chunk the socket may read into again. By default a new buffer each.
   */
  constructor(private readonly payloadBuffer: (lengthBytes: number) => Uint8Array = (n) => new Uint8Array(n)) {}

  private chunks: Buffer[] = [];
  private buffered = 0;
  private phase: Phase = 'client-flags';
  /** A write header whose payload is still arriving (kept or dropped). */
  private pending?: Extract<Frame, { t: 'request' }>;
  /** The pending write's payload buffer, filled up to `assembledBytes` as bytes arrive. */
  private assembling?: Uint8Array;
  private assembledBytes = 0;
  private dropLeft = 0;

  /** The handshake is over: what follows are transmission requests. */
  startTransmission(): void {
    this.phase = 'transmission';
  }

  /** After the client flags the handshake's options follow (the caller checks the flags first). */
  startOptions(): void {
    this.phase = 'options';
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Copy what is buffered into memory of the reader's own: the chunks pushed may be views of a
   * buffer the socket reads into again (server.ts). A write's payload is copied straight to its
   * buffer as it arrives, so what is left here is a header's start, or whole frames held back while
   * the connection has too much in flight.
   */
  retain(): void {
    if (this.buffered === 0) return;
    this.chunks = [Buffer.concat(this.chunks, this.buffered)];
  }

  push(chunk: Buffer): void {
    if (this.phase === 'dead' || chunk.length === 0) return;
    if (this.dropLeft > 0) {
      const n = Math.min(this.dropLeft, chunk.length);
      this.dropLeft -= n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next whole frame, or undefined until more bytes arrive. */
  next(): Frame | undefined {
    if (this.phase === 'dead') return undefined;
    if (this.pending) return this.finishWrite();
    if (this.phase === 'client-flags') {
      if (this.buffered < 4) return undefined;
      return { t: 'client-flags', flags: this.take(4).readUInt32BE(0) };
    }
    if (this.phase === 'options') return this.option();
    return this.request();
  }

  private option(): Frame | undefined {
    if (this.buffered < 16) return undefined;
    const head = this.peek(16);
    if (head.readBigUInt64BE(0) !== IHAVEOPT) return this.fatal('an option without the IHAVEOPT magic');
    const length = head.readUInt32BE(12);
    if (length > MAX_OPTION_BYTES) return this.fatal(`option data of ${length} bytes (at most ${MAX_OPTION_BYTES})`);
    if (this.buffered < 16 + length) return undefined;
    this.take(16);
    return { t: 'option', option: head.readUInt32BE(8), data: this.take(length) };
  }

  private request(): Frame | undefined {
    if (this.buffered < REQUEST_HEADER_BYTES) return undefined;
    const h = this.take(REQUEST_HEADER_BYTES);
    if (h.readUInt32BE(0) !== REQUEST_MAGIC)
      return this.fatal(`a request without the request magic (0x${h.readUInt32BE(0).toString(16)})`);
    const frame = new RequestFrame(h);
    if (frame.type !== CMD.WRITE) return frame;
    if (frame.length > DISCARD_LIMIT_BYTES)
      return this.fatal(
        `a write of ${frame.length} bytes (more than ${DISCARD_LIMIT_BYTES} is not read off the socket)`,
      );
    this.pending = frame;
    return this.finishWrite();
  }

  /** A write's payload: kept when it is at most MAX_PAYLOAD_BYTES, dropped as it arrives when it is more. */
  private finishWrite(): Frame | undefined {
    const w = this.pending!;
    if (w.length <= MAX_PAYLOAD_BYTES) {
      return this.assemble(w);
    }
    // Oversize: drop what is buffered, and what is still to come as it arrives.
    if (!w.oversize) {
      w.oversize = true;
      const now = Math.min(this.buffered, w.length);
      this.take(now);
      this.dropLeft = w.length - now;
    }
    if (this.dropLeft > 0) return undefined;
    this.pending = undefined;
    return w;
  }

  /** A kept write's payload copied into its buffer as its bytes arrive; the frame once it is whole. */
  private assemble(w: Extract<Frame, { t: 'request' }>): Frame | undefined {
    const dst = (this.assembling ??= this.payloadBuffer(w.length));
    assert(dst.length === w.length, () => `nbd frame: a ${w.length}-byte write given a ${dst.length}-byte buffer`);
    const n = Math.min(this.buffered, w.length - this.assembledBytes);
    this.takeInto(dst, this.assembledBytes, n);
    this.assembledBytes += n;
    if (this.assembledBytes < w.length) return undefined;
    this.pending = undefined;
    this.assembling = undefined;
    this.assembledBytes = 0;
    w.payload = dst; // the frame is the reader's own until returned
    return w;
  }

  private fatal(reason: string): Frame {
    this.phase = 'dead';
    this.chunks = [];
    this.buffered = 0;
    this.assembling = undefined;
    return { t: 'fatal', reason };
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.joinFront(n);
    return this.chunks[0]!.subarray(0, n);
  }

  /** Join the first chunks into one of at least `n` bytes (only those: what is buffered behind them stays as it is). */
  private joinFront(n: number): void {
    let k = 0;
    let bytes = 0;
    while (bytes < n) bytes += this.chunks[k++]!.length;
    this.chunks.splice(0, k, Buffer.concat(this.chunks.slice(0, k), bytes));
  }

  /** The next `bytes` bytes (all buffered), copied into `dst` from `start`. */
  private takeInto(dst: Uint8Array, start: number, bytes: number): void {
    for (let at = start; at < start + bytes;) {
      const first = this.chunks[0]!;
      const n = Math.min(first.length, start + bytes - at);
      dst.set(n === first.length ? first : first.subarray(0, n), at);
      at += n;
      if (n === first.length) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    }
    this.buffered -= bytes;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    if (this.chunks[0]!.length < n) this.joinFront(n);
    const first = this.chunks[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}
