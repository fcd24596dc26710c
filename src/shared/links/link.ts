// A Link carries Messages between two actors. Sends made in one turn of the event loop leave as
// one batch: across threads one msgpackr encoding (one wake-up for many requests), in one thread the
// messages themselves. The same actor classes run over MessagePorts (worker mode) or over in-thread
// links (inline mode: one thread, same code).
import type { MessagePort } from 'node:worker_threads';
import { decodeBatch, encodeBatch, localBatch, type IoRequest, type Message, type Wire } from './messages.ts';
import { assert } from '../errors/assert.ts';
import { MAIN_OWNER, sched, type Owner } from '../sched/sched.ts';

/** Most messages that may wait in one link's outgoing batch. */
export const LINK_QUEUE_LIMIT = 1 << 16;

export type Log = (level: 'info' | 'warn' | 'error', text: string) => void;

/** `actor` got message `m` over `link` and has no use for it (a late answer of a replaced peer, say): logged, dropped. */
export function logDropped(log: Log, actor: string, m: { t: string }, link: { readonly peer: string }): void {
  log('warn', `${actor}: dropped unexpected "${m.t}" message from ${link.peer}`);
}

export interface Link {
  /** Who is at the other end, for logs: "DA30", "HA0", "host 2". */
  readonly peer: string;
  /** Send `msg` (the link's from now on: the sender does not change it after). */
  send(msg: Message): void;
  /** Send host request `req` as `send({ t: 'io', reqs: [req] })` does, joined to the turn's `io` message if there is one. */
  sendIo(req: IoRequest): void;
  onMessages(handler: (msgs: Message[]) => void): void;
  /** Called once if the other end goes away (its thread died or it closed the link). */
  onPeerGone(handler: () => void): void;
  close(): void;
}

/**
 * A turn's messages with each run of `io` requests (or of `io-done` replies) joined into the run's
 * first message, in order. A sent message is the link's: its sender does not touch it again.
 */
export function joinIo(batch: Message[]): Message[] {
  if (batch.length < 2) return batch;
  const out: Message[] = [];
  for (const m of batch) {
    const last = out[out.length - 1];
    if (m.t === 'io' && last?.t === 'io') for (const r of m.reqs) last.reqs.push(r);
    else if (m.t === 'io-done' && last?.t === 'io-done') for (const r of m.replies) last.replies.push(r);
    else out.push(m);
  }
  return out;
}

/**
 * The one batching layer: what an actor or a host sends in one turn of the event loop leaves at the
 * end of it as one batch (one cross-thread wake-up), a run of requests as one `io` message.
 */
abstract class BatchingLink implements Link {
  readonly peer: string;
  protected handler: (msgs: Message[]) => void = () => {};
  protected goneHandler: () => void = () => {};
  private pending: Message[] = [];
  private scheduled = false;
  private closed = false;
  private readonly log: Log;

  constructor(peer: string, log: Log) {
    this.peer = peer;
    this.log = log;
  }

  send(msg: Message): void {
    if (this.closed) return;
    assert(
      this.pending.length < LINK_QUEUE_LIMIT,
      () => `link to ${this.peer}: ${LINK_QUEUE_LIMIT} messages queued unsent`,
    );
    this.pending.push(msg);
    if (!this.scheduled) {
      this.scheduled = true;
      sched().defer(() => this.flush(), this.flushOwner());
    }
  }

  /**
   * Host request `req` joins this turn's last message if it is an `io` one (as joinIo would join it
   * at the flush), else goes in one of its own: no message or array a request in a run of them.
   */
  sendIo(req: IoRequest): void {
    const last = this.pending[this.pending.length - 1];
    if (!this.closed && last?.t === 'io') last.reqs.push(req);
    else this.send({ t: 'io', reqs: [req] });
  }

  /** Whose turn the batch leaves in: the sender's (undefined), or the receiver's where it is delivered at once. */
  protected flushOwner(): Owner | undefined {
    return undefined;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.transmitBatch(joinIo(batch));
  }

  /** A turn's messages leave (a link on rings puts its requests or replies there instead). */
  protected transmitBatch(batch: Message[]): void {
    this.transmit(encodeBatch(batch));
  }

  onMessages(handler: (msgs: Message[]) => void): void {
    this.handler = handler;
  }

  onPeerGone(handler: () => void): void {
    this.goneHandler = handler;
  }

