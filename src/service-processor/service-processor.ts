// The service processor's RECONF module: keeps the configuration files, activates configurations
// (one atomic store of a generation in the device header, DESIGN §2) and runs a reconfiguration
// session: preparation (FIG. 4A, steps 101-112), switch (FIG. 4B, 113-120), completion (121-124).
import { type Link, type Log, logDropped } from '../shared/links/link.ts';
import type { Message, ReconfStep } from '../shared/links/messages.ts';
import type { ArrayModel } from '../shared/model/model.ts';
import type { ArrayConfig } from '../shared/config/config.ts';
import { DEVICE, MAX_SESSIONS, PHASE, type SharedState } from '../shared/tables/memory.ts';
import { Session, type SessionSpec } from '../shared/restripe/session.ts';
import { assert } from '../shared/errors/assert.ts';
import { sched } from '../shared/sched/sched.ts';
import { testPause } from '../shared/hooks/hooks.ts';
import type { Resume } from '../shared/links/actor.ts';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';
import { mergeCompleted, planReconfiguration, type Plan } from '../shared/restripe/reconf-plan.ts';
import { ConfigFiles } from '../drives/config-files.ts';
import { assertNoFillPending, pbLeft, sessionBitCounts, sessionBitProblems } from '../shared/restripe/bits.ts';
import type { ReconfReport } from '../shared/restripe/report.ts';
import { DURABLE_FORMAT, type DurableMeta, type DurableStore, type ScrubRecord } from '../shared/durable/durable.ts';
import { DURABLE_BACKGROUND_MS, DurableCommits, type PeekEveryStep } from './durable-commits.ts';
import { dataTransfer, enterCompletion, formatNewTracks, preparation, switchOver, withProgress } from './steps.ts';
import { StepWaits } from './step-waits.ts';
import { reportOf, SessionRun, stalledOf, type RecoveredSession, type StalledSession } from './session-run.ts';
import { deviceWordOf, setDeviceWord } from '../shared/tables/tables.ts';

/** Locations a failed check or count names in its message (the first ones found). */
const BITS_NAMED = 5;

export interface ServiceProcessorOptions {
  model: ArrayModel;
  state: SharedState;
  log: Log;
  emit?: (event: string, data: unknown) => void;
  configDir?: string;
  /** The durable store of a data dir (DESIGN §10), and the record it was restarted from, if any. */
  durable?: { store: DurableStore; recovered?: DurableMeta; everyMs?: number; peekEveryStep?: PeekEveryStep };
}

export class ServiceProcessor {
  readonly name = 'SP';
  private readonly model: ArrayModel;
  private readonly state: SharedState;
  private readonly log: Log;
  private readonly emit: (event: string, data: unknown) => void;
  private readonly configFiles: ConfigFiles;
  private running: ArrayConfig;
  private readonly adapters = new Map<string, Link>(); // name → link (HA0…, DA30…)
  private readonly hostAdapterNames: string[] = [];
  private readonly diskAdapterNames: string[] = [];
  private readonly steps = new StepWaits();
  /** Sessions open now, by their device and by their BCV (both are busy until it closes). */
  private readonly runs = new Map<string, SessionRun>();
  private readonly openSpecs = new Map<number, SessionSpec>(); // sessions between reconf-open and close
  private columns = 0; // PB columns in use (bit y)
  private nextSid = 1;
  private nextGen = 2;
  private readonly recovered?: DurableMeta;
  private readonly durable: DurableCommits;
  /** Sessions of the restart's record that recoverSessions has not taken up yet: commits keep them. */
  private notTakenUp: DurableMeta['sessions'] = [];

  constructor(opts: ServiceProcessorOptions) {
    this.model = opts.model;
    this.state = opts.state;
    this.log = opts.log;
    this.emit = opts.emit ?? (() => {});
    this.running = opts.model.config;
    this.configFiles = new ConfigFiles(opts.configDir);
    this.recovered = opts.durable?.recovered;
    if (this.recovered) {
      this.running = this.recovered.running;
      this.nextSid = this.recovered.nextSid;
      this.nextGen = this.recovered.nextGen;
      this.notTakenUp = [...this.recovered.sessions];
    }
    this.durable = new DurableCommits(opts.durable?.store, {
      state: this.state,
      log: this.log,
      everyMs: opts.durable?.everyMs ?? DURABLE_BACKGROUND_MS,
      peekEveryStep: opts.durable?.peekEveryStep,
      recovered: this.recovered,
      meta: (commits) => this.durableMeta(commits),
    });
  }

