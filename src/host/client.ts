// A host's connection to a host adapter: read/write/flush as promises over a Link, many requests
// in flight, batched per event-loop turn by the link.
import type { Link } from '../shared/links/link.ts';
import type { IoReply, IoRequest } from '../shared/links/messages.ts';
import { ArrayError, type ErrorCode } from '../shared/errors/errors.ts';
import { assert } from '../shared/errors/assert.ts';
import { sched, type Timer } from '../shared/sched/sched.ts';
import { PendingRequests } from '../shared/links/pending.ts';

/** Most requests one client keeps in flight. */
export const CLIENT_INFLIGHT_LIMIT = 4096;
/** Longest a host waits for one reply before it fails the request. */
export const REPLY_WAIT_MS = 60_000;

/** What a request in flight carries: when it fails, and what it asked (its error names it). */
interface Pending {
  deadline: number; // scheduler time (ms) after which the request fails
  req: IoRequest;
}

/** A request as its error names it (built only when one fails: not a string per request). */
const what = (p: Pending): string => `${p.req.op} ${p.req.device}@${p.req.offsetBytes}`;

/** The error a failed reply stands for (its code and text). */
export function failedReply(r: IoReply): ArrayError {
  return new ArrayError((r.code as ErrorCode) ?? 'ADAPTER_GONE', r.error ?? 'request failed');
}

export class HostClient {
  private link: Link;
  private readonly reconnect?: () => Link;
  private readonly pending = new PendingRequests<IoReply, Pending>(true, true); // by request id: an IdTable
  private nextId = 1;
  private gone?: string;
  /** Host adapters that went away under this client (each failed the requests then in flight). */
  adaptersLost = 0;
  /** One sweeper for every request's deadline (a timer per request costs more than the request). */
  private readonly sweeper: Timer;

  /**
   * `reconnect`, if given, opens a new link when the host adapter went away: requests in flight
   * then failed (ADAPTER_GONE), later ones go to the host adapter that took over.
   */
  constructor(link: Link, reconnect?: () => Link) {
    this.link = link;
    this.reconnect = reconnect;
    this.sweeper = sched().every(1000, () => this.expire());
    this.bind(link);
  }

  private bind(link: Link): void {
    link.onPeerGone(() => {
      if (link !== this.link) return;
      this.adaptersLost++;
      this.gone = `${link.peer} is gone (the host adapter stopped); the request may or may not have been done`;
      this.failAll('HOST_ADAPTER_LOST', this.gone);
    });
    link.onMessages((msgs) => {
      if (link !== this.link) return; // a late reply from an adapter already given up on
      for (const m of msgs) {
        if (m.t !== 'io-done') continue;
        // A late reply (its request already failed here) gives back what it lends.
        for (const r of m.replies) if (!this.pending.settle(r.id, r)) r.release?.();
      }
    });
  }

  get inflight(): number {
    return this.pending.size;
  }

  /** Send `req` (its id is given here: callers pass 0) and await its reply. */
  private call(req: IoRequest): Promise<IoReply> {
    const refused = this.refusal();
    if (refused) return refused instanceof Error ? Promise.reject(refused) : Promise.resolve(refused);
    const reply = this.pending.add(this.take(req), { deadline: sched().now() + REPLY_WAIT_MS, req });
    this.link.send({ t: 'io', reqs: [req] });
    return reply;
  }

  /**
   * Send `req` and call `done` with its reply where it arrives (no promise): for a load generator's
   * loops, each passing its own `done`, made once. A reply that failed is `ok: false` or an Error
   * (TOO_MANY_REQUESTS, a timeout); the caller checks it as `check` does. `done` runs in the turn
   * the reply arrives in, or in this one when the request is refused here.
   */
  submit(req: IoRequest, done: (r: IoReply | Error) => void): void {
    const refused = this.refusal();
    if (refused) return done(refused);
    this.pending.addDone(this.take(req), { deadline: sched().now() + REPLY_WAIT_MS, req }, done);
    this.link.sendIo(req);
  }

