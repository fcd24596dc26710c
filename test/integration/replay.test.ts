// Trace replay on one bare drive model: the parsers (MSR, SPC, DiskSim ASCII), open and closed loop,
// the demerit, and refusals of bad traces with their line numbers.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectFormat, parseTrace } from '../../src/lab/trace.ts';
import { replayOnDrive } from '../../src/lab/replay.ts';
import { HddModel } from '../../src/drives/timing/hdd-model.ts';
import { hddPreset } from '../../src/drives/timing/drive-spec.ts';
import { synthesizeMsrTrace } from '../../bench/synthetic-trace.ts';

const atlas = () => new HddModel(hddPreset('atlas10k'));

describe('trace replay on a bare drive', () => {
  // A trace whose "measured" response times are the Atlas 10K model's own, taken closed-loop.
  const text = synthesizeMsrTrace('atlas10k', 1500, 21);
  const recs = parseTrace(text, detectFormat(text));

  it('reproduces a trace taken on the same drive (demerit ~0, same mean), open or closed loop', () => {
    expect(detectFormat(text)).toBe('msr');
    for (const closedLoop of [true, false]) {
      const r = replayOnDrive(atlas(), recs, { closedLoop });
      expect(r.requests).toBe(1500);
      expect(r.demeritMs!).toBeLessThan(0.01);
      expect(Math.abs(r.meanMs - r.measuredMeanMs!)).toBeLessThan(0.01);
      expect(r.responsesMs.length).toBe(1500);
      expect(r.p50Ms).toBeLessThanOrEqual(r.p90Ms);
      expect(r.p90Ms).toBeLessThanOrEqual(r.p99Ms);
    }
  });

  it('tells another drive apart: the demerit grows with the difference', () => {
    const cheetah = replayOnDrive(new HddModel(hddPreset('cheetah9LP')), recs, { closedLoop: true }).demeritMs!;
    const barracuda = replayOnDrive(new HddModel(hddPreset('barracuda')), recs, { closedLoop: true }).demeritMs!;
    expect(cheetah).toBeGreaterThan(0.3);
    expect(barracuda).toBeGreaterThan(cheetah);
  });

  it('reports the mean error and both CDFs: a slower drive is slower by the same % its mean says', () => {
    const r = replayOnDrive(new HddModel(hddPreset('barracuda')), recs, { closedLoop: true });
    expect(r.meanErrorPct!).toBeGreaterThan(0); // the Barracuda is slower than the Atlas that took the trace
    expect(r.meanErrorPct!).toBeCloseTo((100 * (r.meanMs - r.measuredMeanMs!)) / r.measuredMeanMs!, 0);
    const measured = recs.map((x) => x.responseMs!).sort((a, b) => a - b);
    expect(r.measuredCdf!.length).toBe(r.cdf.length);
    expect(r.measuredCdf!.map((c) => c.fraction)).toEqual(r.cdf.map((c) => c.fraction));
    expect(r.measuredCdf!.at(-1)!.ms).toBeCloseTo(measured.at(-1)!, 3);
    expect(r.measuredCdf!.every((c, i, a) => i === 0 || c.ms >= a[i - 1]!.ms)).toBe(true);
    const same = replayOnDrive(atlas(), recs, { closedLoop: true });
    expect(Math.abs(same.meanErrorPct!)).toBeLessThan(0.5);
  });

  it('closed loop keeps the trace think times: a slower drive stretches the run, open loop queues instead', () => {
    const slow = () => new HddModel(hddPreset('barracuda'));
    const closed = replayOnDrive(slow(), recs, { closedLoop: true });
    const open = replayOnDrive(slow(), recs, { closedLoop: false });
    expect(open.meanMs).toBeGreaterThan(closed.meanMs); // arrivals do not wait for the slow drive: queueing
  });

  it('reads SPC and DiskSim ASCII; no response times there, so no demerit', () => {
    const spc = '0,100,8192,r,0.000000\n0,5000,4096,W,0.010500\n1,77,512,R,0.020000\n';
    expect(detectFormat(spc)).toBe('spc');
    expect(parseTrace(spc, 'spc')).toEqual([
      { line: 1, timeMs: 0, lbn: 100, blocks: 16, write: false },
      { line: 2, timeMs: 10.5, lbn: 5000, blocks: 8, write: true },
      { line: 3, timeMs: 20, lbn: 77, blocks: 1, write: false },
    ]);
    const ds = '0.0 0 1000 16 1\n3.5 0 2000 8 0\n';
    expect(detectFormat(ds)).toBe('disksim');
    expect(parseTrace(ds, 'disksim').map((r) => [r.timeMs, r.lbn, r.blocks, r.write])).toEqual([
      [0, 1000, 16, false],
      [3.5, 2000, 8, true],
    ]);
    const r = replayOnDrive(atlas(), parseTrace(ds, 'disksim'), { closedLoop: false });
    expect(r.demeritMs).toBeNull();
    expect(r.measuredMeanMs).toBeNull();
  });

  it('refuses a bad trace before anything runs, naming the line and the reason', () => {
    expect(() => parseTrace('0,h,0,Read,0,4096,10\n1,h,0,Erase,0,4096,10\n', 'msr')).toThrow(
      /trace line 2: type "Erase" is neither Read nor Write/,
    );
    expect(() => parseTrace('0,h,0,Read,0,4096\n', 'msr')).toThrow(/trace line 1: 6 fields, MSR has 7/);
    expect(() => parseTrace('0,h,0,Read,-512,4096,10\n', 'msr')).toThrow(/trace line 1: offset "-512"/);
    expect(() => parseTrace('5 0 10 8 1\n4 0 10 8 1\n', 'disksim')).toThrow(/trace line 2: time 4 ms goes back/);
    expect(() => parseTrace('0,1,0,r,0\n', 'spc')).toThrow(/trace line 1: size 0/);
    expect(() => detectFormat('a;b;c\n')).toThrow(/none of the formats/);
    expect(() => replayOnDrive(atlas(), parseTrace('0 0 999999999 8 1\n', 'disksim'), { closedLoop: false })).toThrow(
      /trace line 1: blocks 999999999\.\.1000000006 lie past the end of the atlas10k/,
    );
  });

  it('arrayemu replay: --json, --responses in trace order, exit 2 naming the line of a bad trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-replay-'));
    const trace = join(dir, 't.csv');
    writeFileSync(trace, text);
    const out = join(dir, 'resp.txt');
    const r = spawnSync(
      process.execPath,
      [
        'bin/arrayemu.mjs',
        'replay',
        '--trace',
        trace,
        '--drive-model',
        'atlas10k',
        '--closed-loop',
        '--responses',
        out,
        '--chart',
        join(dir, 'cdf.svg'),
        '--json',
      ],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j)).toEqual([
      'requests',
      'meanMs',
      'p50Ms',
      'p90Ms',
      'p99Ms',
      'measuredMeanMs',
      'demeritMs',
      'meanErrorPct',
      'cdf',
      'measuredCdf',
    ]);
    expect(j.demeritMs).toBeLessThan(0.01);
    const svg = readFileSync(join(dir, 'cdf.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    for (const word of ['measured', 'simulated', 'demerit']) expect(svg).toContain(word);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map(Number);
    expect(lines.length).toBe(1500);
    expect(lines[0]).toBeCloseTo(recs[0]!.responseMs!, 2);
    writeFileSync(trace, `${text}garbage line\n`);
    const bad = spawnSync(
      process.execPath,
      ['bin/arrayemu.mjs', 'replay', '--trace', trace, '--drive-model', 'atlas10k'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/trace line 1501: 1 fields, MSR has 7/);
    expect(bad.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack for a user's mistake
  });
});

