// The drive timing model against the Atlas 10K's published figures (DiskSim's validated drive):
// seek, rotation, media rate, scheduling. Figures of the model, not timings of this machine.
import { describe, expect, it } from 'vitest';
import { hddPreset, BLOCK_BYTES } from '../../src/drives/timing/drive-spec.ts';
import { DiskMechanics } from '../../src/drives/timing/mechanics.ts';
import { HddModel } from '../../src/drives/timing/hdd-model.ts';
import { closedLoop } from '../../src/drives/timing/sim.ts';
import { mulberry32 } from '../../src/shared/sched/sched.ts';

const atlas = hddPreset('atlas10k');
const BLOCKS_8K = 8192 / BLOCK_BYTES;

function randomReads(seed: number, mech: DiskMechanics, blocks: number) {
  const r = mulberry32(seed);
  return () => ({ lbn: Math.floor(r() * (mech.totalBlocks - blocks)), blocks, write: false });
}

describe('drive timing model: Atlas 10K', () => {
  it('reads its geometry from the measured parameter files', () => {
    const m = new DiskMechanics(atlas);
    expect(atlas.rpm).toBe(10025);
    expect(atlas.zones.length).toBe(24);
    expect(m.revMs).toBeCloseTo(5.985, 3);
    // 17,938,986 blocks on the drive less its spares and slips; the zone table holds the rest.
    expect(m.totalBlocks).toBeGreaterThan(17_900_000);
    expect(m.totalBlocks).toBeLessThan(18_100_000);
    expect(m.locate(0)).toEqual({ cylinder: 0, surface: 0, sector: 0, zone: 0 });
    expect(m.locate(334)).toMatchObject({ cylinder: 0, surface: 1, sector: 0 });
    expect(m.locate(m.totalBlocks - 1)).toMatchObject({ cylinder: 10041, surface: 5, sector: 228 });
  });

  it('seeks by the measured table: 1-cylinder and full-stroke times, pair-weighted mean 5.60 ms', () => {
    const m = new DiskMechanics(atlas);
    expect(m.seekMs(1)).toBeCloseTo(1.245, 3);
    expect(m.seekMs(10021)).toBeCloseTo(10.828, 3);
    // Mean over uniformly random pairs of cylinders: distance d has weight 2(C−d)/C².
    const C = atlas.cylinders;
    let sum = 0;
    let w = 0;
    for (let d = 1; d < C; d++) {
      sum += m.seekMs(d) * (C - d);
      w += C - d;
    }
    expect(sum / w).toBeGreaterThan(5.6 * 0.99);
    expect(sum / w).toBeLessThan(5.6 * 1.01);
  });

  it('QD1 random 8 KiB reads, cache off: mean service within 3% of the analytic 9.1 ms; rotational latency uniform over a revolution', () => {
    const model = new HddModel(atlas, { cache: false });
    const res = closedLoop(model, 1, 20_000, randomReads(1, model.mech, BLOCKS_8K));
    const mean = res.meanResponseMs;
    expect(mean).toBeGreaterThan(9.1 * 0.97);
    expect(mean).toBeLessThan(9.1 * 1.03);
    // Rotational latency: uniform on [0, one revolution): mean half a revolution, each decile a tenth.
    const rot = res.served.map((s) => s.rotationMs / model.mech.revMs);
    const meanRot = rot.reduce((a, b) => a + b, 0) / rot.length;
    expect(meanRot).toBeGreaterThan(0.49);
    expect(meanRot).toBeLessThan(0.51);
    const deciles = Array.from(
      { length: 10 },
      (_, k) => rot.filter((x) => x >= k / 10 && x < (k + 1) / 10).length / rot.length,
    );
    for (const d of deciles) expect(Math.abs(d - 0.1)).toBeLessThan(0.012);
  });

  it('random blocks: mean seek distance a third of the cylinders (±1%, weighted by the zones’ block density)', () => {
    const m = new DiskMechanics(atlas);
    const r = mulberry32(7);
    let sum = 0;
    const n = 200_000;
    let prev = m.locate(Math.floor(r() * m.totalBlocks)).cylinder;
    for (let i = 0; i < n; i++) {
      const c = m.locate(Math.floor(r() * m.totalBlocks)).cylinder;
      sum += Math.abs(c - prev);
      prev = c;
    }
    // Outer zones hold more blocks per cylinder, so random blocks land there more often: the
    // expected distance is a third of the cylinders for a uniform density, and the density's own
    // E|X−Y| here (computed from the zone table below).
    const dens: number[] = [];
    for (const z of atlas.zones) for (let c = z.firstCylinder; c <= z.lastCylinder; c++) dens[c] = z.blocksPerTrack;
    const total = dens.reduce((a, b) => a + b, 0);
    let cdf = 0;
    let expect2 = 0; // E|X−Y| = 2 ∫ F(x)(1−F(x)) dx
    for (let c = 0; c < dens.length; c++) {
      cdf += dens[c]! / total;
      expect2 += 2 * cdf * (1 - cdf);
    }
    const mean = sum / n;
    expect(Math.abs(mean / expect2 - 1)).toBeLessThan(0.01);
    expect(Math.abs(expect2 / (atlas.cylinders / 3) - 1)).toBeLessThan(0.05); // near a third: the density varies by 1.46×
  });

  it('sequential reads within a track run at blocks-per-track × 512 B per revolution; inner/outer media rates in the blocks-per-track ratio', () => {
    const m = new DiskMechanics(atlas);
    const outer = m.access(0, { cylinder: 0, surface: 0 }, 0, 334, false);
    expect(outer.transferMs).toBeCloseTo(m.revMs, 6);
    const outerRate = (334 * BLOCK_BYTES) / (outer.transferMs / 1000) / 1e6;
    expect(outerRate).toBeGreaterThan(28.6 * 0.95);
    expect(outerRate).toBeLessThan(28.6 * 1.05);
    const lastCyl = m.totalBlocks - 6 * 229;
    const inner = m.access(0, { cylinder: 10041, surface: 0 }, lastCyl, 229, false);
    expect(outer.transferMs / 334 / (inner.transferMs / 229)).toBeCloseTo(229 / 334, 6); // a block takes 1/bpt of a revolution
    const innerRate = (229 * BLOCK_BYTES) / inner.transferMs;
    expect(innerRate / (outerRate * 1000)).toBeCloseTo(229 / 334, 3);
  });

  it('scheduling: SPTF at QD32 at least 2× the QD1 rate of random 8 KiB reads, FCFS flat (±5%)', () => {
    const run = (scheduler: 'fcfs' | 'sptf', qd: number) =>
      closedLoop(
        new HddModel(atlas, { cache: false, scheduler }),
        qd,
        6000,
        randomReads(3, new DiskMechanics(atlas), BLOCKS_8K),
      ).iops;
    const qd1 = run('fcfs', 1);
    expect(run('sptf', 32)).toBeGreaterThan(2 * qd1);
    const fcfs32 = run('fcfs', 32);
    expect(Math.abs(fcfs32 / qd1 - 1)).toBeLessThan(0.05);
  });

  it('read-ahead: sequential 8 KiB reads hit the drive cache after the first miss', () => {
    const model = new HddModel(atlas);
    let lbn = 1000;
    const res = closedLoop(model, 1, 200, () => {
      const r = { lbn, blocks: BLOCKS_8K, write: false };
      lbn += BLOCKS_8K;
      return r;
    });
    expect(res.served[0]!.hit).toBe(false);
    expect(res.served.filter((s) => s.hit).length).toBeGreaterThan(150);
  });
});

