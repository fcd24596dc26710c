// The disk adapter: sole owner of its drives. Stages tracks into cache slots on request, destages
// write-pending slots in the background (host requests first), flushes on request — and, for a
// reconfiguration session, copies its main drives onto the BCV (ESTABLISH), runs the instant split
// (FIG. 5) over its main drives and the data transfer (FIGS. 6A/6B) over its BCV drives, and fills
// tracks on a host adapter's request (FIG. 7).
import type { Link, Log } from '../shared/link.ts';
import type { Message, ReconfStep } from '../shared/messages.ts';
import type { ArrayModel } from '../shared/model.ts';
import { BACKGROUND, DEVICE, NO_SLOT, NO_TRACK, SLOT, TRACK, WPK_ALL, splitCursorWord, SPLIT_CURSOR_DONE, type SharedState } from '../shared/memory.ts';
import { lockTrack, lockedBy, tryLockTrack, unlockTrack } from '../shared/track-lock.ts';
import { actorId } from '../shared/actor.ts';
import { awaitCacheEvent, cacheEvents, releaseSlot, tryAllocateSlot, SLOT_WAIT_MS } from '../shared/cache.ts';
import { ArrayError } from '../shared/errors.ts';
import { split, splitBcvTrack, splitHoldingBcv, trySplitHoldingBcv, type SplitResult } from '../shared/reconf.ts';
import { moveSlot } from '../shared/intent.ts';
import { openSessionIn, Session, syncSessionsIn, type SessionSpec } from '../shared/session.ts';
import { SyncGate } from '../shared/sync-gate.ts';
import { assert } from '../shared/assert.ts';
import { errorMessage } from '../shared/errors.ts';
import { driveStore, type Drive } from '../drives/store.ts';
import { adapterChannel, TimedDrive, timingModel } from '../drives/timing/timed-drive.ts';
import type { Channel } from '../drives/timing/channel.ts';
import { nextTurn, sched, sleep, type Timer } from '../shared/sched.ts';
import { pipeline, PIPELINE_LIMIT } from '../shared/pipeline.ts';

/** Slots destaged per round before the destager yields a turn to staging (host requests come first). */
const DESTAGE_BATCH = 256;
/** Destages an adapter keeps in flight at once, per drive it has: each drive sees a queue it can order, join and stream. */
const DESTAGES_IN_FLIGHT_PER_DRIVE = 8;
/** How often a paused background copy looks whether it may go on (ms). */
const PAUSE_POLL_MS = 10;
/** Tracks the instant split handles per turn. */
const BACKGROUND_BATCH = 16;
/**
 * Tracks of one drive that ESTABLISH and the data transfer keep in flight: enough that the drive
 * always has the next ones of its sequential sweep queued (it streams at its media rate), few
 * enough that the processes of all drives hold a small part of the cache.
 */
const TRACKS_IN_FLIGHT_PER_DRIVE = 8;
/** Track buffers a disk adapter keeps for its stages to read into (more are allocated while more are in flight). */
const STAGE_BUFFERS_KEPT = 16;
/** Session ids remembered after they close (a late FIG. 7 fill for one is answered at once). */
const CLOSED_SESSIONS_KEPT = 64;
/** How soon a slot whose owner track was locked is tried again. */
const DEFERRED_RETRY_MS = 1;
/** Compare-and-swaps of a slot's state under its track lock before the destager stops loudly (only REF may change meanwhile). */
const CLEAR_PENDING_TRIES = 64;
/** Each wait for a clean cache slot (no lock held) is bounded: a missed cache event costs at most this. */
const CACHE_WAIT_SLICE_MS = 20;
/**
 * Write-behind of an adapter with instant drives: a destage round starts this long after the
 * first write-pending hint, so a track written many times meanwhile is destaged once (a 4 KiB
 * host write otherwise costs a whole-track copy each). Cut short by anything that needs the
 * cache clean soon: a full cache (destage-now), a flush, a reconfiguration step, many hints.
 * Timed drives have no such delay: their own write cache and queue do this (and their figures).
 */
const WRITE_BEHIND_MS = 20;
/** Dirty slots (as a fraction of the cache) past which the write-behind delay is cut short. */
const WRITE_BEHIND_MAX_DIRTY = 0.25;
/** Hosts count as idle for the throttle once no host request was taken for this long (ms). */
const HOSTS_IDLE_AFTER_MS = 100;
/** Safety-net sweep of every slot for write-pending data of this adapter's drives. */
const SWEEP_INTERVAL_MS = 200;

export interface DiskAdapterOptions {
  model: ArrayModel;
  state: SharedState;
  index: number;
  log: Log;
  /** The drives (default: memory drives over the shared backing stores). */
  drives?: Map<number, Drive>;
  /** A replacement: it serves and destages nothing until the service processor's reconf-sync. */
  replacement?: boolean;
}

/**
 * Clear mirror bit `wp` of slot `s`, and WP with it when no WPk is left — in one atomic step, so a
 * worker stopped here never leaves WP set with no WPk (a slot nobody would destage or evict).
 */
