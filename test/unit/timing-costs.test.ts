// The rest of the array's time: a flash drive's dies and channels, a drive's write cache and
// streaming, the adapters' costs, and a restripe against its lower bound. Figures of the models
// in virtual time, not timings of this machine.
import { describe, expect, it } from 'vitest';
import { BLOCK_BYTES, hddPreset } from '../../src/drives/timing/drive-spec.ts';
import { HddModel } from '../../src/drives/timing/hdd-model.ts';
import { SsdModel, ssdPreset } from '../../src/drives/timing/ssd-model.ts';
import { closedLoop } from '../../src/drives/timing/sim.ts';
import { TimedDrive } from '../../src/drives/timing/timed-drive.ts';
import { mulberry32, runVirtual, sched } from '../../src/shared/sched/sched.ts';
import { pipeline } from '../../src/disk-adapter/pipeline.ts';
import { parseConfig } from '../../src/shared/config/config.ts';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { restripeArrays, restripeLowerBound } from '../../src/lab/sweep-restripe.ts';
import type { SweepOptions } from '../../src/lab/sweep-types.ts';

const PAGE_BLOCKS = 4096 / BLOCK_BYTES;

describe('ssd: dies × channels', () => {
  const spec = ssdPreset();
  const randomPages = (seed: number, write = false) => {
    const r = mulberry32(seed);
    return () => ({
      lbn: Math.floor(r() * (spec.capacityBlocks / PAGE_BLOCKS - 1)) * PAGE_BLOCKS,
      blocks: PAGE_BLOCKS,
      write,
    });
  };

  it('QD1 4 KiB: command + page read + one page over its channel (reads), + program (writes)', () => {
    const xferMs = spec.pageBytes / (spec.channelMBps * 1000);
    const read = closedLoop(new SsdModel(spec), 1, 2000, randomPages(1)).meanResponseMs;
    expect(read).toBeCloseTo(spec.commandMs + spec.pageReadMs + xferMs, 6);
    const write = closedLoop(new SsdModel(spec), 1, 2000, randomPages(2, true)).meanResponseMs;
    expect(write).toBeCloseTo(spec.commandMs + xferMs + spec.pageProgramMs, 6);
  });

  it('the queue depth buys throughput across its dies, up to the controller’s command rate', () => {
    const qd1 = closedLoop(new SsdModel(spec), 1, 4000, randomPages(3)).iops;
    const qd32 = closedLoop(new SsdModel(spec), 32, 20_000, randomPages(3)).iops;
    expect(qd32).toBeGreaterThan(6 * qd1);
    expect(qd32).toBeLessThanOrEqual(1000 / spec.commandMs + 1); // one command per commandMs at most
  });
});

describe('an HDD streams as a drive does', () => {
  const hdd15k = hddPreset('hdd-15k');
  const mediaBytesPerMs = (hdd15k.zones[0]!.blocksPerTrack * BLOCK_BYTES) / (60_000 / hdd15k.rpm);
  const stream = async (write: boolean, inFlight: number, tracks: number) =>
    (
      await runVirtual(1, async () => {
        const trackBytes = 65536;
        const store = {
          id: 's',
          tracks,
          trackBytes,
          blockBytes: 512,
          readTrack: async () => {},
          readRange: async () => {},
          writeTrack: async () => {},
        };
        const drive = new TimedDrive(store, new HddModel(hdd15k, { scheduler: 'sptf' }));
        const buf = new Uint8Array(trackBytes);
        const t0 = sched().now();
        await pipeline(
          Array.from({ length: tracks }, (_, i) => i),
          inFlight,
          (t) => (write ? drive.writeTrack(t, buf) : drive.readTrack(t, buf)),
        );
        return (tracks * trackBytes) / (sched().now() - t0);
      })
    ).value;

  it('sequential 64 KiB, 8 in flight: reads at 0.9 of the outer zone’s media rate, writes sustained (far past the write cache) at 0.8 (each cylinder switch costs a seek and a write settle)', async () => {
    expect(await stream(false, 8, 400)).toBeGreaterThan(0.9 * mediaBytesPerMs);
    expect(await stream(true, 8, 3000)).toBeGreaterThan(0.8 * mediaBytesPerMs);
    expect(await stream(true, 8, 3000)).toBeLessThan(mediaBytesPerMs);
  });

  it('the write cache is bounded: a write that does not fit waits for a destage, which joins a sequential run in one access', () => {
    const model = new HddModel(hdd15k);
    const per = 128;
    let lbn = 0;
    let now = 0;
    while (!model.mustDestageFirst({ id: 0, lbn, blocks: per, write: true })) {
      now = model.serve({ id: 0, lbn, blocks: per, write: true }, now).freeMs;
      lbn += per;
    }
    expect(model.writeBehindHeld).toBeLessThanOrEqual(model.writeCacheBlocks);
    expect(model.writeBehindHeld + per).toBeGreaterThan(model.writeCacheBlocks);
    const before = model.counters.mediaAccesses;
    const d = model.destageOne(now)!;
    expect(model.counters.mediaAccesses).toBe(before + 1);
    expect(d.req.blocks).toBe(lbn); // every write so far: one sequential run
    expect(model.writeBehindHeld).toBe(0);
  });

  it('writeCache: false writes through (each write waits for the media)', () => {
    const model = new HddModel(hdd15k, { writeCache: false });
    const s = model.serve({ id: 0, lbn: 5000, blocks: 128, write: true }, 0);
    expect(s.hit).toBe(false);
    expect(s.doneMs).toBeGreaterThan(s.transferMs);
  });
});

