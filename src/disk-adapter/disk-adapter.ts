// The disk adapter: sole owner of its drives. Stages tracks into cache slots on request, destages
// write-pending slots in the background (host requests first), flushes on request — and, for a
// reconfiguration session, copies its main drives onto the BCV (ESTABLISH), runs the instant split
// (FIG. 5) over its main drives and the data transfer (FIGS. 6A/6B) over its BCV drives, and fills
// tracks on a host adapter's request (FIG. 7).
import { type Link, type Log, logDropped } from '../shared/links/link.ts';
import type { Message, ReconfStep } from '../shared/links/messages.ts';
import type { ArrayModel } from '../shared/model/model.ts';
import { NO_TRACK, SLOT, TRACK, WPB_ALL, type SharedState } from '../shared/tables/memory.ts';
import { tryLockTrack, unlockTrack } from '../shared/tables/track-lock.ts';
import { errorMessage } from '../shared/errors/errors.ts';
import { trySplitHoldingBcv } from '../shared/restripe/split.ts';
import { closeSessionIn, openSessionIn, syncSessionsIn } from '../shared/restripe/session.ts';
import { Session, type SessionSpec } from '../shared/restripe/session.ts';
import { SyncGate } from '../shared/links/sync-gate.ts';
import { flushOwed } from './flush.ts';
import { noteDroppedCopy, RoomAsker, writeCopy, writeCopyAfterRoom } from './copies.ts';
import { WriteBehind } from './write-behind.ts';
import { scrubPosition, type ScrubPart } from './scrub.ts';
import { rebuildPart, type RebuildContext } from './rebuild.ts';
import { DriveFault } from '../shared/drive-states/drive-state.ts';
import { assert } from '../shared/errors/assert.ts';
import type { Drive } from '../drives/store.ts';
import { adapterDrives, type DirectCopier } from '../drives/adapter-drives.ts';
import { drivesTiming } from '../drives/timing/timed-drive.ts';
import type { Channel } from '../drives/timing/channel.ts';
import { nextTurn, sched, sleep, type Timer } from '../shared/sched/sched.ts';
import { pipeline } from './pipeline.ts';
import { Restripe } from './restripe.ts';
import { assertStepPhase, clearPending, destagesInFlight, destageUntilNone, pendingSlots } from './duty.ts';
import { slotDuty, type DutyContext } from './duty.ts';
import { Stager } from './stager.ts';
import { Locations } from './locations.ts';
import { BackgroundThrottle } from './throttle.ts';
import { hasFlag, markSlotClean, slotDirtyOf, slotOf, slotOwnerOf, slotStateOf } from '../shared/tables/tables.ts';

