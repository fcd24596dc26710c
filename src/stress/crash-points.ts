// Where the crash harness (crash.ts) crashes: after every commit the array made, and at every step
// between two commits where anything durable changed (a drive write, a kept bit), as if the
// background commit had fallen at that step: the commit it would have made is peeked, not made
// (service-processor/durable-commits.ts), so the run goes on exactly as without it.
import { assert } from '../shared/errors/assert.ts';
import { copyOfCommit, type DurableCommit, type MemoryDurableStore } from '../shared/durable/durable.ts';
import { sched, SeededScheduler } from '../shared/sched/sched.ts';

/** The commit a background commit at scheduler step `step` would have made, after the store's first `after`. */
export interface Peek {
  after: number;
  step: number;
  commit: DurableCommit;
}

/** A crash: the first `k` commits on stable storage, then (a peek) one more, made at a step between two. */
export interface CrashPoint {
  k: number;
  peek?: Peek;
}

/** The peek callback of the durable options: every peek, copied, numbered by the commits in `store` then. */
export function peekInto(store: MemoryDurableStore, peeks: Peek[]): (c: DurableCommit) => void {
  return (c) => {
    const s = sched();
    assert(s instanceof SeededScheduler, 'a peek outside the seeded scheduler');
    peeks.push({ after: store.all().length, step: s.steps, commit: copyOfCommit(c) });
  };
}

/**
 * The crash points of a run whose store holds `commits`, in the order they happened, from the first
 * after `from` commits (those were there when the run began): each commit made, and each peek.
 */
export function pointsOf(commits: number, peeks: readonly Peek[], from = 0): CrashPoint[] {
  const byAfter = new Map<number, Peek[]>();
  for (const p of peeks) {
    const at = byAfter.get(p.after);
    if (at) at.push(p);
    else byAfter.set(p.after, [p]);
  }
  const out: CrashPoint[] = [];
  for (let k = from; k <= commits; k++) {
    if (k > from && k > 0) out.push({ k });
    for (const peek of byAfter.get(k) ?? []) out.push({ k, peek });
  }
  return out;
}

/** Every point, or (`most`) an even spread of them with the last. */
export function spread(points: CrashPoint[], most?: number): CrashPoint[] {
  if (!most || points.length <= most) return points;
  const at = new Set<number>();
  for (let i = 0; i < most; i++) at.add(Math.max(0, Math.round(((i + 1) * points.length) / most) - 1));
  return [...at].map((i) => points[i]!);
}

/** What stable storage holds at crash point `p` of a run whose store holds `commits`. */
export function durableAt(commits: readonly DurableCommit[], p: CrashPoint): DurableCommit[] {
  const made = commits.slice(0, p.k);
  return p.peek ? [...made, p.peek.commit] : made;
}

/** The point in words, for a failure's message. */
export function describePoint(commits: readonly DurableCommit[], p: CrashPoint): string {
  return p.peek
    ? `crash after commit ${p.k} and a background commit at step ${p.peek.step}`
    : `crash after commit ${p.k} (${commits[p.k - 1]!.reason})`;
}
