// The seeded scheduler (deterministic mode): same seed, same interleaving; virtual time; waits,
// wake-ups and timeouts; deadlock detection; a killed owner runs no more. And fast-check driving
// its choices over a whole stress seed: correct code survives any interleaving it tries (the broken
// fill found and its interleaving shrunk is a campaign: test/campaigns/scheduler.campaign.test.ts).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAIN_OWNER, runSeeded, sched, sleep, waitWord, type Owner } from '../../src/shared/sched/sched.ts';
import { runSeed } from '../../src/stress/seed.ts';

/** Five "actors" each appending its name three times, one turn apart: the order is the interleaving. */
async function interleaving(seed: number): Promise<string> {
  const { value } = await runSeeded({ seed }, async () => {
    const out: string[] = [];
    await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map(async (name) => {
        for (let i = 0; i < 3; i++) {
          out.push(name);
          await new Promise<void>((r) => sched().defer(r));
        }
      }),
    );
    return out.join('');
  });
  return value;
}

describe('seeded scheduler', () => {
  it('replays: the same seed gives the same interleaving; other seeds give others', async () => {
    expect(await interleaving(1)).toBe(await interleaving(1));
    const seen = new Set<string>();
    for (let s = 0; s < 20; s++) seen.add(await interleaving(s));
    expect(seen.size).toBeGreaterThan(10);
  });

  it('a timer cancelled after it fell due, before it ran, does not run (as clearTimeout); a periodic one stops', async () => {
    // Two timers due at the same instant: whichever runs first cancels the other, which then must not run.
    for (const first of [0, 1]) {
      const { value } = await runSeeded({ seed: 1, choose: (n) => (n > 1 ? first : 0) }, async () => {
        const ran: string[] = [];
        const timers: Array<{ cancel(): void }> = [];
        await new Promise<void>((done) => {
          timers[0] = sched().after(5, () => (ran.push('a'), timers[1]!.cancel()));
          timers[1] = sched().after(5, () => (ran.push('b'), timers[0]!.cancel()));
          sched().after(50, done);
        });
        let ticks = 0;
        const every = sched().every(10, () => ++ticks === 2 && every.cancel());
        await sleep(100);
        return { ran, ticks };
      });
      expect(value.ran).toHaveLength(1);
      expect(value.ticks).toBe(2);
    }
  });

  it('time is virtual: a 10-second sleep takes no real time, timers fire in order', async () => {
    const { value, virtualMs } = await runSeeded({ seed: 3 }, async () => {
      const fired: number[] = [];
      await Promise.all([30, 10, 20].map(async (ms) => (await sleep(ms * 1000), fired.push(ms))));
      return fired;
    });
    expect(value).toEqual([10, 20, 30]);
    expect(virtualMs).toBeGreaterThanOrEqual(30_000);
  });

  it('waits on a shared word: notify wakes the waiter, a wait with no notify times out, a changed word does not wait', async () => {
    const { value } = await runSeeded({ seed: 4 }, async () => {
      const word = new Int32Array(new SharedArrayBuffer(8));
      const woken = waitWord(word, 0, 0, 1000);
      sched().defer(() => (Atomics.store(word, 0, 1), sched().notify(word, 0)));
      const timedOut = await waitWord(word, 1, 0, 50);
      return { woken: await woken, timedOut, notEqual: await waitWord(word, 0, 0, 50) };
    });
    expect(value).toEqual({ woken: 'ok', timedOut: 'timed-out', notEqual: 'not-equal' });
  });

  it('a run that can make no progress is reported as a deadlock, not left hanging', async () => {
    await expect(runSeeded({ seed: 5 }, () => new Promise<void>(() => {}))).rejects.toThrow(/deadlock/);
  });

  it('a killed owner runs no more: its tasks, timers and wake-ups are dropped', async () => {
    const { value } = await runSeeded({ seed: 6 }, async () => {
      const victim: Owner = { tag: 'DA9#1', id: 99 };
      const ran: string[] = [];
      sched().runAs(victim, () => {
        sched().defer(() => ran.push('task'));
        sched().after(5, () => ran.push('timer'));
      });
      sched().kill(victim);
      sched().defer(() => ran.push('other'), MAIN_OWNER);
      await sleep(10);
      return ran;
    });
    expect(value).toEqual(['other']);
  });
});

describe('fast-check drives the scheduler of a whole stress seed', () => {
  // Seed 7's array, workload and reconfigurations; fast-check chooses the first scheduling choices.
  const choices = fc.array(fc.nat(1000), { minLength: 50, maxLength: 400 });

  it('correct code: no interleaving tried loses data', async () => {
    await fc.assert(
      fc.asyncProperty(choices, async (cs) => {
        const r = await runSeed(7, 'inline', { deterministic: true, faults: true, choices: cs });
        expect(r.reason).toBeUndefined();
      }),
      { numRuns: 15, seed: 11 },
    );
  }, 240_000);
});
