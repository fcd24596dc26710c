// An unverified workload's loops (src/host/unverified-loops.ts: a benchmark's, plan's and a sweep's
// hosts, driven by their replies with no promise a request): every request issued is counted once —
// done, failed, or lost with its host adapter — and the run ends, in worker threads and inline,
// with a host adapter replaced under it.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config/config.ts';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { runWorkload, startWorkload, type RunOptions } from '../../src/host/run.ts';
import { until } from '../support/helpers.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

const LOAD: RunOptions = {
  hostProcessors: 2,
  queueDepth: 16,
  readPct: 50,
  blockBytes: 4096,
  pattern: 'random',
  seed: 11,
  devices: ['LD1', 'LD2'],
  verify: false,
};

async function started(mode: 'inline' | 'threads'): Promise<ArrayEmulator> {
  const emu = await ArrayEmulator.start(loadConfig('examples/fig2.json'), { mode });
  emus.push(emu);
  return emu;
}

describe('an unverified workload', () => {
  it.each(['threads', 'inline'] as const)('%s: does exactly the operations asked, each timed once', async (mode) => {
    const emu = await started(mode);
    const s = await runWorkload(emu, { ...LOAD, ops: 3001 });
    expect(s.described).toEqual([]);
    expect(s.ioErrors + s.lostWithAdapter).toBe(0);
    expect(s.reads + s.writes).toBe(3001);
    expect(s.reads).toBeGreaterThan(1000);
    expect(s.writes).toBeGreaterThan(1000);
    expect(s.bytes).toBe(3001 * 4096);
    expect(s.latencyMs.p50).toBeGreaterThan(0);
    expect(emu.problems()).toEqual([]);
  });

  it('counts every request once when its host adapter is replaced under it, and ends', async () => {
    const emu = await started('inline');
    const run = startWorkload(emu, { ...LOAD, ops: 20_000, hostProcessors: 1, devices: ['LD1'] });
    await until(() => run.opsDone() > 2000, 'the load under way');
    await emu.restart('HA0');
    const s = await run.done;
    expect(s.ioErrors).toBe(0);
    expect(s.lostWithAdapter).toBeGreaterThan(0); // those in flight at the replacement
    expect(s.reads + s.writes + s.lostWithAdapter).toBe(20_000);
    expect(emu.problems()).toEqual([]);
  });
});
