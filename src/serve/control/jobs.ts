// Reconfigurations asked for over the control API: one at a time, each with an id, its progress
// (the service processor's progress events), rate and ETA, and its report or error when it ends.
import { parseConfig, type ArrayConfig } from '../../shared/config/config.ts';
import { ArrayError, errorMessage } from '../../shared/errors/errors.ts';
import type { Progress, ReconfReport } from '../../shared/restripe/report.ts';
import type { ArrayEmulator } from '../../runtime/emulator.ts';
import { untimedDrives } from '../../lab/plan.ts';
import { planInThread } from '../../lab/plan-thread.ts';

/** How often idle() looks whether the running reconfiguration ended (ms). */
const IDLE_POLL_MS = 50;
/** Jobs remembered after they end (the oldest ended one is forgotten past this). */
const JOBS_KEPT = 64;

export interface Job {
  id: number;
  device: string;
  state: 'running' | 'done' | 'failed';
  startedMs: number;
  endedMs?: number;
  progress?: Progress;
  report?: ReconfReport;
  error?: string;
  /** A reconfiguration interrupted by a crash and taken up at the restart: from which phase, and how many tracks it still had to move. */
  resumed?: { stage: string; tracksLeft: number; tracksTotal: number };
  /** What `plan` predicted for it when it started (timed drives only), or why there is no prediction. */
  predicted?: { durationMs: number; boundBy: string } | { unavailable: string };
}

export class Jobs {
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private running_?: Job;

  constructor(
    private readonly emu: ArrayEmulator,
    private config: ArrayConfig,
    /** Told the new running configuration when a reconfiguration completes. */
    private readonly onConfig: (c: ArrayConfig) => void = () => {},
  ) {
    emu.on('progress', (p: Progress) => {
      if (this.running_ && this.running_.device === p.device) this.running_.progress = p;
    });
  }

  /** A reconfiguration taken up after a restart from the data dir: shown like one asked for here, ended when it completes. */
  adopt(r: { device: string; stage: string; tracksLeft: number; tracksTotal: number }): Job {
    const job: Job = {
      id: this.nextId++,
      device: r.device,
      state: 'running',
      startedMs: Date.now(),
      resumed: { stage: r.stage, tracksLeft: r.tracksLeft, tracksTotal: r.tracksTotal },
    };
    this.jobs.set(job.id, job);
    this.running_ = job;
    const completed = (e: { report: ReconfReport; running: ArrayConfig }) => {
      if (e.report.device !== job.device) return;
      this.emu.off('completed', completed);
      this.config = e.running;
      this.onConfig(e.running);
      this.end(job, { state: 'done', report: e.report });
    };
    this.emu.on('completed', completed);
    // Resumed at the start, it may have completed before this job was made (serve starts NBD first).
    const done = this.emu.completions.get(job.device);
    if (done) completed(done);
    return job;
  }

  get runningConfig(): ArrayConfig {
    return this.config;
  }

  /** Resolves when no reconfiguration runs (bounded by the reconfiguration itself, which is bounded). */
  async idle(): Promise<void> {
    while (this.running_) await new Promise((r) => setTimeout(r, IDLE_POLL_MS));
  }

  running(): Job[] {
    return this.running_ ? [this.running_] : [];
  }

  /** Ids of the jobs remembered, oldest first. */
  ids(): number[] {
    return [...this.jobs.keys()];
  }

  get(id: number): Job | undefined {
    return this.jobs.get(id);
  }

  /** Every job remembered, oldest first. */
  all(): Job[] {
    return [...this.jobs.values()];
  }

  /** Check `raw` against the running configuration (throws ConfigError naming each field) and start it. */
  start(raw: unknown): Job {
    if (this.running_)
      throw new ArrayError('BUSY', `reconfiguration ${this.running_.id} of ${this.running_.device} is in progress`);
    const target = parseConfig(raw, { running: this.config });
    const changed = target.devices.find(
      (d) => JSON.stringify(d) !== JSON.stringify(this.config.devices.find((x) => x.id === d.id)),
    );
    if (!changed) throw new ArrayError('CONFIG', 'devices: the target changes no device of the running configuration');
    const job: Job = { id: this.nextId++, device: changed.id, state: 'running', startedMs: Date.now() };
    this.jobs.set(job.id, job);
    this.running_ = job;
    this.predict(job, this.config, raw);
    this.emu.reconfigure(raw).then(
      (report) => {
        this.config = target;
        this.onConfig(target);
        this.end(job, { state: 'done', report });
      },
      (err: unknown) => this.end(job, { state: 'failed', error: errorMessage(err) }),
    );
    return job;
  }

  /**
   * The plan of the restripe just started, in a thread of its own, shown beside the real ETA. Only
   * for an array whose every drive is timed: an untimed drive takes no time to predict.
   */
  private predict(job: Job, running: ArrayConfig, raw: unknown): void {
    const untimed = untimedDrives(running);
    if (untimed.length > 0) {
      job.predicted = { unavailable: `drive ${untimed[0]} has no timing model` };
      return;
    }
    planInThread({ running, target: raw, seed: 1 }).then(
      (p) => (job.predicted = { durationMs: p.durationMs, boundBy: p.boundBy }),
      (err: unknown) => (job.predicted = { unavailable: errorMessage(err) }),
    );
  }

  private end(job: Job, how: Partial<Job>): void {
    Object.assign(job, how, { endedMs: Date.now() });
    this.running_ = undefined;
    this.emu.setBackground({ paused: false }); // a pause belongs to the reconfiguration it was asked for
    if (this.jobs.size > JOBS_KEPT) this.jobs.delete(this.jobs.keys().next().value!);
  }

  /** A job as the API shows it (jobView). */
  view(j: Job): Record<string, unknown> {
    return jobView(j);
  }
}

/** A job as the API and the live view show it: with its rate (tracks/s) and ETA (s) while it runs. */
export function jobView(j: Job): Record<string, unknown> {
  const seconds = ((j.endedMs ?? Date.now()) - j.startedMs) / 1000;
  const p = j.progress;
  const rate = p && seconds > 0 ? p.tracksMoved / seconds : undefined;
  const eta = p && rate ? (p.tracksTotal - p.tracksMoved) / rate : undefined;
  return {
    id: j.id,
    device: j.device,
    state: j.state,
    phase: p?.phase ?? null,
    tracksDone: j.report?.tracksMoved ?? p?.tracksMoved ?? 0,
    tracksTotal: j.report?.tracksTotal ?? p?.tracksTotal ?? null,
    tracksPerSec: rate === undefined ? null : Math.round(rate),
    etaSec: j.state === 'running' && eta !== undefined ? Math.round(eta * 10) / 10 : null,
    predicted: predictedView(j, seconds),
    report: j.report ?? null,
    error: j.error ?? null,
    resumed: j.resumed ?? null,
  };
}

/** The prediction beside the real figures: its duration and the ETA it gives now (what is left of it). */
function predictedView(j: Job, elapsedSec: number): Record<string, unknown> | null {
  const p = j.predicted;
  if (!p) return null;
  if ('unavailable' in p) return { unavailable: p.unavailable };
  const sec = p.durationMs / 1000;
  return {
    durationSec: Math.round(sec * 1000) / 1000,
    etaSec: j.state === 'running' ? Math.round(Math.max(0, sec - elapsedSec) * 1000) / 1000 : null,
    boundBy: p.boundBy,
  };
}
