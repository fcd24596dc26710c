// kill -9 of real processes during an online restripe (scripts/kill-campaign.ts): `arrayemu serve
// --data-dir` as a child, qemu-io writing and flushing from other processes, SIGKILL at random
// instants, a restart on the same data dir, every 4 KiB block read back twice. A few trials here;
// the long campaign (200 instants over every phase) is in docs/RELIABILITY.md.
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
  it('3 kills at spread instants of three kinds: after each restart every flushed block reads back, and an interrupted restripe resumes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'arrayemu-kill-test-'));
    // Seeded instants: trial 1 kills a stripe change in its transfer (3.4 s), trial 2 an expansion with a
    // stripe change about its switch (2.7 s), trial 3 adds rows and is killed after completion (3.9 s).
    for (const t of [1, 2, 3]) {
      const r = await killTrial(t, root, process.cwd());
      expect(r.reason ?? '', `trial ${t} killed at ${r.killAtMs} ms (${r.phase})`).toBe('');
      expect(r.ok).toBe(true);
      expect(r.blocksChecked).toBe(2 * (2880 + 1440 + 480));
    }
  }, 180_000);
});
