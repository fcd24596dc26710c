// The NBD server byte by byte: the handshake's options, transmission with out-of-order replies,
// structured replies, and every bad input of the issue answered (or that connection alone closed)
// while other connections and the array carry on. Plus the frame parser under fast-check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/shared/config/config.ts';
import { serve, type Serving } from '../../src/serve/serve.ts';
import { FrameReader } from '../../src/serve/nbd/frame.ts';
import { MAX_PAYLOAD_BYTES } from '../../src/serve/nbd/protocol.ts';
import { RawNbd } from '../support/nbd-client.ts';

const TRACK = 65536;
const config = parseConfig({
  geometry: { trackBytes: TRACK, headsPerCylinder: 4 },
  cache: { slots: 256 },
  hostAdapters: 2,
  drives: [0, 1, 2, 3].map((i) => ({ id: `d${i}`, cylinders: 16 })),
  diskAdapters: [
    { id: 'DA0', drives: ['d0', 'd1'] },
    { id: 'DA1', drives: ['d2', 'd3'] },
  ],
  devices: [
    {
      id: 'LD1',
      layout: 'striped',
      cylinders: 32,
      stripeCylinders: 1,
      members: ['d0', 'd1'].map((drive) => ({ drive, startCylinder: 0 })),
    },
  ],
});
const SIZE = 32 * 4 * TRACK; // 8 MiB

let s: Serving;
let sock: string;
beforeAll(async () => {
  sock = join(mkdtempSync(join(tmpdir(), 'arrayemu-nbd-')), 'nbd.sock');
  s = await serve(config, { listen: '127.0.0.1:0', socket: sock, mode: 'inline' });
});
afterAll(async () => s?.close());

const port = () => Number(new URL(s.uris[0]!).port);

/** A connection in transmission on LD1 (simple replies unless `structured`). */
async function session(structured = false): Promise<RawNbd> {
  const c = await RawNbd.open({ path: sock });
  await c.hello();
  if (structured) {
    c.sendOption(8);
    expect((await c.optionReply()).type).toBe(1);
  }
  const r = await c.go('LD1');
  expect(r.at(-1)!.type).toBe(1);
  return c;
}

const pattern = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('nbd handshake', () => {
  it('greets fixed newstyle with NO_ZEROES; LIST names the exports; an unknown option is ERR_UNSUP and the next still parses', async () => {
    const c = await RawNbd.open({ port: port() });
    expect((await c.hello()).handshakeFlags).toBe(3);
    c.sendOption(99, Buffer.from('whatever'));
    expect((await c.optionReply()).type).toBe(2 ** 31 + 1);
    c.sendOption(3);
    const server = await c.optionReply();
    expect(server.type).toBe(2);
    expect(server.data.subarray(4).toString()).toBe('LD1');
    expect((await c.optionReply()).type).toBe(1);
    c.sendOption(3, Buffer.from('x')); // LIST takes no data
    expect((await c.optionReply()).type).toBe(2 ** 31 + 3);
    c.close();
  });

  it('INFO: the export (size, flags), its name and block sizes 512 / 4096 / 32 MiB; an unknown export is ERR_UNKNOWN', async () => {
    const c = await RawNbd.open({ path: sock });
    await c.hello();
    expect((await c.go('nope', [], 6)).at(-1)!.type).toBe(2 ** 31 + 6);
    const replies = await c.go('LD1', [1, 3], 6);
    const info = (t: number) => replies.find((r) => r.type === 3 && r.data.readUInt16BE(0) === t)!.data;
    expect(Number(info(0).readBigUInt64BE(2))).toBe(SIZE);
    const flags = info(0).readUInt16BE(10);
    for (const bit of [0, 2, 3, 5, 6, 7, 8, 10]) expect(flags & (1 << bit), `flag bit ${bit}`).toBeTruthy();
    expect(info(1).subarray(2).toString()).toBe('LD1');
    expect([info(3).readUInt32BE(2), info(3).readUInt32BE(6), info(3).readUInt32BE(10)]).toEqual([
      512,
      4096,
      32 * 1024 * 1024,
    ]);
    expect(replies.at(-1)!.type).toBe(1);
    c.close();
  });

  it('closes on unknown client flags, and on EXPORT_NAME of an unknown export', async () => {
    const a = await RawNbd.open({ path: sock });
    await a.hello(0x80);
    expect(await a.closedWithin(2000)).toBe(true);
    const b = await RawNbd.open({ path: sock });
    await b.hello();
    b.sendOption(1, Buffer.from('nope'));
    expect(await b.closedWithin(2000)).toBe(true);
  });

  it('EXPORT_NAME answers with the size and flags (no zeroes after NO_ZEROES)', async () => {
    const c = await RawNbd.open({ path: sock });
    await c.hello();
    c.sendOption(1, Buffer.from('LD1'));
    const r = await c.read(10);
    expect(Number(r.readBigUInt64BE(0))).toBe(SIZE);
    c.request(0, 1n, 0n, 512);
    expect((await c.simpleReply(512)).error).toBe(0);
    c.close();
  });
});

