// Restart time against the data held (issue 29 item 3, BENCHMARKS "Restart"): a four-drive array
// of 66.8 GB in a data dir, written with N GiB through NBD (qemu-io, one pattern per GiB, FLUSHed),
// then `kill -9` and a restart timed from spawn to its first line (serving); then every GiB read
// back and checked. Run: npx tsx scripts/restart-time.ts [--gib 0,1,3] [--json]
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { startServe } from './serve-child.ts';

const run = promisify(execFile);
/** The array: four drives of 16 990 cylinders (15 tracks of 64 KiB each): 66.8 GB. */
const CYLINDERS = 16_990;
const DRIVES = ['d0', 'd1', 'd2', 'd3'];

function config(): unknown {
  return {
    geometry: { trackBytes: 65536, headsPerCylinder: 15 },
    cache: { slots: 1024 },
    hostAdapters: 1,
    drives: DRIVES.map((id) => ({ id, cylinders: CYLINDERS })),
    diskAdapters: [
      { id: 'DA0', drives: ['d0', 'd1'] },
      { id: 'DA1', drives: ['d2', 'd3'] },
    ],
    devices: [
      {
        id: 'LD1',
        layout: 'striped',
        cylinders: CYLINDERS * DRIVES.length,
        stripeCylinders: 2,
        members: DRIVES.map((drive) => ({ drive, startCylinder: 0 })),
      },
    ],
  };
}

async function oneSize(gib: number): Promise<Record<string, number>> {
  const root = mkdtempSync(join(tmpdir(), 'arrayemu-restart-'));
  const dir = join(root, 'data');
  const sock = join(root, 'nbd.sock');
  const cfg = join(root, 'array.json');
  writeFileSync(cfg, JSON.stringify(config()));
  const uri = `nbd+unix:///LD1?socket=${sock}`;
  const io = (cmds: string[]) =>
    run('qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), uri], { maxBuffer: 1 << 24 });
  const first = await startServe(['--config', cfg, '--data-dir', dir, '--socket', sock]);
  const t0 = performance.now();
  for (let i = 0; i < gib; i++) await io([`write -P ${0x11 + i} ${i}G 1G`, 'flush']);
  const writeSec = (performance.now() - t0) / 1000;
  first.child.kill('SIGKILL');
  await first.exited;
  const t1 = performance.now();
  const second = await startServe(['--data-dir', dir, '--socket', sock]);
  const restartMs = performance.now() - t1;
  try {
    const rss = Number((await run('ps', ['-o', 'rss=', '-p', String(second.child.pid)])).stdout.trim()) * 1024;
    for (let i = 0; i < gib; i++) {
      const r = await io([`read -P ${0x11 + i} ${i}G 1G`]);
      if (/Pattern verification failed|error/i.test(r.stdout + r.stderr)) throw new Error(`GiB ${i} did not verify`);
    }
    return {
      gib,
      writeSec: Math.round(writeSec * 10) / 10,
      restartMs: Math.round(restartMs),
      rssMiB: Math.round(rss / 2 ** 20),
    };
  } finally {
    await second.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

const arg = (name: string) => process.argv[process.argv.indexOf(name) + 1];
const sizes = (process.argv.includes('--gib') ? arg('--gib')! : '0,1,3').split(',').map(Number);
const out = [];
for (const gib of sizes) {
  const r = await oneSize(gib);
  out.push(r);
  if (!process.argv.includes('--json'))
    console.log(
      `${gib} GiB held: restart ${r.restartMs} ms, server RSS after it ${r.rssMiB} MiB (written in ${r.writeSec} s, every GiB read back)`,
    );
}
if (process.argv.includes('--json')) console.log(JSON.stringify(out));
