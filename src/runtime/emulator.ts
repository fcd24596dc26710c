// The whole array, started from the main thread: shared memory, the service processor, the host
// adapters and one disk adapter per config entry, wired with links. `threads` mode gives each
// actor its own worker thread; `inline` runs the same actor classes in this thread.
import { HostAdapterExtensions } from './extensions.ts';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { ArrayConfig } from '../shared/config/config.ts';
import { EventEmitter } from 'node:events';
import { threadUse, type ThreadUse } from './thread-use.ts';
import { type ActorInit, type Emit, type PeerKind } from '../shared/links/actor.ts';
import { MAIN_OWNER, sched } from '../shared/sched/sched.ts';
import { takeBack, type TakenBack } from './recovery.ts';
import type { ResumedRebuild } from './rebuild-run.ts';
import type { SessionSpec } from '../shared/restripe/session.ts';
import { BACKGROUND } from '../shared/tables/memory.ts';
import { type HoldName } from '../shared/hooks/hooks.ts';
import type { ReconfReport } from '../shared/restripe/report.ts';
import type { StalledSession } from '../service-processor/session-run.ts';
import type { SpCalls, SpMethod } from './actors.ts';
import {
  actorRoles,
  inlineActor,
  spCall,
  startWorker,
  type ActorSlot,
  type InlineSlot,
  type QueuedPort,
  type WorkerContext,
  type WorkerSlot,
} from './slots.ts';
import { ArrayTestApi } from './test-api.ts';
import { createSharedBuffers, SharedState, SPARSE } from '../shared/tables/memory.ts';
import { ArrayModel } from '../shared/model/model.ts';
import { localLinkPair, type Link, type LinkChaos, type Log } from '../shared/links/link.ts';
import { RingHostLink } from '../shared/links/ring-link.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import type { DurableStore, ScrubRecord } from '../shared/durable/durable.ts';
import type { RecoveredSession } from '../service-processor/session-run.ts';
import { loadImage, readImage, type LeftOutBcv } from './recover.ts';
import { workerCode } from './worker-code.ts';
import { setTrackSource } from '../drives/track-source.ts';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { lockDataDir, type DirLock } from '../drives/dir-lock.ts';
import { Scrubs } from './scrub-run.ts';
import { Rebuilds } from './rebuild-run.ts';
import { followSessions, learnCompleted } from './live-layouts.ts';
import {
  deviceMirrorViews,
  driveViews,
  failDrive,
  type DeviceMirrorsView,
  type DriveFaultRequest,
  type DriveFaultResult,
  type DriveView,
} from './drives-status.ts';
import { loadWord, storeWord } from '../shared/tables/words.ts';

export type Mode = 'threads' | 'inline';

export interface StartOptions {
  mode?: Mode;
  log?: Log;
  /** Inline mode only: delay and reorder the batches between actors (fault injection). */
  chaos?: LinkChaos;
  /**
   * Keep the array durable (DESIGN §10): in a data dir (its LMDB store), or in a store object
   * (inline mode: the crash harness). A store that holds an image restarts the array from it, and
   * `config` is then only used for a store that is still empty.
   */
  /** driveCacheBytes: most bytes the drives' tracks take in memory (default: all of them, up to the sparse pool's limit). */
  /** The rest as the service processor takes them (ActorInit.durable): dir, store, everyMs, peekEveryStep. */
  durable?: Omit<NonNullable<ActorInit['durable']>, 'recovered'> & { driveCacheBytes?: number };
  /**
   * Threads mode: modules (source URLs) that will be loaded into host adapters' threads beside them
   * (extendHostAdapter), bundled with the actors' code so that they share its modules (worker-code.ts).
   */
  workerModules?: string[];
}

/** What a restart from a durable image found and took up. */
export interface Recovery {
  /** The commit the image came from. */
  commit: number;
  tracks: number;
  sessions: RecoveredSession[];
  loadMs: number;
  /** Rebuilds (and a scrub's repairs) the image left under way, taken up (rebuild-run.ts). */
  rebuilds?: ResumedRebuild[];
  /** BCVs the image held that this start left out (they mirrored their device before its last reconfiguration). */
  bcvsLeftOut: LeftOutBcv[];
}

