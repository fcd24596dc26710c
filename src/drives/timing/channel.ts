// A disk adapter's back-end channel: one link shared by its drives (a Fibre Channel loop), so a
// track crosses it only when the link is free. Kept on the drives' clock, like the drives: it
// shifts completions, it adds no timers.
import { assert } from '../../shared/errors/assert.ts';

export class Channel {
  readonly mbPerSec: number;
  /** The disk adapter's processor time per drive command (ms), charged on the link with the command's bytes. */
  readonly commandMs: number;
  /** When the link is next free (ms, the scheduler's time base). */
  private freeMs = 0;
  /** Bytes that crossed, and ms the link was busy (for the adapter's counters). */
  bytes = 0;
  busyMs = 0;

  constructor(mbPerSec: number, commandMs = 0) {
    assert(mbPerSec > 0 && commandMs >= 0, () => `channel of ${mbPerSec} MB/s, ${commandMs} ms a command`);
    this.mbPerSec = mbPerSec;
    this.commandMs = commandMs;
  }

  /** Move `bytes` across the link, not before `readyMs`; returns when they are across. */
  transfer(bytes: number, readyMs: number): number {
    const ms = this.commandMs + bytes / (this.mbPerSec * 1000);
    const start = Math.max(readyMs, this.freeMs);
    this.freeMs = start + ms;
    this.bytes += bytes;
    this.busyMs += ms;
    return this.freeMs;
  }
}
