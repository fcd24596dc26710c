// The scheduler: the one place actor code gets time, turns, timers and shared-memory waits from.
// Two implementations, same interface:
//   - the real one (default): setImmediate, setTimeout, Atomics.waitAsync — worker and inline modes;
//   - the seeded one (deterministic mode): every task, timer and wake-up goes into one queue, and a
//     seeded PRNG picks which runs next; time is virtual. All actors of an array run in one thread
//     under it, so a seed replays the identical interleaving (and the same faults at the same steps).
// Every task belongs to an Owner (an actor incarnation). Killing an owner drops all its future
// tasks, timers and wake-ups: the actor stops at its next await, as a failed adapter stops.
import { ArrayError } from '../errors/errors.ts';
import { assert } from '../errors/assert.ts';

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';
export type WaitHandle = { async: false; value: WaitResult } | { async: true; value: Promise<WaitResult> };

export interface Timer {
  cancel(): void;
}

/** Who runs: an actor incarnation ("DA30#2"). `id` is the actor's number in shared tables (lock owner). */
export interface Owner {
  readonly tag: string;
  readonly id: number;
}

export const MAIN_OWNER: Owner = { tag: 'main', id: 0 };

export interface Scheduler {
  readonly kind: 'real' | 'seeded';
  /**
   * Tasks run in a fixed order (the virtual clock): no interleavings are explored, so an in-thread
   * link may deliver a batch in the turn it leaves in (one step a hop). Elsewhere each hop keeps a
   * turn of its own: the seeded scheduler's choices between them are what a stress seed explores.
   */
  readonly fixedOrder: boolean;
  /** Milliseconds (virtual in seeded mode). */
  now(): number;
  /** Run `fn` in a later turn (setImmediate). */
  defer(fn: () => void, owner?: Owner): void;
  /**
   * Run `fn` once, for work that only gains from being gathered (messages whose sending costs CPU):
   * after `ms` on the real clock; in the next turn under the seeded scheduler, where a message
   * costs nothing and a delay would only change the interleavings a seed replays.
   */
  gather(ms: number, fn: () => void): void;
  /** Run `fn` after `ms` (setTimeout). `keepAlive` false: does not keep the process alive. */
  after(ms: number, fn: () => void, keepAlive?: boolean): Timer;
  /** Run `fn` every `ms`; never keeps the process alive. */
  every(ms: number, fn: () => void): Timer;
  /** Atomics.waitAsync, bounded by `ms`. */
  waitAsync(view: Int32Array, index: number, value: number, ms: number): WaitHandle;
  /** Atomics.notify (and wake this scheduler's waiters on that word). */
  notify(view: Int32Array, index: number): void;
  /** The owner whose code runs now. */
  current(): Owner;
  /** Run `fn` now as `owner` (calls into an actor from outside it). */
  runAs<T>(owner: Owner, fn: () => T): T;
  /** The owner stops: none of its tasks, timers or wake-ups run again. */
  kill(owner: Owner): void;
  isDead(owner: Owner): boolean;
}

/** What both schedulers share: whose code runs now, and which owners were killed. */
abstract class Owners {
  protected owner: Owner = MAIN_OWNER;
  protected readonly dead = new Set<Owner>();
  current(): Owner {
    return this.owner;
  }
  runAs<T>(owner: Owner, fn: () => T): T {
    const before = this.owner;
    this.owner = owner;
    try {
      return fn();
    } finally {
      this.owner = before;
    }
  }
  kill(owner: Owner): void {
    this.dead.add(owner);
    // The code running now goes on as the main owner, not as the one killed: what it defers or
    // awaits next (a caller's status() after a restart, say) would otherwise never run.
    if (this.owner === owner) this.owner = MAIN_OWNER;
  }
  isDead(owner: Owner): boolean {
    return this.dead.has(owner);
  }
}

