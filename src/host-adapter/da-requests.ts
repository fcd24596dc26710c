// A host adapter's requests to the disk adapters (DESIGN §1): stage a track into a slot, fill a
// track for FIG. 7, flush; each bounded by ADAPTER_WAIT_MS, each asked again of a replacement (all
// idempotent); and the write-pending hints, batched once per turn.
import { type Link, type Log, logDropped } from '../shared/links/link.ts';
import type { ByteRange, Message, StageRequest } from '../shared/links/messages.ts';
import type { ArrayModel } from '../shared/model/model.ts';
import type { SharedState } from '../shared/tables/memory.ts';
import type { Session } from '../shared/restripe/session.ts';
import { assert } from '../shared/errors/assert.ts';
import { sched } from '../shared/sched/sched.ts';
import { arrayIsTimed } from '../shared/cost/cost.ts';
import { PendingRequests } from '../shared/links/pending.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { copyReadable, DriveFault, readableCopyOf } from '../shared/drive-states/drive-state.ts';
import { NO_TRACK, SLOT, TRACK, WPB_ALL, wpOfMirror } from '../shared/tables/memory.ts';
import { hasFlag, markSlotValid, orSlotState, slotOwnerOf, slotStateOf } from '../shared/tables/tables.ts';

/** Longest a stage, fill or flush may take at a disk adapter before the request fails. */
export const ADAPTER_WAIT_MS = 30_000;
/**
 * With instant drives, write-pending hints are gathered this long (ms; Scheduler.gather: the next
 * turn under the seeded scheduler): a disk adapter waits out its write-behind delay (20 ms) before
 * it destages anyway, and a hint message per disk adapter per turn cost the host adapter's thread
 * 17% of its time under 4 KiB writes (gathered: +30% writes/s). Each gathered batch still wakes a
 * sleeping disk-adapter thread: ~55 µs of this thread's CPU each, measured under fio 64 KiB randrw
 * with NBD in this thread (8.9% of it at 2 ms: ~400 batches a second per disk adapter). At 10 ms,
 * half the write-behind delay, a disk adapter is woken by hints at most 100 times a second. With
 * timed drives each hint leaves at the end of its turn (when a destage starts is part of the model).
 */
export const HINT_BATCH_MS = 10;

/** What a wait carries: the disk adapter asked, and what (sent again if that adapter is replaced meanwhile). */
interface Asked {
  da: number;
  msg: Message;
}

export interface DiskAdapterRequestsContext {
  readonly name: string;
  readonly index: number;
  readonly model: ArrayModel;
  readonly state: SharedState;
  readonly log: Log;
}

/** No copy of M1 location g could be read: a clear error naming the track, never garbage served. */
function lostTrack(model: ArrayModel, g: number, why: string): ArrayError {
  return new ArrayError('DATA_LOST', `track ${model.drives.dch(g)}: no copy could be read (${why})`);
}

/** Times a host's fill is asked in all while drive faults fail it (each routed to a copy readable then). */
const FILL_TRIES = 3;

export class DiskAdapterRequests {
  /** Reads served by a mirror other than M1, and copies rewritten after a media error. */
  readonly counters = { mirrorReads: 0, mediaRepairs: 0 };
  private readonly diskAdapters: Link[] = [];
  private readonly stageWaiters = new PendingRequests<ByteRange | undefined, Asked>(); // by slot; the bytes read (none: all)
  private readonly flushWaiters = new PendingRequests<void, Asked>();
  private readonly fillWaiters = new PendingRequests<void, Asked>();
  private nextFillId = 1;
  private nextFlushId = 1;
  private readonly hints: number[][] = []; // per disk adapter: slots made write-pending since the last batch left
  private hintsScheduled = false;

  constructor(
    private readonly ctx: DiskAdapterRequestsContext,
    /** How the adapter takes messages on a link (its sync gate). */
    private readonly intake: (link: Link, current: () => boolean, handle: (m: Message) => void) => void,
  ) {}

  /**
   * Link to disk adapter `daIndex`. A second call means that adapter was replaced: what it was asked
   * and has not answered is asked again of its successor (stage, fill and flush are idempotent), and
   * late answers over the old link are ignored.
   */
  attach(daIndex: number, link: Link): void {
    const replaced = this.diskAdapters[daIndex] !== undefined;
    this.diskAdapters[daIndex] = link;
    this.hints[daIndex] ??= [];
    this.intake(
      link,
      () => this.diskAdapters[daIndex] === link,
      (m) => this.onMessage(link, m),
    );
    if (!replaced) return;
    for (const table of [this.stageWaiters, this.fillWaiters, this.flushWaiters]) {
      for (const [, w] of table.waiting()) if (w.da === daIndex) link.send(w.msg);
    }
  }