  /**
   * Link to an adapter. A second call for the same adapter means it was replaced: every step it
   * was asked for and has not answered is asked again of its successor (each step is idempotent:
   * it works from the shared tables), and answers over the old link are ignored.
   */
  attachAdapter(kind: 'ha' | 'da', index: number, link: Link): void {
    const name = kind === 'ha' ? `HA${index}` : this.model.diskAdapterIds[index]!;
    const replaced = this.adapters.has(name);
    this.adapters.set(name, link);
    if (!replaced) (kind === 'ha' ? this.hostAdapterNames : this.diskAdapterNames).push(name);
    link.onMessages((msgs) => {
      if (this.adapters.get(name) !== link) return;
      for (const m of msgs) {
        if (m.t === 'done' || m.t === 'room-wanted')
          assert(m.actor === name, () => `SP: ${name}'s link carried a "${m.t}" of ${m.actor}`);
        this.onMessage(link, m);
      }
    });
    if (!replaced) return;
    // First on the new link: the array as it stands now. The replacement serves nothing before it.
    link.send({ t: 'reconf-sync', ...this.resumeInfo() });
    const again = this.steps.unanswered(name);
    this.log('info', `SP: ${name} replaced; asking it again for ${again.map((w) => w.key).join(', ') || 'nothing'}`);
    for (const w of again) link.send(w.msg);
  }

  /** What a replacement adapter must know at start: the running configuration and the open sessions. */
  resumeInfo(): Resume {
    return { running: this.running, sessions: [...this.openSpecs.values()], closedBelow: this.nextSid };
  }

  private onMessage(link: Link, m: Message): void {
    // A disk adapter's writes wait for its durable tracks, which its drive cache may then let go;
    // a host's FLUSH waits for a commit (R4).
    if (m.t === 'room-wanted') this.durable.commitLater(`room for ${m.actor}`);
    else if (m.t === 'commit-wanted') this.durable.commitFor(link, m.id);
    else if (m.t === 'done') this.steps.answer(m);
    else logDropped(this.log, 'SP', m, link);
  }

  /** Send `msg` to `actors` and wait until each answers `done` for (sid, step). */
  private everyone(
    actors: string[],
    sid: number,
    step: ReconfStep,
    msg: Message,
  ): Promise<Map<string, Record<string, number>>> {
    return this.steps.ask(actors, sid, step, msg, (a) => this.adapters.get(a)!.send(msg));
  }

  private readonly info = (text: string): void => this.log('info', `SP: ${text}`);

  private get everyAdapter(): string[] {
    return [...this.hostAdapterNames, ...this.diskAdapterNames];
  }

  /** Activate generation 1 of every device and make it ready: the array comes up. */
  activateInitial(): void {
    const restored = this.recovered?.sessions.filter((r) => r.stage === 'switched') ?? [];
    for (const dev of this.model.devices) {
      const gen = deviceWordOf(this.state, dev.index, DEVICE.GENERATION);
      // A device of a session restored after its switch comes up under N (its header was set from the data dir).
      const underN = restored.some((r) => r.spec.deviceIndex === dev.index || r.spec.bcvIndex === dev.index);
      assert(gen === 0 || underN, () => `${dev.id}: activated twice`);
      if (underN) continue;
      setDeviceWord(this.state, dev.index, DEVICE.GENERATION, 1);
      setDeviceWord(this.state, dev.index, DEVICE.READY, 1);
    }
    this.log('info', `SP: configuration generation 1 active for ${this.model.devices.map((d) => d.id).join(', ')}`);
    this.durable.start(this.model.config, this.recovered !== undefined);
  }

