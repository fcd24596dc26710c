// Crash everywhere, longer than npm test's (src/stress/crash.ts; DESIGN §10, §14): 10 seeds of every
// restripe kind (with the drives' own size of cache, and with a 24-track drive cache that evicts
// durable tracks and reads them back), and 20 of each kind of a mirrored device's restripe while one
// of its drives fails and is rebuilt, through the same small drive cache. Every restart from every commit serves every flushed sector; with drive faults it
// also ends the rebuild it took up and scrubs clean. In .ci/run (`npm run test:campaigns`).
import { describe, expect, it } from 'vitest';
import { crashCampaign, CRASH_KINDS, DRIVE_FAULT_KINDS } from '../../src/stress/crash.ts';

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

  it('20 seeds of each kind of a mirrored restripe with a drive failing, through a 24-track drive cache: every rebuild and scrub taken up, nothing lost', async () => {
    const c = await crashCampaign({ perKind: 20, firstSeed: 100, driveFaults: true, driveCacheTracks: 24 });
    expect(c.failed.map((f) => `seed ${f.seed}: ${f.reason}`)).toEqual([]);
    for (const k of DRIVE_FAULT_KINDS) expect(c.kinds[k], k).toBe(20);
    expect(c.rebuildsResumed).toBeGreaterThan(100);
    expect(c.scrubsResumed).toBeGreaterThan(100);
  });
});
