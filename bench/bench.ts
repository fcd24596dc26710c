// npm run bench: host throughput through the full actor path (host processors in a piscina pool →
// host adapter worker → shared cache, disk adapters destaging behind) beside an in-process,
// single-threaded reference doing the same address mapping and copies, in the same run.
import { cpus, totalmem, tmpdir } from 'node:os';
import { readFileSync, writeFileSync, existsSync, mkdtempSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig, parseConfig } from '../src/shared/config.ts';
import { ArrayEmulator } from '../src/runtime/emulator.ts';
import { HostClient } from '../src/host/client.ts';
import { runWorkload } from '../src/host/run.ts';
import { seededRandom } from '../src/host/workload.ts';
import type { DeviceLayout } from '../src/shared/layout.ts';
import { restripeBench, restripeMarkdown } from './restripe.ts';
import { driveModelBench, driveModelMarkdown } from './drive-model.ts';
import { scalingMarkdown, scalingSweep, sweepBench, sweepMarkdown } from './sweep-bench.ts';
import { nbdBench, nbdMarkdown } from './nbd-bench.ts';
import { restripeSweepBench, restripeSweepMarkdown, virtualSpeedBench, virtualSpeedMarkdown } from './restripe-sweep.ts';
import { dirname, join } from 'node:path';

const FIG2 = fileURLToPath(new URL('../examples/fig2.json', import.meta.url));

interface Row {
  case: string;
  blockBytes: number;
  readPct: number;
  actorOpsPerSec: number;
  actorMBPerSec: number;
  actorP99Ms: number;
  referenceOpsPerSec: number;
  ratio: number;
}

/** The reference: one thread, the same locate() and the same copies into and out of a track cache. */
function reference(layout: DeviceLayout, trackBytes: number, blockBytes: number, read: boolean, seconds: number): number {
  const tracks = layout.tracks;
  const cache = new Uint8Array(tracks * trackBytes);
  const slotByGlobal = new Map<number, number>();
  for (let t = 0; t < tracks; t++) slotByGlobal.set(layout.locate(t), t);
  const slotIndex = new Int32Array(Math.max(...slotByGlobal.keys()) + 1).fill(-1);
  for (const [g, s] of slotByGlobal) slotIndex[g] = s;
  const bytes = tracks * trackBytes;
  const blocks = Math.floor(bytes / blockBytes);
  const rand = seededRandom(1);
  const src = new Uint8Array(blockBytes).fill(0xa5);
  let ops = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 256; k++) {
      const off = Math.floor(rand() * blocks) * blockBytes;
      const out = read ? new Uint8Array(blockBytes) : src;
      let pos = 0;
      while (pos < blockBytes) {
        const abs = off + pos;
        const t = Math.floor(abs / trackBytes);
        const at = abs - t * trackBytes;
        const len = Math.min(trackBytes - at, blockBytes - pos);
        const base = slotIndex[layout.locate(t)]! * trackBytes + at;
        if (read) out.set(cache.subarray(base, base + len), pos);
        else cache.set(src.subarray(pos, pos + len), base);
        pos += len;
      }
      ops++;
    }
  }
  return (ops / (performance.now() - t0)) * 1000;
}

export async function benchCommand(opts: { write?: string; quick?: boolean; json?: boolean; only?: string }): Promise<number> {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const date = new Date().toISOString().slice(0, 10);
  const say = (s: string) => !opts.json && process.stdout.write(`${s}\n`);
  const out: Record<string, unknown> = { machine, date };
  if (opts.only === undefined || opts.only === 'drive-model') {
    const rows = driveModelBench();
    out.driveModel = rows;
    for (const r of rows) say(`drive model ${r.preset}: QD1 8 KiB read ${r.qd1ReadMs} ms; QD32 SPTF ${r.sptfQd32Iops} IOPS (${r.sptfOverQd1}x QD1)`);
    if (opts.write) writeSection(opts.write, 'drive-model', driveModelMarkdown(rows, date));
  }
  if (opts.only === undefined || opts.only === 'sweep') {
    const points = await scalingSweep(opts.write ? dirname(opts.write) : mkdtempSync(join(tmpdir(), 'arrayemu-sweep-')), !!opts.quick, say);
    out.scaling = points;
    if (opts.write) writeSection(opts.write, 'scaling', scalingMarkdown(points, date));
    const rows = await sweepBench(!!opts.quick, say);
    out.sweep = rows;
    if (opts.write) writeSection(opts.write, 'sweep', sweepMarkdown(rows, machine, date, opts.quick ? 0.5 : 2));
    const runs = await restripeSweepBench(opts.write ? dirname(opts.write) : mkdtempSync(join(tmpdir(), 'arrayemu-sweep-')), !!opts.quick, say);
    out.restripeSweep = runs.map((r) => ({ model: r.model, points: r.points.map((p) => ({ diskAdapters: p.diskAdapters, restripe: p.restripe })) }));
    if (opts.write) writeSection(opts.write, 'restripe-sweep', restripeSweepMarkdown(runs, date));
    const speed = await virtualSpeedBench(!!opts.quick, say);
    out.virtualSpeed = speed;
    if (opts.write) writeSection(opts.write, 'virtual-speed', virtualSpeedMarkdown(speed, machine, date));
  }
  if (opts.only === 'sweep') return report(out, opts);
  if (opts.only === undefined || opts.only === 'nbd') {
    const rows = await nbdBench(!!opts.quick, say);
    out.nbd = rows;
    if (opts.write) writeSection(opts.write, 'nbd', nbdMarkdown(rows, machine, date));
    if (opts.only === 'nbd') return report(out, opts);
  }
  if (opts.only !== 'restripe' && opts.only !== 'drive-model') out.hostIo = await hostIoBench(opts, machine, date, say);
  if (opts.only !== 'host-io' && opts.only !== 'drive-model') {
    const f = await restripeBench(!!opts.quick, say);
    out.restripe = f;
    if (opts.write) writeSection(opts.write, 'restripe', restripeMarkdown(f, machine, date));
  }
  return report(out, opts);
}