  /** The record a commit makes durable: the running configuration and each session at its last barrier. */
  private durableMeta(commits: number): DurableMeta {
    // Sessions of the record not taken up yet (recoverSessions) stay in it as they were.
    const sessions = [
      ...this.notTakenUp,
      ...[...new Set(this.runs.values())].filter((r) => r.durable).map((r) => ({ spec: r.spec, stage: r.durable! })),
    ];
    return {
      format: DURABLE_FORMAT,
      running: this.running,
      nextSid: this.nextSid,
      nextGen: this.nextGen,
      sessions,
      commits,
    };
  }

  /** Make what the array holds durable with the record as the last barrier left it (group commit; 0 without a data dir). */
  commit(reason: string, scrub?: ScrubRecord | null): Promise<number> {
    return this.durable.commit(reason, scrub);
  }

  /** The store closes (after the last commit): no background commit runs after this. */
  closeStore(): void {
    this.durable.close();
  }

  /**
   * After a restart from a data dir: every session the record holds is taken up again. One made
   * durable after its switch is reopened in every adapter (under N: hosts are served at once, FIG. 7
   * on demand) and its instant split and data transfer resume from the bits; one made durable only
   * before its switch starts again from the beginning under O (its bits were cleared at the load).
   * Returns at once with what was taken up; the sessions run on in the background.
   */
  async recoverSessions(): Promise<RecoveredSession[]> {
    const out: RecoveredSession[] = [];
    for (const r of this.recovered?.sessions ?? []) {
      this.notTakenUp = this.notTakenUp.filter((x) => x !== r);
      const plan = planReconfiguration(r.spec.running, r.spec.target);
      if (r.stage !== 'switched') {
        this.info(
          `${r.spec.deviceId}: session ${r.spec.sid} was made durable before its switch: started again under O`,
        );
        const total = plan.kind === 'meta-expansion' ? 0 : new Session(r.spec).oldTracks;
        out.push({ device: r.spec.deviceId, kind: plan.kind, stage: r.stage, tracksLeft: total, tracksTotal: total });
        const again = this.reconfigure(r.spec.target);
        this.resumed.push({ device: r.spec.deviceId, done: again });
        continue;
      }
      const run = new SessionRun(plan, r.spec, this.log);
      run.stage = 'switched';
      run.durable = 'switched';
      run.lockFile = this.configFiles.writeAndLock(plan.deviceId, r.spec.newGen, plan.target);
      if (r.spec.y >= 0) this.columns |= 1 << r.spec.y;
      // Until reopened in every adapter, the session stays in the record (a background commit may come meanwhile).
      this.runs.set(plan.deviceId, run);
      if (plan.bcvId) this.runs.set(plan.bcvId, run);
      this.openSpecs.set(r.spec.sid, r.spec);
      this.emit('session-open', { spec: r.spec });
      // The restored bits must hold the session's invariants (the switch's check): a broken image stops the restart loudly.
      const broken = run.tracksTotal > 0 ? sessionBitProblems(this.state, run.session) : []; // the switch's check
      if (broken.length > 0)
        throw new ArrayError(
          'INVARIANT',
          `session ${r.spec.sid} on ${plan.deviceId} restored from the data dir: ${broken.join('; ')}`,
        );
      await this.everyone(this.everyAdapter, r.spec.sid, 'open', { t: 'reconf-open', spec: r.spec });
      const left = run.tracksTotal > 0 ? pbLeft(this.state, run.session) : 0;
      out.push({
        device: plan.deviceId,
        kind: plan.kind,
        stage: 'switched',
        tracksLeft: left,
        tracksTotal: run.tracksTotal,
      });
      this.info(
        `${plan.deviceId}: session ${r.spec.sid} resumed after a restart under N, ${left} of ${run.tracksTotal} tracks to move`,
      );
      this.resumed.push({ device: plan.deviceId, done: this.drive(run) });
    }
    for (const r of this.resumed)
      r.done.then(
        (report) => this.emit('completed', { report, running: this.running }),
        () => {},
      );
    return out;
  }

  /** Sessions taken up again after a restart, and how each ends. */
  readonly resumed: Array<{ device: string; done: Promise<ReconfReport> }> = [];

  /** The running configuration. */
  configuration(): ArrayConfig {
    return this.running;
  }

