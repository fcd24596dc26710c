// The host adapter: takes host requests, translates addresses with the device's active layout,
// serves reads from cache (staging misses through the owning disk adapter), acknowledges writes
// from cache (fast write) and leaves their destage to the disk adapters.
import { CommitAsker, durableFlush } from './durable-flush.ts';
import { type Link, type Log, logDropped } from '../shared/links/link.ts';
import { okReply, type IoReply, type IoRequest, type Message } from '../shared/links/messages.ts';
import type { ArrayModel, DeviceEntry } from '../shared/model/model.ts';
import { BACKGROUND, DEVICE, NO_SLOT, TRACK, type SharedState } from '../shared/tables/memory.ts';
import { closeSessionIn, openSessionIn, syncSessionsIn } from '../shared/restripe/session.ts';
import { Session, type SessionSpec } from '../shared/restripe/session.ts';
import { SyncGate } from '../shared/links/sync-gate.ts';
import { cacheEvents, type SlotWait } from '../shared/tables/cache.ts';
import { lockTrack, tryLockTrack, unlockTrack } from '../shared/tables/track-lock.ts';
import { sched } from '../shared/sched/sched.ts';
import { assert } from '../shared/errors/assert.ts';
import { arrayIsTimed, HostPorts, stagePolicy } from '../shared/cost/cost.ts';
import { DiskAdapterRequests } from './da-requests.ts';
import { countScenario, ioRequestHandler, type Fig7Context } from './fig7.ts';
import { CriticalSection, firstPiece, LayoutChanged, NoSlotNow, type Piece, type PieceWork } from './piece.ts';
import { HostSlots } from './cache-slots.ts';
import { ReadStreams } from './read-streams.ts';
import { ArrayError, errorCode, errorMessage } from '../shared/errors/errors.ts';
import { addCacheWord, awaitDeviceWord, deviceWordOf, flagsOf } from '../shared/tables/tables.ts';

/** Most host requests one host adapter works on at once; more are refused, not queued forever. */
export const HOST_INFLIGHT_LIMIT = 8192;
/** Longest a host request waits while the switch blocks its device (step 114). */
export const BLOCKED_WAIT_MS = 30_000;

export interface HostAdapterOptions {
  model: ArrayModel;
  state: SharedState;
  index: number;
  log: Log;
  /** A replacement: host requests wait until the service processor's reconf-sync. */
  replacement?: boolean;
}

export class HostAdapter {
  readonly name: string;
  private readonly model: ArrayModel;
  private readonly state: SharedState;
  private readonly log: Log;
  private readonly index: number;
  /** Stage, fill and flush requests to the disk adapters, and the write-pending hints. */
  private readonly das: DiskAdapterRequests;
  /** What FIG. 7 on demand uses of this adapter. */
  private readonly fig7: Fig7Context;
  /** The critical sections of this adapter's request pieces (the switch waits for those inside). */
  private readonly critical: CriticalSection;
  /** Cache slots for the pieces: found, staged, copied, made pending. */
  private readonly slots: HostSlots;
  private readonly streams: ReadStreams;
  private readonly sessions = new Map<number, Session>(); // by session id
  /** Per session id: how many host requests met scenario 1..4 (index 0 unused). */
  private readonly scenarios = new Map<number, number[]>();
  private inflight = 0;
  private broken?: string; // set when an invariant broke: the adapter serves nothing more
  /** `inThread`: requests served by a call from a host in this thread (serveNow), with no message. */
  readonly counters = { reads: 0, writes: 0, flushes: 0, hits: 0, misses: 0, errors: 0, inThread: 0 };
  private readonly gate: SyncGate;
  /** Its ports' cost per request (command and transfer), when the array has timed drives. */
  private readonly ports?: HostPorts;

  constructor(opts: HostAdapterOptions) {
    this.gate = new SyncGate(opts.replacement === true);
    this.model = opts.model;
    this.state = opts.state;
    this.log = opts.log;
    this.index = opts.index;
    this.name = `HA${opts.index}`;
    this.ports = arrayIsTimed(opts.model.config) ? new HostPorts(opts.model.config) : undefined;
    this.fig7 = {
      name: this.name,
      model: this.model,
      state: this.state,
      sessions: this.sessions,
      scenarios: this.scenarios,
      scenarioTotals: [0, 0, 0, 0, 0],
      requestFill: (session, t) => this.das.requestFill(session, t),
      hint: (g, s) => this.das.hint(g, s),
    };
    this.critical = new CriticalSection(this.state, this.index, this.name);
    this.streams = new ReadStreams(stagePolicy(this.model.config));
    this.slots = new HostSlots(this.state, {
      name: this.name,
      model: this.model,
      sessions: this.sessions,
      counters: this.counters,
      stage: (g, slot, range) => this.das.stage(g, slot, range),
      hint: (g, slot) => this.das.hint(g, slot),
      askDestage: () => this.das.askDestage(),
    });
    this.das = new DiskAdapterRequests(
      { name: this.name, index: this.index, model: this.model, state: this.state, log: this.log },
      (link, current, handle) => this.gate.intake(link, current, handle),
    );
  }