describe('adapter costs (virtual time)', () => {
  const timed = (hostAdapter?: object) =>
    parseConfig({
      geometry: { trackBytes: 65536, headsPerCylinder: 4 },
      cache: { slots: 64 },
      hostAdapter,
      drives: [{ id: 'd0', cylinders: 50, model: 'hdd-15k' }],
      diskAdapters: [{ id: 'DA0', drives: ['d0'] }],
      devices: [
        {
          id: 'LD1',
          layout: 'striped',
          cylinders: 50,
          stripeCylinders: 1,
          members: [{ drive: 'd0', startCylinder: 0 }],
        },
      ],
    });
  const hitMs = async (hostAdapter?: object) =>
    (
      await runVirtual(1, async () => {
        const emu = await ArrayEmulator.start(timed(hostAdapter), { mode: 'inline' });
        try {
          const c = new HostClient(emu.hostLink(0));
          await c.read('LD1', 0, 4096); // a miss: the track is staged
          const t0 = sched().now();
          await c.read('LD1', 4096, 4096); // a hit on the same track
          return sched().now() - t0;
        } finally {
          await emu.stop();
        }
      })
    ).value;

  it('a cache hit costs the host adapter’s command time plus the transfer at its port’s MB/s', async () => {
    const base = await hitMs({ commandMs: 0, portMBps: 1e6 });
    const costed = await hitMs({ commandMs: 0.5, portMBps: 4.096 }); // 4 KiB at 4.096 MB/s: 1 ms
    expect(costed - base).toBeGreaterThan(1.5 * 0.99);
    expect(costed - base).toBeLessThan(1.5 * 1.01);
  });

  it('refuses a bad cost, naming the field', () => {
    expect(() => timed({ ports: 0 })).toThrow(/hostAdapter\.ports/);
    expect(() => timed({ commandMs: -1 })).toThrow(/hostAdapter\.commandMs/);
  });
});

describe('restripe against its lower bound (virtual time, no host load)', () => {
  const idle = async (o: SweepOptions, da: number) => {
    const a = restripeArrays(o, da, 1);
    const ms = (
      await runVirtual(1, async () => {
        const emu = await ArrayEmulator.start(a.config, { mode: 'inline' });
        try {
          return (await emu.reconfigure(a.target)).durationMs;
        } finally {
          await emu.stop();
        }
      })
    ).value;
    return { ms, bound: restripeLowerBound(o, a) };
  };

  it('expansion by one adapter’s drives: duration falls with adapters, within 1.25× of the bound', async () => {
    const o = { restripe: 'expand', drivesPerAdapter: 4, driveModel: 'hdd-15k', seed: 1 } as SweepOptions;
    const two = await idle(o, 2);
    const four = await idle(o, 4);
    expect(four.ms).toBeLessThan(two.ms);
    for (const x of [two, four]) {
      expect(x.ms).toBeGreaterThanOrEqual(x.bound.lowerBoundMs);
      expect(x.ms).toBeLessThanOrEqual(1.25 * x.bound.lowerBoundMs);
    }
  });
});
