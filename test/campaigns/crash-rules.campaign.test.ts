// Each ordering rule of the switch and the transfer broken on purpose (src/stress/crash.ts; DESIGN
// §10): at least a third of the seeds it applies to (every kind but the meta expansion, which has
// neither) must catch it, so a rule broken in the product cannot pass a campaign by luck of the
// seeds: the crash campaign's 40 seeds with a switch would all miss a rule caught by a third of them
// with a probability under 1e-7. Which seeds catch it moves with the interleavings the code makes:
// UNSYNCED_SWITCH is caught by 7 of these 16 (16 of seeds 1-40's 32 with a switch; 18 before the
// BCV's purge rode on the session's open). In .ci/run (`npm run test:campaigns`).
import { describe, expect, it } from 'vitest';
import { crashCampaign } from '../../src/stress/crash.ts';
import type { TestFaultName } from '../../src/shared/hooks/hooks.ts';

describe('crash everywhere catches each broken ordering rule in most seeds', () => {
  for (const fault of ['EARLY_IND_CLEAR', 'UNSYNCED_SWITCH', 'LATE_SWITCH_COMMIT'] as TestFaultName[]) {
    it(`${fault}: caught by at least a third of 16 seeds (4 of each kind with a switch)`, async () => {
      const c = await crashCampaign({ perKind: 4, firstSeed: 1, fault });
      const applies = c.seeds - (c.kinds['meta-expansion'] ?? 0);
      expect(applies).toBe(16);
      expect(c.failed.length, c.failed.map((f) => f.seed).join(', ')).toBeGreaterThanOrEqual(Math.ceil(applies / 3));
    });
  }
});