export const quietLog: Log = (level, text) => {
  if (level !== 'info') process.stderr.write(`arrayemu ${level}: ${text}\n`);
};

export class ArrayEmulator extends EventEmitter {
  readonly model: ArrayModel;
  readonly state: SharedState;
  readonly mode: Mode;
  /** Holds, steps, table reads and deliberate faults, for tests and the stress harness. */
  readonly test: ArrayTestApi;
  private readonly actors: ActorSlot[];
  private readonly log: Log;
  private hostCount = 0;
  private chaos?: LinkChaos;
  private failures: string[] = [];
  private initialConfig!: ArrayConfig;
  private emitter: Emit = () => {};
  /** Threads mode: what the actors' threads share, their code included (a replacement runs the same). */
  private workers?: WorkerContext;

  private constructor(model: ArrayModel, state: SharedState, mode: Mode, actors: ActorSlot[], log: Log) {
    super();
    this.model = model;
    this.state = state;
    this.mode = mode;
    this.test = new ArrayTestApi(state, model);
    this.actors = actors;
    this.log = log;
  }

  /**
   * Start the array. With a data dir, this process takes the dir's lock first (one server per
   * data dir: drives/dir-lock.ts) and holds it until stop().
   */
  static async start(given: ArrayConfig | undefined, opts: StartOptions = {}): Promise<ArrayEmulator> {
    const dir = opts.durable?.dir;
    if (dir !== undefined) mkdirSync(dir, { recursive: true });
    const lock = dir !== undefined ? await lockDataDir(dir) : undefined;
    try {
      const emu = await ArrayEmulator.startUnlocked(given, opts);
      emu.dirLock = lock;
      return emu;
    } catch (err) {
      await lock?.release();
      throw err;
    }
  }

  private static async startUnlocked(given: ArrayConfig | undefined, opts: StartOptions): Promise<ArrayEmulator> {
    const mode = opts.mode ?? 'threads';
    const log = opts.log ?? quietLog;
    const t0 = performance.now();
    const durable = opts.durable;
    if (durable?.store && mode !== 'inline')
      throw new ArrayError('USAGE', 'a durable store object needs inline mode; give a data dir in threads mode');
    const { reader, image, config, bcvsLeftOut } = readImage(given, durable, log);
    const model = new ArrayModel(config);
    // With a data dir every drive is sparse: a restart leaves each track in the store until first touched.
    const buffers = createSharedBuffers(config, {
      allSparse: durable !== undefined,
      driveCacheBytes: durable?.driveCacheBytes,
    });
    const state = new SharedState(buffers);
    const loaded = image ? loadImage(state, model, image) : undefined;
    // Inline, the actors read those tracks through this thread's handle on the store (kept open until
    // stop); in threads, each disk adapter opens its own, and the service processor its writer.
    // The store's live committed bytes (a drive reads back what it evicted, and a restart's tracks).
    if (reader && mode === 'inline') setTrackSource(buffers, (g, atLeast) => reader.track(g, atLeast));
    else if (!durable?.store) reader?.close();
    const trackStore = durable?.dir && mode === 'threads' ? join(durable.dir, 'store') : undefined;
    const recovered = image ? { ...image.meta, running: config } : undefined;
    const failures: string[] = [];
    const made: { emu?: ArrayEmulator } = {};
    const emit: Emit = (name, data) => made.emu?.emit(name, data);
    const workers =
      mode === 'threads' ? { log, failures, emit, code: await workerCode(opts.workerModules) } : undefined;
    if (workers && workers.code.how !== 'bundle') log('info', `workers: ${workers.code.how}`);
    const actors = await Promise.all(
      actorRoles(config).map(([role, index, name]) => {
        const init: ActorInit = {
          role,
          index,
          config,
          buffers,
          ...(role === 'sp' && durable ? { durable: { ...durable, recovered } } : {}),
          ...(role === 'da' && trackStore ? { trackStore } : {}),
        };
        return mode === 'threads'
          ? startWorker(init, name, workers!)
          : Promise.resolve(inlineActor(init, name, log, emit));
      }),
    );
    const emu = new ArrayEmulator(model, state, mode, actors, log);
    made.emu = emu;
    followSessions(emu, model);
    emu.failures = failures;
    emu.initialConfig = config;
    emu.trackStore = trackStore;
    if (mode === 'inline' && !durable?.store) emu.trackReader = reader;
    emu.emitter = emit;
    emu.workers = workers;
    if (opts.chaos && mode !== 'inline') throw new ArrayError('USAGE', 'link chaos needs inline mode');
    emu.chaos = opts.chaos;
    emu.wire(actors);
    emu.setBackground(config.background);
    // The service processor first: it activates the configuration before anyone serves I/O.
    await actors[0]!.start();
    await Promise.all(actors.slice(1).map((a) => a.start()));
    if (image && loaded) {
      // Before any host is served: every adapter knows the sessions that come back under N.
      const sessions = await spCall(actors[0]!, 'recoverSessions');
      emu.recovery = {
        commit: image.meta.commits,
        tracks: loaded.tracks,
        sessions,
        loadMs: Math.round(performance.now() - t0),
        bcvsLeftOut,
      };
      for (const r of sessions)
        log(
          'info',
          `recovered ${r.device}: ${r.kind} ${r.stage === 'switched' ? `resumed under the new layout, ${r.tracksLeft} of ${r.tracksTotal} tracks to move` : 'started again under the original layout'}`,
        );
    }
    emu.durable = durable !== undefined;
    if (emu.recovery) emu.recovery.rebuilds = emu.rebuilds.resumeAll(); // rebuilds and repairs left under way
    if (image?.meta.scrub) emu.scrubs.resumeFrom(image.meta.scrub);
    emu.on('completed', (e: { report: ReconfReport; running: ArrayConfig }) => {
      emu.completions.set(e.report.device, e);
      void emu.learnReport(e.report).catch(() => {});
    });
    return emu;
  }

