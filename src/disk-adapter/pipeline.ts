// Bounded concurrency for the background processes: run `fn` over `items` in their order with at
// most `inFlight` calls outstanding, so a drive always has the next accesses of a sequential sweep
// queued (it streams at its media rate) without the process flooding the cache or the drive queue.
import { assert } from '../shared/errors/assert.ts';

/** The most calls one pipeline keeps outstanding (a drive's queue and the cache bound it well below). */
export const PIPELINE_LIMIT = 256;

/**
 * Call `fn` on each item, in order, keeping up to `inFlight` calls outstanding. The first failure
 * stops further calls; the ones already running are awaited, then the failure is thrown.
 */
export async function pipeline<T>(items: Iterable<T>, inFlight: number, fn: (item: T) => Promise<void>): Promise<void> {
  assert(
    Number.isInteger(inFlight) && inFlight >= 1 && inFlight <= PIPELINE_LIMIT,
    () => `pipeline of ${inFlight} in flight (1-${PIPELINE_LIMIT})`,
  );
  const running = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  for (const item of items) {
    if (failure) break;
    const p: Promise<void> = fn(item).then(
      () => void running.delete(p),
      (err: unknown) => {
        running.delete(p);
        failure ??= { err };
      },
    );
    running.add(p);
    if (running.size >= inFlight) await Promise.race(running);
  }
  await Promise.all(running);
  if (failure) throw failure.err;
}
