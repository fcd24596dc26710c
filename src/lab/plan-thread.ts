// A plan run in a thread of its own (for `serve`'s POST /v1/plans): the virtual clock a plan runs
// on replaces the scheduler of the thread it runs in, so it must not run in a thread that serves
// an array on the real clock. One worker per plan, ended when it answers; bounded in time.
import { Worker } from 'node:worker_threads';
import { WORKER_BOOTSTRAP } from '../runtime/slots.ts';
import { ArrayError, type ErrorCode } from '../shared/errors/errors.ts';
import type { PlanOptions, PlanResult } from './plan.ts';

const ENTRY = new URL('./plan-worker.ts', import.meta.url).href;
/** Longest a plan may run before it is given up (its worker ended). */
export const PLAN_WAIT_MS = 600_000;

/** What the plan's worker answers. */
export type PlanAnswer = { ok: true; plan: PlanResult } | { ok: false; code: ErrorCode; message: string };

export function planInThread(opts: PlanOptions): Promise<PlanResult> {
  const worker = new Worker(WORKER_BOOTSTRAP, { workerData: { entry: ENTRY, opts }, name: 'plan' });
  let timer: NodeJS.Timeout | undefined;
  return new Promise<PlanResult>((resolve, reject) => {
    timer = setTimeout(
      () => reject(new ArrayError('TIMEOUT', `the plan did not finish within ${PLAN_WAIT_MS} ms`)),
      PLAN_WAIT_MS,
    );
    worker.once('message', (a: PlanAnswer) => (a.ok ? resolve(a.plan) : reject(new ArrayError(a.code, a.message))));
    worker.once('error', reject);
    worker.once('exit', (code) =>
      reject(new ArrayError('INVARIANT', `the plan's thread exited (${code}) without an answer`)),
    );
  }).finally(() => {
    clearTimeout(timer);
    void worker.terminate();
  });
}