  /** Links: SP ↔ every adapter, every host adapter ↔ every disk adapter, disk adapter ↔ disk adapter. */
  private wire(actors: ActorSlot[]): void {
    const has = actors.filter((a) => a.role === 'ha');
    const das = actors.filter((a) => a.role === 'da');
    for (const a of [...has, ...das]) this.connect(actors[0]!, a);
    for (const ha of has) for (const da of das) this.connect(ha, da);
    das.forEach((a, i) => das.slice(i + 1).forEach((b) => this.connect(a, b)));
  }

  /** What the restart from a durable image found (undefined: a fresh start, or no store). */
  recovery?: Recovery;
  /**
   * The last completed reconfiguration of each device, as its 'completed' event said: a session
   * resumed at a restart may complete before whoever watches it (the control API's job) is listening.
   */
  readonly completions = new Map<string, { report: ReconfReport; running: ArrayConfig }>();
  /** A restart's store, for disk adapters (threads) to read the tracks it left there; inline, this thread's handle on it. */
  private trackStore?: string;
  private trackReader?: DurableStore;

  /** Whether the array keeps a durable store (a FLUSH then commits). */
  durable = false;
  /** The data dir's lock, held from start to stop (undefined: no data dir). */
  private dirLock?: DirLock;

  /** The drives' tracks in memory (a data dir's cache of its drives; the sparse pool otherwise). */
  driveCache(): { bytes: number; maxBytes: number; tracksHeld: number } {
    const b = this.state.buffers;
    const words = new Int32Array(b.sparseWords);
    let held = 0;
    for (let d = 0; d < b.sparseIndex.length; d++) held += b.sparseIndex[d] ? loadWord(words, SPARSE.RESIDENT + d) : 0;
    return { bytes: b.sparsePool.byteLength, maxBytes: b.sparsePool.maxByteLength, tracksHeld: held };
  }

