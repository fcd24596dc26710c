// Where `arrayemu serve`'s threads spend their time under one fio job over NBD: the profiles behind
// docs/BENCHMARKS.md. The server runs as its own process under the V8 profiler (one .cpuprofile per
// thread in D), fio against it:
//   npx tsx scripts/nbd-profile.ts [randrw64k|randrw64kLong|randread4k|randwrite4k|randwrite64k] --dir D [--passes N] [--fill]
// then every thread's time, by role, in µs a request over the fio run alone (the line the run prints:
// its I/Os and its window on the monotonic clock, which V8's profiles use too):
//   npx tsx scripts/nbd-profile.ts --threads D --ios N --window FROM_US TO_US
// or one thread's functions: npx tsx scripts/nbd-profile.ts --top D/<file>.cpuprofile
// The array is the speed benchmark's (bench/nbd-bench.ts): LD1 of 256 MiB on 4 instant drives,
// 4 disk adapters, 2 host adapters, worker threads.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nbdConfig, NBD_DEVICE_BYTES } from '../bench/nbd-bench.ts';
import { startServe } from './serve-child.ts';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

const JOBS: Record<string, string[]> = {
  randrw64k: ['--rw=randrw', '--bs=64k', '--iodepth=16', '--verify=crc32c', '--do_verify=1', '--size=64m'],
  randread4k: ['--rw=randread', '--bs=4k', '--iodepth=32', '--time_based', '--runtime=4'],
  randwrite4k: ['--rw=randwrite', '--bs=4k', '--iodepth=32', '--time_based', '--runtime=4'],
  randwrite64k: ['--rw=randwrite', '--bs=64k', '--iodepth=16', '--time_based', '--runtime=8'],
  // The steady state of randrw64k, long enough that the threads' start (modules loaded, compiled) is a small part of the profile.
  randrw64kLong: ['--rw=randrw', '--bs=64k', '--iodepth=16', '--time_based', '--runtime=20'],
};
/** Functions of "the rest" shown per thread by --threads. */
const REST_SHOWN = 8;
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

/** What a function's self time is spent on (the rows of BENCHMARKS' per-thread table). */
const KINDS: Array<[string, RegExp]> = [
  [
    'module loading (start)',
    /esm\/|cjs\/|bootstrap\/|compileSourceTextModule|makeSyncRequest|waitForWorker|makeAsyncRequest|dist\/register|cjs-module-lexer|from-json-schema|core\/(core|util|schemas)/,
  ],
  ['garbage collection', /^\(garbage collector\)/],
  ['socket writes and reads', /^(writev|writeBuffer|writeUtf8String|onStreamRead|readStop|readStart) /],
  ['waking / messaging another thread', /^(postMessage|notify|receiveMessageOnPort|MessageChannel) /],
  [
    'copies of data (slot, drive, payload)',
    /^(write|read) host-adapter\/cache-slots|^(writeRange|readTrack|stageInto) |_copyActual|^set |^slice /,
  ],
  ['checksums (crc32)', /^crc32 /],
];

/** Every thread's profile in D by role (from where its time goes), in µs a request over `ios` requests. */
function threads(dir: string, ios: number, fromUs: number, toUs: number): void {
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Profile & { startTime: number };
    const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    const kinds = new Map<string, number>();
    const files = new Map<string, number>();
    const rest = new Map<string, number>();
    let at = p.startTime;
    p.samples.forEach((id, i) => {
      at += p.timeDeltas[i] ?? 0;
      if (at < fromUs || at > toUs) return;
      const c = byId.get(id)!;
      const name = `${c.functionName || '(anonymous)'} ${c.url.split('/').slice(-2).join('/')}`;
      if (name.startsWith('(idle)')) return;
      const us = p.timeDeltas[i] ?? 0;
      const kind = KINDS.find(([, re]) => re.test(name))?.[0] ?? 'the rest';
      kinds.set(kind, (kinds.get(kind) ?? 0) + us);
      if (kind === 'the rest') rest.set(name, (rest.get(name) ?? 0) + us);
      const room = /\/src\/([a-z-]+)\//.exec(c.url)?.[1];
      if (room) files.set(room, (files.get(room) ?? 0) + us);
    });
    kinds.delete('module loading (start)');
    const busy = [...kinds.values()].reduce((a, b) => a + b, 0);
    const role = [...files].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '(none: a module loader)';
    const row = [...kinds].sort((a, b) => b[1] - a[1]).map(([k, us]) => `${k} ${(us / ios).toFixed(1)}`);
    console.log(`${f}: mostly src/${role}; ${(busy / ios).toFixed(1)} µs a request: ${row.join(', ')}`);
    const most = [...rest].sort((a, b) => b[1] - a[1]).slice(0, REST_SHOWN);
    if (busy / ios >= 1)
      console.log(`  the rest, most: ${most.map(([n, us]) => `${n} ${(us / ios).toFixed(1)}`).join('; ')}`);
  }
}

