// The adapter-count sweep: one array per point (disk adapters × drives per adapter, host
// adapters), a striped device over every drive, a random workload with `queueDepth` requests in
// flight per drive (the offered load grows with the array), in virtual time. Results are a
// function of the options alone: the same options give the same results.json, byte for byte.
import { parseConfig, type ArrayConfig } from '../shared/config/config.ts';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';
import { runVirtual, sched } from '../shared/sched/sched.ts';
import { DRIVE_MODEL_PRESETS } from '../shared/config/drive-models.ts';
import { ArrayEmulator } from '../runtime/emulator.ts';
import { runWorkload, type RunOptions } from '../host/run.ts';
import { inShard, type Shard } from './shard.ts';
import { loadSweepTrace, tracePoint, type SweepTrace } from './sweep-trace.ts';
import type { TraceRecord } from './trace.ts';
import { restripeFigures, sweepDriveGeometry, TRACK_BYTES } from './sweep-restripe.ts';
import { workloadShape, type SimulatorSpeed, type SweepOptions, type SweepPoint } from './sweep-types.ts';

export {
  SWEEP_RESTRIPES,
  SWEEP_WORKLOADS,
  type RestripeFigures,
  type SweepOptions,
  type SweepPoint,
  type SweepRestripe,
  type SweepWorkload,
} from './sweep-types.ts';

/** Cache slots per main drive: a small cache, so random reads reach the drives. */
const SWEEP_SLOTS_PER_DRIVE = 16;

/** The array of one point: `da` adapters of `k` full-size drives each, one device striped over all of them. */
export function sweepConfig(o: SweepOptions, da: number, ha: number): ArrayConfig {
  if (o.driveModel === 'instant')
    throw new ArrayError('USAGE', '--drive-model instant takes no time: a sweep needs drives with mechanics');
  const { heads, cylinders } = sweepDriveGeometry(o.driveModel, o.driveCylinders);
  const drives: ArrayConfig['drives'] = [];
  const diskAdapters: ArrayConfig['diskAdapters'] = [];
  for (let a = 0; a < da; a++) {
    const ids = Array.from({ length: o.drivesPerAdapter }, (_, k) => `d${a}.${k}`);
    for (const id of ids) drives.push({ id, cylinders, model: { preset: o.driveModel, scheduler: 'sptf' } });
    diskAdapters.push({ id: `DA${a}`, drives: ids, channelMBps: o.channelMBps });
  }
  const members = drives.map((d) => ({ drive: d.id, startCylinder: 0 }));
  return parseConfig({
    geometry: { trackBytes: TRACK_BYTES, headsPerCylinder: heads },
    cache: { slots: SWEEP_SLOTS_PER_DRIVE * drives.length, stage: o.stage ?? 'partial' },
    hostAdapters: ha,
    drives: drives.map((d) => ({ ...d, store: 'sparse' })),
    diskAdapters,
    devices: [{ id: 'LD1', layout: 'striped', cylinders: cylinders * members.length, stripeCylinders: 1, members }],
  });
}

/** The point's host load: `queueDepth` requests per main drive, spread over one processor per host adapter. */
function pointLoad(o: SweepOptions, drives: number, ha: number): RunOptions {
  return {
    hostProcessors: ha,
    seconds: o.seconds,
    queueDepth: Math.max(1, Math.round((o.queueDepth * drives) / ha)),
    ...workloadShape(o.workload),
    blockBytes: o.blockBytes,
    seed: o.seed,
    hostProcessorsHere: true,
    spreadOverHostAdapters: true,
    verify: o.verify ?? true,
  };
}

async function runPoint(o: SweepOptions, da: number, ha: number, records?: TraceRecord[]): Promise<SweepPoint> {
  const config = sweepConfig(o, da, ha);
  const drives = config.drives.length;
  if (o.trace && records) return tracedPoint(o, config, da, ha, records);
  const real = o.clock === 'real';
  const loadOpts = pointLoad(o, drives, ha);
  const load = async (s: { now(): number; steps?: number }) => {
    // Real time: every actor a worker thread, the host processors here; virtual: all in this thread.
    const emu = await ArrayEmulator.start(config, { mode: real ? 'threads' : 'inline' });
    const t0 = s.now();
    const wall0 = performance.now();
    const steps0 = s.steps ?? 0;
    try {
      const host = await runWorkload(emu, loadOpts);
      const ran = { wallMs: performance.now() - wall0, steps: (s.steps ?? 0) - steps0 };
      return { host, simulatedMs: s.now() - t0, ran };
    } finally {
      await emu.stop();
    }
  };
  const run = real ? { value: await load(sched()) } : await runVirtual(o.seed, load);
  const { host, ran } = run.value;
  if (host.verifyErrors > 0 || host.ioErrors > 0)
    throw new ArrayError(
      'INVARIANT',
      `sweep point ${da} DA × ${ha} HA: ${host.verifyErrors} verify and ${host.ioErrors} I/O errors: ${host.described[0]}`,
    );
  const restripes = o.restripe !== undefined && (o.restripe === 'stripe-change' || da >= 2);
  return {
    diskAdapters: da,
    hostAdapters: ha,
    drives,
    iops: host.iops,
    mbps: host.mbPerSec,
    latencyMs: { p50: host.latencyMs.p50, p99: host.latencyMs.p99 },
    restripe: restripes ? await restripeFigures(o, da, ha, loadOpts) : null,
    store: 'sparse',
    clock: real ? 'real' : 'virtual',
    simulatedMs: Math.round(run.value.simulatedMs),
    requests: host.reads + host.writes,
    ...(real ? {} : { simulator: simulatorSpeed(ran, run.value.simulatedMs, host.reads + host.writes) }),
  };
}