  private connect(a: ActorSlot, b: ActorSlot): void {
    if (this.mode === 'inline') {
      // toB is a's end (what arrives there runs as a), toA is b's.
      const [toB, toA] = localLinkPair(b.name, a.name, this.log, this.chaos, { a: a.owner, b: b.owner });
      (a as InlineSlot).ends.push(toB);
      (b as InlineSlot).ends.push(toA);
      (a as InlineSlot).attach(b.role as PeerKind, b.index, toB);
      (b as InlineSlot).attach(a.role as PeerKind, a.index, toA);
      return;
    }
    const { port1, port2 } = new MessageChannel();
    (a as WorkerSlot).sendPort(b.role as PeerKind, b.index, b.name, port1);
    (b as WorkerSlot).sendPort(a.role as PeerKind, a.index, a.name, port2);
  }

  private hostAdapter(ha: number): ActorSlot {
    const slot = this.actors.find((a) => a.role === 'ha' && a.index === ha);
    if (!slot)
      throw new ArrayError('USAGE', `no host adapter #${ha} (the array has ${this.model.config.hostAdapters})`);
    return slot;
  }

  /** A link from this thread to host adapter `ha`, for a host client living here. */
  hostLink(ha = 0): Link {
    const name = `host${this.hostCount++}`;
    const slot = this.hostAdapter(ha);
    if (this.mode === 'inline') {
      const [toHa, toHost] = localLinkPair(slot.name, name, this.log, undefined, { a: MAIN_OWNER, b: slot.owner });
      (slot as InlineSlot).ends.push(toHost);
      (slot as InlineSlot).attach('host', this.hostCount, toHost);
      return toHa;
    }
    const port = this.hostPort(ha);
    return new RingHostLink(port, slot.name, this.log);
  }

  /** A MessagePort to host adapter `ha`, to hand to a host processor in another thread. */
  hostPort(ha = 0): MessagePort {
    const { port1, port2 } = new MessageChannel();
    this.attachHostPort(ha, port1);
    return port2;
  }

  /** Hand host adapter `ha` its end of a host's channel (made in the host's thread, which keeps the other end). */
  attachHostPort(ha: number, port: MessagePort): void {
    if (this.mode === 'inline') throw new ArrayError('USAGE', 'a host port needs threads mode; use hostLink() inline');
    const slot = this.hostAdapter(ha) as WorkerSlot;
    const wire: QueuedPort = ['host', this.hostCount, `host${this.hostCount++}`, port];
    // While this host adapter's replacement starts, its old worker is gone: the port waits for the new one.
    const queue = this.replacing.get(slot);
    if (queue) queue.push(wire);
    else slot.sendPort(...wire);
  }

  /** Threads mode: actors being replaced, with the host ports asked for meanwhile (handed to the replacement). */
  private readonly replacing = new Map<ActorSlot, QueuedPort[]>();

  /** Modules loaded into host adapters' threads (extendHostAdapter), loaded again into a replacement. */
  private readonly extensions = new HostAdapterExtensions();

  /**
   * Threads mode: load module `entry` into host adapter `ha`'s thread, beside it (ExtensionContext);
   * `onPort` gets the main thread's end of its channel, now and again whenever the adapter is replaced.
   */
  extendHostAdapter(ha: number, entry: string, data: unknown, onPort: (port: MessagePort) => void): void {
    if (this.mode === 'inline') throw new ArrayError('USAGE', 'an extension needs threads mode (a thread to run in)');
    this.extensions.add(this.hostAdapter(ha) as WorkerSlot, { ha, entry, data, onPort });
  }

  /** Reconfigure online to `target` (the service processor's RECONF module). */
  async reconfigure(target: unknown): Promise<ReconfReport> {
    return this.learnReport(await this.sp('reconfigure', target));
  }

  /** Take up a stalled session on `deviceId` from where it stopped (see ServiceProcessor.resume). */
  async resumeReconfiguration(deviceId: string): Promise<ReconfReport> {
    return this.learnReport(await this.sp('resume', deviceId));
  }