describe('controller overheads by the command before (DiskSim’s “… over. after read / after write”)', () => {
  it('Barracuda: a read hit costs 0.082 ms after a read and 0.596 after a write; a cached write 1.010 after a read and 0.929 after a write', () => {
    const cuda = hddPreset('barracuda');
    expect(cuda.overheads.afterRead.readHitMs).toBe(0.082);
    expect(cuda.overheads.afterWrite.readHitMs).toBe(0.596);
    const model = new HddModel(cuda);
    const bus = 16 * cuda.busBlockMs;
    const at = (t: number, lbn: number, write: boolean) => {
      const s = model.serve({ id: t, lbn, blocks: 16, write }, t);
      return { hit: s.hit, ms: s.doneMs - s.startMs };
    };
    expect(at(0, 1000, false).hit).toBe(false); // a miss brings the blocks into the buffer
    const readAfterRead = at(100, 1000, false);
    const writeAfterRead = at(200, 900_000, true);
    const readAfterWrite = at(300, 1000, false);
    at(400, 1000, false);
    const writeAfterRead2 = at(500, 900_100, true);
    const writeAfterWrite = at(600, 900_200, true);
    expect(readAfterRead).toEqual({ hit: true, ms: expect.closeTo(0.082 + bus, 6) });
    expect(readAfterWrite).toEqual({ hit: true, ms: expect.closeTo(0.596 + bus, 6) });
    expect(writeAfterRead.ms).toBeCloseTo(1.01 + bus, 6);
    expect(writeAfterRead2.ms).toBeCloseTo(1.01 + bus, 6);
    expect(writeAfterWrite.ms).toBeCloseTo(0.9291 + bus, 6);
  });

  it('a datasheet drive has one overhead whatever came before', () => {
    const d = hddPreset('hdd-15k');
    expect(d.overheads.afterRead).toEqual(d.overheads.afterWrite);
  });
});

