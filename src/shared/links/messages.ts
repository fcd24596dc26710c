// Every message between actors: one discriminated union, encoded with msgpackr, checked on receipt.
// A malformed or unknown message is reported to the receiver's log with its sender and dropped.
import { Packr } from 'msgpackr';
import type { SessionSpec } from '../restripe/session.ts';
import type { ArrayConfig } from '../config/config.ts';

export type IoOp = 'read' | 'write' | 'flush';

/** Host side → host adapter. `offsetBytes`/`lengthBytes` address the device's bytes. */
export interface IoRequest {
  id: number;
  op: IoOp;
  device: string;
  offsetBytes: number;
  lengthBytes: number;
  data?: Uint8Array; // write only
  /**
   * Write only: the host gives `data` up (it never touches it again), so a receiver in the same
   * thread may keep it as it is instead of copying it (localBatch); across threads it is copied.
   */
  given?: boolean;
  /**
   * Read only: where the host wants the data — its arena region on a ring, or a buffer of its own
   * over an in-thread link (never sent across threads); the reply's data is this.
   */
  into?: Uint8Array;
  /** Read only, host side: the reply may lend its data where it lies (see IoReply.release); never sent. */
  lease?: boolean;
  /**
   * Receiver side, never sent: a reply object the receiver fills and returns for a success instead
   * of making one (okReply). A ring's request carries one; both are used again for a later request
   * once the reply is on its way back (ring-link.ts RingRequest).
   */
  reply?: IoReply;
}

/** A request object to set anew for each request (one shape: every field there, read or write). */
export function blankRequest(): IoRequest {
  return { id: 0, op: 'read', device: '', offsetBytes: 0, lengthBytes: 0, data: undefined, into: undefined };
}

/** The success reply to `req`: its own reply object filled (IoRequest.reply), or a new one. */
export function okReply(req: IoRequest, data?: Uint8Array): IoReply {
  const r = req.reply;
  if (!r) return data ? { id: req.id, ok: true, data } : { id: req.id, ok: true };
  r.id = req.id;
  r.ok = true;
  r.data = data;
  return r;
}

export interface IoReply {
  id: number;
  ok: boolean;
  data?: Uint8Array; // read only
  error?: string;
  code?: string;
  /** A lent read (IoRequest.lease): `data` lies in shared memory until this is called; never sent. */
  release?: () => void;
}

/** Bytes [lo, hi) of a track. */
export type ByteRange = readonly [number, number];

/** A track to stage into a slot; `lo`/`hi` (both or neither): only those bytes of it (a partial stage). */
export interface StageRequest {
  track: number;
  slot: number;
  lo?: number;
  hi?: number;
  /** Read this copy of the track (a mirror's location) instead of `track` itself. */
  from?: number;
}

