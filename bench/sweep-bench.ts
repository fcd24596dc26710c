// npm run bench: the adapter-count sweep in virtual time beside the same points in real time
// (worker threads, drives waiting for real), side by side in one run.
import { join } from 'node:path';
import { runSweep, type SweepOptions, type SweepPoint } from '../src/lab/sweep.ts';
import { writeSweepOutputs } from '../src/lab/sweep-charts.ts';

export interface SweepBenchRow {
  diskAdapters: number;
  drives: number;
  virtualIops: number;
  realIops: number;
  realOverVirtual: number;
  virtualP99Ms: number;
  realP99Ms: number;
}

/** The benchmarks' sweep: random 4 KiB reads on four Atlas 10Ks per disk adapter, QD 4 per drive, one host adapter. */
const BENCH_POINT: SweepOptions = {
  diskAdapters: [1],
  hostAdapters: [1],
  drivesPerAdapter: 4,
  driveModel: 'atlas10k',
  workload: 'randread',
  blockBytes: 4096,
  queueDepth: 4,
  seconds: 1,
  seed: 1,
};

/**
 * 1 to 16 disk adapters in virtual time, with its charts written beside the markdown file
 * (`<dir>/sweep/`): the scaling figure of the benchmarks.
 */
export async function scalingSweep(dir: string, quick: boolean, say: (s: string) => void): Promise<SweepPoint[]> {
  const o: SweepOptions = {
    ...BENCH_POINT,
    diskAdapters: quick ? [1, 2, 4] : [1, 2, 4, 8, 16],
    seconds: quick ? 0.5 : 1,
  };
  const { points } = await runSweep({ ...o, clock: 'virtual' });
  const out = join(dir, 'sweep');
  await writeSweepOutputs(out, points, o);
  for (const p of points) say(`sweep ${p.diskAdapters} DA (virtual): ${p.iops} IOPS`);
  return points;
}

export function scalingMarkdown(points: SweepPoint[], date: string): string {
  const one = points[0]!;
  return [
    '## Adapter-count sweep (virtual time)',
    '',
    `Command: \`npm run bench\` (the same as \`arrayemu sweep --disk-adapters ${points.map((p) => p.diskAdapters).join(',')} --seconds 1 --out docs/sweep\`) · random 4 KiB reads, 4 full-size \`atlas10k\` drives per disk adapter (SPTF), QD 4 per drive, one host adapter · figures of the model (virtual time), the same on any machine · date: ${date}. Files: \`docs/sweep/\`.`,
    '',
    '| disk adapters | drives | IOPS | ÷ (adapters × 1-adapter IOPS) | p50 ms | p99 ms |',
    '|---:|---:|---:|---:|---:|---:|',
    ...points.map(
      (p) =>
        `| ${p.diskAdapters} | ${p.drives} | ${p.iops} | ${(p.iops / (p.diskAdapters * (one.iops / one.diskAdapters))).toFixed(2)} | ${p.latencyMs.p50} | ${p.latencyMs.p99} |`,
    ),
    '',
    '![IOPS against disk adapters](sweep/iops.svg)',
    '![latency against disk adapters](sweep/latency.svg)',
    '',
    "With drive-bound random reads throughput grows with the disk adapters close to linearly (target ≥ 0.9 at 16) and latency stays flat. Modelled: the drives, each disk adapter's 200 MB/s back-end link and 30 µs per drive command, and the host adapter's two 200 MB/s ports and 30 µs per request (src/shared/cost/cost.ts); one host adapter carries 16 adapters' random reads with room to spare.",
    '',
  ].join('\n');
}

export async function sweepBench(quick: boolean, say: (s: string) => void): Promise<SweepBenchRow[]> {
  const o: SweepOptions = { ...BENCH_POINT, diskAdapters: [1, 2, 4], seconds: quick ? 0.5 : 2 };
  const virtual = await runSweep({ ...o, clock: 'virtual' });
  const real = await runSweep({ ...o, clock: 'real' });
  const rows = virtual.points.map((v: SweepPoint, i) => {
    const r = real.points[i]!;
    return {
      diskAdapters: v.diskAdapters,
      drives: v.drives,
      virtualIops: v.iops,
      realIops: r.iops,
      realOverVirtual: Math.round((r.iops / v.iops) * 100) / 100,
      virtualP99Ms: v.latencyMs.p99,
      realP99Ms: r.latencyMs.p99,
    };
  });
  for (const r of rows)
    say(`sweep ${r.diskAdapters} DA: virtual ${r.virtualIops} IOPS, real ${r.realIops} IOPS (${r.realOverVirtual})`);
  return rows;
}

export function sweepMarkdown(rows: SweepBenchRow[], machine: string, date: string, seconds: number): string {
  return [
    '## Sweep: virtual time beside real time',
    '',
    `Command: \`npm run bench\` (or \`arrayemu bench --only sweep\`) · machine: ${machine} · date: ${date} · random 4 KiB reads, 4 \`atlas10k\` drives per disk adapter, QD 4 per drive, ${seconds} s per point on each clock.`,
    '',
    '| disk adapters | drives | virtual IOPS | real IOPS | real ÷ virtual | virtual p99 ms | real p99 ms |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.diskAdapters} | ${r.drives} | ${r.virtualIops} | ${r.realIops} | ${r.realOverVirtual} | ${r.virtualP99Ms} | ${r.realP99Ms} |`,
    ),
    '',
    'Target: real within 10% of virtual at 1, 2 and 4 adapters. Real time runs every actor in a worker thread on 2 cores; a machine busy with other work slows the real run (not the virtual one).',
    '',
  ].join('\n');
}