  /**
   * Link to disk adapter `daIndex`. A second call means that adapter was replaced: what it was asked
   * and has not answered is asked again of its successor (stage, fill and flush are idempotent), and
   * late answers over the old link are ignored.
   */
  attachDiskAdapter(daIndex: number, link: Link): void {
    this.das.attach(daIndex, link);
  }

  /** Destage what write-pending `slots` owe (every write acknowledged before they were listed): asking every disk adapter if `everyAdapter` or a session is open. */
  flush(slots: number[], everyAdapter: boolean): Promise<void> {
    return this.das.flush(slots, everyAdapter || this.sessions.size > 0);
  }

  /** A session opens (reconf-open). */
  openSession(spec: SessionSpec): void {
    openSessionIn(this.name, this.sessions, this.model, spec);
    if (!this.scenarios.has(spec.sid)) this.scenarios.set(spec.sid, [0, 0, 0, 0, 0]);
  }

  attachServiceProcessor(link: Link): void {
    this.gate.intake(
      link,
      () => true,
      (m) => this.onSpMessage(link, m),
    );
    this.committer.attach(link);
  }

  /** A FLUSH's commit, asked of the service processor (durable-flush.ts). */
  private readonly committer = new CommitAsker();

  private onSpMessage(link: Link, m: Message): void {
    if (this.committer.answer(m)) return;
    if (m.t === 'reconf-sync') {
      for (const sid of syncSessionsIn(this.sessions, this.model, this.state, m, (spec) => this.openSession(spec)))
        this.scenarios.delete(sid);
      this.gate.openNow();
    } else if (m.t === 'reconf-open') {
      this.openSession(m.spec);
      link.send({ t: 'done', sid: m.spec.sid, step: 'open', actor: this.name });
    } else if (m.t === 'reconf-close') {
      const counts = this.scenarios.get(m.sid) ?? [0, 0, 0, 0, 0];
      closeSessionIn(this.sessions, this.model, m.sid);
      this.scenarios.delete(m.sid);
      link.send({
        t: 'done',
        sid: m.sid,
        step: 'close',
        actor: this.name,
        info: { s1: counts[1]!, s2: counts[2]!, s3: counts[3]!, s4: counts[4]! },
      });
    } else {
      logDropped(this.log, this.name, m, link);
    }
  }

  attachHost(link: Link): void {
    this.gate.intake(
      link,
      () => true,
      (m) => this.onHostMessage(link, m),
    );
  }

  private onHostMessage(link: Link, m: Message): void {
    if (m.t !== 'io') {
      logDropped(this.log, this.name, m, link);
      return;
    }
    addCacheWord(this.state, BACKGROUND.HOST_OPS, m.reqs.length);
    // Replies served at once leave together, in one message; the others as they finish.
    const now: IoReply[] = [];
    for (const req of m.reqs) {
      const reply = this.served(req);
      if (reply) now.push(this.counted(req, reply));
      else void this.submitSlow(req, link);
    }
    if (now.length > 0) link.send({ t: 'io-done', replies: now });
  }

  /**
   * A request from a host in this adapter's own thread (the NBD server it runs, DESIGN §9): its reply
   * now if the fast path takes it, counted as a request over a link is; undefined (nothing changed):
   * send it over the link. No batch, message or turn between the socket and the cache for a hit.
   */
  serveNow(req: IoRequest): IoReply | undefined {
    const reply = this.served(req);
    if (!reply) return undefined;
    addCacheWord(this.state, BACKGROUND.HOST_OPS, 1);
    this.counters.inThread++;
    return this.counted(req, reply);
  }

  /**
   * A broken invariant stops the adapter loudly: logged with its track and bits, every later
   * request refused, and the error thrown out of the actor (its worker dies; the emulator reports it).
   */
  private stopOnInvariant(err: unknown): void {
    if (this.broken) return;
    this.broken = errorMessage(err);
    this.log('error', `${this.name}: stopping: ${this.broken}`);
    // Two turns later: the failed request's reply (batched for the next turn) leaves first.
    sched().defer(() =>
      sched().defer(() => {
        throw err;
      }),
    );
  }

