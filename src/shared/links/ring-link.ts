// A host link on rings (DESIGN §11): host requests and their replies go through two rings in shared
// memory, their data through one arena, and the MessagePort beside them carries only the set-up,
// what does not fit a ring (failed replies with their text, requests larger than a quarter of the
// arena), and the other end's going away. To the host client and the host adapter it is a Link like
// any other: `io` messages in, `io-done` messages out, so the actors do not know which they have.
//
// Data is copied once on each side: a write's bytes into the arena by the host, then by the host
// adapter from the arena into the cache slot; a read's bytes by the host adapter from the slot
// into the arena region the host set aside, and out of it by the host (into the buffer the caller
// gave, IoRequest.into, if it gave one).
import type { MessagePort } from 'node:worker_threads';
import { LINK_QUEUE_LIMIT, PortLink, type Log } from './link.ts';
import type { IoOp, IoReply, IoRequest, Message } from './messages.ts';
import { Arena, Ring, ringBuffers, type RingBuffers } from './ring.ts';
import { assert } from '../errors/assert.ts';
import { REGION, RegionTable } from './region-table.ts';
import { IdTable } from './id-table.ts';

/** Request descriptors one client keeps on its ring (and so replies waiting on the way back). */
export const RING_ENTRIES = 4096;
/** Bytes of request data one client keeps in flight (write payloads and read destinations). */
export const RING_ARENA_BYTES = 32 * 1024 * 1024;
/** A request with more data than this goes over the port as a message. */
export const RING_REQUEST_MAX_BYTES = RING_ARENA_BYTES / 4;
/** Bytes of device names one link may define (each name once, on its first request). */
const NAMES_BYTES = 64 * 1024;

// Request entry words.
const ID = 0;
const OP = 1;
const DEVICE = 2;
const OFFSET = 3;
const LENGTH = 4;
const DATA_AT = 5;
/** OP of an entry that names a device: DEVICE is its number, OFFSET/LENGTH its bytes in the names buffer. */
const OP_NAME = 3;
const OPS: IoOp[] = ['read', 'write', 'flush'];
const OP_CODE: Record<IoOp, number> = { read: 0, write: 1, flush: 2 };

/** What the host end hands the host adapter's end, first thing on the port. */
interface RingSetup {
  ringSetup: true;
  requests: RingBuffers;
  replies: RingBuffers;
  arena: SharedArrayBuffer;
  names: SharedArrayBuffer;
}

const isSetup = (m: unknown): m is RingSetup => typeof m === 'object' && m !== null && 'ringSetup' in m;

/** The host's end: puts requests, takes replies. */
export class RingHostLink extends PortLink {
  private readonly requests: Ring;
  private readonly replies: Ring;
  private readonly arena: Arena;
  private readonly bytes: Uint8Array;
  private readonly names: Uint8Array;
  private namesUsed = 0;
  private readonly deviceCodes = new Map<string, number>();
  /** Per request id on the ring and not yet answered: its arena region (-1: none), length, flags and
   * the caller's own buffer if it gave one. Never more than RING_ENTRIES of them, so the reply ring
   * cannot overflow. */
  private readonly regions = new RegionTable(RING_ENTRIES);
  /** Requests waiting for room on the ring or in the arena, in order. */
  private readonly held: IoRequest[] = [];
  private ringHandler: (msgs: Message[]) => void = () => {};

  constructor(port: MessagePort, peer: string, log: Log) {
    super(port, peer, log);
    const setup: RingSetup = {
      ringSetup: true,
      requests: ringBuffers(RING_ENTRIES),
      replies: ringBuffers(RING_ENTRIES),
      arena: new SharedArrayBuffer(RING_ARENA_BYTES),
      names: new SharedArrayBuffer(NAMES_BYTES),
    };
    this.requests = new Ring(setup.requests);
    this.replies = new Ring(setup.replies);
    this.arena = new Arena(RING_ARENA_BYTES);
    this.bytes = new Uint8Array(setup.arena);
    this.names = new Uint8Array(setup.names);
    port.postMessage(setup);
    port.on('close', () => this.replies.close()); // the host adapter went away: stop waiting for replies
    super.onMessages((msgs) => this.fromPort(msgs));
    void this.replies.consume(() => this.takeReplies());
  }

  override onMessages(handler: (msgs: Message[]) => void): void {
    this.ringHandler = handler;
  }

  /** Arena bytes held now by requests in flight and lent reads (0 when all is answered and given back). */
  get arenaHeldBytes(): number {
    return this.arena.held();
  }

  /** A turn's requests go on the ring (in order, as room allows); what does not fit one, as messages. */
  protected override transmitBatch(batch: Message[]): void {
    const rest: Message[] = [];
    for (const msg of batch) {
      if (msg.t !== 'io') {
        rest.push(msg);
        continue;
      }
      for (const req of msg.reqs) {
        if ((req.op === 'flush' ? 0 : req.lengthBytes) <= RING_REQUEST_MAX_BYTES) {
          assert(
            this.held.length < LINK_QUEUE_LIMIT,
            () => `host ring to ${this.peer}: ${LINK_QUEUE_LIMIT} requests waiting for room on the ring`,
          );
          this.held.push(req);
        } else rest.push({ t: 'io', reqs: [req] }); // too large for the ring: a message (its data copied on the way)
      }
    }
    this.putHeld();
    if (rest.length > 0) super.transmitBatch(rest);
  }

