// Crash everywhere, in simulation (src/stress/crash.ts): every restripe kind, a restart from every
// commit of the durable store (and recoveries crashed again at each of theirs), every flushed
// sector checked; then each ordering rule broken on purpose must make the harness fail. The long
// campaign (crashCampaign with 20 seeds a kind) and its counts are in docs/RELIABILITY.md.
import { describe, expect, it } from 'vitest';
import { crashCampaign, crashSeed, CRASH_KINDS } from '../../src/stress/crash.ts';
import type { TestFaultName } from '../../src/shared/memory.ts';

const CAMPAIGN_BOUND_MS = 240_000;

describe('crash everywhere (simulation)', { timeout: CAMPAIGN_BOUND_MS }, () => {
  it('3 seeds of every restripe kind: a restart from every commit serves every flushed sector, before and after the restripe resumes', async () => {
    const c = await crashCampaign({ perKind: 3, firstSeed: 1 });
    expect(c.failed.map((f) => `seed ${f.seed}: ${f.reason}`)).toEqual([]);
    for (const k of CRASH_KINDS) expect(c.kinds[k], k).toBe(3);
    expect(c.restarts).toBeGreaterThanOrEqual(c.commits);
    expect(c.recoveryRestarts).toBeGreaterThan(0);
    expect(c.flushes).toBeGreaterThan(100);
    expect(c.sectorsChecked).toBeGreaterThan(10_000);
  });

  it('a seed replays: the same commits, flushes and checks', async () => {
    const a = await crashSeed(4);
    const b = await crashSeed(4);
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
      const c = await crashCampaign({ perKind: 8, firstSeed: 1, fault });
      expect(c.failed.length, `${fault}: no seed failed in ${c.seeds}`).toBe(1);
    });
  }
});
