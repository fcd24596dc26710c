// Crash everywhere while a drive fails (src/stress/crash.ts; DESIGN §10, §14): 6 seeds of each kind
// of a mirrored device's restripe (MX, with a mirrored BCV) while one of its drives fails and is
// rebuilt onto a spare, through a 24-track drive cache that evicts durable tracks and reads them
// back. Every restart serves every flushed sector, ends the rebuild it took up and scrubs clean.
// In .ci/run (`npm run test:campaigns`).
import { describe, expect, it } from 'vitest';
import { crashCampaign, DRIVE_FAULT_KINDS } from '../../src/stress/crash.ts';

/**
 * Crash points a seed, spread over its run: a drive failing under a 24-track cache makes a seed's
 * run thousands of steps long (every restart runs its restripe, rebuild and scrub to the end: ~0.3 s
 * each), so the campaign samples them; `arrayemu crash --drive-faults` crashes at every one.
 */
const POINTS_PER_SEED = 60;
/** Restarts that must take up a rebuild, and a scrub, under way (215 and 479 on the commit that set these). */
const REBUILDS_MIN = 100;
const SCRUBS_MIN = 200;

describe('crash everywhere while a drive fails (campaign)', () => {
  it(`6 seeds of each kind of a mirrored restripe with a drive failing, through a 24-track drive cache, ${POINTS_PER_SEED} crash points a seed: every rebuild and scrub taken up, nothing lost`, async () => {
    const c = await crashCampaign({
      ...{ perKind: 6, firstSeed: 100, driveFaults: true },
      ...{ driveCacheTracks: 24, maxPoints: POINTS_PER_SEED },
    });
    expect(c.failed.map((f) => `seed ${f.seed}: ${f.reason}`)).toEqual([]);
    for (const k of DRIVE_FAULT_KINDS) expect(c.kinds[k], k).toBe(6);
    expect(c.rebuildsResumed).toBeGreaterThan(REBUILDS_MIN);
    expect(c.scrubsResumed).toBeGreaterThan(SCRUBS_MIN);
  }, 900_000);
});
