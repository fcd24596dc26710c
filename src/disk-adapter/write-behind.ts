// A disk adapter's write-behind delay (instant drives): the destager waits a moment so that writes
// to the same track in quick succession go to the drive once; a flush, a fill or a reconfiguration
// ends the wait early (`hurry`).
import { sched, type Timer } from '../shared/sched/sched.ts';

export class WriteBehind {
  /** The wait now running, and how to end it early. */
  private current?: { timer: Timer; end: () => void };

  constructor(private readonly delayMs: number) {}

  /** Wait out the delay (ended early by `hurry`). */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      // Its own wait only: an end that comes late (a timer already due when a hurry ended the wait)
      // must not cancel the next round's wait, which would then never end.
      const end = (): void => {
        wait.timer.cancel();
        if (this.current === wait) this.current = undefined;
        resolve();
      };
      const wait = { timer: sched().after(this.delayMs, end, false), end };
      this.current = wait;
    });
  }

  hurry(): void {
    this.current?.end();
  }
}
