// An unverified workload's loops (a benchmark's load, `plan`'s, a sweep's with --verify off): each
// keeps one request in flight and sends its next from its last one's reply, through
// `HostClient.submit` — no promise, async frame or closure a request, as an awaited loop makes — and
// each loop sets its one request object and pick anew. The load generator's own collections are in
// every latency it measures: a 4 KiB read of these allocates ~830 B in its thread, a write ~640 B,
// against ~2.5 KB awaited (BENCHMARKS, "the load generator").
import { HostClient } from './client.ts';
import type { VerifyDevice } from './verifier.ts';
import { blankRequest, type IoReply } from '../shared/links/messages.ts';
import { sched } from '../shared/sched/sched.ts';

/** A request a workload picked: where, how long, and (drawn after) whether it reads. */
export type PickedRequest = { dev: VerifyDevice; offsetBytes: number; lengthBytes: number; isRead: boolean };

/** A pick for `LoopTally.pick` to fill (its device set there before anything reads it). */
export const blankPick = (): PickedRequest => ({ dev: undefined!, offsetBytes: 0, lengthBytes: 0, isRead: false });

/** What the loops share with the processor that runs them: its next request, and its counts. */
export interface LoopTally {
  /** Whether another request may go (ops left, time left, not stopped). */
  more(): boolean;
  /** The next request, set in `out` (and returned): a device, an offset and a length, and whether it reads. */
  pick(out: PickedRequest): PickedRequest;
  /** A request done, `began` its scheduler ms at sending. */
  ok(isRead: boolean, lengthBytes: number, began: number): void;
  /** A request failed with `err`. */
  failed(err: unknown, isRead: boolean, dev: VerifyDevice, offsetBytes: number, lengthBytes: number): void;
}

/**
 * One loop: its request in flight (what its reply is counted as), its own read buffer, and its
 * request object and pick, set anew for each request (no object a request).
 */
class Loop {
  private readBuf: Uint8Array;
  private req = blankRequest();
  private readonly picked = blankPick();
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
    const { dev, offsetBytes, lengthBytes, isRead } = this.tally.pick(this.picked);
    const req = this.req;
    this.began = sched().now();
    req.op = isRead ? 'read' : 'write';
    req.device = dev.id;
    req.offsetBytes = offsetBytes;
    req.lengthBytes = lengthBytes;
    const whole = lengthBytes === this.readBuf.length;
    req.into = !isRead ? undefined : whole ? this.readBuf : this.readBuf.subarray(0, lengthBytes);
    req.data = isRead ? undefined : whole ? this.filler : this.filler.subarray(0, lengthBytes);
    this.sending = true;
    this.client.submit(req, this.done);
    this.sending = false;
  }

  private answered(r: IoReply | Error): void {
    const { isRead, dev, offsetBytes, lengthBytes } = this.picked;
    let err = HostClient.failure(r);
    if (!err && isRead) {
      try {
        HostClient.landed(r as IoReply, this.req.into!);
      } catch (e) {
        err = e as Error;
      }
    }
    if (err) {
      // A request that failed here may still be worked on, or queued, where it went: neither its
      // buffer nor its request object is used again.
      if (isRead) this.readBuf = new Uint8Array(this.readBuf.length);
      this.req = blankRequest();
      this.tally.failed(err, isRead, dev, offsetBytes, lengthBytes);
    } else this.tally.ok(isRead, lengthBytes, this.began);
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