  protected receive(wire: unknown): void {
    const decoded = decodeBatch(wire);
    if (!decoded.ok) this.log('warn', `dropped a message from ${this.peer}: ${decoded.error}`);
    if (decoded.msgs.length > 0) this.handler(decoded.msgs);
  }

  close(): void {
    this.closed = true;
    this.pending = [];
    this.onClose();
  }

  protected abstract transmit(wire: Wire): void;
  protected abstract onClose(): void;
}

/** A link over a MessagePort (worker mode). */
export class PortLink extends BatchingLink {
  private readonly port: MessagePort;
  constructor(port: MessagePort, peer: string, log: Log) {
    super(peer, log);
    this.port = port;
    port.on('message', (wire: unknown) => this.receive(wire));
    port.on('close', () => this.goneHandler());
  }
  protected transmit(wire: Wire): void {
    this.port.postMessage(wire, [wire.packed.buffer as ArrayBuffer, ...wire.blobs]);
  }
  protected onClose(): void {
    this.port.close();
  }
  /** Let the port not keep the event loop alive (for ports whose owner decides when to exit). */
  unref(): void {
    this.port.unref();
  }
}

/** One end of an in-thread link pair (inline mode). Delivery is asynchronous, as across threads. */
/**
 * Fault injection for in-thread links: each batch is held back a random number of event-loop
 * turns, so batches are delayed and overtake each other (on one link and across links).
 */
export interface LinkChaos {
  random: () => number;
  maxDelayTurns: number;
  /** Batches delivered late so far (a fault each). */
  delayed: number;
}

/** Most event-loop turns chaos may hold one batch back. */
export const MAX_CHAOS_TURNS = 16;

class LocalLink extends BatchingLink {
  other?: LocalLink;
  chaos?: LinkChaos;
  /** Whose code runs when a batch arrives at this end (its actor incarnation). */
  owner: Owner = MAIN_OWNER;
  /**
   * On the virtual clock (tasks in a fixed order), without chaos, a batch leaves in a turn of the
   * receiver's and is delivered in it: one scheduler step a hop, not two. It is still asynchronous
   * to the sender (a later turn than the send). Where interleavings are explored (the seeded
   * scheduler's choices) each hop keeps its two turns, and the choices between them.
   */
  protected override flushOwner(): Owner | undefined {
    return !this.chaos && sched().fixedOrder ? this.other?.owner : undefined;
  }
  /** Without chaos, the turn's messages reach the receiver as they are (localBatch: no encoding, data owned as across threads). */
  protected override transmitBatch(batch: Message[]): void {
    if (this.chaos) return super.transmitBatch(batch);
    const other = this.other;
    if (!other || batch.length === 0) return;
    const msgs = localBatch(batch);
    const s = sched();
    if (s.fixedOrder)
      other.handler(msgs); // this turn is the receiver's (flushOwner)
    else s.defer(() => other.handler(msgs), other.owner);
  }
  protected transmit(wire: Wire): void {
    const other = this.other;
    if (!other) return;
    if (!this.chaos) return other.receive(wire);
    const turns = Math.floor(this.chaos.random() * (Math.min(this.chaos.maxDelayTurns, MAX_CHAOS_TURNS) + 1));
    if (turns > 0) this.chaos.delayed++;
    const s = sched();
    const hop = (left: number): void => {
      if (left === 0) other.receive(wire);
      else s.defer(() => hop(left - 1), other.owner);
    };
    s.defer(() => hop(turns), other.owner);
  }
  protected onClose(): void {
    const other = this.other;
    this.other = undefined;
    if (other) sched().defer(() => other.goneHandler(), other.owner);
  }
}

/**
 * Two linked ends: messages sent on `a` arrive at `b` and back. Names are each end's peer; owners
 * are whose code runs at each end (`aOwner` runs what arrives at `a`).
 */
export function localLinkPair(
  aPeer: string,
  bPeer: string,
  log: Log,
  chaos?: LinkChaos,
  owners: { a?: Owner; b?: Owner } = {},
): [Link, Link] {
  const a = new LocalLink(aPeer, log);
  const b = new LocalLink(bPeer, log);
  a.other = b;
  b.other = a;
  a.chaos = chaos;
  b.chaos = chaos;
  a.owner = owners.a ?? MAIN_OWNER;
  b.owner = owners.b ?? MAIN_OWNER;
  return [a, b];
}