  /** Why a request cannot be sent now (a reply to give, or an Error), after a reconnect if one is due; undefined: send it. */
  private refusal(): IoReply | Error | undefined {
    if (this.gone && this.reconnect) {
      this.link = this.reconnect();
      this.gone = undefined;
      this.bind(this.link);
    }
    if (this.gone) return { id: 0, ok: false, code: 'HOST_ADAPTER_LOST', error: this.gone };
    if (this.pending.size >= CLIENT_INFLIGHT_LIMIT)
      return new ArrayError('TOO_MANY_REQUESTS', `host client: ${CLIENT_INFLIGHT_LIMIT} requests already in flight`);
    return undefined;
  }

  /** Give `req` its id (the link gathers a turn's requests into one `io` message and one batch: its one batching layer). */
  private take(req: IoRequest): number {
    const id = this.nextId++;
    req.id = id;
    return id;
  }

  private expire(): void {
    const now = sched().now();
    for (const [id, p] of this.pending.waiting()) {
      if (p.deadline > now) continue;
      const error = `${what(p)}: no reply from ${this.link.peer} within ${REPLY_WAIT_MS} ms`;
      this.pending.settle(id, { id: Number(id), ok: false, code: 'TIMEOUT', error });
    }
  }

  /** A read's data, which is exactly as long as asked: a host adapter answering otherwise is broken. */
  private static readData(r: IoReply, lengthBytes: number): Uint8Array {
    const data = r.data ?? new Uint8Array(0);
    assert(
      data.length === lengthBytes,
      () => `host client: read ${r.id} asked ${lengthBytes} bytes, got ${data.length}`,
    );
    return data;
  }

  /** A reply's error, if it failed (as `check` throws it). */
  static failure(r: IoReply | Error): Error | undefined {
    if (r instanceof Error) return r;
    return r.ok ? undefined : failedReply(r);
  }

  /** A read's reply into `into` (submit): its data copied there if it landed elsewhere, its lease given back. */
  static landed(r: IoReply, into: Uint8Array): void {
    const data = HostClient.readData(r, into.length);
    if (data !== into) into.set(data);
    r.release?.();
  }

  private static check(r: IoReply): IoReply {
    const failed = HostClient.failure(r);
    if (failed) throw failed;
    return r;
  }

  async read(device: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    const r = HostClient.check(await this.call({ id: 0, op: 'read', device, offsetBytes, lengthBytes }));
    return HostClient.readData(r, lengthBytes);
  }

  /**
   * A read whose data may be lent where it lies (a ring's shared memory): call `release` once done
   * with it (say, once a socket has sent it). Over a link without rings the data is the caller's own.
   */
  async readLeased(
    device: string,
    offsetBytes: number,
    lengthBytes: number,
  ): Promise<{ data: Uint8Array; release: () => void }> {
    const r = HostClient.check(await this.call({ id: 0, op: 'read', device, offsetBytes, lengthBytes, lease: true }));
    return { data: HostClient.readData(r, lengthBytes), release: r.release ?? (() => {}) };
  }

  /**
   * Every link copies a request's data on its way (encodeBatch, or a ring's arena), so the caller
   * keeps `data` — unless it gives it up (`given`: it never touches it again), when a host adapter
   * in this thread may keep it as it is.
   */
  async write(device: string, offsetBytes: number, data: Uint8Array, given = false): Promise<void> {
    HostClient.check(
      await this.call({ id: 0, op: 'write', device, offsetBytes, lengthBytes: data.length, data, given }),
    );
  }

  /**
   * A read into the caller's own buffer `into` (exactly as long as asked): a host adapter in this
   * thread fills it itself; across threads the data is copied into it. Resolves with `into`.
   */
  async readInto(device: string, offsetBytes: number, into: Uint8Array): Promise<Uint8Array> {
    const lengthBytes = into.length;
    HostClient.landed(
      HostClient.check(await this.call({ id: 0, op: 'read', device, offsetBytes, lengthBytes, into })),
      into,
    );
    return into;
  }

  async flush(): Promise<void> {
    HostClient.check(await this.call({ id: 0, op: 'flush', device: '', offsetBytes: 0, lengthBytes: 0 }));
  }

  /** Fail every request in flight (the host adapter went away, or the client closes). */
  private failAll(code: string, error: string): void {
    for (const [id, p] of this.pending.waiting())
      this.pending.settle(id, { id: Number(id), ok: false, code, error: `${what(p)}: ${error}` });
  }

  close(): void {
    this.sweeper.cancel();
    this.failAll('ADAPTER_GONE', 'host client closed');
    this.link.close();
  }
}
