// The test hooks' words (HOOK): holds that stop a process before its next step, and the deliberate
// faults that prove the checks catch them. One Int32Array in shared memory (SharedState.hooks, a TestHooks).
import { assert } from '../errors/assert.ts';
import { ArrayError } from '../errors/errors.ts';
import { sched, sleep, waitWord } from '../sched/sched.ts';

/** Each wait on a hold word is bounded: a missed notify costs at most this much. */
const HOLD_WAIT_SLICE_MS = 50;
/**
 * Test hooks and session words (one Int32Array). A HOLD word non-zero holds that process before its
 * next step; the hold is a shared word, so tests, the CLI and a future scheduler all use it alike.
 */
export const HOOK = {
  HOLD_SPLIT: 0, // the instant split process (FIG. 5)
  HOLD_TRANSFER: 1, // the data transfer process (FIGS. 6A/6B)
  HOLD_DESTAGE_MAIN: 2, // destage of WP1
  HOLD_DESTAGE_MIRROR: 3, // destage of WPB (to an established BCV)
  HOLD_SWITCH: 4, // the service processor before step 114
  HOLD_COMPLETION: 5, // the service processor before step 121
  HOLD_ESTABLISH: 6, // the ESTABLISH copy pass (step 104), before each track
  HOLD_HOST_FILL: 7, // a FIG. 7 fill asked by a host adapter, after it found its session, before its locks
  TEST_FAULTS: 8, // TEST ONLY: deliberate faults (TEST_FAULT bits), to prove the checks catch them
  HOLD_SWITCH_WINDOW: 9, // the service processor inside the switch: device blocked and drained, before step 115
  HOLD_STAGE: 10, // a disk adapter's stage for a host adapter, before it reads the drive
  HOLD_FILL_COPIED: 11, // a fill whose copy b → n went through the cache, before it clears IND[n]
} as const;
/**
 * TEST ONLY: the deliberate faults of HOOK.TEST_FAULTS, one bit each. Nothing but a test or the
 * stress harness's `--break-fill` sets them; the array runs correctly with the word at 0.
 */
export const TEST_FAULT = {
  BROKEN_FILL: 1 << 0, // fill(t) skips split(o): old write-pending data is never moved to the BCV
  // The durable store's ordering rules (DESIGN §10), each broken on purpose to prove the crash harness catches it:
  EARLY_IND_CLEAR: 1 << 1, // R3: a fill clears IND[n] while n's data is only in cache (not on n's drive)
  UNSYNCED_SWITCH: 1 << 2, // R1: the switch does not destage the BCV's mirror writes before the activation is made durable
  LATE_SWITCH_COMMIT: 1 << 3, // R1: the switch unblocks hosts before the activation is durable (made durable later)
  FLUSH_WITHOUT_COMMIT: 1 << 4, // R4: a FLUSH is answered once the cache is destaged, before the commit
  // A rebuild (DESIGN §14) copies a track from the other mirror's drive even where the cache holds
  // newer data for it: the slot gets the drive's older bytes, and an acknowledged write is lost.
  REBUILD_FROM_DRIVE: 1 << 5,
  // A mirrored BCV's mirrors are never written (a WPBk is cleared, not destaged): the window between
  // the switch and a fill is open again, and a BCV drive failing in the transfer loses tracks.
  UNWRITTEN_BCV_MIRROR: 1 << 6,
  // The durable store keeps the drives' words as the array started (DESIGN §14): a restart forgets a
  // failure and a rebuild, and serves a failed drive's older copies as if nothing had happened.
  UNDURABLE_DRIVES: 1 << 7,
} as const;
export type TestFaultName = keyof typeof TEST_FAULT;
export type HoldName =
  | 'establish'
  | 'split'
  | 'transfer'
  | 'host-fill'
  | 'destage-main'
  | 'destage-mirror'
  | 'switch'
  | 'switch-window'
  | 'stage'
  | 'fill-copied'
  | 'completion';
export const HOLD_WORD: Record<HoldName, number> = {
  split: HOOK.HOLD_SPLIT,
  transfer: HOOK.HOLD_TRANSFER,
  'destage-main': HOOK.HOLD_DESTAGE_MAIN,
  'destage-mirror': HOOK.HOLD_DESTAGE_MIRROR,
  switch: HOOK.HOLD_SWITCH,
  'switch-window': HOOK.HOLD_SWITCH_WINDOW,
  stage: HOOK.HOLD_STAGE,
  completion: HOOK.HOLD_COMPLETION,
  establish: HOOK.HOLD_ESTABLISH,
  'host-fill': HOOK.HOLD_HOST_FILL,
  'fill-copied': HOOK.HOLD_FILL_COPIED,
};
export const HOOK_WORDS = 16;

/** Longest any process stays held by a test hook before it fails. */
export const HOLD_WAIT_MS = 120_000;

/** Compare-and-swaps of a hold's step count lost to other passes in a row before the test stops loudly. */
const HOLD_CAS_TRIES = 1 << 16;

