// kill -9 of real processes during an online restripe (scripts/kill-campaign.ts): six trials at
// seeded instants, trial t restriping FIG. 2 by kind KINDS[t mod 5] (so every kind is killed, the
// stripe change twice): after each restart every flushed block reads back twice and an interrupted
// restripe resumes. `npm test` runs
// one of them (test/e2e/kill.test.ts); docs/RELIABILITY.md has the 200-kill campaign.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killTrial } from '../../scripts/kill-campaign.ts';
import { missingTools } from '../../scripts/tools.ts';

const missing = missingTools(['qemu-img', 'qemu-io']);
if (missing.length > 0)
  console.warn(
    `\n*** kill -9 campaign SKIPPED: ${missing.join(', ')} not installed (bash .ci/run installs qemu-utils) ***\n`,
  );

const TRIALS = [1, 2, 3, 4, 5, 6];

describe.skipIf(missing.length > 0)('kill -9 during online restripes (real processes)', () => {
  it(`${TRIALS.length} kills at seeded instants of every kind: every flushed block reads back after each restart`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'arrayemu-kill-campaign-'));
    const phases: string[] = [];
    for (const t of TRIALS) {
      const r = await killTrial(t, root, process.cwd());
      expect(r.reason ?? '', `trial ${t} killed at ${r.killAtMs} ms (${r.phase})`).toBe('');
      expect(r.ok).toBe(true);
      expect(r.blocksChecked).toBe(2 * (2880 + 1440 + 480));
      phases.push(r.phase);
    }
    console.log(`kill campaign: killed in ${phases.join('; ')}`);
  }, 600_000);
});