function clearPending(state: SharedState, s: number, wp: number): void {
  for (let i = 0; i < CLEAR_PENDING_TRIES; i++) {
    const st = Atomics.load(state.slotState, s);
    let next = st & ~wp;
    if (!(next & WPK_ALL)) next &= ~SLOT.WP;
    if (Atomics.compareExchange(state.slotState, s, st, next) === st) return;
  }
  assert(false, () => `destage: ${state.describeSlot(s)} changed under its track lock ${CLEAR_PENDING_TRIES} times running`);
}

export class DiskAdapter {
  readonly name: string;
  readonly index: number;
  private readonly model: ArrayModel;
  private readonly state: SharedState;
  private readonly log: Log;
  private readonly drives: Map<number, Drive>;
  private readonly peers: Link[] = []; // other disk adapters, by index
  private readonly hostAdapters: Link[] = []; // by index
  private sp?: Link;
  private readonly sessions = new Map<number, Session>();
  private readonly closedSessions = new Set<number>(); // the last CLOSED_SESSIONS_KEPT session ids closed
  private closedSidsBelow = 0; // a replacement: ids below this, not open, closed before it started
  private readonly dirty = new Set<number>(); // slots hinted write-pending, bounded by the slot count
  private readonly deferred = new Set<number>(); // slots whose owner track was locked: retried soon
  private destaging = false;
  private sweepTimer?: Timer;
  private stopped = false;
  /** When this adapter's throttled background copy may start its next track (scheduler ms). */
  private backgroundNextMs = 0;
  private hostFills = 0; // fills asked by host adapters now running: background transfer yields to them
  private readonly hostFillsDone: Array<() => void> = []; // the data transfers waiting for hostFills to reach 0
  readonly counters = { staged: 0, destaged: 0, mirrored: 0, flushes: 0, established: 0, splits: 0, fills: 0, hostFills: 0, slotWaits: 0 };

  private readonly gate: SyncGate;
  /** The host-request count last seen by the throttle, and when it last moved (scheduler ms). */
  private hostOpsSeen = 0;
  private hostOpsAtMs = Number.NEGATIVE_INFINITY;
  /** The write-behind delay now running (instant drives), and how to end it early. */
  private writeBehind?: { timer: Timer; end: () => void };
  /** Buffers stages read into before filling their slot, reused (not one allocation per stage). */
  private readonly stageBuffers: Uint8Array[] = [];
  /** The back-end link this adapter's timed drives share (diskAdapters[i].channelMBps). */
  private channel?: Channel;

  constructor(opts: DiskAdapterOptions) {
    this.gate = new SyncGate(opts.replacement === true);
    this.model = opts.model;
    this.state = opts.state;
    this.index = opts.index;
    this.log = opts.log;
    this.name = opts.model.diskAdapterIds[opts.index]!;
    this.drives = opts.drives ?? this.memoryDrives();
  }

  private memoryDrives(): Map<number, Drive> {
    const out = new Map<number, Drive>();
    this.channel = adapterChannel(this.model.config, this.index);
    this.model.drives.ids.forEach((id, d) => {
      if (this.state.driveOwner[d] !== this.index) return;
      const store = driveStore(this.state, id, d, this.index, this.model.drives.baseTrack[d]!);
      // A timing model (drives[i].model) decides when each access completes; `instant` has none.
      const timing = timingModel(this.model.config.drives.find((x) => x.id === id)?.model);
      out.set(d, timing ? new TimedDrive(store, timing, this.channel) : store);
    });
    return out;
  }

  start(): void {
    this.sweepTimer = sched().every(SWEEP_INTERVAL_MS, () => this.sweep());
    this.sweep(); // a replacement sweeps at its reconf-sync: it finds its predecessor's write pendings then
  }

  stop(): void {
    this.stopped = true;
    this.hurry();
    this.sweepTimer?.cancel();
  }

  attachHostAdapter(index: number, link: Link): void {
    this.hostAdapters[index] = link;
    this.gate.intake(
      link,
      () => this.hostAdapters[index] === link,
      (m) => this.handle(link, m),
    );
  }

  attachPeer(index: number, link: Link): void {
    this.peers[index] = link;
    this.gate.intake(
      link,
      () => this.peers[index] === link,
      (m) => this.handle(link, m),
    );
  }

  attachServiceProcessor(link: Link): void {
    this.sp = link;
    this.gate.intake(
      link,
      () => this.sp === link,
      (m) => this.handle(link, m),
    );
  }