/**
 * `arrayemu serve` as its own process under the V8 profiler (--cpu-prof: one .cpuprofile per
 * thread in `dir`, written as it exits), a fio job against it, then the server stopped. Its own
 * process, as a user runs it: a server in this process would be forked with every fio started here.
 */
async function profileRun(job: string, passes: number, fill: boolean, dir: string): Promise<void> {
  const args = JOBS[job];
  if (!args) throw new Error(`job ${job}: expected one of ${Object.keys(JOBS).join(', ')}`);
  const tmp = mkdtempSync(join(tmpdir(), 'arrayemu-profile-'));
  const sock = join(tmp, 'nbd.sock');
  writeFileSync(join(tmp, 'array.json'), JSON.stringify(nbdConfig()));
  const s = await startServe(['--config', join(tmp, 'array.json'), '--socket', sock], REPO_ROOT, process.env, [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
  ]);
  const uri = `--uri=nbd+unix:///LD1?socket=${sock}`;
  try {
    const sized = args.some((a) => a.startsWith('--size')) ? args : [...args, `--size=${NBD_DEVICE_BYTES}`];
    if (fill)
      await run('fio', [
        '--name=fill',
        '--ioengine=nbd',
        uri,
        '--rw=write',
        '--bs=1m',
        '--iodepth=8',
        `--size=${NBD_DEVICE_BYTES}`,
      ]);
    const fromUs = process.hrtime.bigint() / 1000n;
    const r = await run(
      'fio',
      ['--name=profile', '--ioengine=nbd', uri, ...sized, `--loops=${passes}`, '--output-format=json'],
      {
        maxBuffer: 1 << 26,
      },
    );
    const toUs = process.hrtime.bigint() / 1000n;
    const j = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).jobs[0];
    const ios = j.read.total_ios + j.write.total_ios;
    console.log(`${job}: ${((j.read.bw + j.write.bw) / 1024).toFixed(1)} MiB/s, ${ios} I/Os`);
    console.log(`per thread: --threads ${dir} --ios ${ios} --window ${fromUs} ${toUs}`);
  } finally {
    await s.stop();
  }
}

const argv = process.argv.slice(2);
try {
  if (argv[0] === '--top') top(argv[1]!);
  else if (argv[0] === '--threads') {
    const w = argv.indexOf('--window');
    threads(argv[1]!, Number(argv[argv.indexOf('--ios') + 1]), Number(argv[w + 1]), Number(argv[w + 2]));
  } else {
    const at = argv.indexOf('--passes');
    // --fill: every block written once first (sequential 1 MiB writes), as the bench does.
    const d = argv.indexOf('--dir');
    if (d < 0) throw new Error('--dir D: where the profiles go (one .cpuprofile per thread)');
    await profileRun(
      argv[0] ?? 'randrw64k',
      at >= 0 ? Number(argv[at + 1]) : 30,
      argv.includes('--fill'),
      argv[d + 1]!,
    );
  }
} catch (err) {
  process.stderr.write(`nbd-profile: ${(err as Error).message}\n`);
  process.exitCode = 2;
}