/** The real event loop. Owner tags are kept across turns so a killed inline actor stops too. */
export class RealScheduler extends Owners implements Scheduler {
  readonly kind = 'real';
  readonly fixedOrder = false;
  private single = false;

  now(): number {
    return performance.now();
  }
  private wrap(fn: () => void, owner = this.owner): () => void {
    return () => {
      if (this.dead.has(owner)) return;
      this.owner = owner;
      fn();
    };
  }
  defer(fn: () => void, owner?: Owner): void {
    setImmediate(this.wrap(fn, owner));
  }
  gather(ms: number, fn: () => void): void {
    this.after(ms, fn, false);
  }
  after(ms: number, fn: () => void, keepAlive = true): Timer {
    const t = setTimeout(this.wrap(fn), ms);
    if (!keepAlive) t.unref();
    return { cancel: () => clearTimeout(t) };
  }
  every(ms: number, fn: () => void): Timer {
    const t = setInterval(this.wrap(fn), ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  }
  waitAsync(view: Int32Array, index: number, value: number, ms: number): WaitHandle {
    const w = Atomics.waitAsync(view, index, value, ms);
    if (!w.async || this.single) return w;
    const owner = this.owner;
    // Several wake-ups may settle in one task, their reactions interleaved: the waiter resumes in
    // a turn of its own, so the code that runs after the wait is its owner's.
    return {
      async: true,
      value: w.value.then(
        (v) => new Promise<WaitResult>((resolve) => setImmediate(this.wrap(() => resolve(v), owner))),
      ),
    };
  }
  notify(view: Int32Array, index: number): void {
    Atomics.notify(view, index);
  }
  /** A worker thread runs one actor: everything in it is that actor's (no per-wait hop needed). */
  adopt(owner: Owner): void {
    this.owner = owner;
    this.single = true;
  }
}

/** A small seeded PRNG (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Task {
  fn: () => void;
  owner: Owner;
  /** A timer cancelled after it fell due (it waited in the ready queue) does not run. */
  cancelled?: boolean;
}

/**
 * A timer of the seeded scheduler, its own handle (no handle object or closure a timer). A periodic
 * timer is this one entry put back in the heap at each firing, so a cancel stops all later ones.
 */
class TimerEntry implements Task, Timer {
  cancelled = false;
  constructor(
    private readonly scheduler: SeededScheduler,
    readonly fn: () => void,
    readonly owner: Owner,
    public at: number,
    public seq: number,
    readonly every: number,
  ) {}
  cancel(): void {
    this.scheduler.cancelTimer(this);
  }
}

interface Waiter {
  owner: Owner;
  resolve: (v: WaitResult) => void;
  timer: Timer;
}

/** Virtual milliseconds one task costs: time moves on even while tasks are always ready. */
export const STEP_COST_MS = 0.01;
/**
 * A settled promise, one for the thread: a reaction on it is a microtask queued behind those already
 * queued, and a wait that is already over returns it (no promise made for it).
 */
export const RESOLVED: Promise<void> = Promise.resolve();
/** Cancelled timers the seeded scheduler's heap may hold before it is rebuilt without them (once they are half of it). */
export const CANCELLED_TIMERS_KEPT = 1024;
/** Most tasks one seeded run may take before it is declared a livelock. */
export const MAX_STEPS = 50_000_000;
/**
 * Steps a seeded run takes between two real turns of the event loop. Between steps it waits only for
 * the microtasks the last task started (one tick after they drain, ~1 µs); a real turn (setImmediate,
 * an epoll call, 3-25 µs here) lets the process's own timers and I/O (a progress bar) run now and then.
 */
export const STEPS_PER_REAL_TURN = 256;

export interface SeededOptions {
  seed: number;
  /** Choose the next task among `n` ready ones (default: the seeded PRNG). fast-check can drive this. */
  choose?: (n: number) => number;
  maxSteps?: number;
  /**
   * Virtual ms each task costs (default STEP_COST_MS). 0 makes it a discrete-event clock: time
   * moves only to the next timer (a drive's completion, a sleep), and work costs only what the
   * models say it costs.
   */
  stepCostMs?: number;
  /** A discrete-event clock whose tasks run in a fixed order (Scheduler.fixedOrder): runVirtual's. */
  fixedOrder?: boolean;
}

