// Drive faults through the real surfaces (DESIGN §14): `serve` on the mirrored FIG. 2 example, qemu-io
// writing and flushing over NBD, `arrayemu drive fail` failing a drive of LD1 and then the drive of
// its other mirror once a spare is rebuilt: every flushed block reads back (qemu-io verifies the
// pattern), `status` and `/metrics` say what happened, and bad requests are refused naming the field.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { startServe } from '../../scripts/serve-child.ts';
import { missingTools } from '../../scripts/tools.ts';
import { RawNbd } from '../support/nbd-client.ts';

const run = promisify(execFile);
const missing = missingTools(['qemu-io']);
if (missing.length > 0)
  console.warn(
    `\n*** drive fault e2e SKIPPED: ${missing.join(', ')} not installed (bash .ci/run installs qemu-utils) ***\n`,
  );

/** Three spans of LD1 (11.25 MiB), each its own pattern. */
const SPANS = [
  { pattern: 0xa1, offset: '0', length: '4M' },
  { pattern: 0xb2, offset: '4M', length: '4M' },
  { pattern: 0xc3, offset: '8M', length: '3M' },
];

const cli = async (...args: string[]) => {
  const r = await run(process.execPath, ['bin/arrayemu.mjs', ...args], { timeout: 60_000 }).catch(
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  return { code: 'code' in r ? r.code : 0, out: r.stdout, err: r.stderr };
};

/** Poll the status over HTTP (bounded; a CLI process per poll would cost a second of CPU each) until `ok(status)` holds. */
async function statusUntil(server: string, ok: (st: any) => boolean, what: string): Promise<any> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const st = (await (await fetch(`${server}/v1/status`)).json()) as any;
    if (ok(st)) return st;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(st.drives)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(missing.length > 0)('drive faults through serve, the CLI and NBD', () => {
  it('bad requests are refused naming the field; a drive of LD1 fails, a spare is rebuilt, its mirror fails too: every flushed block reads back', async () => {
    const root = mkdtempSync(join(tmpdir(), 'arrayemu-drive-faults-'));
    const sock = join(root, 'nbd.sock');
    const s = await startServe(['--config', 'examples/fig2-mirrored.json', '--socket', sock, '--http', '127.0.0.1:0']);
    try {
      // Refusals first: each names the field, and changes nothing (no drive has failed yet).

      const post = (path: string, body: unknown) =>
        fetch(`${s.http}${path}`, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => ({
          status: r.status,
          json: (await r.json()) as any,
        }));
      expect(await post('/v1/drives/99/fail', {})).toEqual({
        status: 400,
        json: { error: expect.stringMatching(/^drive "99": no such drive/) },
      });
      expect(await post('/v1/drives/31/fail', { kind: 'melt' })).toEqual({
        status: 400,
        json: { error: 'kind: must be one of whole, media, rot' },
      });
      expect(await post('/v1/drives/31/fail', { kind: 'media', tracks: 0 })).toEqual({
        status: 400,
        json: { error: 'tracks: must be at least 1' },
      });
      const bad = await cli('drive', 'fail', '--server', s.http!, '--drive', '31', '--kind', 'melt');
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/kind: must be one of whole, media, rot/);
      expect(bad.err).not.toMatch(/\n\s+at /);
      expect(
        JSON.parse((await cli('status', '--server', s.http!, '--json')).out).drives.every((d: any) =>
          ['ok', 'spare'].includes(d.state),
        ),
      ).toBe(true);
      const uri = `nbd+unix:///LD1?socket=${sock}`;
      const io = (cmds: string[]) => run('qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), uri]);
      await io([...SPANS.map((x) => `write -P ${x.pattern} ${x.offset} ${x.length}`), 'flush']);
      const failed = JSON.parse((await cli('drive', 'fail', '--server', s.http!, '--drive', '33', '--json')).out);
      expect(failed).toMatchObject({ drive: '33', kind: 'whole', state: 'failed' });
      const rebuilt = await statusUntil(
        s.http!,
        (st) => st.drives.some((d: any) => d.inPlaceOf === '33' && d.state === 'ok'),
        'a spare rebuilt in place of 33',
      );
      const spare = rebuilt.drives.find((d: any) => d.inPlaceOf === '33').id;
      expect(['71', '73']).toContain(spare);
      expect(rebuilt.drives.find((d: any) => d.id === '33')).toMatchObject({ state: 'failed', replacedBy: spare });
      expect(rebuilt.devices.find((d: any) => d.id === 'LD1')).toMatchObject({ state: 'ok' });
      // The other copy of 33's tracks: only the rebuilt spare holds them now.
      await cli('drive', 'fail', '--server', s.http!, '--drive', '63');
      const r = await io(SPANS.map((x) => `read -P ${x.pattern} ${x.offset} ${x.length}`));
      expect(r.stdout).not.toMatch(/Pattern verification failed|error/i);
      const text = (await cli('status', '--server', s.http!)).out;
      expect(text).toMatch(/LD1 .*2-way \[(UU|U_|UR)\]|LD1 .*2-way/);
      expect(text).toMatch(/Drives: .*33 failed/);
      // LD2 is not mirrored: its 2 cylinders on 33 (30 tracks) had no other copy.
      expect(text).toMatch(/LD2 .*failed, 30 track\(s\) lost/);
      const metrics = await (await fetch(`${s.http}/metrics`)).text();
      expect(metrics).toMatch(/arrayemu_drive_state\{drive="33",adapter="[^"]+",state="failed"\} 1/);
      expect(metrics).toMatch(new RegExp(`arrayemu_drive_state\\{drive="${spare}",adapter="DA3[02]",state="ok"\\} 1`));
      // Media errors on a drive of LD1: reads still verify.
      const media = JSON.parse(
        (await cli('drive', 'fail', '--server', s.http!, '--drive', '31', '--kind', 'media', '--tracks', '5', '--json'))
          .out,
      );
      expect(media.tracks).toHaveLength(5);
      const again = await io(SPANS.map((x) => `read -P ${x.pattern} ${x.offset} ${x.length}`));
      expect(again.stdout).not.toMatch(/Pattern verification failed|error/i);
    } finally {
      await s.stop();
    }
  }, 120_000);

  it('with a data dir: kill -9 in the middle of a rebuild, and the restart takes it up where its durable bits left it; every flushed block reads back', async () => {
    const root = mkdtempSync(join(tmpdir(), 'arrayemu-drive-faults-dir-'));
    const sock = join(root, 'nbd.sock');
    const dir = join(root, 'data');
    const serve = (...extra: string[]) =>
      startServe([...extra, '--data-dir', dir, '--socket', sock, '--http', '127.0.0.1:0']);
    const uri = `nbd+unix:///LD1?socket=${sock}`;
    const io = (cmds: string[]) => run('qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), uri]);
    const first = await serve('--config', 'examples/fig2-mirrored.json');
    let second: Awaited<ReturnType<typeof startServe>> | undefined;
    try {
      await io([...SPANS.map((x) => `write -P ${x.pattern} ${x.offset} ${x.length}`), 'flush']);
      const put = await fetch(`${first.http}/v1/throttle`, {
        method: 'PUT',
        body: JSON.stringify({ minMBps: 1, maxMBps: 1 }),
      });
      expect(put.status).toBe(200); // a rebuild of seconds
      expect((await cli('drive', 'fail', '--server', first.http!, '--drive', '33')).code).toBe(0);
      const under = await statusUntil(
        first.http!,
        (st) => st.drives.some((d: any) => d.inPlaceOf === '33' && d.rebuild?.done >= 8),
        'the rebuild under way',
      );
      const spare = under.drives.find((d: any) => d.inPlaceOf === '33');
      expect(spare.state).toBe('rebuilding');
      // A FLUSH commits what the rebuild did so far; then the server dies mid-rebuild.
      await io(['flush']);
      first.child.kill('SIGKILL');
      await first.exited;
      second = await serve();
      const st = (await (await fetch(`${second.http}/v1/status`)).json()) as any;
      const [taken] = st.dataDir.rebuildsTakenUp;
      expect(taken).toMatchObject({ drive: '33', spare: spare.id, copiesTotal: spare.rebuild.total });
      expect(taken.copiesLeft).toBeLessThanOrEqual(spare.rebuild.total - 8); // not from the start
      expect(st.drives.find((d: any) => d.id === '33')).toMatchObject({ state: 'failed', replacedBy: spare.id });
      await statusUntil(
        second.http!,
        (s2) => s2.drives.some((d: any) => d.id === spare.id && d.state === 'ok'),
        'the rebuild taken up to its end',
      );
      const r = await io(SPANS.map((x) => `read -P ${x.pattern} ${x.offset} ${x.length}`));
      expect(r.stdout).not.toMatch(/Pattern verification failed|error/i);
      // The rebuilt spare alone holds 33's copies of LD1 now: its other mirror fails, and LD1 still reads.
      expect((await cli('drive', 'fail', '--server', second.http!, '--drive', '63')).code).toBe(0);
      const again = await io(SPANS.map((x) => `read -P ${x.pattern} ${x.offset} ${x.length}`));
      expect(again.stdout).not.toMatch(/Pattern verification failed|error/i);
    } finally {
      first.child.kill('SIGKILL');
      await second?.stop();
    }
  }, 120_000);

  // The demo (DESIGN §14): every device and both BCVs two-way mirrored, two spares.
  it.each([
    ['33', "LD1's M1 (and LD2's)"],
    ['47', "a drive of LD1's BCV"],
  ])(
    'a journaled client writes and FLUSHes LD1 over NBD while LD1 is restriped with its mirrors and drive %s (%s) fails mid-transfer: every flushed block reads back, a spare is rebuilt, a scrub finds 0 mismatches',
    async (failing) => {
      const root = mkdtempSync(join(tmpdir(), 'arrayemu-drive-faults-'));
      const sock = join(root, 'nbd.sock');
      // The examples with a 16-slot cache: reads come from the drives, not from slots a fill left behind.
      const smallCache = (file: string) => {
        const cfg = JSON.parse(readFileSync(file, 'utf8'));
        cfg.cache.slots = 16;
        writeFileSync(join(root, basename(file)), JSON.stringify(cfg));
        return join(root, basename(file));
      };
      const running = smallCache('examples/fig2-mirrored-bcv.json');
      const target = smallCache('examples/fig2-mirrored-bcv-new.json');
      const s = await startServe(['--config', running, '--socket', sock, '--http', '127.0.0.1:0']);
      const api = s.http!;
      const c = await RawNbd.open({ path: sock });
      try {
        await c.hello();
        expect((await c.go('LD1')).at(-1)!.type).toBe(1);
        const journal = new Journal(c);
        for (let b = 0; b < OLD_BLOCKS; b += 16) await journal.write(b, 16);
        await journal.flush();
        const put = (body: unknown) =>
          fetch(`${api}/v1/throttle`, { method: 'PUT', body: JSON.stringify(body) }).then((r) => r.status);
        expect(await put({ minMBps: 2, maxMBps: 2 })).toBe(200); // the transfer lasts seconds
        const post = await fetch(`${api}/v1/reconfigurations`, {
          method: 'POST',
          body: readFileSync(target),
        });
        expect(post.status).toBe(202);
        const { id } = (await post.json()) as { id: number };
        const job = async () => (await (await fetch(`${api}/v1/reconfigurations/${id}`)).json()) as any;
        // Writes and FLUSHes go on all through the restripe; the drive fails mid-transfer.
        const writing = journal.randomLoad(OLD_BLOCKS);
        for (let j = await job(); !(j.phase === 'transfer' && j.tracksDone > 0); j = await job()) {
          expect(j.state, JSON.stringify(j)).toBe('running');
          await new Promise((r) => setTimeout(r, 20));
        }
        const fail = await fetch(`${api}/v1/drives/${failing}/fail`, {
          method: 'POST',
          body: JSON.stringify({ kind: 'whole' }),
        });
        expect(fail.status).toBe(200);
        expect((await job()).phase).toBe('transfer'); // 2 MB/s: seconds of it are left
        await new Promise((r) => setTimeout(r, 500)); // writes land on the degraded device
        expect(await put({ minMBps: 200, maxMBps: 0 })).toBe(200);
        let done = await job();
        for (
          const deadline = Date.now() + 60_000;
          done.state === 'running' && Date.now() < deadline;
          done = await job()
        )
          await new Promise((r) => setTimeout(r, 50));
        expect(done.state, JSON.stringify(done)).toBe('done');
        const flushed = await journal.stop(writing);
        expect(flushed).toBeGreaterThan(0);
        await statusUntil(
          api,
          (st) => st.drives.some((d: any) => d.inPlaceOf === failing && d.state === 'ok'),
          'the rebuild',
        );
        const st = (await (await fetch(`${api}/v1/status`)).json()) as any;
        expect(st.devices.find((d: any) => d.id === 'LD1')).toMatchObject({ state: 'ok', lostTracks: 0 });
        // A new connection sees LD1's new size; the new blocks were never written: zeros.
        const after = await RawNbd.open({ path: sock });
        try {
          await after.hello();
          expect((await after.go('LD1')).at(-1)!.type).toBe(1);
          await journal.verify(after, OLD_BLOCKS + NEW_BLOCKS);
        } finally {
          after.socket.destroy();
        }
        // A scrub then finds every copy as its checksum says, on every device.
        const scrub = await cli('scrub', '--server', api, '--json');
        expect(scrub.code, scrub.err + scrub.out).toBe(0);
        expect(JSON.parse(scrub.out)).toMatchObject({ state: 'done', mismatches: 0, unrecoverable: 0 });
        expect(JSON.parse(scrub.out).tracksChecked).toBeGreaterThan(OLD_BLOCKS / 16);
      } finally {
        c.socket.destroy();
        await s.stop();
      }
    },
    120_000,
  );
});

const BLOCK = 4096;
/** LD1's 4 KiB blocks before the restripe (11.25 MiB) and the ones the fourth drive adds (3.75 MiB). */
const OLD_BLOCKS = 2880;
const NEW_BLOCKS = 960;
const NBD = { READ: 0, WRITE: 1, FLUSH: 3 } as const;
/** FLUSH after this many writes. */
const WRITES_PER_FLUSH = 8;

/** A client that keeps a journal: each block's last acknowledged pattern (one request at a time, so it is exact). */
class Journal {
  private readonly want = new Map<number, number>();
  private cookie = 1n;
  private version = 0;
  private running = true;
  private flushes = 0;
  constructor(private readonly c: RawNbd) {}

  private stamp(b: number, v: number): Buffer {
    const out = Buffer.alloc(BLOCK, (b * 13 + v) & 0xff);
    out.writeUInt32LE(b, 0);
    out.writeUInt32LE(v, 4);
    return out;
  }

  /** Write `n` blocks from `b`, each with the next version. */
  async write(b: number, n: number): Promise<void> {
    const v = ++this.version;
    const data = Buffer.concat(Array.from({ length: n }, (_, i) => this.stamp(b + i, v)));
    this.c.request(NBD.WRITE, this.cookie++, BigInt(b * BLOCK), n * BLOCK, 0, data);
    expect((await this.c.simpleReply()).error, `write of block ${b}`).toBe(0);
    for (let i = 0; i < n; i++) this.want.set(b + i, v);
  }

  async flush(): Promise<void> {
    this.c.request(NBD.FLUSH, this.cookie++, 0n, 0);
    expect((await this.c.simpleReply()).error, 'FLUSH').toBe(0);
    this.flushes++;
  }

  /** Random 4 KiB writes over the first `blocks`, a FLUSH every WRITES_PER_FLUSH, until stopped. */
  async randomLoad(blocks: number): Promise<void> {
    for (let i = 1; this.running; i++) {
      await this.write(Math.floor(Math.random() * blocks), 1);
      if (i % WRITES_PER_FLUSH === 0) await this.flush();
    }
    await this.flush();
  }

  /** Stop the load after its last FLUSH; how many FLUSHes were answered. */
  async stop(load: Promise<void>): Promise<number> {
    this.running = false;
    await load;
    return this.flushes;
  }

  /** Every block of the first `blocks` reads back, through `c`, its journaled version (zeros where never written). */
  async verify(c: RawNbd, blocks: number): Promise<void> {
    const CHUNK = 64;
    for (let b = 0; b < blocks; b += CHUNK) {
      c.request(NBD.READ, this.cookie++, BigInt(b * BLOCK), CHUNK * BLOCK);
      const r = await c.simpleReply(CHUNK * BLOCK);
      expect(r.error, `read of blocks ${b}..`).toBe(0);
      for (let i = 0; i < CHUNK; i++) {
        const v = this.want.get(b + i);
        const want = v === undefined ? Buffer.alloc(BLOCK) : this.stamp(b + i, v);
        const got = r.data!.subarray(i * BLOCK, (i + 1) * BLOCK);
        if (!got.equals(want))
          throw new Error(
            `LD1 block ${b + i}: not its last acknowledged write (version ${v ?? 'none'}); reads ${got.readUInt32LE(4)}`,
          );
      }
    }
  }
}
