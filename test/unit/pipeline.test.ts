// The background processes' pipeline: calls in order with a bound in flight, and the `now` path
// (an item done at once, no call, no promise) beside it.
import { describe, expect, it } from 'vitest';
import { pipeline } from '../../src/disk-adapter/pipeline.ts';

/** A call that records its item when it starts and when it ends, a turn of the event loop later. */
function recorder(log: string[], running = { now: 0, most: 0 }) {
  return async (x: number) => {
    log.push(`start ${x}`);
    running.most = Math.max(running.most, ++running.now);
    await new Promise((r) => setImmediate(r));
    running.now--;
    log.push(`end ${x}`);
  };
}

describe('pipeline', () => {
  for (const inFlight of [1, 3]) {
    it(`${inFlight} in flight: every item once, in order, never more than ${inFlight} outstanding; \`now\` items make no call`, async () => {
      const log: string[] = [];
      const running = { now: 0, most: 0 };
      const atOnce: number[] = [];
      const items = Array.from({ length: 40 }, (_, i) => i);
      await pipeline(items, inFlight, recorder(log, running), (x) => (x % 3 === 0 ? (atOnce.push(x), true) : false));
      const started = log.filter((l) => l.startsWith('start')).map((l) => Number(l.split(' ')[1]));
      expect(started).toEqual(items.filter((x) => x % 3 !== 0));
      expect(atOnce).toEqual(items.filter((x) => x % 3 === 0));
      expect(log.filter((l) => l.startsWith('end'))).toHaveLength(started.length);
      expect(running.most).toBe(inFlight);
    });

    it(`${inFlight} in flight: a failure in \`now\` stops further items, and the calls already running end first`, async () => {
      const log: string[] = [];
      const now = (x: number) => {
        if (x === 5) throw new Error('now failed at 5');
        return false;
      };
      await expect(pipeline([1, 2, 3, 4, 5, 6, 7], inFlight, recorder(log), now)).rejects.toThrow('now failed at 5');
      expect(log.some((l) => l.includes(' 6') || l.includes(' 7'))).toBe(false);
      for (const x of [1, 2, 3, 4]) expect(log).toContain(`end ${x}`);
    });
  }
});
