// `arrayemu plan`: a restripe predicted before it runs. The same actors and the same throttle run it
// in virtual time (the discrete-event clock) on the array's own configuration, every drive behind
// its timing model, optionally under a host load; what the run took is the prediction: its
// duration, what each drive read and wrote, the busiest resource (a drive's mechanism or an
// adapter's back-end link) and what the hosts lost meanwhile. Reproducible for a seed.
import { parseConfig, type ArrayConfig } from '../shared/config/config.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { planReconfiguration } from '../shared/restripe/reconf-plan.ts';
import { runVirtual } from '../shared/sched/sched.ts';
import { DRIVE_MODEL_PRESETS } from '../shared/config/drive-models.ts';
import { timingModel } from '../drives/timing/timed-drive.ts';
import { ArrayEmulator } from '../runtime/emulator.ts';
import {
  duringOverBefore,
  runWorkload,
  startWorkload,
  type HostsDuring,
  type HostSummary,
  type RunOptions,
} from '../host/run.ts';
import { workloadShape, type SweepWorkload } from './sweep-types.ts';

export interface PlanLoad {
  workload: SweepWorkload;
  blockBytes: number;
  /** Requests in flight in all. */
  queueDepth: number;
  /** Simulated seconds of load measured before the restripe (the baseline of the ratios). */
  seconds: number;
}

export interface PlanOptions {
  running: ArrayConfig;
  target: unknown;
  /** Every drive behind this preset's timing model (else each drive's own `model`). */
  driveModel?: string;
  load?: PlanLoad;
  seed: number;
}

export interface PlanResult {
  device: string;
  kind: string;
  tracks: number;
  /** Predicted duration of the restripe, open to completion (ms). */
  durationMs: number;
  /** The busiest resource during it: `drive <id>`, `drive <id> interface` or `link <adapter>`, and how busy it was. */
  boundBy: string;
  busiestPct: number;
  /** Per drive: bytes, and how busy its mechanism (busyPct) and its host interface (interfacePct) were. */
  drives: Record<string, { readBytes: number; writeBytes: number; busyPct: number; interfacePct: number }>;
  links: Record<string, { busyPct: number }>;
  host?: HostsDuring;
}

/** The running configuration and the target with every drive behind `preset` (the target's drives are the running ones). */
export function withDriveModel(running: ArrayConfig, target: unknown, preset?: string): [ArrayConfig, unknown] {
  if (preset === undefined) return [running, target];
  if (!(DRIVE_MODEL_PRESETS as readonly string[]).includes(preset) || preset === 'instant')
    throw new ArrayError(
      'USAGE',
      `--drive-model ${preset}: must be one of ${DRIVE_MODEL_PRESETS.filter((p) => p !== 'instant').join(', ')}`,
    );
  const timed = (drives: unknown) =>
    Array.isArray(drives) ? drives.map((d) => (typeof d === 'object' && d ? { ...d, model: { preset } } : d)) : drives;
  const config = parseConfig({ ...running, drives: timed(running.drives) });
  // The target's own drives get the same model (a target that changes drives is still refused as such).
  const t = target as { drives?: unknown };
  return [config, typeof t === 'object' && t !== null ? { ...t, drives: timed(t.drives) } : target];
}

/** The drives of `config` with no timing model (a plan needs none: an untimed drive takes no time). */
export function untimedDrives(config: ArrayConfig): string[] {
  return config.drives.filter((d) => timingModel(d.model) === undefined).map((d) => d.id);
}

export async function planRestripe(o: PlanOptions): Promise<PlanResult> {
  const [config, target] = withDriveModel(o.running, o.target, o.driveModel);
  const untimed = untimedDrives(config);
  if (untimed.length > 0)
    throw new ArrayError(
      'USAGE',
      `plan needs every drive's timing: drive(s) ${untimed.slice(0, 5).join(', ')} have no model (give --drive-model, driveModel in the control API, or drives[].model in the configuration)`,
    );
  const plan = planReconfiguration(config, target); // refuses a target it cannot run, naming why
  const { value } = await runVirtual(o.seed, () => virtualRestripe(config, target, plan.deviceId, o.load, o.seed));
  return figures(plan.deviceId, plan.kind, value);
}

