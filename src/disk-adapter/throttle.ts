// The background copy's throttle (ESTABLISH and the data transfer): paused while the control API
// holds it, and kept to this adapter's share of the array-wide rate (shared out among the adapters
// copying in that phase) — the minimum while hosts have requests in flight, the maximum while they
// are idle (md's meaning of min/max speed).
import type { ArrayModel } from '../shared/model/model.ts';
import { BACKGROUND, type SharedState } from '../shared/tables/memory.ts';
import { nextTurn, sched, sleep } from '../shared/sched/sched.ts';
import { cacheWordOf } from '../shared/tables/tables.ts';
import { loadWord } from '../shared/tables/words.ts';
import { assert } from '../shared/errors/assert.ts';

/** How often a paused background copy looks whether it may go on (ms). */
const PAUSE_POLL_MS = 10;
/** Hosts count as idle for the throttle once no host request was taken for this long (ms). */
const HOSTS_IDLE_AFTER_MS = 100;

export class BackgroundThrottle {
  private backgroundNextMs = 0;
  private hostOpsSeen = 0;
  private hostOpsAtMs = Number.NEGATIVE_INFINITY;
  private readonly diskAdapters: number;

  constructor(
    private readonly state: SharedState,
    model: ArrayModel,
    /** The adapter stopping ends a pause. */
    private readonly stopped: () => boolean,
  ) {
    this.diskAdapters = model.config.diskAdapters.length;
  }

  /**
   * Before each background track: wait while the copy is paused (as long as it is held; the adapter
   * stopping ends the wait), then keep to the throttle: this adapter's share of the array-wide rate
   * (`copyingAdapters` copy in this phase), the minimum while hosts have requests in flight, the
   * maximum while they are idle (md's meaning).
   */
  async gate(copyingAdapters: number): Promise<void> {
    const words = this.state.cacheWords;
    if (this.paused()) await this.whilePaused(); // checked first: not paused, the gate adds no turn
    const minK = loadWord(words, BACKGROUND.MIN_KBPS);
    const maxK = loadWord(words, BACKGROUND.MAX_KBPS);
    const busy = this.hostsBusy();
    // Hosts first: with instant drives a background track never leaves the turn on its own, so
    // stages and FIG. 7 fills queued behind it would wait for the whole copy.
    if (busy) await nextTurn();
    if (minK === 0 && maxK === 0) return;
    const kbps = busy && minK > 0 ? minK : maxK;
    if (kbps === 0) return;
    assert(
      Number.isInteger(copyingAdapters) && copyingAdapters >= 1 && copyingAdapters <= this.diskAdapters,
      () => `throttle shared among ${copyingAdapters} of ${this.diskAdapters} disk adapters`,
    );
    const shareKbps = kbps / copyingAdapters;
    const now = sched().now();
    this.backgroundNextMs = Math.max(now, this.backgroundNextMs) + this.state.trackBytes / shareKbps; // bytes ÷ KB/s = ms
    if (this.backgroundNextMs > now) {
      await sleep(this.backgroundNextMs - now);
      if (this.paused()) await this.whilePaused(); // a pause asked while this track waited for the throttle holds it too
    }
  }

  /**
   * Whether the next background track may go at once, with nothing to wait for: not paused, hosts
   * idle (busy, `gate` gives them a turn first) and no rate to keep. Then `gate` would add no turn
   * and no wait, so the caller may skip it (DESIGN §11, "A background track with nothing to wait for").
   */
  goesNow(): boolean {
    const words = this.state.cacheWords;
    if (this.paused() || this.hostsBusy()) return false;
    return loadWord(words, BACKGROUND.MAX_KBPS) === 0;
  }

  private paused(): boolean {
    return loadWord(this.state.cacheWords, BACKGROUND.PAUSED) === 1 && !this.stopped();
  }

  /** Wait while the copy is paused (as long as it is held; the adapter stopping ends the wait). */
  private async whilePaused(): Promise<void> {
    while (this.paused()) await sleep(PAUSE_POLL_MS);
  }

  /**
   * Hosts are busy if a request is in flight now, or if host adapters took any request within the
   * last HOSTS_IDLE_AFTER_MS (a cache hit is served within one turn: seldom seen in flight).
   */
  private hostsBusy(): boolean {
    const ops = cacheWordOf(this.state, BACKGROUND.HOST_OPS);
    const now = sched().now();
    if (ops !== this.hostOpsSeen) {
      this.hostOpsSeen = ops;
      this.hostOpsAtMs = now;
    }
    return this.state.hostsBusy() || now - this.hostOpsAtMs < HOSTS_IDLE_AFTER_MS;
  }
}
