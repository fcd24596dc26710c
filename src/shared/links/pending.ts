// Requests sent to another actor and awaiting their answer: one table per kind of request, each
// entry settled once and bounded in time (its timer from the one Scheduler, so a seeded run
// replays it), each carrying what its sender needs should the peer be replaced (the message to
// send again). The host adapter's stage, fill and flush, the service processor's RECONF steps and a
// host client's requests keep their waits here.
import { sched, type Timer } from '../sched/sched.ts';

interface Entry<A, X> {
  resolve: (a: A) => void;
  reject: (e: Error) => void;
  timer: Timer;
  extra: X;
}

/** The timer of an entry its owner sweeps. */
const NO_TIMER: Timer = { cancel: () => {} };

export class PendingRequests<A, X> {
  private readonly entries = new Map<number | string, Entry<A, X>>();

  /**
   * Wait for the answer to `key` (add it before sending the request): rejected with `timeout()`
   * after `waitMs`. `keepAlive` false: the timer alone does not keep the process running.
   */
  wait(key: number | string, waitMs: number, timeout: () => Error, extra: X, keepAlive = true): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      const timer = sched().after(
        waitMs,
        () => {
          this.entries.delete(key);
          reject(timeout());
        },
        keepAlive,
      );
      this.entries.set(key, { resolve, reject, timer, extra });
    });
  }

  /**
   * Wait for the answer to `key` with no timer of its own: for requests too many to give each a
   * timer, whose owner sweeps them (`waiting`, then `settle` the late ones).
   */
  add(key: number | string, extra: X): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      this.entries.set(key, { resolve, reject, timer: NO_TIMER, extra });
    });
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: number | string): boolean {
    return this.entries.has(key);
  }

  /** What `key` carries, while it waits. */
  extra(key: number | string): X | undefined {
    return this.entries.get(key)?.extra;
  }

  /** Settle `key` with its answer, or fail it with an Error; false if nothing waits under `key`. */
  settle(key: number | string, answer: A | Error): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    this.entries.delete(key);
    e.timer.cancel();
    if (answer instanceof Error) e.reject(answer);
    else e.resolve(answer);
    return true;
  }

  /** Every request still waiting: its key and what it carries. */
  waiting(): Array<[number | string, X]> {
    return [...this.entries.entries()].map(([k, e]) => [k, e.extra]);
  }
}