  /**
   * The background copy (ESTABLISH and the data transfer of every session): pause it, or throttle it
   * (MB/s: `maxMBps` while hosts are idle, never below `minMBps` while they are busy; 0 = no limit).
   */
  setBackground(c: { paused?: boolean; minMBps?: number; maxMBps?: number }): void {
    const w = this.state.cacheWords;
    if (c.paused !== undefined) storeWord(w, BACKGROUND.PAUSED, c.paused ? 1 : 0);
    if (c.minMBps !== undefined) storeWord(w, BACKGROUND.MIN_KBPS, Math.round(c.minMBps * 1000));
    if (c.maxMBps !== undefined) storeWord(w, BACKGROUND.MAX_KBPS, Math.round(c.maxMBps * 1000));
  }

  background(): { paused: boolean; minMBps: number; maxMBps: number } {
    const w = this.state.cacheWords;
    return {
      paused: loadWord(w, BACKGROUND.PAUSED) === 1,
      minMBps: loadWord(w, BACKGROUND.MIN_KBPS) / 1000,
      maxMBps: loadWord(w, BACKGROUND.MAX_KBPS) / 1000,
    };
  }

  /** Sessions that failed and wait for resume. */
  async stalledSessions(): Promise<StalledSession[]> {
    return this.sp('stalledSessions');
  }

  async learnReport(report: ReconfReport): Promise<ReconfReport> {
    learnCompleted(this.model, this.state, await this.sp('configuration'), report.device);
    return report;
  }

  /**
   * Fault injection: adapter `name` fails now and a replacement takes over. The failed one runs no
   * more (inline: its owner is killed, so it stops at its next await; threads: its worker is
   * terminated); what it held in shared memory is taken back; the replacement starts from the
   * shared tables and the service processor's open sessions, and is linked to every peer, which
   * ask it again for whatever its predecessor had not answered. Host clients of a failed host
   * adapter see their requests in flight fail (HOST_ADAPTER_LOST) and reconnect to the new one.
   */
  async restart(name: string): Promise<TakenBack> {
    const i = this.actors.findIndex((a) => a.name === name);
    if (i < 0)
      throw new ArrayError(
        'USAGE',
        `no adapter "${name}" (adapters: ${this.actors
          .slice(1)
          .map((a) => a.name)
          .join(', ')})`,
      );
    const old = this.actors[i]!;
    if (old.role === 'sp')
      throw new ArrayError('USAGE', 'the service processor cannot be restarted (it holds the sessions)');
    // From here host ports asked of this adapter wait for its replacement (threads mode).
    const queued: QueuedPort[] = [];
    if (this.mode === 'threads') this.replacing.set(old, queued);
    let fresh: ActorSlot;
    let taken: TakenBack;
    try {
      const init: ActorInit = {
        role: old.role,
        index: old.index,
        config: this.initialConfig,
        buffers: this.state.buffers,
        replacement: true,
        ...(old.role === 'da' && this.trackStore ? { trackStore: this.trackStore } : {}),
      };
      const incarnation = Number(old.owner.tag.split('#')[1] ?? 1) + 1;
      if (this.mode === 'inline') {
        sched().kill(old.owner);
        for (const end of (old as InlineSlot).ends) end.close();
      }
      await old.stop(); // threads: worker.terminate(); inline: its timers (it runs no code any more)
      taken = takeBack(this.state, old.role, old.index, old.owner.id);
      fresh =
        this.mode === 'inline'
          ? inlineActor(init, name, this.log, this.emitter, incarnation)
          : await startWorker(init, name, this.workers!, incarnation);
      this.actors[i] = fresh;
      this.rewire(fresh);
    } finally {
      this.replacing.delete(old);
    }
    for (const wire of queued) (fresh as WorkerSlot).sendPort(...wire);
    await fresh.start();
    if (this.mode === 'threads') this.extensions.reload(fresh as WorkerSlot);
    this.restarts++;
    this.log(
      'info',
      `${name} restarted: took back ${taken.locks} locks, ${taken.slots} unfilled slots, ${taken.inflight} host requests; finished ${taken.moves} slot moves; closed ${taken.tornWrites} torn drive writes`,
    );
    return taken;
  }