  /** Put what waits on the ring while there is room (ring, replies, arena), in order, then publish. */
  private putHeld(): void {
    let n = 0;
    while (n < this.held.length && this.put(this.held[n]!)) n++;
    if (n > 0) this.held.splice(0, n);
    this.requests.publish();
  }

  private put(req: IoRequest): boolean {
    // Room for two entries: a request's device may need naming first.
    if (this.requests.room() < 2 || this.regions.size >= RING_ENTRIES) return false;
    const code = this.deviceCode(req.device);
    if (code < 0) return this.viaPort(req);
    const len = req.op === 'flush' ? 0 : req.lengthBytes;
    const at = len > 0 ? this.arena.alloc(len) : -1;
    if (len > 0 && at < 0) return false;
    const data = req.data;
    if (req.op === 'write') this.bytes.set(data!.length === len ? data! : data!.subarray(0, len), at);
    const w = this.requests.words;
    const e = this.requests.nextEntry();
    w[e + ID] = req.id;
    w[e + OP] = OP_CODE[req.op];
    w[e + DEVICE] = code;
    w[e + OFFSET] = req.offsetBytes;
    w[e + LENGTH] = len;
    w[e + DATA_AT] = at;
    this.requests.put();
    const read = req.op === 'read';
    const flags = (read ? REGION.READ : 0) | (req.lease === true ? REGION.LEASE : 0);
    this.regions.add(req.id, at, len, flags, read && req.into?.length === len ? req.into : undefined);
    return true;
  }

  /** A request whose device name no longer fits the names buffer goes as a message. */
  private viaPort(req: IoRequest): boolean {
    super.transmitBatch([{ t: 'io', reqs: [req] }]);
    return true;
  }

  /** The device's number on this link, naming it on the ring first if it is new (-1: the names buffer is full). */
  private deviceCode(name: string): number {
    const known = this.deviceCodes.get(name);
    if (known !== undefined) return known;
    const utf8 = new TextEncoder().encode(name);
    if (this.namesUsed + utf8.length > NAMES_BYTES) return -1;
    this.names.set(utf8, this.namesUsed);
    const code = this.deviceCodes.size;
    const w = this.requests.words;
    const e = this.requests.nextEntry();
    w[e + ID] = 0;
    w[e + OP] = OP_NAME;
    w[e + DEVICE] = code;
    w[e + OFFSET] = this.namesUsed;
    w[e + LENGTH] = utf8.length;
    w[e + DATA_AT] = -1;
    this.requests.put();
    this.namesUsed += utf8.length;
    this.deviceCodes.set(name, code);
    return code;
  }

  private takeReplies(): void {
    const replies: IoReply[] = [];
    const w = this.replies.words;
    this.replies.take((e) => {
      replies.push(this.answered(w[e + ID]!));
    });
    if (replies.length === 0) return;
    if (this.held.length > 0) this.putHeld();
    this.ringHandler([{ t: 'io-done', replies }]);
  }

  /**
   * The reply to ring request `id`, its arena region given back: a read's data is copied out of it
   * first (into the caller's own buffer if it gave one, else a new one), or, asked for a lease, lent
   * where it lies until the reply's `release` is called.
   */
  private answered(id: number): IoReply {
    const rt = this.regions;
    const c = rt.find(id);
    assert(c >= 0, () => `host ring to ${this.peer}: a reply to request ${id}, which is not on the ring`);
    const at = rt.at[c]!;
    const end = at + rt.len[c]!;
    const read = (rt.flags[c]! & REGION.READ) !== 0;
    const lease = (rt.flags[c]! & REGION.LEASE) !== 0;
    const into = rt.into[c];
    rt.remove(id, c);
    if (at < 0) return { id, ok: true, data: read ? new Uint8Array(0) : undefined };
    if (read && lease) {
      let lent = true;
      const release = () => {
        if (lent) this.arena.free(at);
        lent = false;
      };
      return { id, ok: true, data: this.bytes.subarray(at, end), release };
    }
    let data: Uint8Array | undefined;
    if (into) (data = into).set(this.bytes.subarray(at, end));
    else if (read) data = this.bytes.slice(at, end);
    this.arena.free(at);
    return { id, ok: true, data };
  }

  /** Replies that came as messages (failures, and requests too large for the ring). */
  private fromPort(msgs: Message[]): void {
    for (const m of msgs)
      if (m.t === 'io-done')
        for (const r of m.replies) if (this.regions.find(r.id) >= 0) this.answered(r.id).release?.();
    if (this.held.length > 0) this.putHeld();
    this.ringHandler(msgs);
  }

  override close(): void {
    this.replies.close();
    super.close();
  }
}

/**
 * A request taken off the ring, with the reply a host adapter fills for it (IoRequest.reply): both
 * serve a later request once the reply is on the ring (RingAdapterLink.putReply), so the adapter's
 * end makes no object a request. Every field is set in the constructor: one shape.
 */
