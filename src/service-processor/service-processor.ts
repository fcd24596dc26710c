// The service processor's RECONF module: keeps the configuration files, activates configurations
// (one atomic store of a generation in the device header, SPEC §3) and runs a reconfiguration
// session: preparation (FIG. 4A, steps 101-112), switch (FIG. 4B, 113-120), completion (121-124).
import { mkdirSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { threadId } from 'node:worker_threads';
import { join } from 'node:path';
import type { Link, Log } from '../shared/link.ts';
import type { Message, ReconfStep } from '../shared/messages.ts';
import type { ArrayModel } from '../shared/model.ts';
import type { ArrayConfig } from '../shared/config.ts';
import { DEVICE, MAX_SESSIONS, PHASE, TRACK, splitCursorWord, MAX_DISK_ADAPTERS, type SharedState } from '../shared/memory.ts';
import { Session, type ReconfKind, type SessionSpec } from '../shared/session.ts';
import { assert } from '../shared/assert.ts';
import { sched } from '../shared/sched.ts';
import type { Resume } from '../shared/actor.ts';
import { ArrayError, errorMessage } from '../shared/errors.ts';
import { mergeCompleted, planReconfiguration } from './plan.ts';
import { sessionBitProblems } from '../shared/reconf.ts';

/** Longest any step of a session may wait for the adapters. */
export const STEP_WAIT_MS = 600_000;
/** Longest the switch waits for host requests in flight to drain. */
export const DRAIN_WAIT_MS = 30_000;
const PROGRESS_EVERY_MS = 250;

export interface ReconfReport {
  device: string;
  kind: ReconfKind;
  session: number; // PB column, -1 for a meta expansion
  tracksMoved: number;
  tracksTotal: number;
  hostBlockedMs: number;
  durationMs: number;
  scenarios: { '1': number; '2': number; '3': number; '4': number };
  bitsLeft: { pb: number; ps: number; ind: number };
  steps: Array<{ step: string; ms: number }>;
}

export interface Progress {
  device: string;
  phase: string;
  tracksMoved: number;
  tracksTotal: number;
}

export interface ServiceProcessorOptions {
  model: ArrayModel;
  state: SharedState;
  log: Log;
  emit?: (event: string, data: unknown) => void;
  configDir?: string;
}

/** Service processors made in this thread (each gets its own configuration directory). */
let configDirs = 0;

interface StepWait {
  expect: Set<string>;
  infos: Map<string, Record<string, number>>;
  resolve: () => void;
  reject: (e: Error) => void;
  /** The step's message: sent again to an adapter that is replaced before it answers. */
  msg: Message;
}

export class ServiceProcessor {
  readonly name = 'SP';
  private readonly model: ArrayModel;
  private readonly state: SharedState;
  private readonly log: Log;
  private readonly emit: (event: string, data: unknown) => void;
  private readonly configDir: string;
  private running: ArrayConfig;
  private readonly adapters = new Map<string, Link>(); // name → link (HA0…, DA30…)
  private readonly hostAdapterNames: string[] = [];
  private readonly diskAdapterNames: string[] = [];
  private readonly waits = new Map<string, StepWait>(); // `${sid}:${step}`
  private readonly busyDevices = new Set<string>();
  private readonly openSpecs = new Map<number, SessionSpec>(); // sessions between reconf-open and close
  private columns = 0; // PB columns in use (bit y)
  private nextSid = 1;
  private nextGen = 2;

  constructor(opts: ServiceProcessorOptions) {
    this.model = opts.model;
    this.state = opts.state;
    this.log = opts.log;
    this.emit = opts.emit ?? (() => {});
    this.running = opts.model.config;
    this.configDir = opts.configDir ?? join(tmpdir(), `arrayemu-config-${process.pid}-${threadId}-${++configDirs}-${Date.now().toString(36)}`);
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
      for (const m of msgs) this.onMessage(link, m);
    });
    if (!replaced) return;
    // First on the new link: the array as it stands now. The replacement serves nothing before it.
    link.send({ t: 'reconf-sync', ...this.resumeInfo() });
    this.log('info', `SP: ${name} replaced; asking it again for ${[...this.waits.entries()].filter(([, w]) => w.expect.has(name)).map(([k]) => k).join(', ') || 'nothing'}`);
    for (const w of this.waits.values()) if (w.expect.has(name)) link.send(w.msg);
  }

  /** What a replacement adapter must know at start: the running configuration and the open sessions. */
  resumeInfo(): Resume {
    return { running: this.running, sessions: [...this.openSpecs.values()], closedBelow: this.nextSid };
  }

  private onMessage(link: Link, m: Message): void {
    if (m.t !== 'done') {
      this.log('warn', `SP: dropped unexpected "${m.t}" message from ${link.peer}`);
      return;
    }
    const w = this.waits.get(`${m.sid}:${m.step}`);
    if (!w) return;
    if (m.error) {
      this.waits.delete(`${m.sid}:${m.step}`);
      w.reject(new ArrayError('ADAPTER_GONE', `${m.actor}: ${m.step} of session ${m.sid} failed: ${m.error}`));
      return;
    }
    w.expect.delete(m.actor);
    w.infos.set(m.actor, m.info ?? {});
    if (w.expect.size === 0) {
      this.waits.delete(`${m.sid}:${m.step}`);
      w.resolve();
    }
  }

  /** Send `msg` to `actors` and wait until each answers `done` for (sid, step). */
  private async everyone(actors: string[], sid: number, step: ReconfStep, msg: Message): Promise<Map<string, Record<string, number>>> {
    const infos = new Map<string, Record<string, number>>();
    if (actors.length === 0) return infos;
    const key = `${sid}:${step}`;
    const done = new Promise<void>((resolve, reject) => {
      const timer = sched().after(
        STEP_WAIT_MS,
        () => {
          const late = [...(this.waits.get(key)?.expect ?? [])].join(', ');
          this.waits.delete(key);
          reject(new ArrayError('TIMEOUT', `session ${sid}: ${step} not done by ${late} within ${STEP_WAIT_MS} ms`));
        },
        false,
      );
      this.waits.set(key, {
        expect: new Set(actors),
        infos,
        resolve: () => (timer.cancel(), resolve()),
        reject: (e) => (timer.cancel(), reject(e)),
        msg,
      });
    });
    for (const a of actors) this.adapters.get(a)!.send(msg);
    await done;
    return infos;
  }

  private get everyAdapter(): string[] {
    return [...this.hostAdapterNames, ...this.diskAdapterNames];
  }

  /** Activate generation 1 of every device and make it ready: the array comes up. */
  activateInitial(): void {
    for (const dev of this.model.devices) {
      assert(this.state.deviceWord(dev.index, DEVICE.GENERATION) === 0, () => `${dev.id}: activated twice`);
      this.state.setDeviceWord(dev.index, DEVICE.GENERATION, 1);
      this.state.setDeviceWord(dev.index, DEVICE.READY, 1);
    }
    this.log('info', `SP: configuration generation 1 active for ${this.model.devices.map((d) => d.id).join(', ')}`);
  }

  /** The running configuration. */
  configuration(): ArrayConfig {
    return this.running;
  }

  /** Reconfigure the one device whose definition differs in `rawTarget` (the RECONF module, FIGS. 4A/4B). */
  async reconfigure(rawTarget: unknown): Promise<ReconfReport> {
    const plan = planReconfiguration(this.running, rawTarget);
    if (this.busyDevices.has(plan.deviceId)) throw new ArrayError('CONFIG', `reconfiguration refused: "${plan.deviceId}" is already being reconfigured`);
    if (plan.bcvId && this.busyDevices.has(plan.bcvId)) throw new ArrayError('CONFIG', `reconfiguration refused: BCV "${plan.bcvId}" is in use by another session`);
    let y = -1;
    if (plan.kind !== 'meta-expansion') {
      for (let c = 0; c < MAX_SESSIONS; c++) {
        if (!(this.columns & (1 << c))) {
          y = c;
          break;
        }
      }
      if (y < 0) throw new ArrayError('CONFIG', `reconfiguration refused: all ${MAX_SESSIONS} sessions (PB columns) are in use`);
      this.columns |= 1 << y;
    }
    this.busyDevices.add(plan.deviceId);
    if (plan.bcvId) this.busyDevices.add(plan.bcvId);
    try {
      return await this.runSession(plan, y);
    } finally {
      if (y >= 0) this.columns &= ~(1 << y);
      this.busyDevices.delete(plan.deviceId);
      if (plan.bcvId) this.busyDevices.delete(plan.bcvId);
    }
  }

  private async runSession(plan: ReturnType<typeof planReconfiguration>, y: number): Promise<ReconfReport> {
    const t0 = sched().now();
    const steps: Array<{ step: string; ms: number }> = [];
    let mark = sched().now();
    const logStep = (step: string) => {
      const ms = sched().now() - mark;
      steps.push({ step, ms: Math.round(ms * 1000) / 1000 });
      this.log('info', `SP: ${plan.deviceId}: ${step} (${ms.toFixed(3)} ms)`);
      mark = sched().now();
    };
    const dev = this.model.device(plan.deviceId);
    const bcv = plan.bcvId ? this.model.device(plan.bcvId) : undefined;
    const sid = this.nextSid++;
    const spec: SessionSpec = {
      sid,
      y,
      deviceId: plan.deviceId,
      deviceIndex: dev.index,
      kind: plan.kind,
      oldGen: this.state.deviceWord(dev.index, DEVICE.GENERATION),
      newGen: this.nextGen++,
      bcvId: plan.bcvId,
      bcvIndex: bcv?.index,
      running: this.running,
      target: plan.target,
    };
    const session = new Session(spec);
    this.state.setDeviceWord(dev.index, DEVICE.PHASE, PHASE.PREPARING);
    this.log('info', `SP: ${plan.deviceId}: ${plan.kind} in session ${y} (generation ${spec.oldGen} → ${spec.newGen})`);

    // Steps 101-103, 107: the new configuration file, written and locked for the session.
    const lockFile = this.writeAndLock(plan.deviceId, spec.newGen, plan.target);
    logStep('steps 101-103, 107: new configuration file written and locked');
    this.openSpecs.set(sid, spec);
    try {
      await this.everyone(this.everyAdapter, sid, 'open', { t: 'reconf-open', spec });
      logStep('every adapter knows the session');

      let blockedMs = 0;
      let scenarios = { '1': 0, '2': 0, '3': 0, '4': 0 };
      if (plan.kind === 'meta-expansion') {
        // Related art: chain the new members, block, update the configuration, unblock. No data moves.
        for (let t = session.O.tracks; t < session.N.tracks; t++) this.state.setFlag(session.N.locate(t), TRACK.FMT);
        logStep('new members formatted');
        blockedMs = await this.switchOver(session, () => {});
        logStep('configuration activated');
        this.emit('switched', { device: plan.deviceId, bytes: session.N.tracks * this.state.trackBytes });
      } else {
        await this.prepare(session, logStep);
        this.state.setDeviceWord(dev.index, DEVICE.PHASE, PHASE.SYNCHRONISED);
        await this.state.passHold('switch');
        blockedMs = await this.switchOver(session, () => {
          this.state.setDeviceWord(dev.index, DEVICE.MIRROR, 0);
        });
        logStep(`steps 114-120: switch (host blocked ${blockedMs.toFixed(3)} ms)`);
        const broken = sessionBitProblems(this.state, session);
        assert(broken.length === 0, () => `session ${y} on ${plan.deviceId} at the switch: ${broken.join('; ')}`);
        this.emit('switched', { device: plan.deviceId, bytes: session.N.tracks * this.state.trackBytes });
        this.state.setDeviceWord(dev.index, DEVICE.PHASE, PHASE.TRANSFERRING);
        await this.withProgress(session, () =>
          Promise.all([
            this.everyone(this.diskAdapterNames, sid, 'split', { t: 'start-split', sid }),
            this.everyone(this.diskAdapterNames, sid, 'transfer', { t: 'start-transfer', sid }),
          ]),
        );
        logStep('steps 116-117: instant split and data transfer done in every disk adapter');
        await this.state.passHold('completion');
        this.state.setDeviceWord(dev.index, DEVICE.PHASE, PHASE.COMPLETING);
      }
      const bitsLeft = this.bitsLeft(session);
      if (bitsLeft.pb + bitsLeft.ps + bitsLeft.ind > 0) {
        throw new ArrayError('INVARIANT', `session ${y} on ${plan.deviceId}: bits left set at completion: ${JSON.stringify(bitsLeft)} — ${bitsLeft.first.join('; ')}`);
      }
      logStep('step 122: every PB, PS and IND bit of the session is clear');

      this.running = mergeCompleted(this.running, plan.target, plan.deviceId, plan.bcvId);
      writeFileSync(join(this.configDir, 'running.json'), `${JSON.stringify(this.running, null, 2)}\n`);
      this.state.setDeviceWord(dev.index, DEVICE.SESSION, 0);
      this.state.setDeviceWord(dev.index, DEVICE.PHASE, PHASE.IDLE);
      if (bcv) this.state.setDeviceWord(bcv.index, DEVICE.READY, 1);
      // From here a replacement adapter is not told of the session: its predecessor may already
      // have closed it, and a session kept open in one adapter would act on the next session's bits.
      this.openSpecs.delete(sid);
      const closed = await this.everyone(this.everyAdapter, sid, 'close', { t: 'reconf-close', sid });
      for (const info of closed.values()) {
        scenarios = {
          '1': scenarios['1'] + (info.s1 ?? 0),
          '2': scenarios['2'] + (info.s2 ?? 0),
          '3': scenarios['3'] + (info.s3 ?? 0),
          '4': scenarios['4'] + (info.s4 ?? 0),
        };
      }
      logStep('steps 123-124: configuration unlocked, PB column freed, BCV ready');
      const tracksTotal = plan.kind === 'meta-expansion' ? 0 : session.oldTracks;
      return {
        device: plan.deviceId,
        kind: plan.kind,
        session: y,
        tracksMoved: tracksTotal,
        tracksTotal,
        hostBlockedMs: Math.round(blockedMs * 1000) / 1000,
        durationMs: Math.round(sched().now() - t0),
        scenarios,
        bitsLeft: { pb: bitsLeft.pb, ps: bitsLeft.ps, ind: bitsLeft.ind },
        steps,
      };
    } catch (err) {
      this.log('error', `SP: ${plan.deviceId}: session ${y} failed: ${errorMessage(err)}`);
      throw err;
    } finally {
      this.openSpecs.delete(sid);
      rmSync(lockFile, { force: true });
    }
  }

  /** Steps 104-112: ESTABLISH the BCV, set PS, PB and IND; then wait for the BCV (step 113). */
  private async prepare(session: Session, logStep: (s: string) => void): Promise<void> {
    const { spec } = session;
    const bcvIndex = spec.bcvIndex!;
    const y = spec.y;
    // Step 105: the BCV is not ready (no other access) from here to completion.
    this.state.setDeviceWord(bcvIndex, DEVICE.READY, 0);
    this.state.setDeviceWord(bcvIndex, DEVICE.GENERATION, spec.newGen);
    await this.everyone(this.diskAdapterNames, spec.sid, 'purge', { t: 'bcv-purge', sid: spec.sid });
    logStep('step 105: BCV not ready, its cached tracks dropped');
    // Step 106: PS on every location of O. Step 110-111: session column y, PB on every BCV track.
    // Step 112: IND on locations of N outside O that receive an old track; FMT on those that
    // receive a new host track (they may hold anything).
    for (let t = 0; t < session.O.tracks; t++) {
      this.state.setFlag(session.O.locate(t), TRACK.PS);
      Atomics.or(this.state.trackPb, session.B!.locate(t), 1 << y);
    }
    for (let t = 0; t < session.N.tracks; t++) {
      const n = session.N.locate(t);
      if (session.oInv[n]! >= 0) continue;
      this.state.setFlag(n, t < session.oldTracks ? TRACK.IND : TRACK.FMT);
    }
    for (let a = 0; a < MAX_DISK_ADAPTERS; a++) Atomics.store(this.state.splitCursors, splitCursorWord(y, a), 0);
    this.state.setDeviceWord(spec.deviceIndex, DEVICE.SESSION, y + 1);
    logStep('steps 106, 110-112: PS, PB and IND set');
    // Step 104: ESTABLISH. Host writes are mirrored (WP2) from now; each main adapter copies.
    this.state.setDeviceWord(spec.deviceIndex, DEVICE.PHASE, PHASE.ESTABLISHING);
    this.state.setDeviceWord(spec.deviceIndex, DEVICE.MIRROR, bcvIndex + 1);
    await this.everyone(this.diskAdapterNames, spec.sid, 'establish', { t: 'establish', sid: spec.sid });
    logStep('steps 104, 113: BCV established and synchronised (but for write-pending slots)');
  }

  /** Steps 114-120: block host access, drain, activate the new generation (one store), unblock. */
  private async switchOver(session: Session, inWindow: () => void): Promise<number> {
    const dev = session.spec.deviceIndex;
    this.state.setDeviceWord(dev, DEVICE.PHASE, PHASE.SWITCHING);
    const t0 = sched().now();
    this.state.setDeviceWord(dev, DEVICE.BLOCKED, 1);
    try {
      await this.state.awaitDrained(dev, DRAIN_WAIT_MS, `${session.spec.deviceId}: host requests in flight at the switch`);
      inWindow();
      this.state.setDeviceWord(dev, DEVICE.GENERATION, session.spec.newGen); // step 115: activation
    } finally {
      this.state.setDeviceWord(dev, DEVICE.BLOCKED, 0);
    }
    return sched().now() - t0;
  }

  private async withProgress<T>(session: Session, work: () => Promise<T>): Promise<T> {
    const report = () =>
      this.emit('progress', {
        device: session.spec.deviceId,
        phase: 'transfer',
        tracksMoved: session.oldTracks - this.pbLeft(session),
        tracksTotal: session.oldTracks,
      } satisfies Progress);
    const timer = sched().every(PROGRESS_EVERY_MS, report);
    try {
      return await work();
    } finally {
      timer.cancel();
      report();
    }
  }

  private pbLeft(session: Session): number {
    let n = 0;
    for (let t = 0; t < session.oldTracks; t++) if (this.state.pb(session.B!.locate(t), session.y)) n++;
    return n;
  }

  /** Step 122: count the session's bits still set (and name the first few). */
  private bitsLeft(session: Session): { pb: number; ps: number; ind: number; first: string[] } {
    const out = { pb: 0, ps: 0, ind: 0, first: [] as string[] };
    const note = (g: number) => out.first.length < 5 && out.first.push(`${session.drives.dch(g)} ${this.state.describeTrack(g)}`);
    const seen = new Set<number>();
    const check = (g: number) => {
      if (seen.has(g)) return;
      seen.add(g);
      if (this.state.flag(g, TRACK.PS)) (out.ps++, note(g));
      if (this.state.flag(g, TRACK.IND)) (out.ind++, note(g));
    };
    for (let t = 0; t < session.O.tracks; t++) check(session.O.locate(t));
    for (let t = 0; t < session.N.tracks; t++) check(session.N.locate(t));
    if (session.B && session.y >= 0) {
      for (let t = 0; t < session.B.tracks; t++) {
        const b = session.B.locate(t);
        if (this.state.pb(b, session.y)) (out.pb++, note(b));
      }
    }
    return out;
  }

  private writeAndLock(deviceId: string, gen: number, target: ArrayConfig): string {
    mkdirSync(this.configDir, { recursive: true });
    writeFileSync(join(this.configDir, `config.gen${gen}.json`), `${JSON.stringify(target, null, 2)}\n`);
    const lock = join(this.configDir, `${deviceId}.lock`);
    try {
      closeSync(openSync(lock, 'wx'));
    } catch (err) {
      throw new ArrayError('CONFIG', `reconfiguration refused: the configuration of "${deviceId}" is locked (${lock}: ${errorMessage(err)})`);
    }
    return lock;
  }

  status(): Record<string, number> {
    return { devices: this.model.devices.length, sessionsActive: this.busyDevices.size, columnsInUse: this.columns };
  }
}