/**
 * The deterministic scheduler: one queue of ready tasks, a seeded choice of the next, virtual time.
 * Actor code never runs except from a task it picks, so the whole interleaving is a function of the
 * seed (and of `choose`).
 */
export class SeededScheduler extends Owners implements Scheduler {
  readonly kind = 'seeded';
  readonly fixedOrder: boolean;
  private readonly ready: Task[] = [];
  private readonly timers: TimerEntry[] = []; // a binary heap on (at, seq)
  private readonly waiters = new WeakMap<ArrayBufferLike, Map<number, Waiter[]>>();
  private nowMs = 0;
  private seq = 0;
  /** Timers cancelled since the heap was last rebuilt (some may have left it since: an upper bound). */
  private cancelledTimers = 0;
  private readonly choose: (n: number) => number;
  private readonly maxSteps: number;
  private readonly stepCostMs: number;
  /** Tasks run so far. */
  steps = 0;
  /** A running hash of the choices made: two runs with equal traces took the same interleaving. */
  trace = 0x811c9dc5;
  /** Called after every task (and the microtasks it started): the instants between two steps. */
  private afterStep?: () => void;

  constructor(opts: SeededOptions) {
    super();
    const rng = mulberry32(opts.seed);
    this.choose = opts.choose ?? ((n) => Math.floor(rng() * n));
    this.maxSteps = opts.maxSteps ?? MAX_STEPS;
    this.stepCostMs = opts.stepCostMs ?? STEP_COST_MS;
    this.fixedOrder = opts.fixedOrder === true;
  }

  now(): number {
    return this.nowMs;
  }
  /** Timers in the heap now, cancelled ones not yet dropped included. */
  get timersHeld(): number {
    return this.timers.length;
  }
  /**
   * Run `fn` after every task from now on, between it and the next (undefined: no longer). One at a
   * time: the crash harness's commit after every step (service-processor/durable-commits.ts).
   */
  afterEachStep(fn: (() => void) | undefined): void {
    assert(!fn || !this.afterStep, 'afterEachStep: a hook is already set');
    this.afterStep = fn;
  }
  gather(_ms: number, fn: () => void): void {
    this.defer(fn);
  }
  defer(fn: () => void, owner: Owner = this.owner): void {
    this.ready.push({ fn, owner });
  }
  private addTimer(ms: number, fn: () => void, every: number): TimerEntry {
    const t = new TimerEntry(this, fn, this.owner, this.nowMs + Math.max(0, ms), this.seq++, every);
    heapPush(this.timers, t);
    return t;
  }
  after(ms: number, fn: () => void): Timer {
    return this.addTimer(ms, fn, 0);
  }
  every(ms: number, fn: () => void): Timer {
    assert(ms > 0, 'every: period must be positive');
    return this.addTimer(ms, fn, ms);
  }
  /**
   * A cancelled timer stays in the heap until it reaches the top; once they are most of it, the
   * heap is rebuilt without them (the order of the rest is their (at, seq), unchanged), so a run
   * that cancels timers far in the future keeps a heap of the live ones, not of every one it set.
   */
  cancelTimer(t: TimerEntry): void {
    if (t.cancelled) return;
    t.cancelled = true;
    if (++this.cancelledTimers < CANCELLED_TIMERS_KEPT || this.cancelledTimers * 2 < this.timers.length) return;
    const live = this.timers.filter((x) => !x.cancelled).sort((a, b) => (less(a, b) ? -1 : 1));
    this.timers.length = 0;
    for (const x of live) this.timers.push(x); // a sorted array is a heap
    this.cancelledTimers = 0;
  }
  waitAsync(view: Int32Array, index: number, value: number, ms: number): WaitHandle {
    if (Atomics.load(view, index) !== value) return { async: false, value: 'not-equal' };
    const byIndex = this.waitersOf(view);
    const key = view.byteOffset + index * 4;
    const value$ = new Promise<WaitResult>((resolve) => {
      const w: Waiter = {
        owner: this.owner,
        resolve,
        timer: this.after(ms, () => {
          const list = byIndex.get(key);
          const i = list?.indexOf(w) ?? -1;
          if (i >= 0) list!.splice(i, 1);
          resolve('timed-out');
        }),
      };
      const list = byIndex.get(key) ?? [];
      list.push(w);
      byIndex.set(key, list);
    });
    return { async: true, value: value$ };
  }
  private waitersOf(view: Int32Array): Map<number, Waiter[]> {
    let m = this.waiters.get(view.buffer);
    if (!m) {
      m = new Map();
      this.waiters.set(view.buffer, m);
    }
    return m;
  }
  notify(view: Int32Array, index: number): void {
    Atomics.notify(view, index);
    const byIndex = this.waiters.get(view.buffer);
    const key = view.byteOffset + index * 4;
    const list = byIndex?.get(key);
    if (!list || list.length === 0) return;
    byIndex!.delete(key);
    for (const w of list) {
      w.timer.cancel();
      this.ready.push({ fn: () => w.resolve('ok'), owner: w.owner });
    }
  }

