// Reads lent to the NBD socket (DESIGN §9: a read lands in a buffer of the NBD server's pool in the
// host adapter's thread, given back once the socket has sent it) stay intact while a client does not
// read its socket: the replies back up in the server, their buffers held, and once the client reads
// again every block must be the one asked for, byte for byte. A buffer given back before the socket
// sent it, and handed to another read, would show as another block's bytes. (The amount read is
// sized by the host path's ring arena, which lent these reads before the server moved into the
// host adapters: more than it held.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/shared/config/config.ts';
import { serve, type Serving } from '../../src/serve/serve.ts';
import { RING_ARENA_BYTES } from '../../src/shared/links/ring-link.ts';
import { RawNbd } from '../support/nbd-client.ts';

const TRACK = 65536;
const HEADS = 4;
const CYLINDERS = 64;
const BLOCKS = CYLINDERS * HEADS * 2; // 64 KiB blocks of LD1 (two drives)
const config = parseConfig({
  geometry: { trackBytes: TRACK, headsPerCylinder: HEADS },
  cache: { slots: BLOCKS },
  hostAdapters: 2,
  drives: [0, 1].map((i) => ({ id: `d${i}`, cylinders: CYLINDERS })),
  diskAdapters: [0, 1].map((i) => ({ id: `DA${i}`, drives: [`d${i}`] })),
  devices: [
    {
      id: 'LD1',
      layout: 'striped',
      cylinders: 2 * CYLINDERS,
      stripeCylinders: 1,
      members: ['d0', 'd1'].map((drive) => ({ drive, startCylinder: 0 })),
    },
  ],
});
/** NBD commands used here (doc/proto.md). */
const READ = 0;
const WRITE = 1;

/** Block b's bytes: its number in every 4-byte word, so any other block's bytes differ everywhere. */
const blockBytes = (b: number) => {
  const buf = Buffer.alloc(TRACK);
  for (let i = 0; i < TRACK; i += 4) buf.writeUInt32LE(b * 7919 + 1, i);
  return buf;
};

let s: Serving;
let sock: string;
beforeAll(async () => {
  sock = join(mkdtempSync(join(tmpdir(), 'arrayemu-rings-')), 'nbd.sock');
  s = await serve(config, { socket: sock, mode: 'threads' });
});
afterAll(async () => s?.close());

describe('lent reads', () => {
  it('a client that stops reading its socket gets every block intact when it reads again (more data asked than the arena holds)', async () => {
    const c = await RawNbd.open({ path: sock });
    await c.hello();
    expect((await c.go('LD1')).at(-1)!.type).toBe(1);
    for (let b = 0; b < BLOCKS; b += 32) {
      for (let k = b; k < b + 32; k++) c.request(WRITE, BigInt(k), BigInt(k * TRACK), TRACK, 0, blockBytes(k));
      for (let k = 0; k < 32; k++) expect((await c.simpleReply()).error).toBe(0);
    }
    // 1.5 arenas of reads asked while the client reads nothing: the server's replies back up.
    const reads = Math.ceil((1.5 * RING_ARENA_BYTES) / TRACK);
    const asked = new Map<bigint, number>();
    c.socket.pause();
    for (let i = 0; i < reads; i++) {
      const b = (i * 37) % BLOCKS;
      asked.set(BigInt(1000 + i), b);
      c.request(READ, BigInt(1000 + i), BigInt(b * TRACK), TRACK);
    }
    // Load shaping only (no assertion depends on it): let the replies pile up before reading.
    await new Promise((r) => setTimeout(r, 300));
    c.socket.resume();
    for (let i = 0; i < reads; i++) {
      const r = await c.simpleReply(TRACK);
      expect(r.error).toBe(0);
      const b = asked.get(r.cookie);
      expect(b).toBeDefined();
      asked.delete(r.cookie);
      const want = blockBytes(b!);
      if (!r.data!.equals(want)) {
        let at = 0;
        while (r.data![at] === want[at]) at++;
        const word = r.data!.readUInt32LE(at - (at % 4));
        throw new Error(`block ${b}: from byte ${at} it holds block ${(word - 1) / 7919}'s bytes (word ${word})`);
      }
    }
    expect(asked.size).toBe(0);
    c.close();
  }, 60_000);
});