  /**
   * The fast path: a read or write within one track of a device that is not blocked, whose track
   * is unlocked, attached to a VALID slot and wants no split or fill. All of it happens in this
   * turn, under the track lock and inside the piece's critical section, with the same steps as
   * the general path; undefined (nothing changed) whenever any of that does not hold.
   */
  private served(req: IoRequest): IoReply | undefined {
    if (this.broken || this.ports || req.op === 'flush' || this.inflight >= HOST_INFLIGHT_LIMIT) return undefined;
    const dev = this.model.findDevice(req.device);
    if (!dev || deviceWordOf(this.state, dev.index, DEVICE.READY) !== 1) return undefined;
    const len = req.lengthBytes;
    if (!Number.isInteger(req.offsetBytes) || !Number.isInteger(len) || req.offsetBytes < 0 || len <= 0)
      return undefined;
    const tb = this.state.trackBytes;
    const t = Math.floor(req.offsetBytes / tb); // as firstPiece, without its object
    const at = req.offsetBytes - t * tb;
    if (at + len > tb) return undefined; // more than one track: the general path
    const gen = deviceWordOf(this.state, dev.index, DEVICE.GENERATION);
    const layout = this.model.layoutAt(dev, gen);
    if (t >= layout.tracks || (req.op === 'write' && req.data?.length !== len)) return undefined;
    const g = layout.locate(t);
    if (!tryLockTrack(this.state, g)) return undefined;
    const piece = this.critical.reusedPiece(dev, gen); // left (finally) before this returns
    try {
      const session = this.activeSession(dev, gen);
      if (session && flagsOf(this.state, g) & (TRACK.PS | TRACK.IND)) return undefined;
      const s = req.op === 'read' ? this.slots.cached(g, at, at + len) : this.slots.cached(g);
      if (s === NO_SLOT) return undefined;
      this.critical.enter(piece);
      if (session) countScenario(this.fig7, session, t);
      this.counters.hits++;
      if (req.op === 'read') {
        this.streams.wholeTracks(dev.index, req.offsetBytes, len); // a hit may be part of a stream
        const data = req.into?.length === len ? req.into : new Uint8Array(len); // the host's region or buffer
        this.slots.read(s, at, len, data, 0);
        return okReply(req, data);
      }
      this.slots.write(dev, g, s, req.data!, at); // its length is len: checked above
      return okReply(req);
    } catch (err) {
      if (err instanceof LayoutChanged) return undefined;
      return this.failed(req, err);
    } finally {
      this.critical.leave(piece);
      unlockTrack(this.state, g);
    }
  }

  /** Serve `req` on the general path and send its reply over `link` when it is done (one async frame a request). */
  private async submitSlow(req: IoRequest, link: Link): Promise<void> {
    let reply: IoReply;
    if (this.broken) {
      reply = { id: req.id, ok: false, code: 'ADAPTER_GONE', error: `${this.name} stopped: ${this.broken}` };
    } else if (this.inflight >= HOST_INFLIGHT_LIMIT) {
      reply = {
        id: req.id,
        ok: false,
        code: 'TOO_MANY_REQUESTS',
        error: `${this.name}: ${HOST_INFLIGHT_LIMIT} requests already in flight`,
      };
    } else {
      this.inflight++;
      try {
        if (req.op === 'read') {
          const data = await this.read(req.device, req.offsetBytes, req.lengthBytes, req.into);
          if (this.ports) await this.ports.pass(data.length); // the data goes out through a port
          reply = okReply(req, data);
        } else if (req.op === 'write') {
          const data = req.data ?? new Uint8Array(0);
          if (this.ports) await this.ports.pass(data.length); // the data comes in through a port first
          await this.write(req.device, req.offsetBytes, data);
          reply = okReply(req);
        } else {
          await this.ports?.pass(0);
          await durableFlush(this.state, (slots, every) => this.flush(slots, every), this.committer);
          reply = okReply(req);
        }
      } catch (err) {
        reply = this.failed(req, err);
      } finally {
        this.inflight--;
      }
    }
    link.send({ t: 'io-done', replies: [this.counted(req, reply)] });
  }

  /** Every host request's reply passes here: the one place this adapter counts the I/O it did. */
  private counted(req: IoRequest, reply: IoReply): IoReply {
    if (!reply.ok) this.counters.errors++;
    else if (req.op === 'read') this.counters.reads++;
    else if (req.op === 'write') this.counters.writes++;
    else this.counters.flushes++;
    return reply;
  }

