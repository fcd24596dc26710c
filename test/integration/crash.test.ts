// Crash everywhere, in simulation (src/stress/crash.ts): every restripe kind, a restart from every
// commit of the durable store (and recoveries crashed again at each of theirs), every flushed
// sector checked; then each ordering rule broken on purpose must make the harness fail. The long
// campaign (crashCampaign with 20 seeds a kind) and its counts are in docs/RELIABILITY.md.
import { describe, expect, it } from 'vitest';
import { crashCampaign, crashSeed, CRASH_KINDS, DRIVE_FAULT_KINDS } from '../../src/stress/crash.ts';
import type { TestFaultName } from '../../src/shared/hooks/hooks.ts';

const CAMPAIGN_BOUND_MS = 240_000;

describe('crash everywhere (simulation)', { timeout: CAMPAIGN_BOUND_MS }, () => {
  it('a seed of every restripe kind: a restart from every commit and every step between two serves every flushed sector, before and after the restripe resumes', async () => {
    const c = await crashCampaign({ perKind: 1, firstSeed: 1 });
    expect(c.failed.map((f) => `seed ${f.seed}: ${f.reason}`)).toEqual([]);
    for (const k of CRASH_KINDS) expect(c.kinds[k], k).toBe(1);
    // Crash points between commits too (a background commit peeked at each step that changed anything).
    expect(c.crashPoints).toBeGreaterThan(2 * c.commits);
    expect(c.restarts).toBeGreaterThanOrEqual(c.crashPoints);
    expect(c.recoveryRestarts).toBeGreaterThan(0);
    expect(c.flushes).toBeGreaterThan(25);
    expect(c.sectorsChecked).toBeGreaterThan(5_000);
  });

  // (At 30 points a seed, spread over its run: the campaigns crash at every one.)
  it('2 seeds of every restripe kind with a drive cache of 24 tracks: evicted tracks read back from the store, every flushed sector served', async () => {
    const c = await crashCampaign({ perKind: 2, firstSeed: 1, driveCacheTracks: 24, maxPoints: 30 });
    expect(c.failed.map((f) => `seed ${f.seed}: ${f.reason}`)).toEqual([]);
    expect(c.restarts).toBeGreaterThanOrEqual(c.crashPoints);
    expect(c.sectorsChecked).toBeGreaterThan(10_000);
  });

  it('a seed replays: the same commits, flushes and checks', async () => {
    const a = await crashSeed(4, { maxPoints: 60 });
    const b = await crashSeed(4, { maxPoints: 60 });
    expect(a.ok).toBe(true);
    expect(b).toEqual(a);
  });

  // Each ordering rule broken: the harness must fail on some seed (it stops at the first).
  for (const fault of [
    'EARLY_IND_CLEAR',
    'UNSYNCED_SWITCH',
    'LATE_SWITCH_COMMIT',
    'FLUSH_WITHOUT_COMMIT',
  ] as TestFaultName[]) {
    it(`mutation ${fault} is caught`, async () => {
      const c = await crashCampaign({ perKind: 8, firstSeed: 1, fault, stopAtFirst: true });
      expect(c.failed.length, `${fault}: no seed failed in ${c.seeds}`).toBe(1);
    });
  }
});

describe('crash everywhere while a drive fails and is rebuilt (DESIGN §14)', { timeout: CAMPAIGN_BOUND_MS }, () => {
  it('a seed of each kind of a mirrored device’s restripe: every flushed sector served, every rebuild taken up and ended', async () => {
    // (40 points a seed spread over its run; the campaign crashes at more, the CLI at every one.)
    const c = await crashCampaign({ perKind: 1, firstSeed: 1, driveFaults: true, maxPoints: 40 });
    expect(c.failed.map((f) => `seed ${f.seed}: ${f.reason}`)).toEqual([]);
    for (const k of DRIVE_FAULT_KINDS) expect(c.kinds[k], k).toBe(1);
    expect(c.restarts).toBeGreaterThanOrEqual(c.crashPoints);
    // Crash points inside rebuilds, not only before and after them; and, as each restart scrubs,
    // inside scrubs (a recovery crashed at each of its commits takes its scrub up). (19-24 and
    // 24-38 of them on the commits that bounded the points.)
    expect(c.rebuildsResumed).toBeGreaterThan(10);
    expect(c.scrubsResumed).toBeGreaterThan(10);
    // Each restart's scrub found no copy against its own checksum: the checksums are durable with
    // the bytes they describe (and restored: copies verified, not just compared with each other).
    expect(c.copiesVerified).toBeGreaterThan(1000);
    expect(c.sectorsChecked).toBeGreaterThan(10_000);
  });

  // Found by the drive-fault campaign: R1 destaged the BCV's own copies (WPB) before the switch, not
  // a mirrored BCV's mirror copies (WPBk); a restart after its own drive failed filled from a mirror
  // copy never written (zeros where a FLUSHed write had been).
  it('seed 105 (a mirrored BCV through a 24-track cache): the switch waits for every copy of the BCV', async () => {
    const r = await crashSeed(105, { driveFaults: true, driveCacheTracks: 24, maxPoints: 40 });
    expect(r.reason).toBeUndefined();
    expect(r.rebuildsResumed).toBeGreaterThan(0);
  });

  it('mutation UNDURABLE_DRIVES (a restart forgets the failure and the rebuild) is caught', async () => {
    const c = await crashCampaign({
      ...{ perKind: 8, firstSeed: 1, driveFaults: true },
      ...{ fault: 'UNDURABLE_DRIVES' as const, stopAtFirst: true },
    });
    expect(c.failed.length, `no seed failed in ${c.seeds}`).toBe(1);
  });
});
