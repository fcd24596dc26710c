// The service processor's commits to the data dir's store (DESIGN §10): one commit for every caller
// of a turn (group commit), a background commit every `everyMs`, and the counters of what was
// committed. What a commit holds is the capture's (shared/durable/durable.ts); when it is safe to commit is
// the service processor's (its barriers: open, switch, FLUSH, completion).
import type { Link, Log } from '../shared/links/link.ts';
import type { SharedState } from '../shared/tables/memory.ts';
import type { ArrayConfig } from '../shared/config/config.ts';
import { sched, SeededScheduler } from '../shared/sched/sched.ts';
import { assert } from '../shared/errors/assert.ts';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';
import {
  CaptureBusy,
  commitBytes,
  DurableCapture,
  type DurableCommit,
  type DurableMeta,
  type DurableStore,
  type ScrubRecord,
} from '../shared/durable/durable.ts';

/** How often the durable store commits what the background processes did (ms; a FLUSH commits at once). */
export const DURABLE_BACKGROUND_MS = 1000;
/** Tries of one commit whose capture met a track mid-write (CaptureBusy), and the wait between two (ms): a second in all. */
const BUSY_TRIES = 200;
const BUSY_RETRY_MS = 5;
/** After a failed commit, how long background and room commits wait before trying again (ms). */
const FAILED_COMMIT_RETRY_MS = 1000;

/** TEST ONLY: what the crash harness is handed at each step (opts.peekEveryStep). */
export type PeekEveryStep = (peek: DurableCommit) => void;

export class DurableCommits {
  private capture?: DurableCapture;
  /** The commit every caller of this turn shares (group commit), until it runs. */
  private commitSoon?: Promise<number>;
  private background?: { cancel(): void };
  readonly counters = { commits: 0, commitMs: 0, bytes: 0, tracks: 0 };
  /** The scrub under way, as the main thread last told (kept in every record until it ends). */
  private scrub?: ScrubRecord;
  /** Commits made so far (the restart's record's count, counted on from). */
  private commits: number;

  constructor(
    private readonly store: DurableStore | undefined,
    private readonly opts: {
      state: SharedState;
      log: Log;
      everyMs: number;
      /**
       * TEST ONLY (the crash harness, under the seeded scheduler): after every step that changed
       * anything durable, the commit a background commit falling there would make (not made), so
       * a crash can be tried at every drive write and bit change, not only every `everyMs`.
       */
      peekEveryStep?: (peek: DurableCommit) => void;
      /** The record this start came back from, if any (its commits are counted on from, its scrub kept). */
      recovered?: DurableMeta;
      /** The record as the service processor's last barrier left it, numbered `commits`. */
      meta: (commits: number) => DurableMeta;
    },
  ) {
    this.commits = opts.recovered?.commits ?? 0;
    this.scrub = opts.recovered?.scrub;
  }

  /** The record of the next commit: the service processor's, with the scrub under way. */
  private meta(): DurableMeta {
    const m = this.opts.meta(this.commits + 1);
    return this.scrub ? { ...m, scrub: this.scrub } : m;
  }

  /** A data dir is kept (commits do something). */
  get enabled(): boolean {
    return this.store !== undefined;
  }

  get everyMs(): number {
    return this.opts.everyMs;
  }

  /** The array is up: capture from here on; a new data dir gets its first, full commit. */
  start(config: ArrayConfig, recovered: boolean): void {
    if (!this.store) return;
    this.capture = new DurableCapture(this.opts.state, config);
    if (!recovered) this.write(this.capture.full(this.meta(), 'created'));
    this.background = sched().every(this.opts.everyMs, () => this.commitLater('background'));
    if (this.opts.peekEveryStep) this.peekEveryStep(this.opts.peekEveryStep);
  }

  /**
   * TEST ONLY (opts.peekEveryStep): after every step of the seeded scheduler that changed anything
   * durable, the commit a background commit falling there would make, handed over without being
   * made (the next one is still relative to the last commit made): a crash point at that step.
   */
  private peekEveryStep(peek: (c: DurableCommit) => void): void {
    const s = sched();
    assert(s instanceof SeededScheduler, 'a peek after every step needs the seeded scheduler');
    let last = '';
    s.afterEachStep(() => {
      if (!this.capture) return;
      const changes = this.capture.takeChanges();
      const meta = this.meta();
      const key = JSON.stringify({ ...meta, commits: 0 }) + this.opts.state.driveState.join();
      if (changes === 0 && key === last) return; // nothing changed since the last peek
      last = key;
      try {
        peek(this.capture.next(meta, 'step'));
      } catch (err) {
        if (!(err instanceof CaptureBusy)) throw err; // a write under way: the next step's peek takes it
      }
    });
    const stop = this.background;
    this.background = { cancel: () => (stop?.cancel(), s.afterEachStep(undefined)) };
  }

