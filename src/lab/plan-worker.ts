// The plan's worker (plan-thread.ts): one plan, answered, then the thread ends.
import { parentPort, workerData } from 'node:worker_threads';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';
import { planRestripe, type PlanOptions } from './plan.ts';
import type { PlanAnswer } from './plan-thread.ts';

const { opts } = workerData as { opts: PlanOptions };
let answer: PlanAnswer;
try {
  answer = { ok: true, plan: await planRestripe(opts) };
} catch (err) {
  answer = { ok: false, code: err instanceof ArrayError ? err.code : 'INVARIANT', message: errorMessage(err) };
}
parentPort!.postMessage(answer);
