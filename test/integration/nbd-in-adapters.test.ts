// The NBD server in the host adapters' threads (DESIGN §9): each listen address belongs to one host
// adapter (address i to HA i mod the adapters), which terminates its hosts' connections itself. A
// write through one adapter's address reads back through the other's; the counters the main thread
// shows are both servers' summed; a host adapter that fails and is replaced listens again on the
// same address (its hosts reconnect, as to a channel director that came back), and a pooled read
// buffer is never handed to two reads at once (every block read back is its own).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type Serving } from '../../src/serve/serve.ts';
import { twoDriveLd1 } from '../support/helpers.ts';
import { RawNbd } from '../support/nbd-client.ts';

const config = twoDriveLd1(64);
/** Blocks written and read back: more than the cache holds, so reads miss and stage too. */
const BLOCKS = 96;
const BLOCK = 16384;

let s: Serving;
let sock: string;
beforeAll(async () => {
  sock = join(mkdtempSync(join(tmpdir(), 'arrayemu-nbd-ha-')), 'nbd.sock');
  s = await serve(config, { listen: '127.0.0.1:0', socket: sock, mode: 'threads' });
});
afterAll(async () => s?.close());

const tcp = () => ({ port: Number(new URL(s.uris[0]!).port) });
const block = (i: number, v: number) => Buffer.alloc(BLOCK, (i * 7 + v) & 0xff);

async function session(where: { port: number } | { path: string }): Promise<RawNbd> {
  const c = await RawNbd.open(where);
  await c.hello();
  expect((await c.go('LD1')).at(-1)!.type).toBe(1);
  return c;
}

/** Write every block through `w` (all in flight at once), then read all back through `r`, all in flight. */
async function writeThenRead(w: RawNbd, r: RawNbd, v: number): Promise<void> {
  for (let i = 0; i < BLOCKS; i++) w.request(1, BigInt(i), BigInt(i * (BLOCK + 4096)), BLOCK, 0, block(i, v));
  const acks = await Promise.all(Array.from({ length: BLOCKS }, () => w.simpleReply()));
  expect(acks.every((a) => a.error === 0)).toBe(true);
  for (let i = 0; i < BLOCKS; i++) r.request(0, BigInt(i), BigInt(i * (BLOCK + 4096)), BLOCK);
  for (let i = 0; i < BLOCKS; i++) {
    const got = await r.simpleReply(BLOCK);
    expect(got.error).toBe(0);
    expect(got.data!.equals(block(Number(got.cookie), v)), `block ${got.cookie}`).toBe(true);
  }
}

/** Connect to HA0's address once its replacement listens there (it loads the server as it starts): bounded retries. */
async function reconnect(): Promise<RawNbd> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await session(tcp());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('NBD in the host adapters', () => {
  it('a write through HA0 (TCP) reads back through HA1 (the socket); the counters are both servers summed', async () => {
    const a = await session(tcp());
    const b = await session({ path: sock });
    await writeThenRead(a, b, 1);
    await writeThenRead(b, a, 2);
    await s.nbd.refresh();
    expect(s.nbd.counters.requests.get('write ok')).toBe(2 * BLOCKS);
    expect(s.nbd.counters.requests.get('read ok')).toBe(2 * BLOCKS);
    expect(s.nbd.counters.connectionsOpen).toBe(2);
    expect(s.io.devices.get('LD1')?.reads).toBe(2 * BLOCKS);
    // Hits were served by a call in the adapter's thread (serveNow), misses over its link: both here.
    const st = await s.emu.status();
    const inThread = st.HA0!.inThread! + st.HA1!.inThread!;
    expect(inThread).toBeGreaterThan(0);
    expect(inThread).toBeLessThan(4 * BLOCKS);
    a.close();
    b.close();
  });

  it('a host adapter replaced listens again on the same address, and serves what was written before', async () => {
    const a = await session(tcp());
    const b = await session({ path: sock });
    await writeThenRead(b, a, 3);
    await s.emu.restart('HA0');
    expect(await a.closedWithin(5000)).toBe(true); // its connections went with its thread
    const again = await reconnect();
    for (let i = 0; i < BLOCKS; i++) again.request(0, BigInt(i), BigInt(i * (BLOCK + 4096)), BLOCK);
    for (let i = 0; i < BLOCKS; i++) {
      const got = await again.simpleReply(BLOCK);
      expect(got.data!.equals(block(Number(got.cookie), 3)), `block ${got.cookie}`).toBe(true);
    }
    again.close();
    b.close();
  });

  it('a module that cannot be loaded into a host adapter is told on its port at once, naming it', async () => {
    const entry = new URL('./no-such-module.ts', import.meta.url).href;
    const told = await new Promise<{ t: string; message: string }>((resolve) =>
      s.emu.extendHostAdapter(1, entry, {}, (port) => port.once('message', resolve)),
    );
    expect(told.t).toBe('extension-failed');
    expect(told.message).toContain('HA1: cannot load');
    expect(told.message).toContain('no-such-module.ts');
  });
});