  private handle(link: Link, m: Message): void {
    if (m.t !== 'destage-hint' && m.t !== 'stage') this.hurry(); // flush, fill, reconfiguration: the cache is wanted clean
    switch (m.t) {
      case 'stage':
        void this.stage(link, m.ha, m.reqs);
        return;
      case 'destage-hint':
        for (const s of m.slots) if (s >= 0 && s < this.state.slots) this.dirty.add(s);
        if (this.dirty.size > this.state.slots * WRITE_BEHIND_MAX_DIRTY) this.hurry();
        this.kick();
        return;
      case 'destage-now':
        this.hurry();
        this.sweep();
        return;
      case 'flush':
        void this.flush().then(
          () => link.send({ t: 'flushed', id: m.id }),
          (err) => link.send({ t: 'flushed', id: m.id, error: errorMessage(err) }),
        );
        return;
      case 'fill':
        void this.hostFill(link, m.sid, m.track, m.id);
        return;
      case 'reconf-sync':
        for (const sid of syncSessionsIn(this.sessions, this.model, this.state, m, (spec) => this.openSession(spec))) this.closedSessions.add(sid);
        this.closedSidsBelow = m.closedBelow;
        this.gate.openNow();
        this.sweep();
        return;
      case 'reconf-open':
        this.openSession(m.spec);
        return this.reply(m.spec.sid, 'open');
      case 'bcv-purge':
        return void this.step(m.sid, 'purge', (s) => this.purgeBcv(s));
      case 'establish':
        return void this.step(m.sid, 'establish', (s) => this.establish(s));
      case 'destage-mirror':
        return void this.step(m.sid, 'mirror', (s) => this.destageMirror(s));
      case 'destage-filled':
        return void this.step(m.sid, 'filled', () => this.destageFilled());
      case 'start-split':
        return void this.step(m.sid, 'split', (s) => this.instantSplit(s));
      case 'start-transfer':
        return void this.step(m.sid, 'transfer', (s) => this.dataTransfer(s));
      case 'reconf-close':
        this.sessions.delete(m.sid);
        this.closedSessions.add(m.sid);
        if (this.closedSessions.size > CLOSED_SESSIONS_KEPT) this.closedSessions.delete(this.closedSessions.values().next().value!);
        return this.reply(m.sid, 'close');
      default:
        this.log('warn', `${this.name}: dropped unexpected "${m.t}" message from ${link.peer}`);
    }
  }

  /** A session opens (reconf-open). */
  openSession(spec: SessionSpec): void {
    openSessionIn(this.name, this.sessions, this.model, spec);
  }

  private reply(sid: number, step: ReconfStep, error?: string): void {
    this.sp?.send({ t: 'done', sid, step, actor: this.name, info: this.status(), ...(error ? { error } : {}) });
  }

  private async step(sid: number, step: ReconfStep, fn: (s: Session) => Promise<void>): Promise<void> {
    const session = this.sessions.get(sid);
    if (!session) return this.reply(sid, step, `${this.name}: no session ${sid}`);
    const t0 = sched().now();
    try {
      await fn(session);
      this.log('info', `${this.name}: ${step} of session ${sid} (${session.spec.deviceId}) done in ${(sched().now() - t0).toFixed(1)} ms`);
      this.reply(sid, step);
    } catch (err) {
      this.log('error', `${this.name}: ${step} of session ${sid} failed: ${errorMessage(err)}`);
      this.reply(sid, step, errorMessage(err));
    }
  }

  // ---- drives ---------------------------------------------------------------------------------

  private ownsTrack(g: number): boolean {
    return this.drives.has(this.model.drives.driveOf(g));
  }

  /** The drive and drive-local track of global track `g`, asserting this adapter owns it. */
  private driveTrack(g: number): { drive: Drive; track: number } {
    const d = this.model.drives.driveOf(g);
    const drive = this.drives.get(d);
    assert(drive, () => `${this.name}: asked to touch ${this.model.drives.dch(g)} on a drive it does not own`);
    return { drive, track: g - this.model.drives.baseTrack[d]! };
  }

  /** Read location g; a formatted location (FMT) reads as zeros. */
  private async readLocation(g: number, dst: Uint8Array): Promise<void> {
    const { drive, track } = this.driveTrack(g);
    if (this.state.flag(g, TRACK.FMT)) dst.fill(0);
    else await drive.readTrack(track, dst);
  }

  /** Write a whole track onto location g (it is no longer formatted-as-zeros, and a fill of it is on its drive now). */
  private async writeLocation(g: number, src: Uint8Array): Promise<void> {
    const { drive, track } = this.driveTrack(g);
    await drive.writeTrack(track, src);
    this.state.clearFlag(g, TRACK.FMT | TRACK.FILLPEND);
  }

  /** Tell whichever adapter owns location g that slot s has data pending for it. */
  private hintOwner(g: number, s: number): void {
    const da = this.model.adapterOfTrack(g, this.state.driveOwner);
    if (da === this.index) {
      this.dirty.add(s);
      this.kick();
    } else {
      this.peers[da]?.send({ t: 'destage-hint', slots: [s] });
    }
  }

  // ---- staging and destaging ------------------------------------------------------------------

  /** Read each track into its slot. The requesting host adapter holds the track locked. */
  private async stage(link: Link, ha: number, reqs: Array<{ track: number; slot: number }>): Promise<void> {
    const replies: Array<{ track: number; slot: number; error?: string }> = [];
    const requester = actorId('ha', ha, this.model.config.hostAdapters);
    for (const r of reqs) {
      try {
        assert(r.slot >= 0 && r.slot < this.state.slots, `stage into slot ${r.slot} outside the cache`);
        assert(
          Atomics.load(this.state.slotOwner, r.slot) === r.track && Atomics.load(this.state.trackSlot, r.track) === r.slot,
          () => `${this.name}: stage of track ${r.track} into a slot it does not own (${this.state.describeSlot(r.slot)}; track ${this.state.describeTrack(r.track)})`,
        );
        // Read beside the slot, then fill it only if the requester still holds the track: a host
        // adapter that failed while the drive worked had its locks and unfilled slots taken back,
        // and the slot may belong to another track by now (a drive with a timing model takes ms).
        await this.stageInto(r, requester, ha);
        this.counters.staged++;
        replies.push(r);
      } catch (err) {
        replies.push({ ...r, error: errorMessage(err) });
      }
    }
    link.send({ t: 'staged', reqs: replies });
  }

