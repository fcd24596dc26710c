// Where `arrayemu serve`'s threads spend their time under one fio job over NBD: the profile behind
// docs/BENCHMARKS.md ("what bounds the targets not met"). Run it under the V8 profiler, which
// writes one .cpuprofile per thread, then read the NBD (main) thread's with --top:
//   node --cpu-prof --cpu-prof-dir=D --import tsx scripts/nbd-profile.ts [randrw64k|randread4k|randwrite4k] [--passes N]
//   npx tsx scripts/nbd-profile.ts --top D/<file>.cpuprofile
// The array is the speed benchmark's (bench/nbd-bench.ts): LD1 of 256 MiB on 4 instant drives,
// 4 disk adapters, 2 host adapters, worker threads.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nbdConfig, NBD_DEVICE_BYTES } from '../bench/nbd-bench.ts';
import { serve } from '../src/serve/serve.ts';

const JOBS: Record<string, string[]> = {
  randrw64k: ['--rw=randrw', '--bs=64k', '--iodepth=16', '--verify=crc32c', '--do_verify=1', '--size=64m'],
  randread4k: ['--rw=randread', '--bs=4k', '--iodepth=32', '--time_based', '--runtime=4'],
  randwrite4k: ['--rw=randwrite', '--bs=4k', '--iodepth=32', '--time_based', '--runtime=4'],
  // The steady state of randrw64k, long enough that the threads' start (modules loaded, compiled) is a small part of the profile.
  randrw64kLong: ['--rw=randrw', '--bs=64k', '--iodepth=16', '--time_based', '--runtime=20'],
};
/** Functions listed by --top. */
const TOP_FUNCTIONS = 20;

interface Profile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

/** Self time by function of one .cpuprofile, idle left out, as shares of the busy time. */
function top(file: string): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const f = byId.get(id)!;
    const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}`;
    self.set(name, (self.get(name) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  const idleUs = self.get('(idle) ') ?? 0;
  self.delete('(idle) ');
  const busyUs = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(`busy ${(busyUs / 1000).toFixed(0)} ms, idle ${(idleUs / 1000).toFixed(0)} ms`);
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP_FUNCTIONS))
    console.log(`${((100 * us) / busyUs).toFixed(1).padStart(5)}%  ${name}`);
}

async function profileRun(job: string, passes: number): Promise<void> {
  const args = JOBS[job];
  if (!args) throw new Error(`job ${job}: expected one of ${Object.keys(JOBS).join(', ')}`);
  const sock = join(mkdtempSync(join(tmpdir(), 'arrayemu-profile-')), 'nbd.sock');
  const s = await serve(nbdConfig(), { socket: sock });
  try {
    const sized = args.some((a) => a.startsWith('--size')) ? args : [...args, `--size=${NBD_DEVICE_BYTES}`];
    const fio = ['--name=profile', '--ioengine=nbd', `--uri=nbd+unix:///LD1?socket=${sock}`, ...sized];
    const r = await promisify(execFile)('fio', [...fio, `--loops=${passes}`, '--output-format=json'], {
      maxBuffer: 1 << 26,
    });
    const j = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).jobs[0];
    console.log(`${job}: ${((j.read.bw + j.write.bw) / 1024).toFixed(1)} MiB/s`);
  } finally {
    await s.close();
  }
}

const argv = process.argv.slice(2);
try {
  if (argv[0] === '--top') top(argv[1]!);
  else {
    const at = argv.indexOf('--passes');
    await profileRun(argv[0] ?? 'randrw64k', at >= 0 ? Number(argv[at + 1]) : 30);
  }
} catch (err) {
  process.stderr.write(`nbd-profile: ${(err as Error).message}\n`);
  process.exitCode = 2;
}
