// Requests sent to another actor and awaiting their answer: one table per kind of request, each
// entry settled once and bounded in time (its deadline kept by one timer of the table, from the one
// Scheduler, so a seeded run replays it), each carrying what its sender needs should the peer be
// replaced (the message to send again). The host adapter's stage, fill and flush, the service
// processor's RECONF steps and a host client's requests keep their waits here.
//
// One timer a table, not one a request: a stage is asked thousands of times a second, each answered
// in milliseconds against a bound of seconds. A timer per request was a setTimeout and a
// clearTimeout each on the real clock, and on the seeded one an entry left in its heap until its
// time came (cancelled timers are dropped only as they reach the top): ~63 000 of them alive 10 s
// into a 16-adapter sweep on the virtual clock, with their closures, promoted to the old generation.
import { sched, type Timer } from '../sched/sched.ts';
import { IdTable } from './id-table.ts';

interface Entry<A, X> {
  resolve: (a: A) => void;
  reject: (e: Error) => void;
  /** Scheduler ms after which it fails with `timeout(extra)`; NO_DEADLINE: its owner sweeps it. */
  deadline: number;
  timeout?: (extra: X) => Error;
  extra: X;
}

/** The deadline of an entry its owner sweeps (no bound kept here). */
const NO_DEADLINE = Infinity;

/** Where a table keeps its entries: a Map, or for request ids an IdTable (no Map on the hot path: id-table.ts). */
interface Store<E> {
  get(k: number | string): E | undefined;
  set(k: number | string, e: E): void;
  delete(k: number | string): boolean;
  readonly size: number;
  /** Every entry, in the order keys were given (insertion for a Map, increasing ids for an IdTable). */
  list(): Array<[number | string, E]>;
}

function mapStore<E>(): Store<E> {
  const m = new Map<number | string, E>();
  return {
    get: (k) => m.get(k),
    set: (k, e) => void m.set(k, e),
    delete: (k) => m.delete(k),
    get size() {
      return m.size;
    },
    list: () => [...m],
  };
}

/** Keys are ids: IdTable.set asserts each is a non-negative integer (a string key never gets in). */
function idStore<E>(): Store<E> {
  const t = new IdTable<E>();
  return {
    get: (k) => t.get(k as number),
    set: (k, e) => t.set(k as number, e),
    delete: (k) => t.delete(k as number),
    get size() {
      return t.size;
    },
    list: () => t.entries(),
  };
}

export class PendingRequests<A, X> {
  private readonly entries: Store<Entry<A, X>>;
  /** The table's one timer, set for `timerAt` (the earliest deadline when it was set), if any entry has one. */
  private timer?: Timer;
  private timerAt = NO_DEADLINE;

  /**
   * `keepAlive` false: the table's timer alone does not keep the process running. `ids`: keys are
   * request ids (non-negative integers, given in increasing order), kept in an IdTable rather than
   * a Map — for a table that takes an insert and a delete a request.
   */
  constructor(
    private readonly keepAlive = true,
    ids = false,
  ) {
    this.entries = ids ? idStore() : mapStore();
  }

  /**
   * Wait for the answer to `key` (add it before sending the request): rejected with `timeout(extra)`
   * after `waitMs` (a function of the entry's extra: one for all the entries of a table, not a closure each).
   */
  wait(key: number | string, waitMs: number, timeout: (extra: X) => Error, extra: X): Promise<A> {
    const deadline = sched().now() + waitMs;
    const p = new Promise<A>((resolve, reject) => {
      this.entries.set(key, { resolve, reject, deadline, timeout, extra });
    });
    if (deadline < this.timerAt) this.arm(deadline);
    return p;
  }

  /** Set the table's timer for `at` (replacing a later one). */
  private arm(at: number): void {
    this.timer?.cancel();
    this.timerAt = at;
    this.timer = sched().after(Math.max(0, at - sched().now()), () => this.expire(), this.keepAlive);
  }

  /** The timer came: fail every entry past its deadline, and set it again for the earliest left. */
  private expire(): void {
    this.timer = undefined;
    this.timerAt = NO_DEADLINE;
    const now = sched().now();
    let next = NO_DEADLINE;
    for (const [key, e] of this.entries.list()) {
      if (e.deadline <= now) {
        this.entries.delete(key);
        e.reject(e.timeout!(e.extra));
      } else if (e.deadline < next) next = e.deadline;
    }
    if (next !== NO_DEADLINE) this.arm(next);
  }

  /**
   * Wait for the answer to `key` with no bound kept here: for requests whose owner sweeps them
   * itself (`waiting`, then `settle` the late ones).
   */
  add(key: number | string, extra: X): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      this.entries.set(key, { resolve, reject, deadline: NO_DEADLINE, extra });
    });
  }

  /**
   * Like `add`, but `done` gets the answer (or the Error) where `settle` is called: no promise, and
   * no closure a request when `done` is the caller's own, made once (a load generator's loop).
   */
  addDone(key: number | string, extra: X, done: (answer: A | Error) => void): void {
    this.entries.set(key, { resolve: done, reject: done, deadline: NO_DEADLINE, extra });
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: number | string): boolean {
    return this.entries.get(key) !== undefined;
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
    if (this.entries.size === 0) this.disarm();
    if (answer instanceof Error) e.reject(answer);
    else e.resolve(answer);
    return true;
  }

  /** Nothing waits: no timer left to keep the process running or to fire for nothing. */
  private disarm(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = NO_DEADLINE;
  }

  /** Every request still waiting: its key and what it carries. */
  waiting(): Array<[number | string, X]> {
    return this.entries.list().map(([k, e]) => [k, e.extra]);
  }
}
