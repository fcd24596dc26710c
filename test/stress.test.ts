// A bounded stress run: random arrays (1-8 disk adapters, caches of 4 to 512 slots, several devices
// sharing drives) under a verifying load, reconfigured mid-run in every kind, with and without
// faults, on the real event loop and under the seeded scheduler. The long campaign is
// `npm run stress:long`.
import { describe, expect, it } from 'vitest';
import { runStress } from '../src/stress/pool.ts';
import { runSeed } from '../src/stress/seed.ts';
import { planSeed, sharedLocationSpots } from '../src/stress/plan.ts';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../src/shared/config.ts';

// Whole campaigns: bounded by this, not by the default per-test bound (a loaded machine runs them slower; CI measures nothing with it).
const CAMPAIGN_BOUND_MS = 300_000;

describe('stress', { timeout: CAMPAIGN_BOUND_MS }, () => {
  it('plans are deterministic in the seed and valid', () => {
    expect(JSON.stringify(planSeed(42))).toBe(JSON.stringify(planSeed(42)));
    expect(JSON.stringify(planSeed(42))).not.toBe(JSON.stringify(planSeed(43)));
  });

  it('60 seeds: no failure, no verify error, every kind and every scenario met', async () => {
    const s = await runStress({ seeds: 60, firstSeed: 1000, jobs: 2 });
    expect(s.failed).toEqual([]);
    expect(s.verifyErrors).toBe(0);
    expect(Object.keys(s.kinds).sort()).toEqual(['expansion', 'expansion+stripe-change', 'meta-expansion', 'more-rows', 'stripe-change']);
    for (const k of ['1', '2', '3', '4'] as const) expect(s.scenarios[k], `scenario ${k}`).toBeGreaterThan(0);
  });

  it('200 seeds × 2 schedules with faults, deterministic: batches delayed and reordered, disk and host adapters failed and replaced at every point; nothing lost', async () => {
    const s = await runStress({ seeds: 200, firstSeed: 2000, jobs: 2, schedules: 2, seedOptions: { faults: true, deterministic: true } });
    expect(s.runs).toBe(400);
    expect(s.failed).toEqual([]);
    expect(s.verifyErrors).toBe(0);
    const f = s.faults;
    expect(f.delayedBatches).toBeGreaterThan(1000);
    expect(f.diskAdapterRestarts).toBeGreaterThan(100);
    expect(f.hostAdapterRestarts).toBeGreaterThan(20);
    for (const where of ['duringEstablish', 'atSwitch', 'duringTransfer', 'outsideSessions'] as const) expect(f[where], where).toBeGreaterThan(20);
    // Host adapters failed with requests in flight: those failed (HOST_ADAPTER_LOST) and were not counted as I/O errors.
    expect(s.lostWithAdapter).toBeGreaterThan(0);
    for (const k of ['1', '2', '3', '4'] as const) expect(s.scenarios[k], `scenario ${k}`).toBeGreaterThan(0);
  });

  it('40 seeds with the same faults on the real event loop (not replayable, other timings): no failure', async () => {
    const s = await runStress({ seeds: 40, firstSeed: 3000, jobs: 2, seedOptions: { faults: true } });
    expect(s.failed).toEqual([]);
    expect(s.faults.diskAdapterRestarts + s.faults.hostAdapterRestarts).toBeGreaterThan(40);
  });

  it('8 seeds with actors in worker threads: adapter workers terminated wherever they are, replacements resume from the shared tables', async () => {
    const s = await runStress({ seeds: 8, firstSeed: 4000, jobs: 2, mode: 'threads', seedOptions: { faults: true } });
    expect(s.failed).toEqual([]);
    expect(s.verifyErrors).toBe(0);
    expect(s.faults.diskAdapterRestarts).toBeGreaterThan(4);
    expect(s.faults.hostAdapterRestarts).toBeGreaterThan(0);
  });

  it('heavy load aims at the locations both layouts share (FIG. 2 → FIG. 9 on shared drives)', () => {
    const json = (f: string) => JSON.parse(readFileSync(`examples/${f}.json`, 'utf8'));
    const config = parseConfig(json('fig2-shared-drives'));
    const spots = sharedLocationSpots(config, [[json('fig9-shared-drives')]]);
    const cylBytes = config.geometry.trackBytes * config.geometry.headsPerCylinder;
    const hot = (cyl: number) => spots.some((s) => s.device === 'LD1' && s.offsetBytes <= cyl * cylBytes && cyl * cylBytes < s.offsetBytes + s.lengthBytes);
    expect(hot(0), 'A stays on 31:2').toBe(true);
    expect(hot(5), 'F: old 35:3 is new G’s location').toBe(true);
    expect(hot(15), 'P: a new host track on the new drive 37').toBe(false);
  });

  it('heavy host load around the switch, with faults, deterministic: 30 seeds, nothing lost', async () => {
    const s = await runStress({ seeds: 30, firstSeed: 5000, jobs: 2, seedOptions: { heavy: true, faults: true, deterministic: true } });
    expect(s.failed).toEqual([]);
    expect(s.verifyErrors).toBe(0);
    expect(s.reconfigurations).toBeGreaterThan(30);
    expect(s.failed.length === 0 && s.runs).toBe(30);
  });

  it('heavy host load around the switch, with faults, on the real event loop (10 seeds) and in worker threads (3 seeds)', async () => {
    const real = await runStress({ seeds: 10, firstSeed: 5100, jobs: 2, seedOptions: { heavy: true, faults: true } });
    expect(real.failed).toEqual([]);
    expect(real.verifyErrors).toBe(0);
    const threads = await runStress({ seeds: 3, firstSeed: 5200, jobs: 1, mode: 'threads', seedOptions: { heavy: true, faults: true } });
    expect(threads.failed).toEqual([]);
    expect(threads.verifyErrors).toBe(0);
    expect(threads.reconfigurations).toBeGreaterThan(0);
  });

  it('timing models on every drive (random presets and queue policies), with faults, deterministic: 30 seeds, nothing lost', async () => {
    // Seed 7005 lost data before stages checked their requester still held the track: a host
    // adapter failed while a timed drive read for it, and the late read landed in a slot reused since.
    const s = await runStress({ seeds: 30, firstSeed: 7000, jobs: 2, seedOptions: { driveModels: true, faults: true, deterministic: true } });
    expect(s.failed).toEqual([]);
    expect(s.verifyErrors).toBe(0);
    expect(s.faults.hostAdapterRestarts).toBeGreaterThan(10);
  });

  it('a deliberately broken fill (skips split(o)) is caught within 200 seeds, and its seed replays to the same failure', async () => {
    const opts = { breakFill: true, deterministic: true };
    const s = await runStress({ seeds: 200, firstSeed: 0, jobs: 2, seedOptions: opts });
    expect(s.failures).toBeGreaterThan(0);
    expect(s.verifyErrors).toBeGreaterThan(0);
    const first = s.failed[0]!;
    expect(first.reason).toMatch(/verify errors: .*(stale|lost write|misplaced)/); // the old data read back, or the new data gone
    expect(first.rerun).toBe(`npx arrayemu stress --seeds 1 --seed ${first.seed} --jobs 1 --deterministic --break-fill`);
    // The rerun, in this thread: the same interleaving (trace of every scheduling choice) and the same failure.
    const again = await runSeed(first.seed, 'inline', opts);
    expect(again.ok).toBe(false);
    expect(again.trace).toBe(first.trace);
    expect(again.steps).toBe(first.steps);
    expect(again.reason).toBe(first.reason);
  });

  it('schedules: one seed under several interleavings, each replayable by its number', async () => {
    const s = await runStress({ seeds: 1, firstSeed: 152, jobs: 1, schedules: 3, seedOptions: { faults: true, deterministic: true, schedule: 5 } });
    expect(s.runs).toBe(3);
    expect(s.failed).toEqual([]);
    const runs = [];
    for (const schedule of [5, 6, 7]) runs.push(await runSeed(152, 'inline', { faults: true, deterministic: true, schedule })); // one seeded run at a time per thread
    expect(runs.map((r) => r.schedule)).toEqual([5, 6, 7]);
    expect(new Set(runs.map((r) => r.trace)).size, 'three schedules, three interleavings').toBe(3);
    const again = await runSeed(152, 'inline', { faults: true, deterministic: true, schedule: 6 });
    expect([again.trace, again.steps]).toEqual([runs[1]!.trace, runs[1]!.steps]);
    // Schedule 0 is the seed's default interleaving (the one `--deterministic` alone runs).
    const byDefault = await runSeed(152, 'inline', { faults: true, deterministic: true });
    expect((await runSeed(152, 'inline', { faults: true, deterministic: true, schedule: 0 })).trace).toBe(byDefault.trace);
  });

  it('a seed whose data is tampered with fails, and names why', async () => {
    // The verifier is what makes a stress run mean something: a seed run against an array that
    // loses a write must fail. (runSeed with a fault hook is issue 4's --faults; here: a lost slot.)
    const r = await runSeed(7, 'inline', { loseWritePending: true });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/verify errors: .*(stale|lost write)/);
  });
});