describe('nbd transmission', () => {
  it('writes are read back on another connection; many requests in flight answered by cookie', async () => {
    const a = await session();
    const b = await session();
    const N = 16;
    for (let i = 0; i < N; i++) a.request(1, BigInt(100 + i), BigInt(i * 65536 + 512), 65536, 0, pattern(65536, i));
    const acks = await Promise.all(Array.from({ length: N }, () => a.simpleReply()));
    expect(new Set(acks.map((r) => r.cookie))).toEqual(new Set(Array.from({ length: N }, (_, i) => BigInt(100 + i))));
    expect(acks.every((r) => r.error === 0)).toBe(true);
    for (let i = 0; i < N; i++) b.request(0, BigInt(i), BigInt(i * 65536 + 512), 65536);
    const reads = new Map<bigint, Buffer>();
    for (let i = 0; i < N; i++) {
      const r = await b.simpleReply(65536);
      reads.set(r.cookie, r.data!);
    }
    for (let i = 0; i < N; i++) expect(reads.get(BigInt(i))!.equals(pattern(65536, i)), `block ${i}`).toBe(true);
    a.close();
    b.close();
  });

  it('structured replies: a read is one OFFSET_DATA chunk marked DONE, an error an ERROR chunk', async () => {
    const c = await session(true);
    c.request(1, 1n, 4096n, 4096, 0, pattern(4096, 9));
    expect((await c.chunk()).type).toBe(0);
    c.request(0, 2n, 4096n, 4096, 4); // DF is allowed with structured replies
    const k = await c.chunk();
    expect([k.type, k.flags & 1, k.cookie]).toEqual([1, 1, 2n]);
    expect(Number(k.payload.readBigUInt64BE(0))).toBe(4096);
    expect(k.payload.subarray(8).equals(pattern(4096, 9))).toBe(true);
    c.request(0, 3n, BigInt(SIZE), 512);
    const e = await c.chunk();
    expect([e.type, e.payload.readUInt32BE(0)]).toEqual([2 ** 15 + 1, 22]);
    c.close();
  });

  it('FLUSH, FUA, TRIM, WRITE_ZEROES and CACHE: zeroed ranges read back as zeros', async () => {
    const c = await session();
    c.request(1, 1n, 0n, 8192, 1, pattern(8192, 3)); // FUA
    expect((await c.simpleReply()).error).toBe(0);
    c.request(3, 2n, 0n, 0);
    expect((await c.simpleReply()).error).toBe(0);
    c.request(6, 3n, 0n, 4096, 2); // WRITE_ZEROES, NO_HOLE
    c.request(4, 4n, 4096n, 4096); // TRIM
    c.request(5, 5n, 0n, 65536); // CACHE
    for (let i = 0; i < 3; i++) expect((await c.simpleReply()).error).toBe(0);
    c.request(0, 6n, 0n, 8192);
    expect((await c.simpleReply(8192)).data!.equals(Buffer.alloc(8192))).toBe(true);
    c.close();
  });
});

describe('nbd: bad input hurts no one else', () => {
  it('out of range, past the end, oversized, unknown, misplaced: each answered, the connection stays usable', async () => {
    const c = await session();
    const expectErr = async (cookie: bigint, errno: number) => {
      const r = await c.simpleReply();
      expect([r.cookie, r.error]).toEqual([cookie, errno]);
    };
    c.request(0, 1n, BigInt(SIZE - 512), 1024); // read past the end
    await expectErr(1n, 22);
    c.request(0, 2n, 0xffffffffffffff00n, 512); // offset + length overflows
    await expectErr(2n, 22);
    c.request(1, 3n, BigInt(SIZE), 4096, 0, pattern(4096, 1)); // write past the end: payload read first
    await expectErr(3n, 28);
    c.request(1, 4n, 0n, MAX_PAYLOAD_BYTES + 512, 0, Buffer.alloc(MAX_PAYLOAD_BYTES + 512)); // over the maximum: dropped
    await expectErr(4n, 22);
    c.request(0, 5n, 0n, MAX_PAYLOAD_BYTES + 512); // a read over the maximum
    await expectErr(5n, 22);
    c.request(42, 6n, 0n, 512); // unknown command
    await expectErr(6n, 22);
    c.request(1, 7n, 0n, 512, 4, Buffer.alloc(512)); // DF on a write
    await expectErr(7n, 22);
    c.request(0, 8n, 0n, 512, 4); // DF without structured replies
    await expectErr(8n, 22);
    c.request(3, 9n, 512n, 0); // FLUSH with an offset
    await expectErr(9n, 22);
    c.request(4, 10n, 0n, 0); // TRIM of nothing
    await expectErr(10n, 22);
    c.request(1, 11n, 0n, 512, 0, pattern(512, 5));
    await expectErr(11n, 0);
    c.request(0, 12n, 0n, 512);
    expect((await c.simpleReply(512)).data!.equals(pattern(512, 5))).toBe(true);
    c.close();
  });

  it('a bad request magic or an absurd write length closes that connection, without a reply; others carry on and lose nothing', async () => {
    const good = await session();
    good.request(1, 1n, 1024n * 1024n, 4096, 0, pattern(4096, 77));
    expect((await good.simpleReply()).error).toBe(0);
    const bad = await session();
    bad.write(Buffer.alloc(28, 0xab));
    expect(await bad.closedWithin(2000)).toBe(true);
    const absurd = await session();
    absurd.request(1, 1n, 0n, 0xffffffff);
    expect(await absurd.closedWithin(2000)).toBe(true);
    good.request(0, 2n, 1024n * 1024n, 4096);
    expect((await good.simpleReply(4096)).data!.equals(pattern(4096, 77))).toBe(true);
    good.close();
  });
});