  /**
   * Make what the array holds on its drives durable, with the record as the last barrier left it:
   * one commit for every caller of this turn (group commit). Resolves with the commit's number once
   * it is on stable storage (at once, with 0, for an array without a data dir). `scrub`: the scrub
   * under way now (null: none is), kept in this commit's record and the next ones.
   */
  commit(reason: string, scrub?: ScrubRecord | null): Promise<number> {
    if (scrub !== undefined) this.scrub = scrub ?? undefined;
    if (!this.store || !this.capture) return Promise.resolve(0);
    if (this.commitSoon) return this.commitSoon;
    const soon = new Promise<number>((resolve, reject) => {
      const attempt = (tries: number) => {
        if (!this.capture) return resolve(0); // closed meanwhile
        try {
          resolve(this.write(this.capture.next(this.meta(), reason)));
        } catch (err) {
          // A writer descheduled mid-write: nothing was captured; the same commit a moment later.
          if (err instanceof CaptureBusy && tries < BUSY_TRIES)
            sched().after(BUSY_RETRY_MS, () => attempt(tries + 1), false);
          else reject(err);
        }
      };
      sched().defer(() => {
        this.commitSoon = undefined;
        attempt(1);
      });
    });
    this.commitSoon = soon;
    return soon;
  }

  /** A host's FLUSH, destaged at its host adapter (R4): `committed` once the commit is durable. */
  commitFor(link: Link, id: number): void {
    void this.commit('flush').then(
      () => link.send({ t: 'committed', id }),
      (err: unknown) => link.send({ t: 'committed', id, error: errorMessage(err) }),
    );
  }

  /**
   * A commit soon (group commit), for no caller (the background, a disk adapter wanting room). After a
   * failed commit (the data dir's disk full, say) these wait FAILED_COMMIT_RETRY_MS before trying
   * again, and the failure is logged once per try, not once per ask: a FLUSH still tries at once, so
   * its host gets the error.
   */
  commitLater(reason: string): void {
    if (performance.now() - this.failedAtMs < FAILED_COMMIT_RETRY_MS) return;
    void this.commit(reason).catch((err) => {
      if (performance.now() - this.failedAtMs < FAILED_COMMIT_RETRY_MS) return; // logged already
      this.failedAtMs = performance.now();
      this.opts.log(
        'error',
        `SP: commit (${reason}) failed, tried again in ${FAILED_COMMIT_RETRY_MS} ms: ${errorMessage(err)}`,
      );
    });
  }
  /** When a commit last failed (performance.now() ms; -Infinity: none has). */
  private failedAtMs = -Infinity;

  private write(c: ReturnType<DurableCapture['next']>): number {
    const t0 = performance.now();
    try {
      this.store!.commit(c);
    } catch (err) {
      throw new ArrayError(
        'STORE_FAILED',
        `the data dir's store did not take commit ${c.meta.commits} (${c.reason}): ${errorMessage(err)}; nothing after commit ${this.commits} is durable`,
        { cause: err },
      );
    }
    this.failedAtMs = -Infinity;
    this.capture!.committed(c);
    this.commits = c.meta.commits;
    const ms = performance.now() - t0;
    const n = this.counters;
    Object.assign(n, {
      commits: n.commits + 1,
      commitMs: n.commitMs + ms,
      bytes: n.bytes + commitBytes(c),
      tracks: n.tracks + c.tracks.length,
    });
    if (c.reason !== 'background' || c.tracks.length > 0)
      this.opts.log(
        'info',
        `SP: commit ${this.commits} (${c.reason}): ${c.tracks.length} tracks, ${c.flagChunks.length} flag chunks in ${ms.toFixed(1)} ms`,
      );
    return this.commits;
  }

  /** What was committed, for the service processor's status. */
  status(): Record<string, number> {
    const d = this.counters;
    return {
      durableCommits: d.commits,
      durableCommitMs: Math.round(d.commitMs),
      durableBytes: d.bytes,
      durableTracks: d.tracks,
    };
  }

  /** The store closes (after the last commit): no background commit runs after this. */
  close(): void {
    this.background?.cancel();
    this.capture = undefined; // commits asked for from here answer 0: nothing more is made durable
    this.store?.close();
  }
}
