// The adapter-count sweep in virtual time: linear scaling of drive-bound random reads with disk
// adapters, byte-identical results for the same options, its files, and clear refusals.
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sweep = (out: string, ...extra: string[]) =>
  spawnSync(
    process.execPath,
    [
      'bin/arrayemu.mjs',
      'sweep',
      '--disk-adapters',
      '1,2,4',
      '--drives-per-adapter',
      '4',
      '--queue-depth',
      '4',
      '--seconds',
      '0.5',
      '--virtual',
      '--out',
      out,
      ...extra,
    ],
    { encoding: 'utf8', timeout: 240_000 },
  );

describe('arrayemu sweep', () => {
  it('random 4 KiB reads scale with disk adapters (≥ 0.9 × linear), the same options give the same results.json, charts and index.html are written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-sweep-'));
    const a = sweep(join(dir, 'a'));
    expect(a.status, a.stderr).toBe(0);
    const b = sweep(join(dir, 'b'));
    expect(b.status, b.stderr).toBe(0);
    const ra = readFileSync(join(dir, 'a', 'results.json'), 'utf8');
    expect(readFileSync(join(dir, 'b', 'results.json'), 'utf8')).toBe(ra);
    const { points } = JSON.parse(ra);
    expect(points.map((p: any) => [p.diskAdapters, p.hostAdapters, p.drives])).toEqual([
      [1, 1, 4],
      [2, 1, 8],
      [4, 1, 16],
    ]);
    const one = points[0].iops;
    expect(one).toBeGreaterThan(4 * 50); // four full-size Atlas 10K drives at QD 4 each: drive-bound
    expect(points[2].iops).toBeGreaterThanOrEqual(0.9 * 4 * one);
    for (const p of points) {
      expect(Object.keys(p)).toEqual(
        expect.arrayContaining(['diskAdapters', 'hostAdapters', 'drives', 'iops', 'mbps', 'latencyMs', 'restripe']),
      );
      expect(p.latencyMs.p50).toBeLessThanOrEqual(p.latencyMs.p99);
    }
    for (const f of ['results.csv', 'iops.svg', 'mbps.svg', 'latency.svg', 'index.html'])
      expect(existsSync(join(dir, 'a', f)), f).toBe(true);
    const svg = readFileSync(join(dir, 'a', 'iops.svg'), 'utf8');
    expect(svg).toMatch(/^<svg[^>]*>.*dashed: ideal/s);
    // The x axis is ticked at exactly the adapter counts run (no 1.2, 1.6, 2.2 … of a log scale).
    const ticks = [...svg.matchAll(/<g class="mark-text role-axis-label"[^>]*>(.*?)<\/g>/gs)][0]![1]!;
    expect([...ticks.matchAll(/>([^<]+)<\/text>/g)].map((m) => m[1])).toEqual(['1', '2', '4']);
    // Each measured point carries its figure.
    for (const p of points) expect(svg).toContain(`>${p.iops}</text>`);
    const page = readFileSync(join(dir, 'a', 'index.html'), 'utf8');
    for (const what of ['atlas10k', 'randread', '4096 B', '4 per drive', 'seed', 'arrayemu', 'date'])
      expect(page, what).toContain(what);
    expect(page).toContain(`<td>${points[2].iops}</td>`); // the table of points
    expect(readFileSync(join(dir, 'a', 'results.csv'), 'utf8').split('\n')[0]).toBe(
      'diskAdapters,hostAdapters,drives,iops,mbps,p50Ms,p99Ms,requests,simulatedMs',
    );
  });

  it('random read-writes on full-size drives run to the end, every read verified (state only for the sectors written)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-sweep-'));
    // Four full-size hdd-15k drives an adapter: LD1 is 1.2 TB at two adapters, past any per-sector table here.
    const r = sweep(join(dir, 'rw'), '--drive-model', 'hdd-15k', '--workload', 'randrw', '--seconds', '0.05', '--json');
    expect(r.status, r.stderr).toBe(0);
    const points = JSON.parse(readFileSync(join(dir, 'rw', 'results.json'), 'utf8')).points as Array<{
      iops: number;
      error?: string;
    }>;
    expect(points).toHaveLength(3);
    for (const p of points) {
      expect(p.error).toBeUndefined();
      expect(p.iops).toBeGreaterThan(0);
    }
  });

  it('a point too big for this machine is reported in results.json with its reason, and the sweep goes on', () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-sweep-'));
    const r = spawnSync(
      process.execPath,
      [
        'bin/arrayemu.mjs',
        'sweep',
        ...['--disk-adapters', '1,64,2', '--drives-per-adapter', '16', '--drive-model', 'hdd-15k'],
        ...['--seconds', '0.01', '--out', join(dir, 'big')],
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const points = JSON.parse(readFileSync(join(dir, 'big', 'results.json'), 'utf8')).points as Array<{
      diskAdapters: number;
      iops: number;
      error?: string;
    }>;
    expect(points.map((p) => p.diskAdapters)).toEqual([1, 64, 2]);
    expect(points[1]!.error).toMatch(/the array needs .* GiB of shared memory/); // 1024 full-size drives
    expect(points[1]!.iops).toBe(0);
    for (const p of [points[0]!, points[2]!]) expect(p.iops).toBeGreaterThan(0); // the points around it ran
    expect(r.stdout).toMatch(/64 DA × 1 HA, 1024 drives: could not run: the array needs/);
  });

  it('--trace: the trace replayed at every point, laid onto each device by 1 MiB regions; reproducible', () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-sweep-'));
    const trace = ['--trace', 'examples/traces/atlas10k-synthetic.msr.csv', '--disk-adapters', '1,4'];
    const a = sweep(join(dir, 'a'), ...trace);
    expect(a.status, a.stderr).toBe(0);
    const b = sweep(join(dir, 'b'), ...trace);
    expect(b.status, b.stderr).toBe(0);
    const ra = readFileSync(join(dir, 'a', 'results.json'), 'utf8');
    expect(readFileSync(join(dir, 'b', 'results.json'), 'utf8')).toBe(ra);
    const points = JSON.parse(ra).points as Array<{ requests: number; iops: number; latencyMs: { p99: number } }>;
    expect(points.map((p) => p.requests)).toEqual([2000, 2000]); // every request of the trace, at each point
    expect(points[1]!.latencyMs.p99).toBeLessThan(points[0]!.latencyMs.p99); // four times the drives to spread over
    expect(readFileSync(join(dir, 'a', 'index.html'), 'utf8')).toMatch(
      /atlas10k-synthetic\.msr\.csv \(msr, 2000 requests/,
    );
  });

  it('refuses what it cannot do, naming the option', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-sweep-'));
    const cases: Array<[string[], RegExp]> = [
      [['--drive-model', 'floppy'], /--drive-model floppy: must be one of/],
      [['--workload', 'mixed'], /--workload mixed: must be one of/],
      [['--restripe', 'shrink'], /--restripe shrink: must be one of expand, stripe-change, both/],
      [['--restripe', 'expand', '--real'], /--restripe runs in virtual time only/],
      [['--verify', 'maybe'], /--verify maybe: must be on or off/],
      [['--stage', 'some'], /--stage some: must be partial or track/],
      [['--trace', join(dir, 'none.csv')], /--trace .*none\.csv: cannot be read/],
      [['--closed-loop'], /--format and --closed-loop go with --trace/],
      [['--drive-cylinders', '5000000'], /--drive-cylinders 5000000: a atlas10k holds/],
    ];
    // Each refusal is its own process (as a user meets it), all at once: they start, refuse and exit.
    const runs = await Promise.all(
      cases.map(([args]) => {
        const child = spawn(process.execPath, ['bin/arrayemu.mjs', 'sweep', '--out', join(dir, 'x'), ...args]);
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        return new Promise<{ status: number | null; stderr: string }>((r) =>
          child.on('close', (status) => r({ status, stderr })),
        );
      }),
    );
    runs.forEach((r, i) => {
      expect(r.status, cases[i]![0].join(' ')).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
    });
  });

  it('--restripe expand: the same device restriped at each point under the load and with none; it takes less time with more adapters, and nothing is lost', () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-sweep-'));
    const r = spawnSync(
      process.execPath,
      [
        'bin/arrayemu.mjs',
        'sweep',
        '--disk-adapters',
        '1,2,4',
        '--drives-per-adapter',
        '2',
        '--seconds',
        '0.3',
        '--restripe',
        'expand',
        '--restripe-cylinders',
        '24',
        '--out',
        dir,
        '--json',
      ],
      { encoding: 'utf8', timeout: 240_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const { points } = JSON.parse(r.stdout);
    expect(points[0].restripe).toBeNull(); // one adapter: nothing to expand onto
    const [two, four] = [points[1].restripe, points[2].restripe];
    for (const x of [two, four]) {
      expect(x.kind).toBe('expand');
      expect(x.durationMs).toBeGreaterThan(0);
      expect(x.idleDurationMs).toBeGreaterThanOrEqual(x.lowerBoundMs); // never faster than the drives allow
      expect(x.hostOpsDuringRatio).toBeGreaterThan(0);
    }
    expect(four.idleDurationMs).toBeLessThan(two.idleDurationMs);
    expect(four.lowerBoundMs).toBeLessThan(two.lowerBoundMs);
    expect(existsSync(join(dir, 'restripe.svg'))).toBe(true);
  });
});