  /** Move every timer due by now into the ready queue (in time order). */
  private fireDue(): void {
    while (this.timers.length > 0 && this.timers[0]!.at <= this.nowMs) {
      const t = heapPop(this.timers)!;
      if (t.cancelled) continue;
      this.ready.push(t);
      if (t.every > 0) {
        t.at += t.every;
        t.seq = this.seq++;
        heapPush(this.timers, t);
      }
    }
  }

  /** Drop cancelled timers from the top so an idle queue can tell whether anything is left. */
  private nextTimerAt(): number | undefined {
    while (this.timers.length > 0 && this.timers[0]!.cancelled) heapPop(this.timers);
    return this.timers[0]?.at;
  }

  /**
   * Run tasks until `main` settles; returns its value (or throws its error). The microtasks a task
   * starts all finish before the next is chosen: a tick queued from a microtask behind them runs only
   * once the microtask queue is empty (Node drains it whole before its next tick), at any depth.
   */
  async run<T>(main: () => Promise<T>): Promise<T> {
    let settled = false;
    const result = this.runAs(MAIN_OWNER, main).finally(() => (settled = true));
    result.catch(() => {});
    await new Promise<void>((r) => setImmediate(r));
    // A loop of callbacks, not an await a step: nothing allocated between two steps but Node's tick.
    await new Promise<void>((resolve, reject) => {
      let ran = false; // a task ran: the hook between steps is owed once its microtasks drained
      const step = (): void => {
        try {
          if (ran) {
            ran = false;
            this.afterStep?.();
          }
          if (settled) return resolve();
          this.runOne();
          ran = true;
          if (this.steps % STEPS_PER_REAL_TURN === 0) setImmediate(step);
          else void RESOLVED.then(drained); // queueMicrotask would make an AsyncResource and a bound function each time
        } catch (err) {
          reject(err);
        }
      };
      const drained = (): void => void process.nextTick(step);
      step();
    });
    return result;
  }

