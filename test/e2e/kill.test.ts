// kill -9 of real processes during an online restripe (scripts/kill-campaign.ts): `arrayemu serve
// --data-dir` as a child, qemu-io writing and flushing from other processes, SIGKILL at random
// instants, a restart on the same data dir, every 4 KiB block read back twice. One trial here, six
// in the campaigns (test/campaigns/kill.campaign.test.ts); the long campaign (200 instants over every
// phase) is in docs/RELIABILITY.md.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killTrial } from '../../scripts/kill-campaign.ts';
import { missingTools } from '../../scripts/tools.ts';

const missing = missingTools(['qemu-img', 'qemu-io']);
if (missing.length > 0)
  console.warn(
    `\n*** kill -9 tests SKIPPED: ${missing.join(', ')} not installed (bash .ci/run installs qemu-utils) ***\n`,
  );

describe.skipIf(missing.length > 0)('kill -9 during an online restripe (real processes)', () => {
  it('a kill during a stripe change’s transfer: after the restart every flushed block reads back, and the interrupted restripe resumes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'arrayemu-kill-test-'));
    // Seeded instant: trial 1 kills a stripe change in its transfer (3.4 s).
    const r = await killTrial(1, root, process.cwd());
    expect(r.reason ?? '', `killed at ${r.killAtMs} ms (${r.phase})`).toBe('');
    expect(r.ok).toBe(true);
    expect(r.blocksChecked).toBe(2 * (2880 + 1440 + 480));
  }, 180_000);
});
