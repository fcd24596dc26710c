// The stress campaigns of `npm run test:campaigns` (each run once; `.ci/run` runs them after `npm
// test`): random arrays (1-8 disk adapters, caches of 4 to 512 slots, several devices sharing
// drives) under a verifying load, reconfigured mid-run in every kind, with faults, on the real event
// loop, under the seeded scheduler and in worker threads, with heavy load and timed drives; and the
// broken fill caught within 200 seeds. `npm test` runs a short version of each
// (test/integration/stress.test.ts); the longest campaigns are `npm run stress:long`.
import { describe, expect, it } from 'vitest';
import { runStress } from '../../src/stress/pool.ts';
import { runSeed } from '../../src/stress/seed.ts';
import { RECONF_KINDS } from '../../src/shared/restripe/session.ts';

// Whole campaigns: bounded by this, not by the default per-test bound (a loaded machine runs them slower; CI measures nothing with it).
/**
 * A bound for a hang, per campaign test. The drive-fault campaign takes ~140 s alone and went past
 * 300 s once beside the crash campaign's file on 2 cores (CI of f0d5215).
 */
const CAMPAIGN_BOUND_MS = 600_000;

describe('stress campaigns', { timeout: CAMPAIGN_BOUND_MS }, () => {
  it('60 seeds: no failure, no verify error, every kind and every scenario met', async () => {
    const s = await runStress({ seeds: 60, firstSeed: 1000, jobs: 2 });
    expect(s.failed).toEqual([]);
    expect(s.verifyErrors).toBe(0);
    expect(Object.keys(s.kinds).sort()).toEqual([...RECONF_KINDS].sort());
    // Which scenario a host request meets depends on timing: on the real event loop scenario 3 (the
    // transfer ahead of the instant split) is met 0-10 times in these 60 seeds, so the scenarios
    // are counted on the same seeds under the seeded scheduler, where each run meets the same.
    const det = await runStress({ seeds: 60, firstSeed: 1000, jobs: 2, seedOptions: { deterministic: true } });
    expect(det.failed).toEqual([]);
    for (const k of ['1', '2', '3', '4'] as const) expect(det.scenarios[k], `scenario ${k}`).toBeGreaterThan(0);
  });

  it('200 seeds × 2 schedules with faults, deterministic: batches delayed and reordered, disk and host adapters failed and replaced at every point; nothing lost', async () => {
    const s = await runStress({
      seeds: 200,
      firstSeed: 2000,
      jobs: 2,
      schedules: 2,
      seedOptions: { faults: true, deterministic: true },
    });
    expect(s.runs).toBe(400);
    expect(s.failed).toEqual([]);
    expect(s.verifyErrors).toBe(0);
    const f = s.faults;
    expect(f.delayedBatches).toBeGreaterThan(1000);
    expect(f.diskAdapterRestarts).toBeGreaterThan(100);
    expect(f.hostAdapterRestarts).toBeGreaterThan(20);
    for (const where of ['duringEstablish', 'atSwitch', 'duringTransfer', 'outsideSessions'] as const)
      expect(f[where], where).toBeGreaterThan(20);
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

  it('heavy host load around the switch, with faults, deterministic: 30 seeds, nothing lost', async () => {
    const s = await runStress({
      seeds: 30,
      firstSeed: 5000,
      jobs: 2,
      seedOptions: { heavy: true, faults: true, deterministic: true },
    });
    expect(s.failed).toEqual([]);
    expect(s.verifyErrors).toBe(0);
    expect(s.reconfigurations).toBeGreaterThan(30);
    expect(s.failed.length === 0 && s.runs).toBe(30);
  });

  it('heavy host load around the switch, with faults, on the real event loop (10 seeds) and in worker threads (3 seeds)', async () => {
    const real = await runStress({ seeds: 10, firstSeed: 5100, jobs: 2, seedOptions: { heavy: true, faults: true } });
    expect(real.failed).toEqual([]);
    expect(real.verifyErrors).toBe(0);
    const threads = await runStress({
      seeds: 3,
      firstSeed: 5200,
      jobs: 1,
      mode: 'threads',
      seedOptions: { heavy: true, faults: true },
    });
    expect(threads.failed).toEqual([]);
    expect(threads.verifyErrors).toBe(0);
    expect(threads.reconfigurations).toBeGreaterThan(0);
  });

  it('timing models on every drive (random presets and queue policies), with faults, deterministic: 30 seeds, nothing lost', async () => {
    // Seed 7005 lost data before stages checked their requester still held the track: a host
    // adapter failed while a timed drive read for it, and the late read landed in a slot reused since.
    const s = await runStress({
      seeds: 30,
      firstSeed: 7000,
      jobs: 2,
      seedOptions: { driveModels: true, faults: true, deterministic: true },
    });
    expect(s.failed).toEqual([]);
    expect(s.verifyErrors).toBe(0);
    expect(s.faults.hostAdapterRestarts).toBeGreaterThan(10);
  });

  it('drive faults (DESIGN §14): 200 seeds deterministic with adapter faults, 30 on the real event loop, 6 in worker threads: nothing lost; a broken rebuild caught in ≥ a sixth of 40 seeds (8 on the commit that gave MX a mirrored BCV), an unwritten BCV mirror in ≥ a fifth', async () => {
    const det = await runStress({
      seeds: 200,
      firstSeed: 8000,
      jobs: 2,
      seedOptions: { driveFaults: true, faults: true, deterministic: true },
    });
    expect(det.failed).toEqual([]);
    expect(det.verifyErrors).toBe(0);
    expect(det.faults.drivesFailed).toBeGreaterThan(150);
    expect(det.faults.driveFaultsInRestripe).toBeGreaterThan(100); // MX's own restripe: each seed aims one at it
    const real = await runStress({
      seeds: 30,
      firstSeed: 8300,
      jobs: 2,
      seedOptions: { driveFaults: true, faults: true },
    });
    expect(real.failed).toEqual([]);
    const threads = await runStress({
      seeds: 6,
      firstSeed: 8400,
      jobs: 2,
      mode: 'threads',
      seedOptions: { driveFaults: true, faults: true },
    });
    expect(threads.failed).toEqual([]);
    const broken = await runStress({
      seeds: 40,
      firstSeed: 0,
      jobs: 2,
      seedOptions: { driveFaults: true, breakRebuild: true, deterministic: true },
    });
    // Half the seeds' faults once hit MXB's drives, which the verifier never reads: fewer catch it.
    expect(broken.failures).toBeGreaterThanOrEqual(7);
    // The window a mirrored BCV closes, opened again (its mirrors never written, its drives failing in
    // the transfer): writes are lost in 11 of these 40 seeds (which ones, and how many, moves with the
    // interleavings the code makes: 12 before background tracks with nothing to wait for went at once).
    const window = await runStress({
      seeds: 40,
      firstSeed: 0,
      jobs: 2,
      seedOptions: { driveFaults: true, breakBcvMirror: true, deterministic: true },
    });
    expect(window.failures).toBeGreaterThanOrEqual(8);
  });

  it('a deliberately broken fill (skips split(o)) is caught within 200 seeds, and its seed replays to the same failure', async () => {
    const opts = { breakFill: true, deterministic: true };
    const s = await runStress({ seeds: 200, firstSeed: 0, jobs: 2, seedOptions: opts });
    expect(s.failures).toBeGreaterThan(0);
    expect(s.verifyErrors).toBeGreaterThan(0);
    const first = s.failed[0]!;
    expect(first.reason).toMatch(/verify errors: .*(stale|lost write|misplaced)/); // the old data read back, or the new data gone
    expect(first.rerun).toBe(
      `npx arrayemu stress --seeds 1 --seed ${first.seed} --jobs 1 --deterministic --break-fill`,
    );
    // The rerun, in this thread: the same interleaving (trace of every scheduling choice) and the same failure.
    const again = await runSeed(first.seed, 'inline', opts);
    expect(again.ok).toBe(false);
    expect(again.trace).toBe(first.trace);
    expect(again.steps).toBe(first.steps);
    expect(again.reason).toBe(first.reason);
  });
});