export type Message =
  // host side ↔ host adapter
  | { t: 'io'; reqs: IoRequest[] }
  | { t: 'io-done'; replies: IoReply[] }
  // host adapter ↔ disk adapter
  | { t: 'stage'; ha: number; reqs: StageRequest[] } // read track into slot (only bytes [lo, hi) if given: a partial stage)
  | { t: 'staged'; reqs: Array<StageRequest & { error?: string; fault?: 'failed' | 'media' }> } // lo/hi: the bytes read (rounded out to the drive's block)
  | { t: 'destage-hint'; slots: number[] } // these slots became write-pending
  | { t: 'destage-now' } // the cache is full of write-pending slots
  | { t: 'room-wanted'; actor: string } // disk adapter → service processor: its drive cache holds no durable track, commit soon
  | { t: 'flush'; id: number; slots: number[] } // destage what these slots (write-pending at the FLUSH) owe your drives, then answer
  | { t: 'flushed'; id: number; error?: string }
  | { t: 'commit-wanted'; id: number } // host adapter → service processor: a FLUSH's destage is done, make it durable (R4)
  | { t: 'committed'; id: number; error?: string }
  // service processor ↔ adapters: RECONF
  | { t: 'reconf-open'; spec: SessionSpec } // every actor learns the session (steps 101-103)
  | { t: 'bcv-purge'; sid: number } // BCV adapters drop cached BCV tracks before ESTABLISH
  // main adapters copy the device onto the BCV (step 104); attempt > 1: again after a drive fault;
  // fromCopies: pairs (original location, the mirror copy to read it from this attempt)
  | { t: 'establish'; sid: number; attempt?: number; fromCopies?: number[] }
  | { t: 'destage-mirror'; sid: number } // BCV adapters destage every mirror write (WPB) of the session: the BCV is on its drives (R1)
  | { t: 'destage-filled'; sid: number } // main adapters destage every filled track still only in cache (FILLPEND): the new layout is on its drives (R5)
  | { t: 'start-split'; sid: number } // the instant split (step 116)
  // the data transfer (step 117); attempt > 1: again after a drive fault; fromCopies: pairs (BCV
  // location, the copy of a mirrored BCV to fill it from this attempt)
  | { t: 'start-transfer'; sid: number; attempt?: number; fromCopies?: number[] }
  | { t: 'reconf-close'; sid: number } // the session ended (step 124)
  // to a replacement adapter, first on its link: the array as it stands (open sessions, running configuration)
  | { t: 'reconf-sync'; running: ArrayConfig; sessions: SessionSpec[]; closedBelow: number }
  | {
      t: 'done';
      sid: number;
      step: ReconfStep;
      actor: string;
      info?: Record<string, number>;
      error?: string;
      attempt?: number; // the step's attempt answered (ESTABLISH again after a drive fault)
      driveFault?: boolean; // the error was a drive's (a failed drive, a media error)
    }
  // host adapter ↔ disk adapter owning the BCV track: FIG. 7's disconnect / reconnect
  | { t: 'fill'; sid: number; track: number; id: number }
  | { t: 'filled'; id: number; error?: string; fault?: 'failed' | 'media' }; // fault: the error was a drive's

export type ReconfStep = 'open' | 'purge' | 'establish' | 'mirror' | 'filled' | 'split' | 'transfer' | 'close';
const STEPS = new Set<unknown>(['open', 'purge', 'establish', 'mirror', 'filled', 'split', 'transfer', 'close']);

export type MessageType = Message['t'];

const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * A batch on the wire: the messages packed with msgpackr, and the bulk data of host I/O (`data`
 * of io requests and replies) beside it as ArrayBuffers, moved (transferred) rather than copied
 * through the packer. In the packed messages each `data` becomes its index in `blobs`, or, for
 * data of at most SHARED_BLOB_BYTES, `[index, offset, length]` in one buffer the batch's small
 * data share (one transfer for many 4 KiB requests: a transfer costs more than the copy).
 */
export interface Wire {
  packed: Uint8Array;
  blobs: ArrayBuffer[];
}

/** Largest `data` copied into the batch's shared buffer rather than transferred on its own. */
export const SHARED_BLOB_BYTES = 16 * 1024;

/** Whether `u8` is the whole of an ArrayBuffer of its own (not shared memory, not a view of part of one). */
export const ownsWhole = (u8: Uint8Array): boolean =>
  u8.buffer instanceof ArrayBuffer && u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength;

/** An ArrayBuffer holding exactly `u8`: its own if it owns it whole, else a copy. */
function ownedBuffer(u8: Uint8Array): ArrayBuffer {
  const buf = u8.buffer;
  if (ownsWhole(u8)) return buf as ArrayBuffer;
  // A copy into a buffer of its own (not `u8.slice()`: on a Node Buffer that is a view of the same memory).
  return new Uint8Array(u8).buffer as ArrayBuffer;
}

/**
 * Encode a batch. A reply's `data` is the sender's to give up: a buffer it owns whole is moved
 * (transferred), any other is copied. A request's `data` is the host's (an NBD payload, a
 * workload's buffer it reuses): it is always copied, never moved away from it, given or not.
 */
