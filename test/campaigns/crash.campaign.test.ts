// Crash everywhere, longer than npm test's (src/stress/crash.ts; DESIGN §10): 10 seeds of every
// restripe kind, with the drives' own size of cache and with a 24-track drive cache that evicts
// durable tracks and reads them back, a crash at every commit and every step between two. Every
// restart serves every flushed sector. (crash-rules: each ordering rule broken; crash-drives: a drive
// failing.) In .ci/run (`npm run test:campaigns`).
import { describe, expect, it } from 'vitest';
import { crashCampaign, CRASH_KINDS } from '../../src/stress/crash.ts';

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
});