/**
 * TEST ONLY: the hooks' words (HOOK) of one array, shared by every thread. The array's own classes
 * only ask (`testFault`, `passHold`); tests, the CLI's `--hold`/`--break` and the stress harness set
 * them. Each access is one Atomics operation on the one Int32Array.
 */
export class TestHooks {
  constructor(readonly words: Int32Array) {
    assert(words.length >= HOOK_WORDS, () => `test hooks: ${words.length} words, ${HOOK_WORDS} needed`);
  }

  setHold(name: HoldName, held: boolean): void {
    Atomics.store(this.words, HOLD_WORD[name], held ? 1 : 0);
    sched().notify(this.words, HOLD_WORD[name]);
  }

  /** Switch deliberate fault `name` on or off (see TEST_FAULT). */
  setTestFault(name: TestFaultName, on: boolean): void {
    if (on) Atomics.or(this.words, HOOK.TEST_FAULTS, TEST_FAULT[name]);
    else Atomics.and(this.words, HOOK.TEST_FAULTS, ~TEST_FAULT[name]);
  }

  /** Whether deliberate fault `name` is on (false in every real run). */
  testFault(name: TestFaultName): boolean {
    return (Atomics.load(this.words, HOOK.TEST_FAULTS) & TEST_FAULT[name]) !== 0;
  }

  /** Whether hold `name` is set now (a caller on a hot path asks first, and awaits `passHold` only then). */
  isHeld(name: HoldName): boolean {
    return Atomics.load(this.words, HOLD_WORD[name]) !== 0;
  }

  /**
   * Pass hold `name`: at once if it is not set; while it is, wait (without parking the thread,
   * bounded by `waitMs`). A hold word above 1 lets that many steps less one go through
   * (`stepHold`): each pass takes one, so a test can single-step a background process.
   */
  async passHold(name: HoldName, waitMs = HOLD_WAIT_MS): Promise<void> {
    if (!this.isHeld(name)) return;
    const word = HOLD_WORD[name];
    const deadline = sched().now() + waitMs;
    for (let raced = 0; ;) {
      const v = Atomics.load(this.words, word);
      if (v === 0) return;
      if (v >= 2) {
        if (Atomics.compareExchange(this.words, word, v, v - 1) === v) {
          sched().notify(this.words, word);
          return;
        }
        assert(++raced < HOLD_CAS_TRIES, () => `hold "${name}": its step count changed under ${raced} passes running`);
        continue;
      }
      if (sched().now() > deadline) throw new ArrayError('TIMEOUT', `hold "${name}" not released within ${waitMs} ms`);
      await waitWord(this.words, word, v, HOLD_WAIT_SLICE_MS);
    }
  }

  /** Let `steps` more passes of held process `name` through (it stays held after them). */
  stepHold(name: HoldName, steps: number): void {
    assert(Number.isInteger(steps) && steps > 0, () => `stepHold("${name}"): ${steps} is not a positive step count`);
    const word = HOLD_WORD[name];
    for (let raced = 0; ; raced++) {
      assert(raced < HOLD_CAS_TRIES, () => `stepHold("${name}"): its step count changed ${raced} times running`);
      const v = Atomics.load(this.words, word);
      assert(v !== 0, () => `stepHold("${name}"): the process is not held`);
      if (Atomics.compareExchange(this.words, word, v, v + steps) === v) break;
    }
    sched().notify(this.words, word);
  }

  /** Steps granted to held process `name` and not yet taken. */
  holdStepsLeft(name: HoldName): number {
    return Math.max(0, Atomics.load(this.words, HOLD_WORD[name]) - 1);
  }
}

/** The env var naming TEST ONLY pauses: `prepare=300,switch-window=300,completion=300` (ms). */
export const TEST_PAUSE_ENV = 'ARRAYEMU_TEST_PAUSE_MS';
/** Where a pause may be asked for. */
export type PauseName = 'prepare' | 'switch-window' | 'completion';
/** Longest pause one may ask for (ms). */
const TEST_PAUSE_MAX_MS = 10_000;
let pauses: Map<string, number> | undefined;

/**
 * TEST ONLY: wait the ms that env ARRAYEMU_TEST_PAUSE_MS gives for `name` (none: no wait). Phases a
 * few ms long (prepare, the switch's window, the completion) last long enough for the kill campaign's kill -9
 * to land inside them (scripts/kill-campaign.ts); nothing else sets it.
 */
export async function testPause(name: PauseName): Promise<void> {
  pauses ??= new Map(
    (process.env[TEST_PAUSE_ENV] ?? '')
      .split(',')
      .filter((x) => x.includes('='))
      .map((x) => {
        const [k, v] = x.split('=');
        const ms = Number(v);
        assert(ms >= 0 && ms <= TEST_PAUSE_MAX_MS, () => `${TEST_PAUSE_ENV}: ${x} is not 0..${TEST_PAUSE_MAX_MS} ms`);
        return [k!.trim(), ms] as [string, number];
      }),
  );
  const ms = pauses.get(name) ?? 0;
  if (ms > 0) await sleep(ms);
}