  /** Reconfigure the one device whose definition differs in `rawTarget` (the RECONF module, FIGS. 4A/4B). */
  async reconfigure(rawTarget: unknown): Promise<ReconfReport> {
    const plan = planReconfiguration(this.running, rawTarget);
    for (const id of [plan.deviceId, plan.bcvId]) {
      const other = id === undefined ? undefined : this.runs.get(id);
      if (!other) continue;
      const what =
        id === plan.deviceId ? `"${id}" is already being reconfigured` : `BCV "${id}" is in use by another session`;
      throw new ArrayError(
        'CONFIG',
        `reconfiguration refused: ${what}${other.stalled ? ` (session ${other.spec.y} on ${other.plan.deviceId} stalled: ${other.stalled}; resume it first)` : ''}`,
      );
    }
    let y = -1;
    if (plan.kind !== 'meta-expansion') {
      for (let c = 0; c < MAX_SESSIONS && y < 0; c++) if (!(this.columns & (1 << c))) y = c;
      if (y < 0)
        throw new ArrayError('CONFIG', `reconfiguration refused: all ${MAX_SESSIONS} sessions (PB columns) are in use`);
    }
    const run = this.openRun(plan, y);
    // The session is in the record before anything of it touches a track: a restart knows of it.
    await this.commit('session opened');
    return this.drive(run);
  }

  /**
   * Take up a stalled session on `deviceId` from where it stopped (the phases it had finished are
   * not run again; the one it failed in is, and every phase works from the shared tables).
   */
  async resume(deviceId: string): Promise<ReconfReport> {
    const run = this.runs.get(deviceId);
    if (!run || run.plan.deviceId !== deviceId)
      throw new ArrayError('USAGE', `no reconfiguration session on "${deviceId}" to resume`);
    if (!run.stalled)
      throw new ArrayError(
        'USAGE',
        `session ${run.spec.y} on "${deviceId}" is running, not stalled (stage: ${run.stage})`,
      );
    this.info(`${deviceId}: session ${run.spec.y} resumed after its stage "${run.stage}" (it stalled: ${run.stalled})`);
    run.stalled = undefined;
    return this.drive(run);
  }

  /** The sessions that failed and wait for resume: device, PB column, the stage they had reached, why. */
  stalledSessions(): StalledSession[] {
    return stalledOf(new Set(this.runs.values()));
  }

  /** Claim the column and the devices, write and lock the new configuration file (steps 101-103, 107). */
  private openRun(plan: Plan, y: number): SessionRun {
    const dev = this.model.device(plan.deviceId);
    const bcv = plan.bcvId ? this.model.device(plan.bcvId) : undefined;
    const spec: SessionSpec = {
      sid: this.nextSid++,
      y,
      deviceId: plan.deviceId,
      deviceIndex: dev.index,
      kind: plan.kind,
      oldGen: deviceWordOf(this.state, dev.index, DEVICE.GENERATION),
      newGen: this.nextGen++,
      bcvId: plan.bcvId,
      bcvIndex: bcv?.index,
      running: this.running,
      target: plan.target,
    };
    const run = new SessionRun(plan, spec, this.log);
    run.durable = 'opened';
    run.lockFile = this.configFiles.writeAndLock(plan.deviceId, spec.newGen, plan.target);
    if (y >= 0) this.columns |= 1 << y;
    this.runs.set(plan.deviceId, run);
    if (plan.bcvId) this.runs.set(plan.bcvId, run);
    this.openSpecs.set(spec.sid, spec);
    this.emit('session-open', { spec });
    setDeviceWord(this.state, dev.index, DEVICE.PHASE, PHASE.PREPARING);
    this.log('info', `SP: ${plan.deviceId}: ${plan.kind} in session ${y} (generation ${spec.oldGen} → ${spec.newGen})`);
    run.logStep('steps 101-103, 107: new configuration file written and locked');
    return run;
  }

