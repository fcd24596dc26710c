// kill -9 of real processes during an online restripe (scripts/kill-campaign.ts): `arrayemu serve
// --data-dir` as a child, qemu-io writing and flushing from other processes, SIGKILL inside a chosen
// phase, a restart on the same data dir, every 4 KiB block read back twice at once and again after
// the resumed restripe ends. One trial here, six in the campaigns (test/campaigns/kill.campaign.test.ts);
// the long campaign (kills in every phase, and during recoveries) is in docs/RELIABILITY.md.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killTrial, landedIn, trialFor } from '../../scripts/kill-campaign.ts';
import { missingTools } from '../../scripts/tools.ts';

const missing = missingTools(['qemu-img', 'qemu-io']);
if (missing.length > 0)
  console.warn(
    `\n*** kill -9 tests SKIPPED: ${missing.join(', ')} not installed (bash .ci/run installs qemu-utils) ***\n`,
  );

describe.skipIf(missing.length > 0)('kill -9 during an online restripe (real processes)', () => {
  it('a kill during a stripe change’s transfer: after the restart every flushed block reads back, and the interrupted restripe resumes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'arrayemu-kill-test-'));
    const r = await killTrial(trialFor('stripe-change', 'transfer'), root, process.cwd());
    expect(r.reason ?? '', `killed at ${r.killAtMs} ms (${r.phase})`).toBe('');
    expect(r.ok).toBe(true);
    expect(landedIn(r.phase)).toBe('transfer');
    expect(r.resumed).toContain('after its switch'); // the restart took it up under the new layout
    expect(r.blocksChecked).toBe(3 * (2880 + 1440 + 480));
  }, 180_000);
});
