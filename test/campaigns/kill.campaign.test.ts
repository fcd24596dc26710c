// kill -9 of real processes during an online restripe (scripts/kill-campaign.ts): six trials, each
// restriping FIG. 2 by one kind and killing it inside one phase (every phase and every kind killed): after each restart every flushed block reads back twice, and
// again once the interrupted restripe has resumed and ended. `npm test` runs one of them
// (test/e2e/kill.test.ts); docs/RELIABILITY.md has the long campaign.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killTrial, trialFor } from '../../scripts/kill-campaign.ts';
import { missingTools } from '../../scripts/tools.ts';

const missing = missingTools(['qemu-img', 'qemu-io']);
if (missing.length > 0)
  console.warn(
    `\n*** kill -9 campaign SKIPPED: ${missing.join(', ')} not installed (bash .ci/run installs qemu-utils) ***\n`,
  );

/** Every phase once, every kind at least once. */
const TRIALS = [
  trialFor('expansion', 'prepare'),
  trialFor('expansion', 'establish'),
  trialFor('stripe-change', 'switch'),
  trialFor('expansion+stripe-change', 'transfer'),
  trialFor('more-rows', 'completion'),
  trialFor('meta-expansion', 'idle'),
];

describe.skipIf(missing.length > 0)('kill -9 during online restripes (real processes)', () => {
  it(`${TRIALS.length} kills at seeded instants of every kind: every flushed block reads back after each restart`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'arrayemu-kill-campaign-'));
    const phases: string[] = [];
    for (const t of TRIALS) {
      const r = await killTrial(t, root, process.cwd());
      expect(r.reason ?? '', `trial ${t} killed at ${r.killAtMs} ms (${r.phase})`).toBe('');
      expect(r.ok).toBe(true);
      expect(r.blocksChecked).toBe(3 * (2880 + 1440 + 480));
      phases.push(r.phase);
    }
    console.log(`kill campaign: killed in ${phases.join('; ')}`);
  }, 600_000);
});
