// Each ordering rule of the switch and the transfer broken on purpose (src/stress/crash.ts; DESIGN
// §10): at least half of the seeds it applies to (every kind but the meta expansion, which has
// neither) must catch it, so a rule broken in the product cannot pass a campaign by luck of the seeds.
// In .ci/run (`npm run test:campaigns`).
import { describe, expect, it } from 'vitest';
import { crashCampaign } from '../../src/stress/crash.ts';
import type { TestFaultName } from '../../src/shared/hooks/hooks.ts';

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