describe('zero-latency access (DiskSim’s “Immediate buffer read / write”)', () => {
  /** QD1 random whole-track accesses, cache off: the mean of (rotational wait + transfer) in revolutions. */
  function wholeTracks(spec: typeof atlas, write: boolean): number {
    const model = new HddModel(spec, { cache: false, writeCache: false });
    const r = mulberry32(7);
    const res = closedLoop(model, 1, 4000, () => {
      const at = Math.floor(r() * (model.mech.totalBlocks - 1));
      const p = model.mech.locate(at);
      return { lbn: at - p.sector, blocks: model.mech.blocksPerTrack(p), write };
    });
    const revs = res.served.map((s) => (s.rotationMs + s.transferMs) / model.mech.revMs);
    return revs.reduce((a, b) => a + b, 0) / revs.length;
  }

  it('the Atlas 10K has it for reads and writes, the Cheetah 9LP and Barracuda for neither, a datasheet drive not', () => {
    expect(atlas.zeroLatency).toEqual({ read: true, write: true });
    expect(hddPreset('cheetah9LP').zeroLatency).toEqual({ read: false, write: false });
    expect(hddPreset('barracuda').zeroLatency).toEqual({ read: false, write: false });
    expect(hddPreset('hdd-15k').zeroLatency).toEqual({ read: false, write: false });
  });

  it('a whole track takes one revolution (and under a block), not half a revolution’s wait and one; only for the kind the drive has it for', () => {
    const readsOnly = { ...atlas, zeroLatency: { read: true, write: false } };
    const none = { ...atlas, zeroLatency: { read: false, write: false } };
    expect(wholeTracks(atlas, false)).toBeGreaterThan(1);
    expect(wholeTracks(atlas, false)).toBeLessThan(1.01);
    expect(wholeTracks(readsOnly, true)).toBeCloseTo(1.5, 1);
    expect(wholeTracks(none, false)).toBeCloseTo(1.5, 1);
  });

  it('a run the head lands inside ends one revolution (and the part of a block) after it lands; one it lands outside is as before', () => {
    const mech = new HddModel(atlas, { cache: false }).mech;
    const p = mech.locate(5000);
    const bpt = mech.blocksPerTrack(p);
    const rev = mech.revMs;
    const landAt = (blocksIntoRun: number) => ((mech.angleOf(p) + blocksIntoRun / bpt) % 1) * rev + 10 * rev;
    const n = 64;
    // Inside: 10.5 blocks into the run, it starts at block 11: 0.5 block, the gap, then the whole run.
    expect(mech.runWaitMs(landAt(10.5), p, n, true) + (n / bpt) * rev).toBeCloseTo((1 + 0.5 / bpt) * rev, 9);
    expect(mech.runWaitMs(landAt(10.5), p, n, false)).toBeCloseTo((1 - 10.5 / bpt) * rev, 9);
    // Outside the run (or inside its last block): the wait for its first block, as without.
    for (const b of [n - 0.5, n + 3, bpt - 1])
      expect(mech.runWaitMs(landAt(b), p, n, true)).toBeCloseTo(mech.runWaitMs(landAt(b), p, n, false), 9);
  });
});

describe('a disk adapter’s back-end channel', () => {
  it('is shared by its drives: a slow link bounds the reads of both, a fast one leaves them drive-bound', async () => {
    const { runSeeded } = await import('../../src/shared/sched/sched.ts');
    const { TimedDrive } = await import('../../src/drives/timing/timed-drive.ts');
    const { Channel } = await import('../../src/drives/timing/channel.ts');
    const trackBytes = 65536;
    const store = (id: string) => ({
      id,
      tracks: 1000,
      trackBytes,
      blockBytes: 512,
      readTrack: async () => {},
      readRange: async () => {},
      writeTrack: async () => {},
    });
    const readAll = async (mbPerSec: number) =>
      (
        await runSeeded({ seed: 1, choose: () => 0, stepCostMs: 0.001 }, async (s) => {
          const ch = new Channel(mbPerSec);
          const drives = [
            new TimedDrive(store('a'), new HddModel(atlas), ch),
            new TimedDrive(store('b'), new HddModel(atlas), ch),
          ];
          const buf = new Uint8Array(trackBytes);
          await Promise.all(Array.from({ length: 20 }, (_, i) => drives[i % 2]!.readTrack(i * 37, buf)));
          return s.now();
        })
      ).value;
    const slow = await readAll(10); // 20 × 64 KiB over 10 MB/s: at least 131 ms on the link
    const fast = await readAll(10_000);
    expect(slow).toBeGreaterThanOrEqual((20 * trackBytes) / (10 * 1000));
    expect(fast).toBeLessThan(slow / 1.5);
    expect(fast).toBeGreaterThan(10 * 5); // ten random reads per drive: drive-bound, milliseconds each
  });
});