  /** The reply of a request that failed with `err` (a broken invariant stops the adapter too). */
  private failed(req: IoRequest, err: unknown): IoReply {
    if (errorCode(err) === 'INVARIANT') this.stopOnInvariant(err);
    return { id: req.id, ok: false, code: errorCode(err), error: errorMessage(err) };
  }

  /**
   * Range of a request against the device's active layout, once as it enters: the array's own edge,
   * for every host client (the NBD server checks first only to answer EINVAL or ENOSPC without a round
   * trip; the fast path declines what it does not take, it never refuses). A device never shrinks
   * (reconf-plan.ts refuses it), so a range inside one layout is inside every later one.
   */
  private checkRange(dev: DeviceEntry, offsetBytes: number, lengthBytes: number): void {
    const layout = this.model.layoutAt(dev, deviceWordOf(this.state, dev.index, DEVICE.GENERATION));
    const bytes = layout.tracks * this.state.trackBytes;
    if (
      !Number.isInteger(offsetBytes) ||
      !Number.isInteger(lengthBytes) ||
      offsetBytes < 0 ||
      lengthBytes < 0 ||
      offsetBytes + lengthBytes > bytes
    ) {
      throw new ArrayError(
        'OUT_OF_RANGE',
        `${dev.id}: bytes ${offsetBytes}..${offsetBytes + lengthBytes - 1} outside the device (0..${bytes - 1})`,
      );
    }
  }

  /** A device not ready (a BCV in a session) serves no host: checked at each piece's translation. */
  private checkReady(dev: DeviceEntry): void {
    if (deviceWordOf(this.state, dev.index, DEVICE.READY) !== 1) {
      throw new ArrayError(
        'NOT_READY',
        `${dev.id}: device is not ready${dev.bcvOf ? ` (BCV of ${dev.bcvOf} in a reconfiguration session)` : ''}`,
      );
    }
  }

  /** Wait (bounded by `deadlineMs`) while the switch blocks `dev` (step 114). */
  private async unblocked(dev: DeviceEntry, deadlineMs: number): Promise<void> {
    while (deviceWordOf(this.state, dev.index, DEVICE.BLOCKED) !== 0) {
      const waitMs = Math.max(1, deadlineMs - sched().now());
      await awaitDeviceWord(
        this.state,
        { device: dev.index, word: DEVICE.BLOCKED, value: 0 },
        waitMs,
        `${dev.id}: host access blocked`,
      );
    }
  }

  /** The session whose new layout is active on `dev` (generation `gen`), while it runs. */
  private activeSession(dev: DeviceEntry, gen: number): Session | undefined {
    if (deviceWordOf(this.state, dev.index, DEVICE.SESSION) === 0 || this.sessions.size === 0) return undefined;
    for (const s of this.sessions.values())
      if (s.spec.deviceIndex === dev.index && s.spec.newGen === gen && s.spec.y >= 0) return s;
    return undefined;
  }

  /**
   * One host request on `dev`, counted in flight (the throttle's "hosts busy"): do
   * `work(trackOffset, bufferOffset, length)` for each track piece of a range, in order, track
   * locked under the layout active when it took its lock (each piece is translated late: one that
   * queued behind the switch is served under the new layout).
   */
  private async eachTrack(
    dev: DeviceEntry,
    offsetBytes: number,
    lengthBytes: number,
    work: (at: number, pos: number, len: number) => PieceWork,
  ): Promise<void> {
    const tb = this.state.trackBytes;
    this.state.addInflight(this.index, dev.index, 1);
    try {
      this.checkRange(dev, offsetBytes, lengthBytes);
      if (lengthBytes === 0) return this.checkReady(dev);
      for (let pos = 0; pos < lengthBytes;) {
        const { t, at, len } = firstPiece(offsetBytes + pos, lengthBytes - pos, tb);
        await this.onePiece(dev, t, pos === 0, work(at, pos, len));
        pos += len;
      }
    } finally {
      this.state.addInflight(this.index, dev.index, -1);
    }
  }

