// The bench's ring floor (bench/ring-floor.ts) runs its threads and counts what the ring answered:
// a lost entry or a missed doorbell would leave producers waiting (250 ms a look), far below this.
import { describe, expect, it } from 'vitest';
import { ringFloor } from '../../bench/ring-floor.ts';

/** Far below what the crossing carries on any machine this runs on, far above a stalled ring's rate. */
const STALLED_BELOW_PER_SEC = 10_000;

describe('ring floor', () => {
  it('answers requests through the array’s ring, empty and carrying 4 KiB', async () => {
    const said: string[] = [];
    const f = await ringFloor(0.3, (s) => said.push(s));
    expect(f.emptyOpsPerSec).toBeGreaterThan(STALLED_BELOW_PER_SEC);
    expect(f.copy4kOpsPerSec).toBeGreaterThan(STALLED_BELOW_PER_SEC);
    expect(said.join('\n')).toMatch(/the ring alone: \d+ requests\/s answered empty/);
  }, 60_000);
});