function report(out: Record<string, unknown>, opts: { json?: boolean }): number {
  if (opts.json) process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

async function hostIoBench(opts: { write?: string; quick?: boolean }, machine: string, date: string, say: (s: string) => void): Promise<Row[]> {
  const seconds = opts.quick ? 0.5 : 3;
  const raw = JSON.parse(JSON.stringify(loadConfig(FIG2)));
  raw.cache.slots = 1024; // holds every track of the array: reads are cache hits
  const config = parseConfig(raw);
  const emu = await ArrayEmulator.start(config);
  const rows: Row[] = [];
  try {
    const dev = emu.model.device('LD1');
    const tb = emu.model.trackBytes;
    // Warm the cache: every track of LD1 written once (and so resident).
    const host = new HostClient(emu.hostLink(0));
    await Promise.all(Array.from({ length: dev.layout.tracks }, (_, t) => host.write('LD1', t * tb, new Uint8Array(tb).fill(t & 0xff))));
    await host.flush();
    host.close();
    const cases: Array<[string, number, number]> = [
      ['4 KiB random read (cached)', 4096, 100],
      ['4 KiB random write', 4096, 0],
      ['64 KiB random read (cached)', 65536, 100],
      ['64 KiB random write', 65536, 0],
    ];
    for (const [name, blockBytes, readPct] of cases) {
      const s = await runWorkload(emu, {
        hostProcessors: 2,
        seconds,
        queueDepth: 64,
        readPct,
        blockBytes,
        pattern: 'random',
        seed: 3,
        devices: ['LD1'],
        verify: false,
      });
      if (s.ioErrors > 0) throw new Error(`${name}: ${s.ioErrors} I/O errors: ${s.described[0]}`);
      const ref = reference(dev.layout, tb, blockBytes, readPct === 100, seconds);
      const actor = s.iops;
      rows.push({
        case: name,
        blockBytes,
        readPct,
        actorOpsPerSec: actor,
        actorMBPerSec: s.mbPerSec,
        actorP99Ms: s.latencyMs.p99,
        referenceOpsPerSec: Math.round(ref),
        ratio: Math.round((actor / ref) * 1000) / 1000,
      });
      say(`${name}: ${actor} ops/s (${s.mbPerSec} MB/s, p99 ${s.latencyMs.p99} ms) vs reference ${Math.round(ref)} ops/s → ratio ${rows.at(-1)!.ratio}`);
    }
  } finally {
    await emu.stop();
  }
  if (opts.write) writeSection(opts.write, 'host-io', hostIoMarkdown(rows, machine, date, seconds));
  return rows;
}

function hostIoMarkdown(rows: Row[], machine: string, date: string, seconds: number): string {
  const table = [
    '| case | actor path ops/s | MB/s | p99 ms | in-process reference ops/s | ratio |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.case} | ${r.actorOpsPerSec} | ${r.actorMBPerSec} | ${r.actorP99Ms} | ${r.referenceOpsPerSec} | ${r.ratio} |`),
  ];
  const r4 = rows.find((r) => r.blockBytes === 4096 && r.readPct === 100);
  const r64 = rows.filter((r) => r.blockBytes === 65536);
  return [
    '## Host I/O through the actors',
    '',
    `Command: \`npm run bench\` · machine: ${machine} · date: ${date} · ${seconds} s per case.`,
    '',
    'FIG. 2 array (4 disk adapters, 1 host adapter), cache of 1024 slots holding every track; LD1 (11.25 MiB)',
    'written once first. 2 host processors (piscina threads) × queue depth 64, verification off (the',
    'benchmark measures the array, not the verifier). The reference does the same `locate()` and',
    'the same copies into and out of a track cache, in one thread, in the same run.',
    '',
    ...table,
    '',
    `Targets: ≥ 100k 4 KiB cached reads/s (measured ${r4?.actorOpsPerSec ?? '?'}); ratio ≥ 0.3 at 64 KiB (measured ${r64.map((r) => r.ratio).join(' and ')}).`,
    '',
  ].join('\n');
}

/** Replace (or append) the section between `<!-- bench:NAME -->` markers in a markdown file. */
export function writeSection(file: string, name: string, body: string): void {
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const text = existsSync(file)
    ? readFileSync(file, 'utf8')
    : '# Benchmarks\n\nFigures written by `npm run bench` (bench/bench.ts). Each section says the command, the machine and the date.\n\n';
  const block = `${start}\n${body}${end}\n`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  const out = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length + 1) : `${text}${block}`;
  writeFileSync(file, out);
}