  /** An answer from a disk adapter: the stage, fill or flush it settles. */
  private onMessage(link: Link, m: Message): void {
    if (m.t === 'staged') {
      for (const r of m.reqs) {
        const answer = r.error
          ? r.fault
            ? new DriveFault(r.fault, `${r.error} (at ${link.peer})`)
            : new ArrayError('ADAPTER_GONE', `stage of track ${r.track} failed at ${link.peer}: ${r.error}`)
          : r.lo === undefined || r.hi === undefined
            ? undefined
            : ([r.lo, r.hi] as const);
        if (!this.stageWaiters.settle(r.slot, answer)) {
          this.ctx.log('warn', `${this.ctx.name}: "staged" for slot ${r.slot} that nobody awaits, from ${link.peer}`);
        }
      }
    } else if (m.t === 'filled') {
      if (m.error && m.fault) this.fillWaiters.settle(m.id, new DriveFault(m.fault, `${m.error} (at ${link.peer})`));
      else this.settle(this.fillWaiters, m.id, m.error, `fill failed at ${link.peer}`);
    } else if (m.t === 'flushed') {
      this.settle(this.flushWaiters, m.id, m.error, `flush failed at ${link.peer}`);
    } else {
      logDropped(this.ctx.log, this.ctx.name, m, link);
    }
  }

  /** Resolve (or, with an error, reject) the wait `key` of `table`; false if nobody waits. */
  private settle(table: PendingRequests<void, Asked>, key: number, error: string | undefined, what: string): boolean {
    return table.settle(key, error ? new ArrayError('ADAPTER_GONE', `${what}: ${error}`) : undefined);
  }

