// Crash everywhere, longer than npm test's (src/stress/crash.ts; DESIGN §10, §14): 10 seeds of every
// restripe kind (with the drives' own size of cache, and with a 24-track drive cache that evicts
// durable tracks and reads them back), and 12 of each kind of a mirrored device's restripe while one
// of its drives fails and is rebuilt, through the same small drive cache; and the catch rate of each
// ordering rule broken on purpose. Every restart from every commit serves every flushed sector; with drive faults it
// also ends the rebuild it took up and scrubs clean. In .ci/run (`npm run test:campaigns`).
import { describe, expect, it } from 'vitest';
import { crashCampaign, CRASH_KINDS, DRIVE_FAULT_KINDS } from '../../src/stress/crash.ts';
import type { TestFaultName } from '../../src/shared/memory.ts';

/**
 * Each ordering rule of the switch and the transfer broken on purpose: at least half of the seeds it
 * applies to (every kind but the meta expansion, which has neither) must catch it, so a rule broken
 * in the product cannot pass a campaign by luck of the seeds.
 */
describe('crash everywhere catches each broken ordering rule in most seeds', () => {
  for (const fault of ['EARLY_IND_CLEAR', 'UNSYNCED_SWITCH', 'LATE_SWITCH_COMMIT'] as TestFaultName[]) {
    it(`${fault}: caught by at least half of 16 seeds (4 of each kind with a switch)`, async () => {
      const c = await crashCampaign({ perKind: 4, firstSeed: 1, fault });
      const applies = c.seeds - (c.kinds['meta-expansion'] ?? 0);
      expect(applies).toBe(16);
      expect(c.failed.length, c.failed.map((f) => f.seed).join(', ')).toBeGreaterThanOrEqual(applies / 2);
    });
  }
});

describe('crash everywhere (campaign)', () => {
  it('10 seeds of every restripe kind: nothing flushed is lost at any commit', async () => {
    const c = await crashCampaign({ perKind: 10, firstSeed: 100 });
    expect(c.failed.map((f) => `seed ${f.seed}: ${f.reason}`)).toEqual([]);
    for (const k of CRASH_KINDS) expect(c.kinds[k], k).toBe(10);
    expect(c.restarts).toBeGreaterThanOrEqual(c.commits);
  });

  it('10 seeds of every restripe kind through a 24-track drive cache: nothing flushed is lost at any commit', async () => {
    const c = await crashCampaign({ perKind: 10, firstSeed: 100, driveCacheTracks: 24 });
    expect(c.failed.map((f) => `seed ${f.seed}: ${f.reason}`)).toEqual([]);
    for (const k of CRASH_KINDS) expect(c.kinds[k], k).toBe(10);
    expect(c.restarts).toBeGreaterThanOrEqual(c.commits);
  });

  it('12 seeds of each kind of a mirrored restripe with a drive failing, through a 24-track drive cache: every rebuild and scrub taken up, nothing lost', async () => {
    const c = await crashCampaign({ perKind: 12, firstSeed: 100, driveFaults: true, driveCacheTracks: 24 });
    expect(c.failed.map((f) => `seed ${f.seed}: ${f.reason}`)).toEqual([]);
    for (const k of DRIVE_FAULT_KINDS) expect(c.kinds[k], k).toBe(12);
    expect(c.rebuildsResumed).toBeGreaterThan(100);
    expect(c.scrubsResumed).toBeGreaterThan(100);
  }, 900_000); // 15 s a seed with a crash at every step: 24 seeds met the 300 s default in CI
});
