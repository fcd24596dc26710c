// Real NBD clients against `arrayemu serve`: nbdinfo, qemu-img and nbdcopy. The same script runs
// against `nbdkit memory` of the same size first, as an oracle that the script itself is right.
// A tool missing on a developer machine skips its tests with a loud message (.ci/run installs them).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../src/shared/config/config.ts';
import { serve, type Serving } from '../../src/serve/serve.ts';
import { startServe } from '../../scripts/serve-child.ts';
import { missingTools } from '../../scripts/tools.ts';

const run = promisify(execFile);
const TOOLS = ['nbdinfo', 'nbdcopy', 'qemu-img', 'qemu-io', 'nbdkit', 'fio'];
const missing = missingTools(TOOLS);
if (missing.length > 0)
  console.warn(
    `\n*** NBD interop tests SKIPPED: ${missing.join(', ')} not installed (bash .ci/run installs them: libnbd-bin qemu-utils nbdkit) ***\n`,
  );

const TRACK = 65536;
/** How long each fio write across a restripe runs (s). */
const WRITE_SECONDS = 3;
const SIZE = 32 * 4 * TRACK; // 8 MiB
const config = parseConfig({
  geometry: { trackBytes: TRACK, headsPerCylinder: 4 },
  cache: { slots: 128 },
  hostAdapters: 2,
  drives: [0, 1, 2].map((i) => ({ id: `d${i}`, cylinders: 16 })),
  diskAdapters: [
    { id: 'DA0', drives: ['d0', 'd1'] },
    { id: 'DA1', drives: ['d2'] },
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

const dir = mkdtempSync(join(tmpdir(), 'arrayemu-interop-'));
const reference = join(dir, 'reference.img');
writeFileSync(reference, Buffer.from(Array.from({ length: SIZE }, (_, i) => ((i >> 9) * 7 + (i & 511)) & 0xff)));

/** The interop script: sizes and flags, an image in, the same image compared and copied out. */
async function interop(uri: string, listUri: string, exportName?: string): Promise<void> {
  const info = JSON.parse((await run('nbdinfo', ['--json', uri])).stdout);
  const e = info.exports[0];
  expect(e['export-size']).toBe(SIZE);
  for (const k of ['can_flush', 'can_fua', 'can_trim', 'can_zero', 'can_multi_conn']) expect(e[k], k).toBe(true);
  const list = JSON.parse((await run('nbdinfo', ['--list', '--json', listUri])).stdout);
  if (exportName !== undefined)
    expect(list.exports.map((x: { 'export-name': string }) => x['export-name'])).toContain(exportName);
  await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', reference, uri]);
  await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', reference, uri]); // exit 0: identical
  const out = join(dir, `out-${Date.now()}.img`);
  await run('nbdcopy', [uri, out]);
  expect(readFileSync(out).equals(readFileSync(reference))).toBe(true);
}

describe.skipIf(missing.length > 0)('real NBD clients', () => {
  let s: Serving;
  let nbdkit: ChildProcess | undefined;
  const sock = join(dir, 'arrayemu.sock');
  const kitSock = join(dir, 'nbdkit.sock');
  beforeAll(async () => {
    s = await serve(config, { socket: sock });
  });
  afterAll(async () => {
    nbdkit?.kill();
    await s?.close();
  });

  it('the script is right: nbdkit memory of the same size passes it', async () => {
    nbdkit = spawn('nbdkit', ['-f', '-U', kitSock, 'memory', String(SIZE)], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(kitSock); i++) await new Promise((r) => setTimeout(r, 50));
    await interop(`nbd+unix:///LD1?socket=${kitSock}`, `nbd+unix://?socket=${kitSock}`);
  }, 60_000);

  it('arrayemu serve passes it: nbdinfo sizes and flags, qemu-img convert in and compare, nbdcopy out', async () => {
    await interop(`nbd+unix:///LD1?socket=${sock}`, `nbd+unix://?socket=${sock}`, 'LD1');
    const info = JSON.parse((await run('nbdinfo', ['--json', `nbd+unix:///LD1?socket=${sock}`])).stdout).exports[0];
    expect([info.block_size_minimum, info.block_size_preferred, info.block_size_maximum]).toEqual([
      512,
      4096,
      32 * 1024 * 1024,
    ]);
  }, 60_000);
});

/** fio with the nbd engine: 64 KiB random writes with crc32c verify headers over `bytes` of the export, or (`verifyOnly`) the check of them. */
async function fio(uri: string, bytes: number, verifyOnly: boolean): Promise<{ written: number; errors: number }> {
  const args = [
    '--name=verify',
    '--ioengine=nbd',
    `--uri=${uri}`,
    '--rw=randwrite',
    '--bs=64k',
    '--iodepth=16',
    `--size=${bytes}`,
    '--verify=crc32c',
    '--randseed=7',
    '--verify_state_save=0',
  ];
  // Paced so the write lasts about WRITE_SECONDS whatever the device's size: the restripe must start while it runs.
  const rateIops = Math.max(1, Math.ceil(bytes / 65536 / WRITE_SECONDS));
  args.push(...(verifyOnly ? ['--verify_only'] : ['--do_verify=1', `--rate_iops=${rateIops}`]), '--output-format=json');
  const stdout = (await run('fio', args, { maxBuffer: 1 << 24 })).stdout; // fio exits non-zero on a verify failure
  const out = JSON.parse(stdout.slice(stdout.indexOf('{'))); // its nbd engine says "connected" first
  const job = out.jobs[0];
  return { written: job.write.io_bytes, errors: job.error };
}

describe.skipIf(missing.length > 0)('fio verify across an online restripe', () => {
  const cases: Array<[string, string]> = [
    ['fig2-new', 'LD1'],
    ['fig8', 'LD1'],
    ['fig9', 'LD1'],
    ['fig2-meta', 'META1'],
  ];
  it.each(cases)(
    'FIG. 2 → %s: fio writes %s with crc32c headers while it is restriped, then --verify_only finds every block',
    async (target, device) => {
      const sock = join(dir, `fio-${target}.sock`);
      const s = await serve(loadConfig('examples/fig2.json'), { socket: sock });
      try {
        const uri = `nbd+unix:///${device}?socket=${sock}`;
        const bytes = s.emu.model.device(device).bytes;
        let fioDone = false;
        const writing = fio(uri, bytes, false).finally(() => (fioDone = true));
        // The restripe starts once fio's writes reach the array (a state, not a guess of time).
        const startAfter = Math.min(20, Math.floor(bytes / 65536 / 4)); // writes of 64 KiB: a quarter of the device at most
        for (
          let i = 0;
          i < 200 && ((await s.emu.status()).HA0?.writes ?? 0) + ((await s.emu.status()).HA1?.writes ?? 0) < startAfter;
          i++
        )
          await new Promise((r) => setTimeout(r, 25));
        const report = await s.emu.reconfigure(JSON.parse(readFileSync(`examples/${target}.json`, 'utf8')));
        expect(report.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
        expect(fioDone, 'the restripe ran while fio was writing').toBe(false);
        // A new connection sees the device's size after the restripe (larger after an expansion).
        const after = s.emu.model.device(device).bytes;
        expect(Number((await run('nbdinfo', ['--size', uri])).stdout.trim())).toBe(after);
        if (target !== 'fig8') expect(after).toBeGreaterThan(bytes);
        const w = await writing;
        expect(w.errors).toBe(0);
        expect(w.written).toBe(bytes);
        const v = await fio(uri, bytes, true);
        expect(v.errors).toBe(0);
      } finally {
        await s.close();
      }
    },
    120_000,
  );
});

describe.skipIf(missing.length > 0)('data that survives a restart (--data-dir)', () => {
  it('after SIGTERM, serve with the same --data-dir serves the same bytes: qemu-img compare identical, a device restriped before the restart included', async () => {
    const data = join(dir, 'data');
    const sizes = { LD1: 12 * 15 * 65536, LD2: 6 * 15 * 65536 };
    const refs = Object.fromEntries(
      Object.entries(sizes).map(([id, bytes], k) => {
        const f = join(dir, `${id}.ref`);
        writeFileSync(f, Buffer.from(Array.from({ length: bytes }, (_, i) => ((i >> 12) * (k + 3) + i) & 0xff)));
        return [id, f];
      }),
    );
    const first = await startServe([
      '--config',
      'examples/fig2.json',
      '--data-dir',
      data,
      '--socket',
      join(dir, 'first.sock'),
      '--http',
      '127.0.0.1:0',
    ]);
    const uri = (sock: string, id: string) => `nbd+unix:///${id}?socket=${sock}`;
    for (const id of ['LD1', 'LD2'])
      await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', refs[id]!, uri(join(dir, 'first.sock'), id)]);
    const server = first.http!;
    await run(process.execPath, [
      'bin/arrayemu.mjs',
      'reconfigure',
      '--server',
      server,
      '--to',
      'examples/fig2-new.json',
      '--wait',
    ]);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const second = await startServe(['--data-dir', data, '--socket', join(dir, 'second.sock')]);
    try {
      for (const id of ['LD1', 'LD2'])
        await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', refs[id]!, uri(join(dir, 'second.sock'), id)]);
      expect(
        Number((await run('nbdinfo', ['--size', uri(join(dir, 'second.sock'), 'LD1')])).stdout.trim()),
      ).toBeGreaterThan(sizes.LD1); // restriped: grown
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 120_000);

  it('a FLUSH puts the data on stable storage: killed without warning after qemu-img (which flushes), a restart serves the same bytes', async () => {
    const data = join(dir, 'data-kill');
    const ref = join(dir, 'kill.ref');
    writeFileSync(ref, Buffer.from(Array.from({ length: 6 * 15 * 65536 }, (_, i) => (i * 7 + (i >> 9)) & 0xff)));
    const first = await startServe([
      '--config',
      'examples/fig2.json',
      '--data-dir',
      data,
      '--socket',
      join(dir, 'k1.sock'),
    ]);
    await run('qemu-img', [
      'convert',
      '-n',
      '-f',
      'raw',
      '-O',
      'raw',
      ref,
      `nbd+unix:///LD2?socket=${join(dir, 'k1.sock')}`,
    ]);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startServe(['--data-dir', data, '--socket', join(dir, 'k2.sock')]);
    try {
      await run('qemu-img', [
        'compare',
        '-f',
        'raw',
        '-F',
        'raw',
        ref,
        `nbd+unix:///LD2?socket=${join(dir, 'k2.sock')}`,
      ]);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 120_000);
});

describe.skipIf(missing.length > 0)('qemu-io with replies out of order', () => {
  it('aio writes and reads of many blocks: the server holds every other reply back, each still reaches its own request', async () => {
    const sock = join(dir, 'qemu-io.sock');
    // Replies to requests at even 64 KiB blocks wait 40 ms after they are served: later ones overtake them.
    const s = await serve(config, {
      socket: sock,
      mode: 'inline',
      replyDelayMs: (r) => (Number(r.offset / 65536n) % 2 === 0 ? 40 : 0),
    });
    try {
      const cmds: string[] = [];
      for (let b = 0; b < 16; b++) cmds.push('-c', `aio_write -P ${0x10 + b} ${b * 65536} 64k`);
      cmds.push('-c', 'aio_flush');
      for (let b = 0; b < 16; b++) cmds.push('-c', `aio_read -P ${0x10 + b} ${b * 65536} 64k`);
      cmds.push('-c', 'aio_flush');
      const out = await run('qemu-io', ['-f', 'raw', ...cmds, `nbd+unix:///LD1?socket=${sock}`]);
      expect(out.stdout + out.stderr).not.toMatch(/fail|error/i);
      expect((out.stdout.match(/^read 65536\/65536 bytes/gm) ?? []).length).toBe(16);
      expect((out.stdout.match(/^wrote 65536\/65536 bytes/gm) ?? []).length).toBe(16);
    } finally {
      await s.close();
    }
  }, 60_000);
});