  /**
   * Run a session's phases from where it stands. A phase that fails leaves the session open and
   * stalled (SessionRun.stalled): its column, device and BCV stay held and every adapter keeps it,
   * so the shared tables stay consistent and host I/O goes on — under the original layout before
   * the switch, under the new one (FIG. 7 on demand) after it — until `resume` takes it up.
   */
  private async drive(run: SessionRun): Promise<ReconfReport> {
    try {
      if (run.stage === 'opened') await this.preparePhase(run);
      if (run.stage === 'prepared') await this.switchPhase(run);
      if (run.stage === 'switched') await this.transferPhase(run);
      return await this.completePhase(run);
    } catch (err) {
      run.stalled = errorMessage(err);
      const where =
        run.stage === 'opened' || run.stage === 'prepared'
          ? 'before the switch: hosts are served under the original layout'
          : 'after the switch: hosts are served under the new layout, each track moved on demand (FIG. 7)';
      this.log(
        'error',
        `SP: ${run.plan.deviceId}: session ${run.spec.y} failed: ${run.stalled} — stalled ${where}; resume to finish it`,
      );
      throw err;
    }
  }

  /** Steps 104-112 (or, for a meta expansion, the new members formatted). */
  private async preparePhase(run: SessionRun): Promise<void> {
    await this.everyone(this.everyAdapter, run.spec.sid, 'open', { t: 'reconf-open', spec: run.spec });
    run.logStep('every adapter knows the session');
    await testPause('prepare');
    if (run.plan.kind === 'meta-expansion') {
      // Related art: chain the new members, block, update the configuration, unblock. No data moves.
      formatNewTracks(this.state, run.session);
      run.logStep('new members formatted');
    } else {
      await preparation(this.state, this.emit, run.session, run.logStep, (sid, step, msg) =>
        this.everyone(this.diskAdapterNames, sid, step, msg),
      );
      setDeviceWord(this.state, run.spec.deviceIndex, DEVICE.PHASE, PHASE.SYNCHRONISED);
    }
    run.advance('opened', 'prepared');
  }

  /**
   * Steps 114-120, then the switch's check of the session's bits. The check runs with the device
   * unblocked (it scans every location, and the window must not grow with the device), so host
   * requests split and fill while it reads: it is written so that every legal intermediate state
   * passes (sessionBitProblems). A failure after the activation stalls the session on N.
   */
  private async switchPhase(run: SessionRun): Promise<void> {
    const dev = run.spec.deviceIndex;
    const meta = run.plan.kind === 'meta-expansion';
    if (!meta) await this.state.hooks.passHold('switch');
    // R1: the BCV on its drives before the activation is durable. Most mirror writes are destaged
    // here with hosts running; the rest inside the window, where the device's hosts add no more.
    const mirror = !meta && this.durable.enabled && !this.state.hooks.testFault('UNSYNCED_SWITCH');
    if (mirror)
      await this.everyone(this.diskAdapterNames, run.spec.sid, 'mirror', { t: 'destage-mirror', sid: run.spec.sid });
    const late = this.state.hooks.testFault('LATE_SWITCH_COMMIT');
    run.blockedMs = await switchOver(
      this.state,
      this.emit,
      run.session,
      async () => {
        if (mirror)
          await this.everyone(this.diskAdapterNames, run.spec.sid, 'mirror', {
            t: 'destage-mirror',
            sid: run.spec.sid,
          });
        if (!meta) setDeviceWord(this.state, dev, DEVICE.MIRROR, 0);
      },
      async () => {
        // R1: hosts stay blocked until the activation is durable (one commit in the window).
        if (late) return;
        run.durable = 'switched';
        await this.commit('switch');
      },
    );
    run.advance('prepared', 'switched');
    run.logStep(
      meta ? 'configuration activated' : `steps 114-120: switch (host blocked ${run.blockedMs.toFixed(3)} ms)`,
    );
    this.emit('switched', { device: run.plan.deviceId, bytes: run.session.N.tracks * this.state.trackBytes });
    if (meta) return;
    const broken = sessionBitProblems(this.state, run.session); // the switch's check: safe while hosts split and fill
    if (broken.length > 0)
      throw new ArrayError(
        'INVARIANT',
        `session ${run.spec.y} on ${run.plan.deviceId} at the switch: ${broken.join('; ')}`,
      );
  }