export function encodeBatch(msgs: Message[]): Wire {
  const blobs: ArrayBuffer[] = [];
  const small = sharedBlob(msgs);
  if (small) blobs.push(small.buffer as ArrayBuffer);
  let sharedAt = 0;
  const take = (d: Uint8Array | undefined, move: boolean): Uint8Array | undefined => {
    if (d === undefined) return undefined;
    if (small && d.length <= SHARED_BLOB_BYTES) {
      small.set(d, sharedAt);
      sharedAt += d.length;
      return [0, sharedAt - d.length, d.length] as unknown as Uint8Array;
    }
    blobs.push(move ? ownedBuffer(d) : (new Uint8Array(d).buffer as ArrayBuffer));
    return (blobs.length - 1) as unknown as Uint8Array;
  };
  const plain = msgs.map((m): Message => {
    if (m.t === 'io') return { t: 'io', reqs: m.reqs.map((r) => (r.data || r.into ? acrossThreads(r, take) : r)) };
    if (m.t === 'io-done')
      return { t: 'io-done', replies: m.replies.map((r) => (r.data ? { ...r, data: take(r.data, true) } : r)) };
    return m;
  });
  const packed = packr.pack(plain);
  return { packed: new Uint8Array(packed), blobs }; // a copy: `packed` views msgpackr's reused buffer
}

/**
 * A batch for a receiver in the same thread, without encoding, under the same ownership rule as
 * encodeBatch: a request's `data` is copied unless the host gave it up (`given`); a reply's is passed on if the sender owns its buffer
 * whole (it gives it up, as a transfer would), else copied (a view of a slot, say). The messages
 * themselves are shared: neither end changes a message once sent.
 */
export function localBatch(msgs: Message[]): Message[] {
  // A message with no data to copy (a read, an answer without bytes, a reply on a buffer its sender
  // owns whole) is passed on as it is: no object made per request on this path.
  return msgs.map((m): Message => {
    if (m.t === 'io' && m.reqs.some((r) => r.data && !r.given))
      return { t: 'io', reqs: m.reqs.map((r) => (r.data && !r.given ? { ...r, data: new Uint8Array(r.data) } : r)) };
    if (m.t === 'io-done' && m.replies.some((r) => r.data && !ownsWhole(r.data)))
      return {
        t: 'io-done',
        replies: m.replies.map((r) => (r.data && !ownsWhole(r.data) ? { ...r, data: new Uint8Array(r.data) } : r)),
      };
    return m;
  });
}

/** A request as it crosses threads: its data copied (given or not), a host's own `into` buffer left behind. */
function acrossThreads(
  r: IoRequest,
  take: (d: Uint8Array | undefined, move: boolean) => Uint8Array | undefined,
): IoRequest {
  const { into: _into, given: _given, ...rest } = r;
  return r.data ? { ...rest, data: take(r.data, false) } : rest;
}

/** One buffer for every `data` of at most SHARED_BLOB_BYTES in the batch (undefined if none). */
function sharedBlob(msgs: Message[]): Uint8Array | undefined {
  let bytes = 0;
  for (const m of msgs) {
    const list = m.t === 'io' ? m.reqs : m.t === 'io-done' ? m.replies : undefined;
    if (list) for (const r of list) if (r.data && r.data.length <= SHARED_BLOB_BYTES) bytes += r.data.length;
  }
  return bytes > 0 ? new Uint8Array(bytes) : undefined;
}

const isInt = (v: unknown): v is number => Number.isInteger(v);
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isArr = Array.isArray;
const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null;
const isStageRequest = (r: unknown): boolean =>
  isObj(r) &&
  isInt(r.track) &&
  isInt(r.slot) &&
  (r.from === undefined || (isInt(r.from) && r.from >= 0)) &&
  (r.lo === undefined ? r.hi === undefined : isInt(r.lo) && isInt(r.hi) && r.lo >= 0 && r.lo < r.hi);

