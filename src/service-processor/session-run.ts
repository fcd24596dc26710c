// One reconfiguration session as the service processor drives it, from open to close: its plan,
// its spec and Session (O, N, B), how far it has come, its steps timed for the report; and what the
// service processor reports of sessions (stalled, recovered, the report at completion).
import type { Log } from '../shared/links/link.ts';
import { Session, type SessionSpec } from '../shared/restripe/session.ts';
import { sched } from '../shared/sched/sched.ts';
import type { Plan } from '../shared/restripe/reconf-plan.ts';
import { noScenarios, type BitsLeft, type ReconfReport } from '../shared/restripe/report.ts';
import type { DurableStage } from '../shared/durable/durable.ts';
import { assert } from '../shared/errors/assert.ts';

/** A session taken up again after a restart, as the service processor reports it. */
export interface RecoveredSession {
  device: string;
  kind: string;
  /** The last phase made durable: "switched" resumes under N, "opened" starts again under O. */
  stage: DurableStage;
  /** PB bits set when it was taken up (tracks still to move). */
  tracksLeft: number;
  tracksTotal: number;
}

/** How far a session has come (the service processor's record; the adapters work from the shared tables). */
export type SessionStage = 'opened' | 'prepared' | 'switched' | 'transferred';

/** A session that failed and waits for resume, as `stalledSessions` reports it. */
export interface StalledSession {
  device: string;
  session: number;
  stage: SessionStage;
  error: string;
  bitsLeft: BitsLeft;
  tracksMoved: number;
  tracksTotal: number;
}

/** One reconfiguration session as the service processor drives it, from open to close. */
export class SessionRun {
  readonly plan: Plan;
  readonly spec: SessionSpec;
  readonly session: Session;
  readonly t0 = sched().now();
  readonly steps: Array<{ step: string; ms: number }> = [];
  stage: SessionStage = 'opened';
  /** The last phase made durable (the data dir's record of this session). */
  durable?: DurableStage;
  /** Why the session stopped, while it waits for resume. */
  stalled?: string;
  lockFile?: string;
  blockedMs = 0;
  bitsLeft: BitsLeft = { pb: 0, ps: 0, ind: 0 };
  /** Old tracks the session moves (none for a meta expansion), and those whose PB it has cleared (counted at completion). */
  readonly tracksTotal: number;
  tracksMoved = 0;
  private mark = sched().now();
  private readonly log: Log;

  constructor(plan: Plan, spec: SessionSpec, log: Log) {
    this.plan = plan;
    this.spec = spec;
    this.session = new Session(spec);
    this.tracksTotal = plan.kind === 'meta-expansion' ? 0 : this.session.oldTracks;
    this.log = log;
  }

  /**
   * The session moves from stage `from` to `to`: the only forward steps are opened → prepared →
   * switched → transferred (and back to switched when the completion's count finds bits left).
   */
  advance(from: SessionStage, to: SessionStage): void {
    assert(
      this.stage === from,
      () => `session ${this.spec.y} on ${this.plan.deviceId}: to stage ${to} from ${this.stage}, not from ${from}`,
    );
    this.stage = to;
  }

  /** Log a step of the session with the time since the previous one. */
  readonly logStep = (step: string): void => {
    const ms = sched().now() - this.mark;
    this.steps.push({ step, ms: Math.round(ms * 1000) / 1000 });
    this.log('info', `SP: ${this.plan.deviceId}: ${step} (${ms.toFixed(3)} ms)`);
    this.mark = sched().now();
  };
}

/** Step 124's report: what the session moved, how long hosts were blocked, the scenarios the adapters met (from their close answers). */
export function reportOf(run: SessionRun, closed: Map<string, Record<string, number>>): ReconfReport {
  const scenarios = noScenarios();
  for (const info of closed.values()) {
    scenarios['1'] += info.s1 ?? 0;
    scenarios['2'] += info.s2 ?? 0;
    scenarios['3'] += info.s3 ?? 0;
    scenarios['4'] += info.s4 ?? 0;
  }
  return {
    device: run.plan.deviceId,
    kind: run.plan.kind,
    session: run.spec.y,
    tracksMoved: run.tracksMoved,
    tracksTotal: run.tracksTotal,
    hostBlockedMs: Math.round(run.blockedMs * 1000) / 1000,
    durationMs: Math.round(sched().now() - run.t0),
    scenarios,
    bitsLeft: run.bitsLeft,
    steps: run.steps,
  };
}

/** The sessions among `runs` that failed and wait for resume, as the service processor reports them. */
export function stalledOf(runs: Iterable<SessionRun>): StalledSession[] {
  return [...runs]
    .filter((r) => r.stalled)
    .map((r) => ({
      device: r.plan.deviceId,
      session: r.spec.y,
      stage: r.stage,
      error: r.stalled!,
      bitsLeft: r.bitsLeft,
      tracksMoved: r.tracksMoved,
      tracksTotal: r.tracksTotal,
    }));
}