describe('virtual time', () => {
  it('run --virtual: the same seed gives byte-identical figures; drives take their model’s time', () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-virtual-'));
    const cfg = JSON.parse(readFileSync('examples/fig2.json', 'utf8'));
    cfg.geometry = { trackBytes: 4096, headsPerCylinder: 2 };
    cfg.cache = { slots: 16 };
    for (const d of cfg.drives) d.model = { preset: 'atlas10k', cache: false };
    const file = join(dir, 'fig2-atlas.json');
    writeFileSync(file, JSON.stringify(cfg));
    const run = () =>
      spawnSync(
        process.execPath,
        [
          'bin/arrayemu.mjs',
          'run',
          '--config',
          file,
          '--ops',
          '600',
          '--queue-depth',
          '1',
          '--host-processors',
          '1',
          '--read-pct',
          '100',
          '--virtual',
          '--json',
        ],
        { encoding: 'utf8', timeout: 120_000 },
      );
    const a = run();
    const b = run();
    expect(a.status).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const j = JSON.parse(a.stdout);
    expect(j.clock).toBe('virtual');
    // One request at a time, a 16-slot cache over 40 host tracks: the reads that miss wait for an
    // Atlas 10K (short seeks on this small array, up to a revolution, one 4 KiB transfer).
    expect(j.host.latencyMs.p99).toBeGreaterThan(4); // a miss waits up to a revolution (6 ms): p99 near it
    expect(j.host.latencyMs.p99).toBeLessThan(12);
    expect(j.host.verifyErrors).toBe(0);
  });
});

describe('replay through a whole array', () => {
  it('serves the trace on a logical device in virtual time (reproducibly), and refuses one past its end', async () => {
    const { runSeeded } = await import('../../src/shared/sched/sched.ts');
    const { ArrayEmulator } = await import('../../src/runtime/emulator.ts');
    const { replayOnArray } = await import('../../src/lab/replay.ts');
    const { parseConfig } = await import('../../src/shared/config/config.ts');
    const raw = JSON.parse(readFileSync('examples/fig2.json', 'utf8'));
    raw.geometry = { trackBytes: 4096, headsPerCylinder: 2 };
    raw.cache = { slots: 8 };
    for (const d of raw.drives) d.model = { preset: 'atlas10k', cache: false };
    const config = parseConfig(raw);
    const trace = Array.from(
      { length: 200 },
      (_, i) => `${(i * 7.5).toFixed(1)} 0 ${(i * 37) % 184} 8 ${i % 3 === 0 ? 0 : 1}`,
    ).join('\n');
    const recs = parseTrace(trace, 'disksim');
    const once = async () =>
      (
        await runSeeded({ seed: 1, choose: () => 0, stepCostMs: 0.001 }, async () => {
          const emu = await ArrayEmulator.start(config, { mode: 'inline' });
          try {
            return await replayOnArray(emu, 'LD1', recs, { closedLoop: false });
          } finally {
            await emu.stop();
          }
        })
      ).value;
    const a = await once();
    const b = await once();
    expect(a.responsesMs).toEqual(b.responsesMs);
    expect(a.requests).toBe(200);
    expect(a.p99Ms).toBeGreaterThan(2); // misses wait for an Atlas 10K
    const past = parseTrace('0 0 190 8 1\n', 'disksim'); // LD1: 12 cylinders × 2 heads × 8 blocks = 192 blocks
    await expect(
      runSeeded({ seed: 1, choose: () => 0 }, async () => {
        const emu = await ArrayEmulator.start(config, { mode: 'inline' });
        try {
          return await replayOnArray(emu, 'LD1', past, { closedLoop: false });
        } finally {
          await emu.stop();
        }
      }),
    ).rejects.toThrow(/trace line 1: blocks 190\.\.197 lie past the end of device LD1 \(192 blocks\)/);
  });
});