  /** Adapters restarted so far. */
  restarts = 0;

  /** Link a replacement actor to everyone its role talks to (as start() did for the first). */
  private rewire(a: ActorSlot): void {
    const sp = this.actors[0]!;
    this.connect(sp, a);
    const peers = this.actors.filter((x) => x !== a && x.role !== 'sp' && (a.role === 'da' || x.role === 'da'));
    for (const p of peers) this.connect(p, a);
  }

  /** Hold or release a process (test hook in shared memory: see HOOK). */
  hold(name: HoldName, held: boolean): void {
    this.state.hooks.setHold(name, held);
  }

  /** The sessions open now (as the service processor opened them). */
  async openSessions(): Promise<SessionSpec[]> {
    return (await this.sp('resumeInfo')).sessions;
  }

  /** Let a held process take `steps` more steps (one track each for establish, split, transfer). */
  step(name: HoldName, steps = 1): void {
    this.state.hooks.stepHold(name, steps);
  }

  /** How busy each actor's thread was since `since` (a snapshot this returned) or since it started (thread-use.ts). */
  threadUse(since?: ThreadUse): ThreadUse {
    return threadUse(this.actors, since);
  }

  async status(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const a of this.actors) out[a.name] = await a.status();
    return out;
  }

  /** Give drive `r.drive` a fault (whole, media, rot): DESIGN §14. A failed drive is rebuilt onto a spare. */
  failDrive(r: DriveFaultRequest): DriveFaultResult {
    const out = failDrive(this.model, this.state, r);
    this.log('warn', `drive ${r.drive}: ${r.kind} fault${out.tracks.length ? ` on ${out.tracks.length} tracks` : ''}`);
    if (r.kind === 'whole') this.rebuilds.afterFailure(r.drive);
    return out;
  }

  /** Rebuilds onto spares (DESIGN §14), started when a drive fails. */
  readonly rebuilds = new Rebuilds(() => ({
    ...{ model: this.model, state: this.state, log: this.log },
    ...{
      diskAdapters: () => this.actors.filter((a) => a.role === 'da'),
      emit: (e: string, d: unknown) => this.emit(e, d),
    },
  }));

  /** Scrubs (DESIGN §14): every copy read and checked against its own checksum, the bad rewritten; durable progress. */
  readonly scrubs = new Scrubs(() => ({
    ...{ model: this.model, state: this.state, log: this.log },
    ...{
      diskAdapters: () => this.actors.filter((a) => a.role === 'da'),
      emit: (e: string, d: unknown) => this.emit(e, d),
      persist: (r: ScrubRecord | null) => this.sp('commit', 'scrub', r),
    },
  }));

  /** Every drive and its state (ok, failed, rebuilding, spare), every device's mirrors and theirs. */
  driveStatus(): { drives: DriveView[]; devices: DeviceMirrorsView[] } {
    const drives = driveViews(this.model, this.state);
    for (const d of drives)
      if (d.rebuild && d.inPlaceOf)
        Object.assign(d.rebuild, this.rebuilds.rate(d.inPlaceOf, d.rebuild.done, d.rebuild.total));
    return { drives, devices: deviceMirrorViews(this.model, this.state) };
  }

  /** Actors that stopped on an error (an invariant broke): empty when all is well. */
  problems(): string[] {
    return [...this.failures];
  }

  async stop(): Promise<void> {
    if (this.durable) await this.sp('closeStore').catch(() => {});
    await Promise.all(this.actors.map((a) => a.stop()));
    this.trackReader?.close();
    await this.dirLock?.release(); // only once the store is closed: a next server may open it
  }

  /** Called by worker slots when a worker dies. */
  /** Ask the service processor (actor 0, in its thread or this one) `method`: its answer, typed. */
  private sp<M extends SpMethod>(method: M, ...args: Parameters<SpCalls[M]>): Promise<Awaited<ReturnType<SpCalls[M]>>> {
    return spCall(this.actors[0]!, method, ...args);
  }
}