  /** Read track r.track beside its slot (a reused buffer), then fill the slot if the requester still holds the track. */
  private async stageInto(r: { track: number; slot: number }, requester: number, ha: number): Promise<void> {
    await this.state.passHold('stage');
    const buf = this.stageBuffers.pop() ?? new Uint8Array(this.state.trackBytes);
    try {
      await this.readLocation(r.track, buf);
      const still = lockedBy(this.state, r.track, requester) && Atomics.load(this.state.slotOwner, r.slot) === r.track && Atomics.load(this.state.trackSlot, r.track) === r.slot;
      if (!still)
        throw new ArrayError('ADAPTER_GONE', `stage of track ${r.track}: its requester ${this.hostAdapters[ha]?.peer ?? `HA${ha}`} let the track go while the drive read it`);
      this.state.slotBytes(r.slot).set(buf);
    } finally {
      if (this.stageBuffers.length < STAGE_BUFFERS_KEPT) this.stageBuffers.push(buf);
    }
  }

  private kick(): void {
    if (this.destaging || this.stopped || !this.gate.open) return;
    this.destaging = true;
    sched().defer(() => void this.destageLoop());
  }

  /** Wait out the write-behind delay (instant drives only; ended early by `hurry`). */
  private absorbWrites(): Promise<void> {
    if (this.channel) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const end = () => {
        this.writeBehind?.timer.cancel();
        this.writeBehind = undefined;
        resolve();
      };
      this.writeBehind = { timer: sched().after(WRITE_BEHIND_MS, end, false), end };
    });
  }

  private hurry(): void {
    this.writeBehind?.end();
  }

  private async destageLoop(): Promise<void> {
    try {
      await this.absorbWrites();
      while ((this.dirty.size > 0 || this.deferred.size > 0) && !this.stopped) {
        await pipeline(this.takeDirty(DESTAGE_BATCH), this.destagesInFlight, async (s) => void (await this.destageSlot(s)));
        if (this.dirty.size === 0 && this.deferred.size > 0) {
          await sleep(DEFERRED_RETRY_MS);
          for (const s of this.deferred) this.dirty.add(s);
          this.deferred.clear();
        } else {
          await nextTurn(); // let stage requests in
        }
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.destaging = false;
    }
  }

  /** Up to `most` dirty slots, taken as the destager gets to them (slots hinted meanwhile are taken too). */
  private *takeDirty(most: number): Generator<number> {
    for (let n = 0; n < most && !this.stopped; n++) {
      const next = this.dirty.values().next();
      if (next.done) return;
      this.dirty.delete(next.value);
      yield next.value;
    }
  }

  /** The session whose original layout holds main location g, if any. */
  private sessionOfOriginal(g: number): Session | undefined {
    for (const s of this.sessions.values()) if (s.oInv.get(g) >= 0) return s;
    return undefined;
  }

  private switched(s: Session): boolean {
    return this.state.deviceWord(s.spec.deviceIndex, DEVICE.GENERATION) === s.spec.newGen;
  }

  /**
   * What slot s owes this adapter's drives: WP1 → its owner track; WP2 → the owner's BCV mirror
   * location (an established BCV). WP1 of a location still pending split after the switch is not
   * destaged: that data belongs to the original layout, and split moves it to the BCV.
   */
  private duty(owner: number, st: number): { wp: number; target: number; split?: Session } | undefined {
    if (st & SLOT.WP1 && this.ownsTrack(owner) && !this.state.isHeld('destage-main')) {
      const session = this.state.flag(owner, TRACK.PS) ? this.sessionOfOriginal(owner) : undefined;
      if (!session || !this.switched(session)) return { wp: SLOT.WP1, target: owner };
      // Original-layout data pending on a location not split yet: it must not land there, so the
      // destager splits the location itself (its data moves to the BCV, whose adapter destages
      // it). Waiting for the instant split instead could deadlock a full cache: the instant split
      // may be waiting for a lock whose holder waits for a slot.
      return { wp: SLOT.WP1, target: owner, split: session };
    }
    if (st & SLOT.WP2 && !this.state.isHeld('destage-mirror')) {
      const session = this.sessionOfOriginal(owner);
      if (session?.B) {
        const b = session.bcvOfOriginal(owner);
        if (this.ownsTrack(b)) return { wp: SLOT.WP2, target: b };
      }
    }
    // A held destage (test hook) leaves the slot pending; the periodic sweep finds it again.
    return undefined;
  }

  /** Destage what slot `s` owes this adapter's drives. */
  async destageSlot(s: number): Promise<boolean> {
    const { state } = this;
    const owner = Atomics.load(state.slotOwner, s);
    if (owner === NO_TRACK) return false;
    if (!this.duty(owner, Atomics.load(state.slotState, s))) return false;
    // Never wait for a track lock here: its holder may be waiting for a slot that this destager
    // would free by destaging another one. A busy slot is retried shortly.
    if (!tryLockTrack(state, owner)) {
      this.deferred.add(s);
      return false;
    }
    try {
      // Under the owner's lock the slot cannot be moved, evicted or rewritten.
      if (Atomics.load(state.slotOwner, s) !== owner) return false;
      const st = Atomics.load(state.slotState, s);
      const duty = this.duty(owner, st);
      if (!duty) return false;
      assert(
        Atomics.load(state.trackSlot, owner) === s && st & SLOT.VALID && st & SLOT.WP,
        () => `${this.name}: write-pending ${state.describeSlot(s)} is not the valid slot of track ${owner} (${state.describeTrack(owner)})`,
      );
      if (duty.split) {
        const done = trySplitHoldingBcv(state, duty.split, owner);
        if (!done) {
          this.deferred.add(s); // never wait for a lock here: tried again shortly
          return false;
        }
        this.splitDone(done);
        return true; // the slot now belongs to the BCV track; its adapter was hinted
      }
      await this.writeLocation(duty.target, state.slotBytes(s));
      clearPending(state, s, duty.wp);
      if (duty.wp === SLOT.WP1) this.counters.destaged++;
      else this.counters.mirrored++;
      // The slot may owe this adapter a second duty (main and BCV drive on the same adapter).
      if (this.duty(owner, Atomics.load(state.slotState, s))) this.dirty.add(s);
    } finally {
      unlockTrack(state, owner);
    }
    state.cacheEvent();
    if (this.dirty.size > 0) this.kick();
    return true;
  }

  /** Write-pending slots that owe something to this adapter's drives. */
  private pendingSlots(): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.state.slots; s++) {
      const st = Atomics.load(this.state.slotState, s);
      if (!(st & WPK_ALL)) continue;
      const owner = Atomics.load(this.state.slotOwner, s);
      if (owner !== NO_TRACK && this.duty(owner, st)) out.push(s);
    }
    return out;
  }

  private sweep(): void {
    if (!this.gate.open) return; // a replacement's sessions are not known yet: its duties are not either
    for (const s of this.pendingSlots()) this.dirty.add(s);
    if (this.dirty.size > 0) this.kick();
  }

  /** Destage everything write-pending on this adapter's drives now. */
  async flush(): Promise<void> {
    this.counters.flushes++;
    const deadline = sched().now() + SLOT_WAIT_MS;
    for (let pending = this.pendingSlots(); pending.length > 0; pending = this.pendingSlots()) {
      for (const s of pending) await this.destageSlot(s);
      if (this.pendingSlots().length === 0) break;
      if (sched().now() > deadline) throw new ArrayError('TIMEOUT', `${this.name}: flush: slots still write-pending after ${SLOT_WAIT_MS} ms`);
      await sleep(DEFERRED_RETRY_MS);
    }
  }

  // ---- reconfiguration ------------------------------------------------------------------------

  /**
   * Destage every mirror write (WP2) of session `session`'s device onto this adapter's BCV drives,
   * until none is left (the switch asks with the device's hosts blocked: no new ones come), so the
   * BCV is on its drives before the activation is made durable (R1, DESIGN §10).
   */
  private async destageMirror(session: Session): Promise<void> {
    const mirrorOf = (s: number) => (Atomics.load(this.state.slotState, s) & SLOT.WP2) !== 0 && session.oInv.get(Atomics.load(this.state.slotOwner, s)) >= 0;
    await this.destageUntilNone(mirrorOf, `mirror writes of ${session.spec.deviceId}`);
  }

  /** Destage every filled track still only in cache (FILLPEND) onto this adapter's drives: the completion is made durable after (R5). */
  private async destageFilled(): Promise<void> {
    const filled = (s: number) => {
      const owner = Atomics.load(this.state.slotOwner, s);
      return owner !== NO_TRACK && this.state.flag(owner, TRACK.FILLPEND);
    };
    await this.destageUntilNone(filled, 'filled tracks');
  }

  /** Destage the pending slots that `which` picks until none is left (bounded). */
  private async destageUntilNone(which: (s: number) => boolean, what: string): Promise<void> {
    const deadline = sched().now() + SLOT_WAIT_MS;
    for (let pending = this.pendingSlots().filter(which); pending.length > 0; pending = this.pendingSlots().filter(which)) {
      for (const s of pending) await this.destageSlot(s);
      if (sched().now() > deadline) throw new ArrayError('TIMEOUT', `${this.name}: ${what} still pending after ${SLOT_WAIT_MS} ms`);
      if (this.pendingSlots().some(which)) await sleep(DEFERRED_RETRY_MS); // a slot locked by its holder: tried again shortly
    }
  }

  /** Before ESTABLISH: cached tracks of the BCV on this adapter's drives are about to go stale. */
  private async purgeBcv(session: Session): Promise<void> {
    for (const d of this.drives.keys()) {
      for (const b of session.bcvLocationsOn(d)) {
        await lockTrack(this.state, b);
        try {
          const s = Atomics.load(this.state.trackSlot, b);
          if (s !== NO_SLOT) {
            Atomics.and(this.state.slotState, s, ~(SLOT.WP | WPK_ALL)); // the BCV's old content is given up
            releaseSlot(this.state, b);
          }
          this.state.clearFlag(b, TRACK.FMT);
        } finally {
          unlockTrack(this.state, b);
        }
      }
    }
  }

  /**
   * ESTABLISH (step 104), for the original layout's locations on this adapter's drives: each track
   * goes into cache (if not there) and is marked WP2, so the BCV's adapter destages it to the BCV.
   * Host writes meanwhile set WP2 themselves (the device header's MIRROR word).
   */
  private async establish(session: Session): Promise<void> {
    await this.eachDrive((d) =>
      pipeline(session.mainLocationsOn(d), this.tracksInFlight, async (g) => {
        if (session.oInv.get(g) < 0) return;
        await this.state.passHold('establish');
        await this.backgroundGate();
        const s = await this.establishTrack(g);
        this.hintOwner(session.bcvOfOriginal(g), s);
        this.counters.established++;
      }),
    );
  }

  /**
   * Tracks in flight per drive for ESTABLISH and the data transfer, and destages in flight for the
   * adapter: deep for timed drives (their queues stream), one for instant ones (an access takes no
   * time, so more in flight would only add turns).
   */
  private get tracksInFlight(): number {
    return this.channel ? TRACKS_IN_FLIGHT_PER_DRIVE : 1;
  }

  private get destagesInFlight(): number {
    return this.channel ? Math.min(PIPELINE_LIMIT, DESTAGES_IN_FLIGHT_PER_DRIVE * this.drives.size) : 1;
  }

  /**
   * Before each background track: wait while the copy is paused (as long as it is held; the adapter
   * stopping ends the wait), then keep to the throttle: this adapter's share of the array-wide rate,
   * the minimum while hosts have requests in flight, the maximum while they are idle (md's meaning).
   */
  private async backgroundGate(): Promise<void> {
    const words = this.state.cacheWords;
    while (Atomics.load(words, BACKGROUND.PAUSED) === 1 && !this.stopped) await sleep(PAUSE_POLL_MS);
    const minK = Atomics.load(words, BACKGROUND.MIN_KBPS);
    const maxK = Atomics.load(words, BACKGROUND.MAX_KBPS);
    const busy = this.hostsBusy();
    // Hosts first: with instant drives a background track never leaves the turn on its own, so
    // stages and FIG. 7 fills queued behind it would wait for the whole copy.
    if (busy) await nextTurn();
    if (minK === 0 && maxK === 0) return;
    const kbps = busy && minK > 0 ? minK : maxK;
    if (kbps === 0) return;
    const shareKbps = kbps / this.model.config.diskAdapters.length;
    const now = sched().now();
    this.backgroundNextMs = Math.max(now, this.backgroundNextMs) + this.state.trackBytes / shareKbps; // bytes ÷ KB/s = ms
    if (this.backgroundNextMs > now) await sleep(this.backgroundNextMs - now);
  }

  /**
   * Hosts are busy if a request is in flight now, or if host adapters took any request within the
   * last HOSTS_IDLE_AFTER_MS (a cache hit is served within one turn: seldom seen in flight).
   */
  private hostsBusy(): boolean {
    const ops = Atomics.load(this.state.cacheWords, BACKGROUND.HOST_OPS);
    const now = sched().now();
    if (ops !== this.hostOpsSeen) {
      this.hostOpsSeen = ops;
      this.hostOpsAtMs = now;
    }
    return this.state.hostsBusy() || now - this.hostOpsAtMs < HOSTS_IDLE_AFTER_MS;
  }

  /** Run `fn` for every drive of this adapter at once (each drive streams its own part of a background process). */
  private async eachDrive(fn: (d: number) => Promise<void>): Promise<void> {
    if (this.channel) await Promise.all([...this.drives.keys()].map(fn));
    else for (const d of this.drives.keys()) await fn(d); // instant drives: nothing to overlap
  }

  /**
   * Put track g in cache (staged if not there) and mark it WP2. The wait for a clean slot happens
   * with g unlocked: holding g while waiting could close a cycle with a holder of g that waits for a
   * slot only a destage of g's own data would free.
   */
  private async establishTrack(g: number): Promise<number> {
    const deadline = sched().now() + SLOT_WAIT_MS;
    for (;;) {
      const seen = cacheEvents(this.state);
      await lockTrack(this.state, g);
      try {
        let s = Atomics.load(this.state.trackSlot, g);
        if (s === NO_SLOT) s = tryAllocateSlot(this.state, g);
        if (s !== NO_SLOT) {
          await this.stageIfInvalid(g, s);
          Atomics.or(this.state.slotState, s, SLOT.WP | SLOT.WP2);
          return s;
        }
      } finally {
        unlockTrack(this.state, g);
      }
      if (sched().now() > deadline)
        throw new ArrayError('CACHE_EXHAUSTED', `${this.name}: ESTABLISH of ${this.model.drives.dch(g)}: no clean cache slot within ${SLOT_WAIT_MS} ms`);
      this.counters.slotWaits++;
      this.sweepAll();
      await awaitCacheEvent(this.state, seen, CACHE_WAIT_SLICE_MS);
    }
  }

  /** Read locked track g into its slot s unless s holds it already (a slot just taken is not VALID). */
  private async stageIfInvalid(g: number, s: number): Promise<void> {
    if (Atomics.load(this.state.slotState, s) & SLOT.VALID) return;
    try {
      await this.readLocation(g, this.state.slotBytes(s));
    } catch (err) {
      releaseSlot(this.state, g);
      throw err;
    }
    Atomics.or(this.state.slotState, s, SLOT.VALID);
  }

  /** Ask every adapter (this one included) to destage now: the cache is full. */
  private sweepAll(): void {
    this.sweep();
    for (const p of this.peers) p?.send({ t: 'destage-now' });
  }

  /** The instant split (FIG. 5): every location of O ∪ N on this adapter's drives, in order. */
  private async instantSplit(session: Session): Promise<void> {
    const cursor = splitCursorWord(session.y < 0 ? 0 : session.y, this.index);
    let n = 0;
    for (const d of this.drives.keys()) {
      for (const p of session.mainLocationsOn(d)) {
        await this.state.passHold('split');
        await lockTrack(this.state, p);
        try {
          if (this.state.flag(p, TRACK.PS)) this.splitDone(await splitHoldingBcv(this.state, session, p));
          // The cursor says which locations the process has passed (scenario counting, FIG. 7).
          Atomics.store(this.state.splitCursors, cursor, p + 1);
        } finally {
          unlockTrack(this.state, p);
        }
        if (++n % BACKGROUND_BATCH === 0) await nextTurn();
      }
    }
    Atomics.store(this.state.splitCursors, cursor, SPLIT_CURSOR_DONE);
  }

  /** After a split: count it, and hint the BCV track's adapter of the slot it moved there. */
  private splitDone({ movedSlot, bcvTrack }: SplitResult): void {
    this.counters.splits++;
    if (movedSlot !== NO_SLOT) this.hintOwner(bcvTrack, movedSlot);
  }

  /** The data transfer (FIGS. 6A/6B): every BCV track on this adapter's drives whose PB is set. */
  private async dataTransfer(session: Session): Promise<void> {
    const bInv = session.bInv;
    assert(session.B && bInv, `${this.name}: data transfer of session ${session.spec.sid} without a BCV`);
    await this.eachDrive((d) =>
      pipeline(session.bcvLocationsOn(d), this.tracksInFlight, async (b) => {
        await this.state.passHold('transfer');
        if (this.hostFills > 0) await this.noHostFills(); // host requests have the highest priority
        if (!this.state.pb(b, session.y)) return;
        await this.backgroundGate();
        await this.fill(session, bInv.get(b));
      }),
    );
  }

  /** Resolves once no host fill runs here (the data transfer waits for it instead of spinning). */
  private noHostFills(): Promise<void> {
    return new Promise<void>((resolve) => this.hostFillsDone.push(resolve));
  }

  private hostFillEnded(): void {
    if (--this.hostFills > 0) return;
    for (const wake of this.hostFillsDone.splice(0)) sched().defer(wake);
  }

  /** A host adapter's FIG. 7 "disconnect": fill track t now, then answer ("reconnect"). */
  private async hostFill(link: Link, sid: number, t: number, id: number): Promise<void> {
    this.counters.hostFills++;
    try {
      const session = this.sessions.get(sid);
      if (session) {
        // Test hook: the fill has found its session and holds no lock yet. It does not count as
        // running while held, so the data transfer goes on (and may close the session meanwhile).
        await this.state.passHold('host-fill');
        this.hostFills++;
        try {
          await this.fill(session, t);
        } finally {
          this.hostFillEnded();
        }
      }
      // A closed session filled every track before it closed: the host adapter saw IND just before
      // the data transfer cleared it. Nothing is left to do; any other session id is a bug.
      else assert(this.closedSessions.has(sid) || sid < this.closedSidsBelow, () => `${this.name}: fill for unknown session ${sid}`);
      link.send({ t: 'filled', id });
    } catch (err) {
      link.send({ t: 'filled', id, error: errorMessage(err) });
    }
  }

  /**
   * fill(t) (steps 150-154, 170-175), run by the adapter owning b = B(t): with o, n, b locked (main
   * locations before BCV ones, each in index order): if PS[o] split(o); if PS[n] split(n); if IND[n]
   * copy b → n (through a write-pending slot of n) and clear IND[n]; clear PB[b].
   */
  private async fill(session: Session, t: number): Promise<void> {
    assert(session.B && t >= 0 && t < session.oldTracks, () => `${this.name}: fill of track ${t}, not an old track of session ${session.spec.sid}`);
    const deadline = sched().now() + SLOT_WAIT_MS;
    for (;;) {
      const seen = cacheEvents(this.state);
      if (await this.fillLocked(session, t)) return;
      // No slot for n: wait for one with no lock held (a holder of o may own a write-pending slot
      // that only a destage, which needs o's lock, can free).
      if (sched().now() > deadline) throw new ArrayError('CACHE_EXHAUSTED', `${this.name}: fill of track ${t}: no cache slot within ${SLOT_WAIT_MS} ms`);
      this.counters.slotWaits++;
      this.sweepAll();
      await awaitCacheEvent(this.state, seen, CACHE_WAIT_SLICE_MS);
    }
  }

  /** One attempt at fill(t) under the locks; false if n needed a slot and none was free. */
  private async fillLocked(session: Session, t: number): Promise<boolean> {
    const o = session.O.locate(t);
    const n = session.N.locate(t);
    const b = session.B!.locate(t);
    const main = o === n ? [o] : o < n ? [o, n] : [n, o];
    // A split of n hands n's original data to its own BCV track, which is locked too.
    const bn = splitBcvTrack(session, n);
    const bcv = bn < 0 || bn === b ? [b] : b < bn ? [b, bn] : [bn, b];
    const order = [...main, ...bcv];
    const held: number[] = [];
    try {
      for (const g of order) {
        await lockTrack(this.state, g);
        held.push(g);
      }
      // The session may have closed while this fill waited for its locks (a host fill that queued
      // behind a request stalled on a full cache): every track was filled before it closed, and
      // PB column y may already belong to the next session, whose bits this one must not touch.
      if (!this.sessions.has(session.spec.sid)) return true;
      if (!this.state.pb(b, session.y)) return true; // filled meanwhile
      // (TEST_FAULT.BROKEN_FILL skips split(o), to prove the stress run catches it.)
      if (this.state.flag(o, TRACK.PS) && !this.state.testFault('BROKEN_FILL')) this.splitDone(split(this.state, session, o));
      if (this.state.flag(n, TRACK.PS)) this.splitDone(split(this.state, session, n));
      if (this.state.flag(n, TRACK.IND)) {
        // A slot on n while IND is set: a failed predecessor copied b to n and stopped before
        // clearing IND (nothing else attaches a slot to an IND location). That copy stands.
        const done = Atomics.load(this.state.trackSlot, n);
        if (done !== NO_SLOT) {
          assert(
            (Atomics.load(this.state.slotState, done) & (SLOT.VALID | SLOT.WP1)) === (SLOT.VALID | SLOT.WP1),
            () => `fill: IND location ${this.model.drives.dch(n)} holds a slot that no fill made (${this.state.describeSlot(done)}; ${this.state.describeTrack(n)})`,
          );
        } else if (!(await this.copyBcvToMain(b, n))) return false;
        this.filled(n);
      }
      Atomics.and(this.state.trackPb, b, ~(1 << session.y));
      this.counters.fills++;
      return true;
    } finally {
      for (const g of held.reverse()) unlockTrack(this.state, g);
    }
  }

  /**
   * Clear IND[n]: n's data is in a write-pending slot, so FILLPEND is set in the same atomic step
   * and stays until n's drive is written (the durable store keeps IND set until then: R3).
   */
  private filled(n: number): void {
    const keep = this.state.testFault('EARLY_IND_CLEAR') ? 0 : TRACK.FILLPEND;
    for (let i = 0; i < CLEAR_PENDING_TRIES; i++) {
      const f = Atomics.load(this.state.trackFlags, n);
      if (Atomics.compareExchange(this.state.trackFlags, n, f, (f & ~TRACK.IND) | keep) === f) return;
    }
    assert(false, () => `fill: flags of ${this.model.drives.dch(n)} changed under its lock ${CLEAR_PENDING_TRIES} times running (${this.state.describeTrack(n)})`);
  }

  /** Copy BCV track b to main location n through the cache: n gets a write-pending slot (WP1). False: no slot free. */
  private async copyBcvToMain(b: number, n: number): Promise<boolean> {
    const { state } = this;
    assert(Atomics.load(state.trackSlot, n) === NO_SLOT, () => `fill: IND location ${this.model.drives.dch(n)} holds a slot (${state.describeTrack(n)})`);
    let s = Atomics.load(state.trackSlot, b);
    if (s !== NO_SLOT) {
      // The BCV track is in cache (split moved pending data there): keep the BCV's point-in-time
      // image on its drive, then hand the slot itself to n.
      if (Atomics.load(state.slotState, s) & SLOT.WP1) await this.writeLocation(b, state.slotBytes(s));
      moveSlot(state, s, b, n, SLOT.VALID | SLOT.WP | SLOT.WP1);
    } else {
      s = tryAllocateSlot(state, n);
      if (s === NO_SLOT) return false;
      try {
        await this.readLocation(b, state.slotBytes(s));
      } catch (err) {
        releaseSlot(state, n);
        throw err;
      }
    }
    Atomics.store(state.slotState, s, SLOT.VALID | SLOT.WP | SLOT.WP1);
    state.cacheEvent();
    this.hintOwner(n, s);
    return true;
  }

  private fail(err: unknown): void {
    this.log('error', `${this.name}: stopping: ${errorMessage(err)}`);
    this.stop();
    throw err;
  }

  status(): Record<string, number> {
    return { ...this.counters, ...this.driveTiming(), dirtyHints: this.dirty.size, drives: this.drives.size, sessions: this.sessions.size };
  }

  /** What this adapter's timed drives and back-end link did, summed (ms rounded to µs): all zero for instant drives. */
  private driveTiming(): Record<string, number> {
    const t = { driveHits: 0, driveMediaAccesses: 0, driveSeekMs: 0, driveRotationMs: 0, driveTransferMs: 0, driveQueued: 0, channelBusyMs: this.channel?.busyMs ?? 0 };
    for (const d of this.drives.values()) {
      if (!(d instanceof TimedDrive)) continue;
      const c = d.model.counters;
      t.driveHits += c.hits;
      t.driveMediaAccesses += c.mediaAccesses;
      t.driveSeekMs += c.seekMs;
      t.driveRotationMs += c.rotationMs;
      t.driveTransferMs += c.transferMs;
      t.driveQueued += d.queued;
    }
    for (const k of ['driveSeekMs', 'driveRotationMs', 'driveTransferMs', 'channelBusyMs'] as const) t[k] = Math.round(t[k] * 1000) / 1000;
    return t;
  }
}
