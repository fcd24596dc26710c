// Waits of the stress harness on the workload's progress, bounded, in the scheduler's time (virtual
// when deterministic).
import { sched, sleep } from '../shared/sched/sched.ts';

export const POLL_MS = 5;
/** Longest a seed's workload may take to reach its next mark before the seed fails. */
export const SEED_STALL_MS = 60_000;

export async function untilOps(wl: { opsDone(): number }, ops: number, what: string): Promise<void> {
  const deadline = sched().now() + SEED_STALL_MS;
  while (wl.opsDone() < ops) {
    if (sched().now() > deadline) throw new Error(`workload stalled at ${wl.opsDone()} of ${ops} operations (${what})`);
    await sleep(POLL_MS);
  }
}

/** Wait until `ops` more operations are done, or `ms` passed (a held destage may stall writes). */
export async function someOps(wl: { opsDone(): number }, ops: number, ms: number): Promise<void> {
  const target = wl.opsDone() + ops;
  const deadline = sched().now() + ms;
  while (wl.opsDone() < target && sched().now() < deadline) await sleep(POLL_MS);
}
