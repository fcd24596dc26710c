// The waits of requests sent to another actor (PendingRequests): one timer a table keeps every
// entry's bound exactly; and the seeded scheduler's heap drops cancelled timers once they are most of it.
import { describe, expect, it } from 'vitest';
import { PendingRequests } from '../../src/shared/links/pending.ts';
import { CANCELLED_TIMERS_KEPT, runSeeded, sched, sleep } from '../../src/shared/sched/sched.ts';

const seeded = <T>(main: () => Promise<T>) => runSeeded({ seed: 1, stepCostMs: 0 }, main);
const timeout = (what: string) => () => new Error(`${what} timed out`);

describe('PendingRequests', () => {
  it('fails each entry at its own deadline, whatever order the bounds come in, and only those not settled', async () => {
    const { value } = await seeded(async () => {
      const t = new PendingRequests<string, undefined>();
      const failedAt = new Map<string, number>();
      const settled = new Map<string, string>();
      const watch = (key: string, p: Promise<string>) =>
        p.then(
          (v) => void settled.set(key, v),
          () => void failedAt.set(key, sched().now()),
        );
      void watch('long', t.wait('long', 100, timeout('long'), undefined));
      await sleep(10);
      void watch('short', t.wait('short', 20, timeout('short'), undefined)); // due before the timer set for 'long'
      void watch('answered', t.wait('answered', 50, timeout('answered'), undefined));
      await sleep(5);
      expect(t.settle('answered', 'yes')).toBe(true);
      await sleep(200);
      return { failedAt, settled, left: t.size };
    });
    expect(value.failedAt.get('short')).toBe(30);
    expect(value.failedAt.get('long')).toBe(100);
    expect(value.failedAt.has('answered')).toBe(false);
    expect(value.settled.get('answered')).toBe('yes');
    expect(value.left).toBe(0);
  });

  it('a late answer finds nothing to settle; an entry added after the others expired gets its full bound', async () => {
    const { value } = await seeded(async () => {
      const t = new PendingRequests<number, undefined>();
      const first = t.wait(1, 10, timeout('1'), undefined).catch((e: Error) => e.message);
      await sleep(15);
      const late = t.settle(1, 7);
      const start = sched().now();
      const second = t.wait(2, 10, timeout('2'), undefined).catch(() => sched().now() - start);
      return { first: await first, late, second: await second };
    });
    expect(value).toEqual({ first: '1 timed out', late: false, second: 10 });
  });
});

describe('the seeded scheduler with timers cancelled far ahead', () => {
  it('keeps a heap of the live timers, not of every one it set', async () => {
    const { value } = await seeded(async () => {
      const s = sched() as unknown as { timersHeld: number };
      let most = 0;
      let fired = 0;
      const keep = sched().after(1_000_000, () => fired++); // one live timer far ahead, never cancelled
      for (let i = 0; i < 50 * CANCELLED_TIMERS_KEPT; i++) {
        sched()
          .after(30_000, () => fired++)
          .cancel();
        most = Math.max(most, s.timersHeld);
      }
      await sleep(40_000);
      keep.cancel();
      return { most, fired };
    });
    expect(value.fired).toBe(0);
    expect(value.most).toBeLessThanOrEqual(2 * CANCELLED_TIMERS_KEPT + 2);
  });
});
