// npm run bench: the adapter-count sweep in virtual time beside the same points in real time
// (worker threads, drives waiting for real), side by side in one run.
import { runSweep, type SweepOptions, type SweepPoint } from '../src/host/sweep.ts';

export interface SweepBenchRow {
  diskAdapters: number;
  drives: number;
  virtualIops: number;
  realIops: number;
  realOverVirtual: number;
  virtualP99Ms: number;
  realP99Ms: number;
}

export async function sweepBench(quick: boolean, say: (s: string) => void): Promise<SweepBenchRow[]> {
  const o: SweepOptions = {
    diskAdapters: [1, 2, 4],
    hostAdapters: [1],
    drivesPerAdapter: 4,
    driveModel: 'atlas10k',
    workload: 'randread',
    blockBytes: 4096,
    queueDepth: 4,
    seconds: quick ? 0.5 : 2,
    seed: 1,
  };
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
  for (const r of rows) say(`sweep ${r.diskAdapters} DA: virtual ${r.virtualIops} IOPS, real ${r.realIops} IOPS (${r.realOverVirtual})`);
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
    ...rows.map((r) => `| ${r.diskAdapters} | ${r.drives} | ${r.virtualIops} | ${r.realIops} | ${r.realOverVirtual} | ${r.virtualP99Ms} | ${r.realP99Ms} |`),
    '',
    'Target: real within 10% of virtual at 1, 2 and 4 adapters. Real time runs every actor in a worker thread on 2 cores; a machine busy with other work slows the real run (not the virtual one).',
    '',
  ].join('\n');
}