interface Run {
  tracks: number;
  durationMs: number;
  before: Record<string, Record<string, number>>;
  after: Record<string, Record<string, number>>;
  host?: { before: HostSummary; during: HostSummary };
}

async function virtualRestripe(
  config: ArrayConfig,
  target: unknown,
  device: string,
  load: PlanLoad | undefined,
  seed: number,
): Promise<Run> {
  const emu = await ArrayEmulator.start(config, { mode: 'inline' });
  try {
    const opts = load && loadOptions(load, device, seed);
    const hostBefore = opts && (await runWorkload(emu, opts));
    const before = await emu.status();
    const wl = opts && startWorkload(emu, { ...opts, seconds: undefined, verify: false });
    const report = await emu.reconfigure(target).finally(() => wl?.stop());
    const during = await wl?.done;
    const after = await emu.status();
    return {
      tracks: report.tracksTotal,
      durationMs: report.durationMs,
      before,
      after,
      host: hostBefore && during ? { before: hostBefore, during } : undefined,
    };
  } finally {
    await emu.stop();
  }
}

function loadOptions(load: PlanLoad, device: string, seed: number): RunOptions {
  return {
    hostProcessors: 1,
    seconds: load.seconds,
    queueDepth: load.queueDepth,
    ...workloadShape(load.workload),
    blockBytes: load.blockBytes,
    seed,
    devices: [device],
    verify: false,
  };
}

/** Percent of the restripe a resource was busy: work is counted when it is scheduled, so a queue still draining at the end is clamped to 100. */
const pct = (busyMs: number, durationMs: number) =>
  Math.min(100, Math.round((busyMs / Math.max(durationMs, 1e-9)) * 1000) / 10);

/** The run's figures: what each drive and link did between the status before the restripe and after it. */
function figures(device: string, kind: string, run: Run): PlanResult {
  const delta = (actor: string, key: string) => (run.after[actor]?.[key] ?? 0) - (run.before[actor]?.[key] ?? 0);
  const drives: PlanResult['drives'] = {};
  const links: PlanResult['links'] = {};
  let busiest = { name: 'none', pct: 0 };
  for (const actor of Object.keys(run.after).filter((a) => a.startsWith('DA'))) {
    links[actor] = { busyPct: pct(delta(actor, 'channelBusyMs'), run.durationMs) };
    if (links[actor].busyPct > busiest.pct) busiest = { name: `link ${actor}`, pct: links[actor].busyPct };
    for (const key of Object.keys(run.after[actor]!)) {
      const m = /^drive:(.+):busyMs$/.exec(key);
      if (!m) continue;
      const id = m[1]!;
      const d = {
        readBytes: delta(actor, `drive:${id}:readBytes`),
        writeBytes: delta(actor, `drive:${id}:writtenBytes`),
        busyPct: pct(delta(actor, key), run.durationMs),
        interfacePct: pct(delta(actor, `drive:${id}:interfaceMs`), run.durationMs),
      };
      drives[id] = d;
      if (d.busyPct > busiest.pct) busiest = { name: `drive ${id}`, pct: d.busyPct };
      if (d.interfacePct > busiest.pct) busiest = { name: `drive ${id} interface`, pct: d.interfacePct };
    }
  }
  const h = run.host;
  return {
    device,
    kind,
    tracks: run.tracks,
    durationMs: Math.round(run.durationMs * 10) / 10,
    boundBy: busiest.name,
    busiestPct: busiest.pct,
    drives,
    links,
    ...(h
      ? {
          host: duringOverBefore(h.before, h.during),
        }
      : {}),
  };
}