  /** Translate logical track t under the active layout and do `work` on it locked; again if a switch moved it. */
  private async onePiece(dev: DeviceEntry, t: number, count: boolean, work: PieceWork): Promise<void> {
    const deadline = sched().now() + BLOCKED_WAIT_MS;
    let counted = !count; // FIG. 7's scenario is counted once, under the first session the piece meets
    for (;;) {
      if (deviceWordOf(this.state, dev.index, DEVICE.BLOCKED) !== 0) await this.unblocked(dev, deadline);
      const gen = deviceWordOf(this.state, dev.index, DEVICE.GENERATION);
      const layout = this.model.layoutAt(dev, gen);
      this.checkReady(dev);
      assert(t < layout.tracks, () => `${dev.id}: track ${t} past generation ${gen}'s ${layout.tracks} tracks`);
      const g = layout.locate(t);
      const piece: Piece = { dev, gen, inside: false };
      const session = this.activeSession(dev, gen);
      const countNow = !counted && session !== undefined;
      if (session) counted = true;
      try {
        await this.underLock(session, t, g, countNow, piece, work);
        return;
      } catch (err) {
        if (!(err instanceof LayoutChanged)) throw err;
      }
      if (sched().now() > deadline)
        throw new ArrayError(
          'TIMEOUT',
          `${dev.id}: track ${t} still moving between layouts after ${BLOCKED_WAIT_MS} ms`,
        );
    }
  }

  /**
   * Do `work` with track g locked (FIG. 7 first, under a session): its slot first, then its use
   * inside the piece's critical section (a switch that came meanwhile: LayoutChanged). Work that
   * finds no free cache slot (NoSlotNow) is not left waiting with the lock held: a fill may hold a
   * write-pending slot's track while it waits for g, and the destage that would free that slot
   * needs that track. So the lock is given up, the wait for a clean slot happens unlocked, and the
   * work runs again from the start (it changes nothing before it has its slot).
   */
  private async underLock(
    session: Session | undefined,
    t: number,
    g: number,
    count: boolean,
    piece: Piece,
    work: PieceWork,
  ): Promise<void> {
    const startedMs = sched().now();
    let wait: SlotWait | undefined; // made only when no slot is free (not an object and closures a request)
    for (let attempt = 0; ; attempt++) {
      const seen = cacheEvents(this.state);
      if (session) await ioRequestHandler(this.fig7, session, t, g, count && attempt === 0);
      else if (!tryLockTrack(this.state, g)) await lockTrack(this.state, g);
      try {
        // A switch that came while the piece queued for its lock may have split g since (IND: g
        // holds no data of any track): nothing is staged or allocated for it (a stage that repairs
        // a media error would leave a write-pending slot there). One that comes later finds g
        // locked, and enterWithSlot sends the piece round again.
        if (this.critical.moved(piece)) throw new LayoutChanged();
        const s = await work.slot(g);
        this.critical.enterWithSlot(piece, g, s);
        work.use(g, s);
        return;
      } catch (err) {
        if (!(err instanceof NoSlotNow)) throw err;
      } finally {
        this.critical.leave(piece);
        unlockTrack(this.state, g);
      }
      wait ??= this.slots.waitFor(g, startedMs);
      await wait.next(seen);
    }
  }

  /** Read into `into` if given (a host's ring region, of exactly `lengthBytes`), else into a new buffer. */
  async read(device: string, offsetBytes: number, lengthBytes: number, into?: Uint8Array): Promise<Uint8Array> {
    const dev = this.model.device(device);
    const out = into?.length === lengthBytes ? into : new Uint8Array(lengthBytes);
    const tb = this.state.trackBytes;
    const whole = this.streams.wholeTracks(dev.index, offsetBytes, lengthBytes);
    await this.eachTrack(dev, offsetBytes, lengthBytes, (at, pos, len) => ({
      // A partial stage of just these bytes: the disk adapter rounds them out to its drive's block.
      slot: (g) => this.slots.withData(g, whole || len === tb ? undefined : [at, at + len]),
      use: (_g, s) => this.slots.read(s, at, len, out, pos),
    }));
    return out;
  }

  async write(device: string, offsetBytes: number, data: Uint8Array): Promise<void> {
    const dev = this.model.device(device);
    const tb = this.state.trackBytes;
    await this.eachTrack(dev, offsetBytes, data.length, (at, pos, len) => ({
      slot: (g) => (len === tb ? this.slots.forOverwrite(g) : this.slots.withData(g)),
      use: (g, s) => this.slots.write(dev, g, s, data.subarray(pos, pos + len), at),
    }));
  }

  status(): Record<string, number> {
    const sc = this.fig7.scenarioTotals;
    return {
      ...this.counters,
      ...this.das.counters,
      inflight: this.inflight,
      scenario1: sc[1]!,
      scenario2: sc[2]!,
      scenario3: sc[3]!,
      scenario4: sc[4]!,
    };
  }
}
