// Bounded concurrency for the background processes: run `fn` over `items` in their order with at
// most `inFlight` calls outstanding, so a drive always has the next accesses of a sequential sweep
// queued (it streams at its media rate) without the process flooding the cache or the drive queue.
import { assert } from '../shared/errors/assert.ts';
import { nextTurn } from '../shared/sched/sched.ts';

/** The most calls one pipeline keeps outstanding (a drive's queue and the cache bound it well below). */
export const PIPELINE_LIMIT = 256;
/** Items `now` does at once in a row before the pipeline gives the thread's other work a turn. */
export const AT_ONCE_BATCH = 16;

/**
 * Call `fn` on each item, in order, keeping up to `inFlight` calls outstanding. The first failure
 * stops further calls; the ones already running are awaited, then the failure is thrown. `now`, if
 * given, is tried first for each item: true, the item is done with nothing to wait for (no call, no
 * promise; a turn for the thread's other work every AT_ONCE_BATCH such items).
 */
export async function pipeline<T>(
  items: Iterable<T>,
  inFlight: number,
  fn: (item: T) => Promise<void>,
  now?: (item: T) => boolean,
): Promise<void> {
  assert(
    Number.isInteger(inFlight) && inFlight >= 1 && inFlight <= PIPELINE_LIMIT,
    () => `pipeline of ${inFlight} in flight (1-${PIPELINE_LIMIT})`,
  );
  if (inFlight === 1) return inOrder(items, fn, now);
  const running = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  let atOnce = 0;
  for (const item of items) {
    if (failure) break;
    let done: boolean;
    try {
      done = now?.(item) ?? false;
    } catch (err) {
      failure ??= { err }; // the calls already running are awaited first, as for a call's failure
      break;
    }
    if (done) {
      if (++atOnce % AT_ONCE_BATCH === 0) await nextTurn();
      continue;
    }
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

/** One call outstanding: each item's call awaited before the next (no set, no race). */
async function inOrder<T>(
  items: Iterable<T>,
  fn: (item: T) => Promise<void>,
  now?: (item: T) => boolean,
): Promise<void> {
  let atOnce = 0;
  for (const item of items) {
    if (!now?.(item)) await fn(item);
    else if (++atOnce % AT_ONCE_BATCH === 0) await nextTurn();
  }
}