describe('nbd frame parser (fast-check)', () => {
  it('never throws on any bytes, and cutting a stream anywhere gives the same frames (payloads assembled in given buffers too)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat(600), { maxLength: 8 }),
        fc.constantFrom('options', 'transmission'),
        (bytes, cuts, phase) => {
          const text = (f: unknown) =>
            JSON.stringify(f, (_, v) =>
              typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
            );
          // 'reused': each part arrives in the one scratch buffer the socket reads into (server.ts),
          // scribbled over after the reader's retain(); frames are taken one a part (the rest held
          // back, as over the in-flight limit) and read at once, as the server does.
          const frames = (parts: Uint8Array[], mode: 'chunks' | 'given' | 'reused' = 'chunks') => {
            // Given buffers are dirty (0xee): a payload assembled in one must overwrite it whole.
            const r = new FrameReader(mode === 'chunks' ? undefined : (n) => new Uint8Array(n).fill(0xee));
            if (phase === 'options') r.startOptions();
            else r.startTransmission();
            const out: string[] = [];
            const scratch = Buffer.alloc(bytes.length + 1);
            for (const p of parts) {
              if (mode !== 'reused') {
                r.push(Buffer.from(p));
                for (let f = r.next(); f; f = r.next()) out.push(text(f));
                continue;
              }
              scratch.set(p);
              r.push(scratch.subarray(0, p.length));
              const f = r.next();
              if (f) out.push(text(f));
              r.retain();
              scratch.fill(0xdd);
            }
            for (let f = r.next(); f; f = r.next()) out.push(text(f));
            return JSON.stringify(out);
          };
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const parts: Uint8Array[] = [];
          let at = 0;
          for (const p of [...points, bytes.length]) {
            parts.push(bytes.subarray(at, p));
            at = p;
          }
          expect(frames(parts)).toBe(frames([bytes]));
          expect(frames(parts, 'given')).toBe(frames([bytes]));
          expect(frames(parts, 'reused')).toBe(frames([bytes]));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('well-formed requests come out whole, whatever the chunking', () => {
    const payloadOf = (len: number) => Buffer.from(Array.from({ length: len }, (_, i) => (i * 13 + len) & 0xff));
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            type: fc.constantFrom(0, 1, 3),
            len: fc.integer({ min: 0, max: 300 }),
            cookie: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          }),
          { maxLength: 10 },
        ),
        fc.integer({ min: 1, max: 50 }),
        (reqs, step) => {
          const wire = Buffer.concat(
            reqs.map((q) => {
              const h = Buffer.alloc(28);
              h.writeUInt32BE(0x25609513, 0);
              h.writeUInt16BE(q.type, 6);
              h.writeBigUInt64BE(q.cookie, 8);
              h.writeUInt32BE(q.len, 24);
              return q.type === 1 ? Buffer.concat([h, payloadOf(q.len)]) : h;
            }),
          );
          const want: Array<{ type: number; cookie: bigint; payload?: string }> = reqs.map((q) => ({
            type: q.type,
            cookie: q.cookie,
            payload: q.type === 1 ? payloadOf(q.len).toString('hex') : undefined,
          }));
          // As chunks of their own; and as the server reads them (server.ts): each chunk in the one
          // scratch buffer, scribbled over after retain(), one frame taken a chunk (the rest held back).
          for (const reused of [false, true]) {
            const r = new FrameReader(reused ? (n) => new Uint8Array(n).fill(0xee) : undefined);
            r.startTransmission();
            const got: typeof want = [];
            const take = (f: ReturnType<FrameReader['next']>) =>
              f?.t === 'request' &&
              got.push({
                type: f.type,
                cookie: f.cookie,
                payload: f.payload && Buffer.from(f.payload).toString('hex'),
              });
            const scratch = Buffer.alloc(step);
            for (let at = 0; at < wire.length; at += step) {
              const chunk = wire.subarray(at, at + step);
              if (!reused) {
                r.push(Buffer.from(chunk));
                for (let f = r.next(); f; f = r.next()) take(f);
                continue;
              }
              scratch.set(chunk);
              r.push(scratch.subarray(0, chunk.length));
              take(r.next());
              r.retain();
              scratch.fill(0xdd);
            }
            for (let f = r.next(); f; f = r.next()) take(f);
            expect(got).toEqual(want);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