  /** Steps 116-117: the instant split and the data transfer in every disk adapter. */
  private async transferPhase(run: SessionRun): Promise<void> {
    if (run.plan.kind !== 'meta-expansion') {
      const { sid } = run.spec;
      setDeviceWord(this.state, run.spec.deviceIndex, DEVICE.PHASE, PHASE.TRANSFERRING);
      // TEST ONLY (R1 broken): the record says "switched" only once the transfer has run a while.
      if (this.state.hooks.testFault('LATE_SWITCH_COMMIT'))
        sched().after(2 * this.durable.everyMs, () => (run.durable = 'switched'), false);
      const ask = (step: ReconfStep, msg: Message) => this.everyone(this.diskAdapterNames, sid, step, msg);
      await withProgress(this.emit, this.state, run.session, () =>
        Promise.all([ask('split', { t: 'start-split', sid }), dataTransfer(this.state, run.session, run.logStep, ask)]),
      );
      run.logStep('steps 116-117: instant split and data transfer done in every disk adapter');
      await this.state.hooks.passHold('completion');
    }
    run.advance('switched', 'transferred');
  }

  /** Steps 121-124: every bit clear (counted and reported first), configuration unlocked, column freed, BCV ready. */
  private async completePhase(run: SessionRun): Promise<ReconfReport> {
    const { plan, spec, session } = run;
    await enterCompletion(this.emit, this.state, session);
    const bitsLeft = sessionBitCounts(this.state, session, BITS_NAMED); // step 122
    // Counted and kept before any verdict: a stalled session reports them (stalledSessions).
    run.bitsLeft = { pb: bitsLeft.pb, ps: bitsLeft.ps, ind: bitsLeft.ind };
    run.tracksMoved = run.tracksTotal - bitsLeft.pb;
    if (bitsLeft.pb + bitsLeft.ps + bitsLeft.ind > 0) {
      run.advance('transferred', 'switched'); // resume runs the instant split and the data transfer again, then this count
      throw new ArrayError(
        'INVARIANT',
        `session ${spec.y} on ${plan.deviceId}: bits left set at completion: ${JSON.stringify(run.bitsLeft)} — ${bitsLeft.first.join('; ')}`,
      );
    }
    run.logStep('step 122: every PB, PS and IND bit of the session is clear');
    this.running = mergeCompleted(this.running, plan.target, plan.deviceId, plan.bcvId);
    this.configFiles.writeRunning(this.running);
    // R5: the completion is durable before the column and the BCV are given up (a next session
    // would ESTABLISH over the BCV that a restart of this one still fills from).
    // The new layout on its drives first: a fill's data still only in cache keeps IND durable,
    // and a record without the session would read that location as filled.
    if (this.durable.enabled && run.session.B) {
      await this.everyone(this.diskAdapterNames, spec.sid, 'filled', { t: 'destage-filled', sid: spec.sid });
      assertNoFillPending(this.state, run.session);
    }
    run.durable = undefined;
    await this.commit('completion');
    setDeviceWord(this.state, spec.deviceIndex, DEVICE.SESSION, 0);
    setDeviceWord(this.state, spec.deviceIndex, DEVICE.PHASE, PHASE.IDLE);
    if (spec.bcvIndex !== undefined) setDeviceWord(this.state, spec.bcvIndex, DEVICE.READY, 1);
    // From here a replacement adapter is not told of the session: its predecessor may already
    // have closed it, and a session kept open in one adapter would act on the next session's bits.
    this.openSpecs.delete(spec.sid);
    const closed = await this.everyone(this.everyAdapter, spec.sid, 'close', { t: 'reconf-close', sid: spec.sid });
    this.closeRun(run);
    run.logStep('steps 123-124: configuration unlocked, PB column freed, BCV ready');
    return reportOf(run, closed);
  }

  private closeRun(run: SessionRun): void {
    if (run.spec.y >= 0) this.columns &= ~(1 << run.spec.y);
    this.runs.delete(run.plan.deviceId);
    if (run.plan.bcvId) this.runs.delete(run.plan.bcvId);
    if (run.lockFile) this.configFiles.unlock(run.lockFile);
  }

  status(): Record<string, number> {
    const sessionsActive = new Set(this.runs.values()).size;
    const sessionsStalled = this.stalledSessions().length;
    const counts = { devices: this.model.devices.length, sessionsActive, sessionsStalled, columnsInUse: this.columns };
    return { ...counts, ...this.durable.status() };
  }
}
