// How busy each actor's thread is: its event loop's active share of the time (Node's
// eventLoopUtilization, read from the main thread). What bounds a figure shows here: a thread near 1
// is saturated; threads well below 1 while the cores are full share them with something else.
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { ActorSlot } from './slots.ts';

/** Each actor thread's event-loop use, by actor name. */
export type ThreadUse = Record<string, EventLoopUtilization>;

/**
 * Each actor's thread use (0-1 in `utilization`) since the `since` snapshot, or since it started;
 * actors on the main thread (inline) are left out.
 */
export function threadUse(actors: readonly ActorSlot[], since?: ThreadUse): ThreadUse {
  const out: ThreadUse = {};
  for (const a of actors) {
    const now = a.threadUse();
    if (!now) continue;
    const before = since?.[a.name];
    const active = now.active - (before?.active ?? 0);
    const idle = now.idle - (before?.idle ?? 0);
    out[a.name] = { active, idle, utilization: active + idle > 0 ? active / (active + idle) : 0 };
  }
  return out;
}