class RingRequest implements IoRequest {
  id = 0;
  op: IoOp = 'read';
  device = '';
  offsetBytes = 0;
  lengthBytes = 0;
  data: Uint8Array | undefined = undefined;
  into: Uint8Array | undefined = undefined;
  /** Its arena region (-1: none). */
  arenaAt = -1;
  readonly reply: IoReply = { id: 0, ok: true, data: undefined };
}

/** The host adapter's end: takes requests, puts replies. */
export class RingAdapterLink extends PortLink {
  private rings?: { requests: Ring; replies: Ring; bytes: Uint8Array; names: Uint8Array };
  private readonly deviceNames: string[] = [];
  /** Per request id that came on the ring and is not answered yet: the request (its arena region in it). */
  private readonly onRing = new IdTable<RingRequest>(); // not a Map: id-table.ts
  /** Requests answered, for the next ones to come (never more than were on the ring at once: RING_ENTRIES). */
  private readonly spare: RingRequest[] = [];
  private ringHandler: (msgs: Message[]) => void = () => {};

  constructor(port: MessagePort, peer: string, log: Log) {
    super(port, peer, log);
    port.on('close', () => this.rings?.requests.close());
  }

  override onMessages(handler: (msgs: Message[]) => void): void {
    this.ringHandler = handler;
    super.onMessages(handler);
  }

  protected override receive(wire: unknown): void {
    if (!isSetup(wire)) return super.receive(wire);
    assert(!this.rings, () => `host link from ${this.peer}: a second ring set-up`);
    this.rings = {
      requests: new Ring(wire.requests),
      replies: new Ring(wire.replies),
      bytes: new Uint8Array(wire.arena),
      names: new Uint8Array(wire.names),
    };
    void this.rings.requests.consume(() => this.takeRequests());
  }

  private takeRequests(): void {
    const r = this.rings!;
    const w = r.requests.words;
    const reqs: IoRequest[] = [];
    r.requests.take((e) => {
      const op = w[e + OP]!;
      if (op === OP_NAME) {
        const at = w[e + OFFSET]!;
        this.deviceNames[w[e + DEVICE]!] = new TextDecoder().decode(r.names.slice(at, at + w[e + LENGTH]!));
        return;
      }
      const id = w[e + ID]!;
      const len = w[e + LENGTH]!;
      const at = w[e + DATA_AT]!;
      const device = this.deviceNames[w[e + DEVICE]!];
      assert(device !== undefined && OPS[op] !== undefined, () => `host ring from ${this.peer}: entry ${id} op ${op}`);
      const name = OPS[op]!;
      const view = name === 'write' || (name === 'read' && at >= 0) ? r.bytes.subarray(at, at + len) : undefined;
      const req = this.spare.pop() ?? new RingRequest();
      req.id = id;
      req.op = name;
      req.device = device;
      req.offsetBytes = w[e + OFFSET]!;
      req.lengthBytes = len;
      req.data = name === 'write' ? view : undefined;
      req.into = name === 'read' ? view : undefined;
      req.arenaAt = at;
      this.onRing.set(id, req);
      reqs.push(req);
    });
    if (reqs.length > 0) this.ringHandler([{ t: 'io', reqs }]);
  }

  /** A turn's replies to ring requests go back on the ring and are published once; the rest as messages. */
  protected override transmitBatch(batch: Message[]): void {
    if (!this.rings) return super.transmitBatch(batch);
    const rest: Message[] = [];
    for (const msg of batch) {
      if (msg.t !== 'io-done') {
        rest.push(msg);
        continue;
      }
      const left = msg.replies.filter((reply) => !this.putReply(reply));
      if (left.length > 0) rest.push({ t: 'io-done', replies: left });
    }
    this.rings.replies.publish();
    if (rest.length > 0) super.transmitBatch(rest);
  }

  /**
   * A reply to a request that came on the ring: a success goes back on the ring (its data in its
   * region; true), a failure as a message (its text; the host frees its region then). Either way
   * the adapter is done with the request: it serves a later one.
   */
  private putReply(reply: IoReply): boolean {
    const req = this.onRing.get(reply.id);
    if (req === undefined) return false;
    this.onRing.delete(reply.id);
    const onRing = reply.ok && this.ringReply(reply, req.arenaAt);
    // A failed reply is never the request's own (okReply): it outlives this, in its message.
    req.data = req.into = req.reply.data = undefined;
    if (this.spare.length < RING_ENTRIES) this.spare.push(req);
    return onRing;
  }

  private ringReply(reply: IoReply, at: number): true {
    const r = this.rings!;
    const d = reply.data;
    if (d && d.length > 0 && !(d.buffer === r.bytes.buffer && d.byteOffset === r.bytes.byteOffset + at))
      r.bytes.set(d, at);
    const e = r.replies.nextEntry(); // never full: the host keeps at most RING_ENTRIES on the ring
    r.replies.words[e + ID] = reply.id;
    r.replies.words[e + OP] = 1;
    r.replies.put();
    return true;
  }

  override close(): void {
    this.rings?.requests.close();
    super.close();
  }
}
