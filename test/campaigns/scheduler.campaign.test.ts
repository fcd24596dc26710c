// fast-check driving the seeded scheduler's choices over a whole stress seed, with the broken fill:
// it finds a losing interleaving and shrinks it, and the shrunk one replays to the same failure. A
// campaign (`npm run test:campaigns`, run by .ci/run): the search and the shrinking take ~30-50 s.
// `npm test` keeps the other side (test/integration/scheduler.test.ts: correct code survives the
// interleavings tried).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runSeed } from '../../src/stress/seed.ts';

describe('fast-check drives the scheduler of a whole stress seed', () => {
  // Seed 7's array, workload and reconfigurations; fast-check chooses the first scheduling choices.
  const choices = fc.array(fc.nat(1000), { minLength: 50, maxLength: 400 });

  it('the broken fill: fast-check finds a losing interleaving and shrinks it; the shrunk one replays to the same failure', async () => {
    const prop = fc.asyncProperty(choices, async (cs) => {
      const r = await runSeed(7, 'inline', { deterministic: true, breakFill: true, choices: cs });
      expect(r.ok).toBe(true);
    });
    const out = await fc.check(prop, { numRuns: 30, seed: 12, endOnFailure: false });
    expect(out.failed).toBe(true);
    const shrunk = out.counterexample![0];
    const a = await runSeed(7, 'inline', { deterministic: true, breakFill: true, choices: shrunk });
    const b = await runSeed(7, 'inline', { deterministic: true, breakFill: true, choices: shrunk });
    expect(a.ok).toBe(false);
    expect(a.reason).toMatch(/stale|lost/);
    expect(b.trace).toBe(a.trace);
    expect(b.reason).toBe(a.reason);
  }, 240_000);
});
