// A drive on its own under a closed-loop load, in virtual time: QD requests outstanding, each
// replaced by the next as it completes. Used to check the model against the drive's published
// figures, and by trace replay of a bare drive.
import { assert } from '../../shared/errors/assert.ts';
import type { DriveRequest, DriveTiming, Served } from './hdd-model.ts';

export interface ClosedLoopResult {
  served: Served[];
  elapsedMs: number;
  iops: number;
  meanResponseMs: number;
}

/** Most requests one simulated run may serve (bounds the loop). */
export const SIM_REQUESTS_MAX = 10_000_000;

/**
 * Serve `count` requests from `next()`, `queueDepth` outstanding at once, each response time
 * measured from its arrival (the completion of the request it replaced) to its completion.
 */
export function closedLoop(
  model: DriveTiming,
  queueDepth: number,
  count: number,
  next: () => Omit<DriveRequest, 'id'>,
): ClosedLoopResult {
  assert(
    queueDepth >= 1 && count >= 1 && count <= SIM_REQUESTS_MAX,
    () => `closed loop: queue depth ${queueDepth}, ${count} requests`,
  );
  const queue: DriveRequest[] = []; // arrived, waiting for the mechanism
  const arriving: Array<{ atMs: number; req: DriveRequest }> = []; // replacements, arriving at a completion
  const arrival = new Map<number, number>();
  let issued = 0;
  const issue = (atMs: number) => {
    if (issued >= count) return;
    const req = { id: issued++, ...next() };
    arrival.set(req.id, atMs);
    arriving.push({ atMs, req });
  };
  for (let i = 0; i < queueDepth; i++) issue(0);
  const served: Served[] = [];
  let free = 0; // the mechanism is free from here
  let last = 0;
  let responseSum = 0;
  while (queue.length + arriving.length > 0) {
    // Admit what has arrived by the time the mechanism is free (or wait for the first arrival).
    arriving.sort((a, b) => a.atMs - b.atMs);
    if (queue.length === 0) free = Math.max(free, arriving[0]!.atMs);
    while (arriving.length > 0 && arriving[0]!.atMs <= free) queue.push(arriving.shift()!.req);
    const [req] = queue.splice(model.pick(queue, free), 1);
    while (model.mustDestageFirst(req!)) free = model.destageOne(free)!.freeMs; // a full write cache makes room first
    const s = model.serve(req!, free);
    free = s.freeMs;
    last = Math.max(last, s.doneMs);
    responseSum += s.doneMs - arrival.get(req!.id)!;
    arrival.delete(req!.id);
    served.push(s);
    issue(s.doneMs);
  }
  return { served, elapsedMs: last, iops: (served.length / last) * 1000, meanResponseMs: responseSum / served.length };
}