/** Slots destaged per round before the destager yields a turn to staging (host requests come first). */
const DESTAGE_BATCH = 256;
/** Session ids remembered after they close (a late FIG. 7 fill for one is answered at once). */
const CLOSED_SESSIONS_KEPT = 64;
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
  readonly counters = {
    staged: 0,
    stagedBytes: 0,
    destaged: 0,
    mirrored: 0,
    flushes: 0,
    established: 0,
    splits: 0,
    fills: 0,
    hostFills: 0,
    slotWaits: 0,
    directCopies: 0,
    /** Copies not written because their drive had failed (another mirror carries the track). */
    copiesDropped: 0,
    /** Destages put off because the drive cache held no track durable yet (a data dir's drives). */
    roomWaits: 0,
    /** Stale copies of a drive being rebuilt that this adapter read and made pending for the spare. */
    rebuildCopies: 0,
  };

  private readonly gate: SyncGate;
  /** The write-behind delay (instant drives). */
  private readonly writeBehind = new WriteBehind(WRITE_BEHIND_MS);
  /** Asks the service processor for a commit when the drive cache has no room for a destage. */
  private readonly room = new RoomAsker(
    () => this.sp?.send({ t: 'room-wanted', actor: this.name }),
    () => this.counters.roomWaits++,
    () => this.state.buffers.sparseWords,
  );
  /** The back-end link this adapter's timed drives share (diskAdapters[i].channelMBps). */
  private channel?: Channel;
  /** ESTABLISH, the instant split, the data transfer and fill: this adapter's part of each session. */
  private readonly restripe: Restripe;
  private readonly stager: Stager;
  private readonly locations: Locations;
  private readonly rebuildContext: RebuildContext;
  /** What a slot's destage duty depends on (this adapter's drives and sessions). */
  private readonly dutyContext: DutyContext;

  constructor(opts: DiskAdapterOptions) {
    this.gate = new SyncGate(opts.replacement === true);
    this.model = opts.model;
    this.state = opts.state;
    this.index = opts.index;
    this.log = opts.log;
    this.name = opts.model.diskAdapterIds[opts.index]!;
    let direct: DirectCopier | undefined; // none for a test's drives: never copied around them
    if (opts.drives) this.drives = opts.drives;
    else ({ drives: this.drives, channel: this.channel, direct } = adapterDrives(this.model, this.state, this.index));
    this.locations = new Locations(this.name, this.model, this.state, this.drives);
    const { name, model, state, counters, sessions } = this;
    const ownsTrack = (g: number) => this.ownsTrack(g);
    this.stager = new Stager({
      ...{ name, model, state, counters },
      readLocation: (g, dst, range) => this.locations.read(g, dst, range),
      blockBytes: (g) => this.locations.blockBytes(g),
      requesterName: (ha) => this.hostAdapters[ha]?.peer ?? `HA${ha}`,
    });
    this.dutyContext = { state, model, sessions, ownsTrack };
    // What the rebuild and the restripe processes use of this adapter (rebuild.ts, restripe.ts).
    const common = {
      ...{ name, model, state, counters, sessions, ownsTrack },
      throttle: new BackgroundThrottle(state, model, () => this.stopped),
      hintOwner: (g: number, s: number) => this.hintOwner(g, s),
      readLocation: (g: number, dst: Uint8Array) => this.locations.read(g, dst),
    };
    this.rebuildContext = common;
    this.restripe = new Restripe({
      ...common,
      ...{ index: this.index, drives: this.drives, channel: this.channel, closedSessions: this.closedSessions },
      closedSidsBelow: () => this.closedSidsBelow,
      // A failed drive's copy is dropped; one written (or copied directly) has its track's checksum noted.
      writeLocation: async (g, src) => void (await writeCopyAfterRoom(this.locations, g, src, () => this.room.ask())),
      copyDirect: (src, dst) => !!direct?.copy(src, dst),
      copySpan: (src, dst, count) => !!direct?.copySpan(src, dst, count),
      sweepAll: () => this.sweepAll(),
    });
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
    this.intake(link, () => this.hostAdapters[index] === link);
  }

  attachPeer(index: number, link: Link): void {
    this.peers[index] = link;
    this.intake(link, () => this.peers[index] === link);
  }

  attachServiceProcessor(link: Link): void {
    this.sp = link;
    this.intake(link, () => this.sp === link);
  }

  /** Messages over `link` are handled while it is still `current` (a replaced peer's late ones are not). */
  private intake(link: Link, current: () => boolean): void {
    this.gate.intake(link, current, (m) => this.handle(link, m));
  }

  private handle(link: Link, m: Message): void {
    if (m.t !== 'destage-hint' && m.t !== 'stage') this.hurry(); // flush, fill, reconfiguration: the cache is wanted clean
    switch (m.t) {
      case 'stage':
        void this.stager.stage(link, m.ha, m.reqs);
        return;
      case 'destage-hint':
        for (const s of m.slots) {
          assert(
            s >= 0 && s < this.state.slots,
            () => `${this.name}: destage hint from ${link.peer} names slot ${s} of ${this.state.slots}`,
          );
          this.dirty.add(s);
        }
        if (this.dirty.size > this.state.slots * WRITE_BEHIND_MAX_DIRTY) this.hurry();
        this.kick();
        return;
      case 'destage-now':
        this.hurry();
        this.sweep();
        return;
      case 'flush':
        void this.flush(m.slots).then(
          () => link.send({ t: 'flushed', id: m.id }),
          (err) => link.send({ t: 'flushed', id: m.id, error: errorMessage(err) }),
        );
        return;
      case 'fill':
        void this.restripe.hostFill(link, m.sid, m.track, m.id);
        return;
      case 'reconf-sync':
        for (const sid of syncSessionsIn(this.sessions, this.model, this.state, m, (spec) => this.openSession(spec)))
          this.closedSessions.add(sid);
        this.closedSidsBelow = m.closedBelow;
        this.gate.openNow();
        this.sweep();
        return;
      case 'reconf-open':
        this.openSession(m.spec);
        return this.reply(m.spec.sid, 'open');
      case 'bcv-purge':
        return void this.step(m.sid, 'purge', (s) => this.restripe.purgeBcv(s));
      case 'establish':
        return void this.step(m.sid, 'establish', (s) => this.restripe.establish(s, m.fromCopies), m.attempt);
      case 'destage-mirror':
        return void this.step(m.sid, 'mirror', (s) => this.destageMirror(s));
      case 'destage-filled':
        return void this.step(m.sid, 'filled', () => this.destageFilled());
      case 'start-split':
        return void this.step(m.sid, 'split', (s) => this.restripe.instantSplit(s));
      case 'start-transfer':
        return void this.step(m.sid, 'transfer', (s) => this.restripe.dataTransfer(s, m.fromCopies), m.attempt);
      case 'reconf-close':
        closeSessionIn(this.sessions, this.model, m.sid);
        this.closedSessions.add(m.sid);
        if (this.closedSessions.size > CLOSED_SESSIONS_KEPT)
          this.closedSessions.delete(this.closedSessions.values().next().value!);
        return this.reply(m.sid, 'close');
      default:
        logDropped(this.log, this.name, m, link);
    }
  }

  /** A session opens (reconf-open). */
  openSession(spec: SessionSpec): void {
    openSessionIn(this.name, this.sessions, this.model, spec);
  }

  private reply(sid: number, step: ReconfStep, error?: unknown, attempt?: number): void {
    const fault = error instanceof DriveFault ? { driveFault: true } : {};
    const extra = { ...(error ? { error: errorMessage(error), ...fault } : {}), ...(attempt ? { attempt } : {}) };
    this.sp?.send({ t: 'done', sid, step, actor: this.name, info: this.status(), ...extra });
  }

  private async step(
    sid: number,
    step: ReconfStep,
    fn: (s: Session) => Promise<void>,
    attempt?: number,
  ): Promise<void> {
    const session = this.sessions.get(sid);
    if (!session) return this.reply(sid, step, `${this.name}: no session ${sid}`, attempt);
    assertStepPhase(this.state, this.name, session, step);
    const t0 = sched().now();
    try {
      await fn(session);
      this.log(
        'info',
        `${this.name}: ${step} of session ${sid} (${session.spec.deviceId}) done in ${(sched().now() - t0).toFixed(1)} ms`,
      );
      this.reply(sid, step, undefined, attempt);
    } catch (err) {
      // A drive's fault is the array's to handle (ESTABLISH is asked again: DESIGN §14), not a failure of this adapter.
      this.log(
        err instanceof DriveFault ? 'warn' : 'error',
        `${this.name}: ${step} of session ${sid} failed: ${errorMessage(err)}`,
      );
      this.reply(sid, step, err, attempt);
    }
  }

  // ---- drives ---------------------------------------------------------------------------------

  private ownsTrack(g: number): boolean {
    return this.locations.owns(g);
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

  private kick(): void {
    if (this.destaging || this.stopped || !this.gate.open) return;
    this.destaging = true;
    sched().defer(() => void this.destageLoop());
  }

  private hurry(): void {
    this.writeBehind.hurry();
  }

  private async destageLoop(): Promise<void> {
    try {
      await (this.channel ? Promise.resolve() : this.writeBehind.wait()); // (timed drives: no delay)
      while ((this.dirty.size > 0 || this.deferred.size > 0) && !this.stopped) {
        await pipeline(
          this.takeDirty(DESTAGE_BATCH),
          destagesInFlight(this.channel !== undefined, this.drives.size),
          async (s) => void (await this.destageSlot(s)),
        );
        if (this.dirty.size === 0 && this.deferred.size > 0) {
          await sleep(this.room.retryMs());
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

  /** Destage what slot `s` owes this adapter's drives. */
  async destageSlot(s: number): Promise<boolean> {
    const { state } = this;
    const owner = slotOwnerOf(state, s);
    if (owner === NO_TRACK) return false;
    if (!slotDuty(this.dutyContext, owner, slotStateOf(state, s))) return false;
    // Never wait for a track lock here: its holder may be waiting for a slot that this destager
    // would free by destaging another one. A busy slot is retried shortly.
    if (!tryLockTrack(state, owner)) {
      this.deferred.add(s);
      return false;
    }
    try {
      // Under the owner's lock the slot cannot be moved, evicted or rewritten.
      if (slotOwnerOf(state, s) !== owner) return false;
      const st = slotStateOf(state, s);
      const duty = slotDuty(this.dutyContext, owner, st);
      if (!duty) return false;
      assert(
        slotOf(state, owner) === s && st & SLOT.VALID && st & SLOT.WP,
        () =>
          `${this.name}: write-pending ${state.describeSlot(s)} is not the valid slot of track ${owner} (${state.describeTrack(owner)})`,
      );
      if (duty.split) {
        const done = trySplitHoldingBcv(state, duty.split, owner);
        if (!done) {
          this.deferred.add(s); // never wait for a lock here: tried again shortly
          return false;
        }
        this.restripe.splitDone(done);
        return true; // the slot now belongs to the BCV track; its adapter was hinted
      }
      const own = duty.target === owner; // to its own location: only what hosts changed (its dirty range)
      const dirty = own ? slotDirtyOf(state, s) : undefined;
      const wrote = !duty.unwritten && (await writeCopy(this.locations, duty.target, state.slotBytes(s), dirty));
      if (wrote === 'no-room') {
        this.deferred.add(s); // tried again once a commit has let durable tracks go
        this.room.ask();
        return false;
      }
      if (wrote) {
        if (own) markSlotClean(state, s);
        if (duty.wp === SLOT.WP1) this.counters.destaged++;
        else this.counters.mirrored++;
      } else {
        this.counters.copiesDropped++;
        noteDroppedCopy(this.name, this.model, this.state, this.log, { owner, target: duty.target });
      }
      clearPending(state, s, duty.wp);
      // The slot may owe this adapter a second duty (main and BCV drive on the same adapter).
      if (slotDuty(this.dutyContext, owner, slotStateOf(state, s))) this.dirty.add(s);
    } finally {
      unlockTrack(state, owner);
    }
    state.cacheEvent();
    if (this.dirty.size > 0) this.kick();
    return true;
  }

  private sweep(): void {
    if (!this.gate.open) return; // a replacement's sessions are not known yet: its duties are not either
    for (const s of pendingSlots(this.dutyContext)) this.dirty.add(s);
    if (this.dirty.size > 0) this.kick();
  }

  /** Destage what `slots` (without them: every slot write-pending now) owe this adapter's drives (flush.ts). */
  async flush(slots?: readonly number[]): Promise<void> {
    await this.gate.opened(); // asked by a call (a rebuild round), not a message: a replacement waits for its sync
    this.counters.flushes++;
    await flushOwed(this.dutyContext, (s) => this.destageSlot(s), this.name, slots);
  }

  // ---- reconfiguration ------------------------------------------------------------------------

  /**
   * Destage every mirror write (WPB) of session `session`'s device onto this adapter's BCV drives,
   * until none is left (the switch asks with the device's hosts blocked: no new ones come), so the
   * BCV is on its drives before the activation is made durable (R1, DESIGN §10).
   */
  private async destageMirror(session: Session): Promise<void> {
    // Every copy of the BCV (WPB and a mirrored BCV's WPBk): a switch made durable with a BCV mirror's
    // copy only in cache loses the track at a restart once the BCV's own copy's drive fails.
    const mirrorOf = (s: number) =>
      (slotStateOf(this.state, s) & WPB_ALL) !== 0 && session.oInv.get(slotOwnerOf(this.state, s)) >= 0;
    await this.destageUntilNone(mirrorOf, `mirror writes of ${session.spec.deviceId}`);
  }

  /** Destage every filled track still only in cache (FILLPEND) onto this adapter's drives: the completion is made durable after (R5). */
  private async destageFilled(): Promise<void> {
    const filled = (s: number) => {
      const owner = slotOwnerOf(this.state, s);
      return owner !== NO_TRACK && hasFlag(this.state, owner, TRACK.FILLPEND);
    };
    await this.destageUntilNone(filled, 'filled tracks');
  }

  /** Destage the pending slots that `which` picks until none is left (bounded). */
  private destageUntilNone(which: (s: number) => boolean, what: string): Promise<void> {
    return destageUntilNone(this.dutyContext, (s) => this.destageSlot(s), which, `${this.name}: ${what}`);
  }

  /** This adapter's part of rebuilding drive position `d` onto the spare in its place (rebuild.ts). */
  async rebuild(d: number): Promise<number> {
    await this.gate.opened(); // a replacement knows the sessions (its duties) only after its reconf-sync
    return rebuildPart(this.rebuildContext, d).finally(() => this.hurry());
  }

  /** This adapter's part of a scrub: the copies on drive position `d` (scrub.ts), once it knows the sessions (whose tracks it skips). */
  readonly scrub = (d: number, deviceId?: string): Promise<ScrubPart> =>
    this.gate.opened().then(() => scrubPosition(this.rebuildContext, d, deviceId));

  /** Ask every adapter (this one included) to destage now: the cache is full. */
  private sweepAll(): void {
    this.sweep();
    for (const p of this.peers) p?.send({ t: 'destage-now' });
  }

  private fail(err: unknown): void {
    this.log('error', `${this.name}: stopping: ${errorMessage(err)}`);
    this.stop();
    throw err;
  }

  status(): Record<string, number> {
    return {
      ...this.counters,
      ...drivesTiming(this.drives.values(), this.channel),
      dirtyHints: this.dirty.size,
      drives: this.drives.size,
      sessions: this.sessions.size,
    };
  }
}
