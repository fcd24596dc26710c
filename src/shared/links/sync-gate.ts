// A replacement adapter's gate: until the service processor's reconf-sync has told it where the
// array stands, what its peers and hosts send it waits here (in order), and then runs.
import { assert } from '../errors/assert.ts';
import { LINK_QUEUE_LIMIT, type Link } from './link.ts';
import type { Message } from './messages.ts';

export class SyncGate {
  private waiting?: Array<() => void>;

  /** `closed`: a replacement, which waits for its reconf-sync; a first incarnation runs at once. */
  constructor(closed: boolean) {
    if (closed) this.waiting = [];
  }

  get open(): boolean {
    return this.waiting === undefined;
  }

  /** Resolves once the gate is open (at once if it is). */
  opened(): Promise<void> {
    return new Promise((resolve) => this.run(resolve));
  }

  /** Run `fn` now if the gate is open, else once it opens. */
  run(fn: () => void): void {
    if (!this.waiting) return fn();
    assert(this.waiting.length < LINK_QUEUE_LIMIT, () => `${LINK_QUEUE_LIMIT} batches waiting for reconf-sync`);
    this.waiting.push(fn);
  }

  /**
   * The one intake of an adapter's link: batches are dropped once `current()` says the peer on
   * `link` was replaced (its locks and slots were taken back; a late stage could overwrite a slot
   * written since); a reconf-sync is handled at once; everything else goes through the gate, in
   * order (batches may overtake each other under fault injection: what comes before the reconf-sync
   * waits for it).
   */
  intake(link: Link, current: () => boolean, handle: (m: Message) => void): void {
    link.onMessages((msgs) => {
      if (!current()) return;
      for (const m of msgs) {
        if (m.t === 'reconf-sync') handle(m);
        else this.run(() => handle(m));
      }
    });
  }

  /** Open the gate: what waited runs now, in the order it came. */
  openNow(): void {
    const waiting = this.waiting ?? [];
    this.waiting = undefined;
    for (const fn of waiting) fn();
  }
}
