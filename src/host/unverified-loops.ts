// An unverified workload's loops (a benchmark's load, `plan`'s, a sweep's with --verify off): each
// keeps one request in flight and sends its next from its last one's reply, through
// `HostClient.submit` — no promise, async frame or closure a request, as an awaited loop makes. The
// load generator's own collections are in every latency it measures: a 4 KiB request of these
// allocates ~1.1 KB in its thread against ~2.5 KB awaited (BENCHMARKS, "the load generator").
import { HostClient } from './client.ts';
import type { VerifyDevice } from './verifier.ts';
import type { IoReply } from '../shared/links/messages.ts';
import { sched } from '../shared/sched/sched.ts';

/** A request a workload picked: where, how long, and (drawn after) whether it reads. */
export type PickedRequest = { dev: VerifyDevice; offsetBytes: number; lengthBytes: number; isRead: boolean };

/** What the loops share with the processor that runs them: its next request, and its counts. */
export interface LoopTally {
  /** Whether another request may go (ops left, time left, not stopped). */
  more(): boolean;
  /** The next request: a device, an offset and a length, and whether it reads. */
  pick(): PickedRequest;
  /** A request done, `began` its scheduler ms at sending. */
  ok(isRead: boolean, lengthBytes: number, began: number): void;
  /** A request failed with `err`. */
  failed(err: unknown, isRead: boolean, dev: VerifyDevice, offsetBytes: number, lengthBytes: number): void;
}

/** One loop: its request in flight (what its reply is counted as) and its own read buffer. */
class Loop {
  private readBuf: Uint8Array;
  private into?: Uint8Array;
  private isRead = false;
  private dev!: VerifyDevice;
  private offsetBytes = 0;
  private lengthBytes = 0;
  private began = 0;
  /** True while `submit` runs: a reply given at once (a refusal) sends the next request in a later turn. */
  private sending = false;
  private readonly done = (r: IoReply | Error): void => this.answered(r);

  constructor(
    private readonly client: HostClient,
    private readonly tally: LoopTally,
    private readonly filler: Uint8Array,
    private readonly finished: () => void,
  ) {
    this.readBuf = new Uint8Array(filler.length);
  }

  next(): void {
    if (!this.tally.more()) return this.finished();
    const { dev, offsetBytes, lengthBytes, isRead } = this.tally.pick();
    this.dev = dev;
    this.offsetBytes = offsetBytes;
    this.lengthBytes = lengthBytes;
    this.isRead = isRead;
    this.began = sched().now();
    const device = dev.id;
    this.sending = true;
    if (isRead) {
      this.into = lengthBytes === this.readBuf.length ? this.readBuf : this.readBuf.subarray(0, lengthBytes);
      this.client.submit({ id: 0, op: 'read', device, offsetBytes, lengthBytes, into: this.into }, this.done);
    } else {
      const data = this.filler.subarray(0, lengthBytes);
      this.client.submit({ id: 0, op: 'write', device, offsetBytes, lengthBytes, data }, this.done);
    }
    this.sending = false;
  }

  private answered(r: IoReply | Error): void {
    let err = HostClient.failure(r);
    if (!err && this.isRead) {
      try {
        HostClient.landed(r as IoReply, this.into!);
      } catch (e) {
        err = e as Error;
      }
    }
    if (err) {
      // A request that failed here may still be worked on where it went: its buffer is not reused.
      if (this.isRead) this.readBuf = new Uint8Array(this.readBuf.length);
      this.tally.failed(err, this.isRead, this.dev, this.offsetBytes, this.lengthBytes);
    } else this.tally.ok(this.isRead, this.lengthBytes, this.began);
    if (this.sending) sched().defer(() => this.next());
    else this.next();
  }
}

/** Run `queueDepth` loops until `tally.more()` says no more; resolves once every loop has its last reply. */
export function unverifiedLoops(
  client: HostClient,
  tally: LoopTally,
  filler: Uint8Array,
  queueDepth: number,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let running = queueDepth;
    const finished = () => {
      if (--running === 0) resolve();
    };
    const loops = Array.from({ length: queueDepth }, () => new Loop(client, tally, filler, finished));
    for (const loop of loops) loop.next();
  });
}