  /** Choose and run one task (moving the clock to the next timer when none is ready). */
  private runOne(): void {
    for (;;) {
      if (this.ready.length === 0) {
        const at = this.nextTimerAt();
        if (at === undefined)
          throw new ArrayError(
            'INVARIANT',
            `seeded scheduler: nothing can run and the run is not over (deadlock) after ${this.steps} steps at ${this.nowMs.toFixed(2)} virtual ms`,
          );
        this.nowMs = Math.max(this.nowMs, at);
      } else {
        this.nowMs += this.stepCostMs;
      }
      this.fireDue();
      if (this.ready.length === 0) continue;
      if (++this.steps > this.maxSteps)
        throw new ArrayError('TIMEOUT', `seeded scheduler: ${this.maxSteps} steps without the run ending (livelock?)`);
      const i = this.ready.length === 1 ? 0 : this.choose(this.ready.length);
      assert(
        Number.isInteger(i) && i >= 0 && i < this.ready.length,
        () => `seeded scheduler: chose task ${i} of ${this.ready.length}`,
      );
      this.trace = Math.imul(this.trace ^ (i + 1), 0x01000193) >>> 0;
      const task = this.ready[i]!;
      this.ready[i] = this.ready[this.ready.length - 1]!;
      this.ready.pop();
      if (this.dead.has(task.owner)) continue;
      // A timer cancelled after it fell due (it waited in the ready queue) does not run: as with clearTimeout.
      if (task.cancelled === true) continue;
      this.owner = task.owner;
      task.fn();
      return;
    }
  }
}

function less(a: TimerEntry, b: TimerEntry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function heapPush(h: TimerEntry[], t: TimerEntry): void {
  h.push(t);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(t, h[p]!)) break;
    h[i] = h[p]!; // moved down, not swapped through an array (no allocation a level)
    i = p;
  }
  h[i] = t;
}

function heapPop(h: TimerEntry[]): TimerEntry | undefined {
  const top = h[0];
  const last = h.pop();
  if (h.length > 0 && last) {
    let i = 0; // where `last` goes: the smaller child moves up until neither is less than it
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = l < h.length && less(h[l]!, last) ? l : -1;
      if (r < h.length && less(h[r]!, m < 0 ? last : h[m]!)) m = r;
      if (m < 0) break;
      h[i] = h[m]!;
      i = m;
    }
    h[i] = last;
  }
  return top;
}

let active: Scheduler = new RealScheduler();

/** The scheduler of this thread. */
export function sched(): Scheduler {
  return active;
}

/** Run `main` under a seeded scheduler (one at a time per thread), then go back to the real one. */
export async function runSeeded<T>(
  opts: SeededOptions,
  main: (s: SeededScheduler) => Promise<T>,
): Promise<{ value: T; steps: number; trace: number; virtualMs: number }> {
  assert(active.kind === 'real', 'runSeeded: a seeded run is already active in this thread');
  const s = new SeededScheduler(opts);
  active = s;
  try {
    const value = await s.run(() => main(s));
    return { value, steps: s.steps, trace: s.trace, virtualMs: s.now() };
  } finally {
    active = new RealScheduler();
  }
}

/**
 * Virtual ms each task of a virtual run costs: small (the drives' times dominate), but not zero, so
 * a process that yields turn after turn waiting for another lets time reach what it waits for.
 */
export const VIRTUAL_STEP_COST_MS = 0.001;

/**
 * Run `main` in virtual time: the seeded scheduler as a discrete-event clock (tasks in a fixed
 * order, time jumping to the next timer); the same seed gives the same run.
 */
export async function runVirtual<T>(
  seed: number,
  main: (s: SeededScheduler) => Promise<T>,
): Promise<{ value: T; virtualMs: number }> {
  const r = await runSeeded({ seed, choose: () => 0, stepCostMs: VIRTUAL_STEP_COST_MS, fixedOrder: true }, main);
  return { value: r.value, virtualMs: r.virtualMs };
}

/** Sleep `ms` on the scheduler of this thread. */
export function sleep(ms: number): Promise<void> {
  return new Promise<void>((r) => active.after(ms, r));
}

/** One turn of this thread's scheduler. */
export function nextTurn(): Promise<void> {
  return new Promise<void>((r) => active.defer(r));
}

/** Await a shared word while it equals `value` (bounded by `ms`). */
export async function waitWord(view: Int32Array, index: number, value: number, ms: number): Promise<WaitResult> {
  return active.waitAsync(view, index, value, ms).value;
}