/** The simulator's speed over a load of `requests` that took `simulatedMs` of virtual time. */
export function simulatorSpeed(
  ran: { wallMs: number; steps: number },
  simulatedMs: number,
  requests: number,
): SimulatorSpeed {
  const wallSec = Math.max(ran.wallMs, 1e-3) / 1000;
  const round = (x: number, places: number) => Math.round(x * 10 ** places) / 10 ** places;
  return {
    wallMs: Math.round(ran.wallMs),
    steps: ran.steps,
    eventsPerSec: Math.round(ran.steps / wallSec),
    simSecPerSec: round(simulatedMs / 1000 / wallSec, 3),
    requestsPerSec: Math.round(requests / wallSec),
    stepsPerRequest: requests > 0 ? round(ran.steps / requests, 2) : 0,
  };
}

/** Every point of the sweep, in order (disk adapters within host adapters); `onPoint` after each. */
export async function runSweep(
  o: SweepOptions,
  onPoint?: (p: SweepPoint, done: number, total: number) => void,
): Promise<{ points: SweepPoint[] }> {
  const run = await runSweepSlice(o, undefined, onPoint);
  return { points: run.items.map((x) => x.item) };
}

/**
 * The points of the sweep in `shard` (all without one), each with its index in the whole sweep's
 * order; `total` is the whole sweep's count of points.
 */
export async function runSweepSlice(
  o: SweepOptions,
  shard: Shard | undefined,
  onPoint?: (p: SweepPoint, done: number, total: number) => void,
): Promise<{ total: number; items: Array<{ index: number; item: SweepPoint }> }> {
  if (!(DRIVE_MODEL_PRESETS as readonly string[]).includes(o.driveModel))
    throw new ArrayError('USAGE', `--drive-model ${o.driveModel}: not a preset`);
  // The options themselves are checked before any point runs (a bad one refuses the sweep, naming it);
  // what can fail after this is a point too big for this machine, reported with the others.
  sweepConfig(o, 1, 1);
  const records = o.trace ? traceRecords(o.trace) : undefined;
  if (o.trace && o.restripe !== undefined)
    throw new ArrayError('USAGE', '--trace and --restripe: a traced sweep measures the trace alone (drop one)');
  if (o.trace && o.clock === 'real') throw new ArrayError('USAGE', '--trace replays in virtual time only: drop --real');
  const all = o.hostAdapters.flatMap((ha) => o.diskAdapters.map((da) => ({ ha, da })));
  const mine = all.map((p, index) => ({ ...p, index })).filter((p) => inShard(p.index, shard));
  const items: Array<{ index: number; item: SweepPoint }> = [];
  for (const p of mine) {
    items.push({
      index: p.index,
      item: await runPoint(o, p.da, p.ha, records).catch((err: unknown) => failedPoint(o, p.da, p.ha, err)),
    });
    onPoint?.(items[items.length - 1]!.item, items.length, mine.length);
  }
  return { total: all.length, items };
}

/** The sweep's trace, read again and checked to be the one its options name (a slice may run elsewhere). */
function traceRecords(t: SweepTrace): TraceRecord[] {
  const { trace, records } = loadSweepTrace(t.file, t.format, t.closedLoop);
  if (trace.sha256 !== t.sha256)
    throw new ArrayError('USAGE', `--trace ${t.file}: not the trace this sweep was started with (its SHA-256 differs)`);
  return records;
}

/** A point of a traced sweep: the trace replayed on its device, its figures from the replay. */
async function tracedPoint(
  o: SweepOptions,
  config: ArrayConfig,
  da: number,
  ha: number,
  records: TraceRecord[],
): Promise<SweepPoint> {
  const { result, simulatedMs, bytes } = await tracePoint(config, o.trace!, records, o.seed);
  const ms = Math.max(simulatedMs, 1e-9);
  return {
    diskAdapters: da,
    hostAdapters: ha,
    drives: config.drives.length,
    iops: Math.round((result.requests / ms) * 1000),
    mbps: Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10,
    latencyMs: { p50: result.p50Ms, p99: result.p99Ms },
    restripe: null,
    store: 'sparse',
    clock: 'virtual',
    simulatedMs: Math.round(simulatedMs),
    requests: result.requests,
  };
}

/**
 * A point that could not run (too big for this machine, a configuration refused): its figures
 * zeros, its error said; results.json keeps it, the charts leave it out. Data lost or stale at a
 * point (INVARIANT: verify errors, a broken table) is not a point that could not run: it stops the sweep.
 */
function failedPoint(o: SweepOptions, da: number, ha: number, err: unknown): SweepPoint {
  // A RangeError only when memory was refused: any other is a bug, and stops the sweep as one.
  const memory = err instanceof RangeError && /allocation failed|array buffer (max )?length/i.test(err.message);
  const cannot = (err instanceof ArrayError && err.code !== 'INVARIANT') || memory;
  if (!cannot) throw err;
  return {
    diskAdapters: da,
    hostAdapters: ha,
    drives: da * o.drivesPerAdapter,
    iops: 0,
    mbps: 0,
    latencyMs: { p50: 0, p99: 0 },
    restripe: null,
    store: 'sparse',
    clock: o.clock === 'real' ? 'real' : 'virtual',
    simulatedMs: 0,
    requests: 0,
    error: errorMessage(err),
  };
}

export function sweepCsv(points: SweepPoint[]): string {
  const head = 'diskAdapters,hostAdapters,drives,iops,mbps,p50Ms,p99Ms,requests,simulatedMs';
  return `${[head, ...points.map((p) => [p.diskAdapters, p.hostAdapters, p.drives, p.iops, p.mbps, p.latencyMs.p50, p.latencyMs.p99, p.requests, p.simulatedMs].join(','))].join('\n')}\n`;
}