  /** FIG. 7's disconnect: ask the adapter owning B(t) to fill track t, and wait for its answer (the reconnect). */
  async requestFill(session: Session, t: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.requestFillOnce(session, t);
      } catch (err) {
        // A drive failed under the fill (it was routed before): again, to a copy readable now.
        if (!(err instanceof DriveFault) || attempt >= FILL_TRIES) throw err;
      }
    }
  }

  private requestFillOnce(session: Session, t: number): Promise<void> {
    // A mirrored BCV's track is filled by the adapter serving a copy of it that can be read.
    const b = readableCopyOf(this.ctx.model, this.ctx.state, session.B!.locate(t));
    const da = this.ctx.model.adapterOfTrack(b, this.ctx.state.driveOwner);
    const link = this.diskAdapters[da];
    assert(link, () => `${this.ctx.name}: no link to disk adapter #${da} owning BCV track ${session.drives.dch(b)}`);
    const id = this.nextFillId++;
    return this.ask(da, this.fillWaiters, id, {
      t: 'fill',
      sid: session.spec.sid,
      track: t,
      id,
    });
  }

  /**
   * Destage what write-pending `slots` owe, at the disk adapters that may owe it: with no session
   * open and no slot pending for a BCV, the adapters of the slots' tracks and their mirrors (a FLUSH
   * after one write wakes one disk-adapter thread, not all: each wake-up of a sleeping thread is most
   * of a flush's time here); otherwise, or when `everyAdapter`, all of them.
   */
  async flush(slots: number[], everyAdapter: boolean): Promise<void> {
    const targets = everyAdapter ? undefined : this.flushTargets(slots);
    const waits = this.diskAdapters.map((link, da) => {
      if (targets && !targets.has(da)) return undefined;
      const id = this.nextFlushId++;
      return this.ask(da, this.flushWaiters, id, { t: 'flush', id, slots });
    });
    await Promise.all(waits);
  }

  /** The disk adapters owning a copy of one of `slots`' tracks; undefined (all of them) if any slot owes a BCV. */
  private flushTargets(slots: number[]): Set<number> | undefined {
    const { model, state } = this.ctx;
    const out = new Set<number>();
    for (const s of slots) {
      const owner = slotOwnerOf(state, s);
      if (owner === NO_TRACK) continue; // let go since it was listed: nothing owed
      if (slotStateOf(state, s) & WPB_ALL) return undefined;
      for (const loc of model.copiesOf(owner)) out.add(model.adapterOfTrack(loc, state.driveOwner));
    }
    return out;
  }

  /** Ask every disk adapter to destage now: the cache is full. */
  askDestage(): void {
    this.diskAdapters.forEach((l) => l.send({ t: 'destage-now' }));
  }

  /**
   * Stage track g into `slot`: bytes `range` of it only, if given (a partial stage). Resolves with the
   * bytes read (rounded out to the drive's block), or with undefined when the whole track was.
   *
   * A mirrored track is read from one of its copies on a drive that has not failed: the copy
   * `g mod healthy copies`, so random reads spread evenly over the mirrors and a sequential stream
   * alternates between them track by track (DESIGN §14). A copy that fails (a media error, or its drive
   * failed meanwhile) is passed over for the next; once one serves, the whole track is in the slot and
   * every copy that gave a media error is made write-pending from it (md's read-error correction).
   */
  async stage(g: number, slot: number, range?: ByteRange): Promise<ByteRange | undefined> {
    const { model, state } = this.ctx;
    if (hasFlag(state, g, TRACK.LOST)) throw lostTrack(model, g, 'every copy was on a failed drive');
    if (!model.mirrored(g)) return this.stageFrom(g, g, slot, range); // one copy: no list
    const healthy = model
      .copiesOf(g)
      .flatMap((loc, i) => (copyReadable(state, model.drives.driveOf(loc), loc) ? [{ loc, k: i + 1 }] : []));
    const first = g % Math.max(1, healthy.length);
    const bad: number[] = [];
    const errors: string[] = [];
    for (let i = 0; i < healthy.length; i++) {
      const c = healthy[(first + i) % healthy.length]!;
      try {
        const read = await this.stageFrom(g, c.loc, slot, bad.length > 0 ? undefined : range);
        if (bad.length > 0) this.repair(g, slot, bad);
        if (c.k !== 1) this.counters.mirrorReads++;
        return read;
      } catch (err) {
        if (!(err instanceof DriveFault)) throw err;
        errors.push(err.message);
        if (err.fault === 'media') bad.push(c.k);
      }
    }
    throw lostTrack(model, g, errors.length > 0 ? errors.join('; ') : 'every copy is on a failed drive');
  }

  /**
   * Slot `slot` of locked track g holds the whole track, read from a good copy: make it pending for
   * each mirror in `bad` (a media error), so their adapters write the track back over the bad one.
   */
  private repair(g: number, slot: number, bad: number[]): void {
    markSlotValid(this.ctx.state, slot);
    let bits = SLOT.WP;
    for (const k of bad) bits |= wpOfMirror(k);
    orSlotState(this.ctx.state, slot, bits);
    for (const k of bad) this.hint(k === 1 ? g : this.ctx.model.mirrorLocation(g, k), slot);
    this.counters.mediaRepairs += bad.length;
  }

  /** Stage copy `from` of track g into `slot` through the disk adapter owning `from`. */
  private stageFrom(g: number, from: number, slot: number, range?: ByteRange): Promise<ByteRange | undefined> {
    const da = this.ctx.model.adapterOfTrack(from, this.ctx.state.driveOwner);
    const link = this.diskAdapters[da];
    assert(link, () => `${this.ctx.name}: no link to disk adapter #${da} owning ${this.ctx.model.drives.dch(from)}`);
    const req: StageRequest = { track: g, slot }; // one object a stage, its optional fields only when set
    if (from !== g) req.from = from;
    if (range) {
      req.lo = range[0];
      req.hi = range[1];
    }
    return this.ask(da, this.stageWaiters, slot, { t: 'stage', ha: this.ctx.index, reqs: [req] });
  }

  /** What an ask asked, as its errors name it (built only for an error: not a string per request). */
  private asked(w: Asked): string {
    const peer = this.diskAdapters[w.da]?.peer ?? `disk adapter #${w.da}`;
    const m = w.msg;
    if (m.t === 'stage') return `stage of ${this.ctx.model.drives.dch(m.reqs[0]!.from ?? m.reqs[0]!.track)} at ${peer}`;
    if (m.t === 'fill') return `fill of track ${m.track} at ${peer}`;
    return `${m.t} at ${peer}`;
  }

  /** The error of an ask with no answer in time (one function for every ask). */
  private readonly askTimedOut = (w: Asked): Error =>
    new ArrayError('ADAPTER_GONE', `${this.asked(w)}: no answer within ${ADAPTER_WAIT_MS} ms`);

  /** Send `msg` to disk adapter `da` and wait (bounded) for its answer under `key` of `map`. */
  private ask<A>(da: number, table: PendingRequests<A, Asked>, key: number, msg: Message): Promise<A> {
    if (table.has(key)) assert(false, `${this.ctx.name}: second wait for ${this.asked({ da, msg })}`);
    const p = table.wait(key, ADAPTER_WAIT_MS, this.askTimedOut, { da, msg });
    this.diskAdapters[da]!.send(msg);
    return p;
  }

  /** Tell the owning disk adapter (batched: see HINT_BATCH_MS) that slot `s` is write-pending. */
  hint(g: number, s: number): void {
    const da = this.ctx.model.adapterOfTrack(g, this.ctx.state.driveOwner);
    this.hints[da]?.push(s);
    if (this.hintsScheduled) return;
    this.hintsScheduled = true;
    const send = (fn: () => void) =>
      arrayIsTimed(this.ctx.model.config) ? sched().defer(fn) : sched().gather(HINT_BATCH_MS, fn);
    send(() => {
      this.hintsScheduled = false;
      this.hints.forEach((slots, i) => {
        if (slots.length === 0) return;
        this.diskAdapters[i]?.send({ t: 'destage-hint', slots });
        this.hints[i] = [];
      });
    });
  }
}