const CHECKS: Record<MessageType, (m: any) => boolean> = {
  io: (m) =>
    isArr(m.reqs) &&
    m.reqs.every(
      (r: any) =>
        isObj(r) &&
        isInt(r.id) &&
        (r.op === 'read' || r.op === 'write' || r.op === 'flush') &&
        typeof r.device === 'string' &&
        isInt(r.offsetBytes) &&
        isInt(r.lengthBytes) &&
        (r.op !== 'write' || isBytes(r.data)),
    ),
  'io-done': (m) =>
    isArr(m.replies) && m.replies.every((r: any) => isObj(r) && isInt(r.id) && typeof r.ok === 'boolean'),
  stage: (m) => isInt(m.ha) && isArr(m.reqs) && m.reqs.every(isStageRequest),
  staged: (m) => isArr(m.reqs) && m.reqs.every(isStageRequest),
  'destage-hint': (m) => isArr(m.slots) && m.slots.every(isInt),
  'destage-now': () => true,
  'room-wanted': (m) => typeof m.actor === 'string',
  flush: (m) => isInt(m.id) && isArr(m.slots) && m.slots.every(isInt),
  flushed: (m) => isInt(m.id),
  'commit-wanted': (m) => isInt(m.id),
  committed: (m) => isInt(m.id),
  'reconf-open': (m) =>
    isObj(m.spec) &&
    isInt(m.spec.sid) &&
    isInt(m.spec.y) &&
    typeof m.spec.deviceId === 'string' &&
    isInt(m.spec.newGen) &&
    isObj(m.spec.running) &&
    isObj(m.spec.target),
  'bcv-purge': (m) => isInt(m.sid),
  'destage-mirror': (m) => isInt(m.sid),
  'destage-filled': (m) => isInt(m.sid),
  establish: (m) => isInt(m.sid) && attemptOk(m),
  'start-split': (m) => isInt(m.sid),
  'start-transfer': (m) => isInt(m.sid) && attemptOk(m),
  'reconf-close': (m) => isInt(m.sid),
  'reconf-sync': (m) =>
    isObj(m.running) &&
    isArr(m.sessions) &&
    m.sessions.every((s: any) => CHECKS['reconf-open']({ spec: s })) &&
    isInt(m.closedBelow),
  done: (m) => isInt(m.sid) && STEPS.has(m.step) && typeof m.actor === 'string',
  fill: (m) => isInt(m.sid) && isInt(m.track) && isInt(m.id),
  filled: (m) => isInt(m.id),
};

/** A step asked again after a drive fault: its attempt and the copies to read from, if any. */
function attemptOk(m: any): boolean {
  return (
    (m.attempt === undefined || isInt(m.attempt)) &&
    (m.fromCopies === undefined || (Array.isArray(m.fromCopies) && m.fromCopies.every(isInt)))
  );
}

export type Decoded = { ok: true; msgs: Message[] } | { ok: false; error: string; msgs: Message[] };

/**
 * Decode a batch. Messages that fail their check are left out and described in `error`; the
 * good ones of the same batch are still delivered.
 */
export function decodeBatch(wire: unknown): Decoded {
  const w = wire as Partial<Wire> | null;
  if (!w || !isBytes(w.packed) || !isArr(w.blobs)) return { ok: false, error: 'not a message batch', msgs: [] };
  let raw: unknown;
  try {
    raw = packr.unpack(w.packed);
  } catch (err) {
    return { ok: false, error: `undecodable (${(err as Error).message})`, msgs: [] };
  }
  if (!isArr(raw)) return { ok: false, error: 'not a batch (expected an array of messages)', msgs: [] };
  const blobs = w.blobs;
  const blob = (r: { data?: unknown }): boolean => {
    if (r.data === undefined || r.data === null) return true;
    if (isArr(r.data)) {
      const [i, at, len] = r.data as unknown[];
      const b = isInt(i) ? blobs[i] : undefined;
      if (!(b instanceof ArrayBuffer) || !isInt(at) || !isInt(len) || at < 0 || len < 0 || at + len > b.byteLength)
        return false;
      r.data = new Uint8Array(b, at, len);
      return true;
    }
    const b = isInt(r.data) ? blobs[r.data] : undefined;
    if (!(b instanceof ArrayBuffer)) return false;
    r.data = new Uint8Array(b);
    return true;
  };
  const msgs: Message[] = [];
  const bad: string[] = [];
  for (const m of raw) {
    const t = (m as { t?: unknown } | null)?.t;
    // Own keys only: a type named "valueOf" or "__proto__" must not find Object.prototype's.
    const check = typeof t === 'string' && Object.hasOwn(CHECKS, t) ? CHECKS[t as MessageType] : undefined;
    const list = t === 'io' ? (m as any).reqs : t === 'io-done' ? (m as any).replies : undefined;
    const blobsOk =
      list === undefined || (isArr(list) && list.every((r: any) => r !== null && typeof r === 'object' && blob(r)));
    if (!check) bad.push(`unknown message type ${JSON.stringify(t)}`);
    else if (!blobsOk || !check(m)) bad.push(`malformed "${String(t)}" message`);
    else msgs.push(m as Message);
  }
  return bad.length === 0 ? { ok: true, msgs } : { ok: false, error: bad.slice(0, 3).join('; '), msgs };
}
