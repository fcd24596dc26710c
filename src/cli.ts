// arrayemu's command line. Every refusal is one clear message and exit code 2; a run that loses
// data or breaks an invariant exits 1.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadConfig, type ArrayConfig } from './shared/config.ts';
import { DEFAULT_CHANNEL_MBPS, DRIVE_MODEL_PRESETS, DRIVE_SCHEDULERS } from './shared/drive-models.ts';
import { cylinderName, deviceLayout, transferPlan } from './shared/layout.ts';
import { ArrayError, errorMessage } from './shared/errors.ts';
import { runVirtual } from './shared/sched.ts';
import { ArrayEmulator, type Mode } from './runtime/emulator.ts';
import type { Log } from './shared/link.ts';
import { runWorkload, type RunOptions, type HostSummary } from './host/run.ts';
import { runWithReconfigurations } from './host/reconfigure-run.ts';
import { planRounds } from './service-processor/plan.ts';
import type { ReconfReport, Progress } from './shared/report.ts';
import { progressReporter } from './host/progress.ts';
import { reconfJson, reconfText } from './host/report-format.ts';

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v.endsWith('%') ? v.slice(0, -1) : v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max} (got "${v}")`);
    return n;
  };
}

function numArg(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number ≥ ${min} (got "${v}")`);
    return n;
  };
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ArrayError('CONFIG', `${file}: cannot be read as JSON (${errorMessage(err)})`);
  }
}

function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text()}\n`);
}

/** `layout`: the per-drive cylinder table of a device, and with --to the transfer plan. */
function layoutCommand(opts: { config: string; device: string; to?: string; json?: boolean }): void {
  const running = loadConfig(opts.config);
  const target = opts.to ? loadConfig(opts.to, { running }) : undefined;
  const show = target ?? running;
  const layout = deviceLayout(show, opts.device, running);
  const drives = Object.fromEntries([...layout.cylindersByDrive()].map(([d, cs]) => [d, cs.map(cylinderName)]));
  const out: Record<string, unknown> = {
    device: layout.deviceId,
    layout: layout.kind,
    ...(layout.kind === 'striped' ? { stripeCylinders: layout.stripeCylinders } : {}),
    cylinders: layout.cylinders,
    drives,
  };
  let plan: ReturnType<typeof transferPlan> | undefined;
  if (target) {
    const bcv = running.devices.find((d) => d.layout === 'bcv' && d.of === opts.device);
    if (!bcv) throw new ArrayError('CONFIG', `${opts.config}: device "${opts.device}" has no BCV to restripe through`);
    plan = transferPlan(deviceLayout(running, opts.device), deviceLayout(running, bcv.id), layout);
    out.from = { stripeCylinders: deviceLayout(running, opts.device).stripeCylinders, cylinders: deviceLayout(running, opts.device).cylinders };
    out.transfer = plan;
  }
  print(!!opts.json, out, () => {
    const lines = [`${layout.deviceId}: ${layout.kind}, ${layout.cylinders} cylinders${layout.kind === 'striped' ? `, stripe ${layout.stripeCylinders} cylinder(s)` : ''}`];
    const width = Math.max(...Object.values(drives).map((c) => c.length));
    lines.push(`  drive  ${Array.from({ length: width }, (_, i) => `row${i}`.padEnd(5)).join('')}`);
    for (const [d, cs] of Object.entries(drives)) lines.push(`  ${d.padEnd(6)} ${cs.map((c) => c.padEnd(5)).join('')}`);
    if (plan) {
      lines.push('', '  transfer plan (drive:cylinder)  original → BCV → new');
      for (const r of plan) lines.push(`  ${r.cylinder.padEnd(4)} ${r.from.padEnd(7)} → ${r.bcv.padEnd(7)} → ${r.to}${r.moves ? '' : '   (stays)'}`);
    }
    return lines.join('\n');
  });
}

interface RunCliOptions {
  config: string;
  ops?: number;
  seconds?: number;
  queueDepth: number;
  readPct: number;
  blockBytes: number;
  pattern: 'random' | 'sequential';
  hostProcessors: number;
  seed: number;
  inline?: boolean;
  virtual?: boolean;
  json?: boolean;
  reconfigureTo?: string[];
  reconfigureAt: number;
  verbose?: boolean;
}

/** Every actor's log lines on stderr (the service processor's steps with their durations, …). */
export const verboseLog: Log = (level, text) => process.stderr.write(`arrayemu ${level}: ${text}\n`);

async function runCommand(opts: RunCliOptions): Promise<number> {
  if (!opts.virtual) return runOnArray(opts, opts.inline ? 'inline' : 'threads');
  // Virtual: every actor and host processor in this thread under a discrete-event clock (time
  // moves only to the next drive completion or sleep); the same seed gives the same figures.
  const wall0 = performance.now();
  const r = await runVirtual(opts.seed, () => runOnArray(opts, 'inline'));
  if (!opts.json) process.stderr.write(`virtual run: ${(r.virtualMs / 1000).toFixed(3)} s simulated in ${((performance.now() - wall0) / 1000).toFixed(3)} s of wall time\n`);
  return r.value;
}

async function runOnArray(opts: RunCliOptions, mode: Mode): Promise<number> {
  const config: ArrayConfig = loadConfig(opts.config);
  if (opts.blockBytes % 512 !== 0) throw new ArrayError('USAGE', `--block-bytes ${opts.blockBytes} is not a multiple of 512`);
  const emu = await ArrayEmulator.start(config, { mode, log: opts.verbose ? verboseLog : undefined });
  try {
    const run: RunOptions = {
      hostProcessors: opts.hostProcessors,
      ops: opts.seconds === undefined ? (opts.ops ?? 20000) : opts.ops,
      seconds: opts.seconds,
      queueDepth: opts.queueDepth,
      readPct: opts.readPct,
      blockBytes: opts.blockBytes,
      pattern: opts.pattern,
      seed: opts.seed,
    };
    let host: HostSummary;
    let reconfigurations: ReconfReport[] = [];
    let reconfError: string | undefined;
    if (opts.reconfigureTo && opts.reconfigureTo.length > 0) {
      const targets = opts.reconfigureTo.map((f) => readJson(f));
      planRounds(
        config,
        targets.map((t) => [t]),
      ); // refuse a bad target before any I/O
      const progress = progressReporter(!!opts.json);
      const r = await runWithReconfigurations(emu, {
        ...run,
        targets,
        atFraction: opts.reconfigureAt / 100,
        onProgress: (p: Progress) => progress.update(p),
        onReport: (rep) => progress.done(rep),
      }).finally(() => progress.stop());
      host = r.host;
      reconfigurations = r.reconfigurations;
      reconfError = r.error;
    } else {
      host = await runWorkload(emu, run);
    }
    const problems = emu.problems();
    const bitsLeft = reconfigurations.some((r) => r.bitsLeft.pb + r.bitsLeft.ps + r.bitsLeft.ind > 0);
    const ok = host.verifyErrors === 0 && host.ioErrors === 0 && problems.length === 0 && !reconfError && !bitsLeft;
    const { described, ...hostOut } = host;
    const json: Record<string, unknown> = { ok, clock: opts.virtual ? 'virtual' : 'real', host: hostOut, errors: described, problems };
    if (opts.reconfigureTo) json.reconfigurations = reconfigurations.map(reconfJson);
    if (reconfError) json.reconfigurationError = reconfError;
    print(!!opts.json, json, () =>
      [
        `${ok ? 'OK' : 'FAILED'}: ${host.reads} reads, ${host.writes} writes, ${(host.bytes / 1048576).toFixed(1)} MiB in ${(host.elapsedMs / 1000).toFixed(2)} s`,
        `  ${host.iops} ops/s, ${host.mbPerSec} MB/s, latency p50 ${host.latencyMs.p50} ms, p99 ${host.latencyMs.p99} ms, max ${host.latencyMs.max} ms`,
        `  verify errors: ${host.verifyErrors}, I/O errors: ${host.ioErrors}`,
        ...described.map((d) => `  - ${d}`),
        ...(reconfigurations.length > 0 ? ['reconfigurations:', ...reconfigurations.flatMap(reconfText)] : []),
        ...(reconfError ? [`  reconfiguration failed: ${reconfError}`] : []),
        ...problems.map((p) => `  actor stopped: ${p}`),
      ].join('\n'),
    );
    return ok ? 0 : EXIT_FAILED;
  } finally {
    await emu.stop();
  }
}

type StressCliOptions = {
  seeds: number;
  seed: number;
  jobs?: number;
  json?: boolean;
  breakFill?: boolean;
  faults?: boolean;
  deterministic?: boolean;
  schedules: number;
  schedule: number;
  verbose?: boolean;
  threads?: boolean;
  heavy?: boolean;
  driveModels?: boolean;
};

async function stressCommand(o: StressCliOptions): Promise<number> {
  if (o.threads && o.deterministic) throw new ArrayError('USAGE', '--threads and --deterministic exclude each other: the seeded scheduler runs every actor in one thread');
  if (o.verbose && o.jobs !== 1) throw new ArrayError('USAGE', '--verbose prints the log lines of this thread: give --jobs 1 (a rerun prints it)');
  if (!o.deterministic && (o.schedules !== 1 || o.schedule !== 0)) {
    throw new ArrayError('USAGE', '--schedules and --schedule choose interleavings of the seeded scheduler: they need --deterministic');
  }
  const { runStress, defaultJobs } = await import('./stress/pool.ts');
  const tty = process.stderr.isTTY === true;
  const total = o.seeds * o.schedules;
  const unit = o.schedules > 1 ? 'runs' : 'seeds';
  const s = await runStress({
    seeds: o.seeds,
    firstSeed: o.seed,
    jobs: o.jobs ?? defaultJobs(),
    schedules: o.schedules,
    mode: o.threads ? 'threads' : 'inline',
    seedOptions: {
      breakFill: o.breakFill,
      heavy: o.heavy,
      driveModels: o.driveModels,
      faults: o.faults,
      deterministic: o.deterministic,
      ...(o.deterministic ? { schedule: o.schedule } : {}),
      ...(o.verbose ? { log: (text: string) => process.stderr.write(`arrayemu ${text}\n`) } : {}),
    },
    onSeed: (r, done) => {
      if (!r.ok) process.stderr.write(`${tty ? '\n' : ''}seed ${r.seed}${o.schedules > 1 || o.schedule > 0 ? ` schedule ${r.schedule}` : ''} FAILED: ${r.reason}\n`);
      if (!o.json || tty) process.stderr.write(tty ? `\rstress: ${done}/${total} ${unit}` : done % 10 === 0 || done === total ? `stress: ${done}/${total} ${unit}\n` : '');
    },
  });
  if (tty) process.stderr.write('\n');
  print(!!o.json, s, () =>
    [
      `${s.failures === 0 ? 'OK' : 'FAILED'}: ${s.seeds} seeds${s.runs !== s.seeds ? ` × ${o.schedules} schedules` : ''}, ${s.failures} failures, ${s.verifyErrors} verify errors, ${s.faultsInjected} faults injected, ${s.ops} host operations in ${(s.elapsedMs / 1000).toFixed(1)} s`,
      `  reconfigurations: ${s.reconfigurations} (${Object.entries(s.kinds)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')})`,
      `  scenarios met: 1:${s.scenarios['1']} 2:${s.scenarios['2']} 3:${s.scenarios['3']} 4:${s.scenarios['4']}`,
      `  faults: ${Object.entries(s.faults)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}${s.lostWithAdapter ? ` (${s.lostWithAdapter} requests failed with their host adapter, as they should)` : ''}`,
      ...s.failed.map(
        (f) => `  seed ${f.seed}${f.schedule ? ` schedule ${f.schedule}` : ''}: ${f.reason}${f.trace ? ` [trace ${f.trace}, ${f.steps} steps]` : ''}\n    rerun: ${f.rerun}`,
      ),
    ].join('\n'),
  );
  return s.failures === 0 ? 0 : EXIT_FAILED;
}

function addLayoutCommand(program: Command): void {
  program
    .command('layout')
    .description("print a device's cylinders per drive in physical order (the patent's FIG. 8/9 tables); with --to, the new layout and the transfer plan")
    .requiredOption('--config <file>', 'the array configuration (running configuration)')
    .requiredOption('--device <id>', 'the logical device')
    .option('--to <file>', 'a reconfiguration target: show its layout and the transfer plan')
    .option('--json', 'machine-readable output')
    .action((o) => layoutCommand(o));
}

function addValidateCommand(program: Command): void {
  program
    .command('validate')
    .description('check a configuration file (and a reconfiguration target against it)')
    .requiredOption('--config <file>', 'the array configuration')
    .option('--to <file>', 'a reconfiguration target to check against --config')
    .option('--json', 'machine-readable output')
    .action((o: { config: string; to?: string; json?: boolean }) => {
      const running = loadConfig(o.config);
      if (o.to) loadConfig(o.to, { running });
      print(!!o.json, { ok: true, devices: running.devices.map((d) => d.id) }, () => (o.to ? `OK: ${o.config} and ${o.to} are valid` : `OK: ${o.config} is valid`));
    });
}

function addRunCommand(program: Command): void {
  program
    .command('run')
    .description('run a verifying host workload on every non-BCV device and print a summary')
    .requiredOption('--config <file>', 'the array configuration')
    .option('--ops <n>', 'operations in all (default 20000 unless --seconds)', intArg('--ops', 1))
    .option('--seconds <s>', 'run for this long instead of a number of operations', numArg('--seconds', 0))
    .option('--queue-depth <q>', 'requests each host processor keeps in flight', intArg('--queue-depth', 1, 4096), 16)
    .option('--read-pct <p>', 'percentage of reads', intArg('--read-pct', 0, 100), 50)
    .option('--block-bytes <b>', 'bytes per request (multiple of 512)', intArg('--block-bytes', 512, 64 << 20), 4096)
    .addOption(new Option('--pattern <p>', 'offsets').choices(['random', 'sequential']).default('random'))
    .option('--host-processors <n>', 'host processors (piscina pool threads)', intArg('--host-processors', 1, 64), 2)
    .option('--seed <n>', 'workload seed', intArg('--seed', 0), 1)
    .option('--inline', 'run every actor in this thread (same classes, no worker threads)')
    .option('--virtual', "virtual time: every actor in this thread under a discrete-event clock (drives take their timing models' time, nothing else takes any); reproducible")
    .option('--reconfigure-to <file>', 'reconfigure online to this target mid-run (repeat for several, in order)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--reconfigure-at <pct>', 'start reconfiguring when this share of the run is done', intArg('--reconfigure-at', 0, 100), 30)
    .option('--verbose', "print every actor's log lines on stderr (each RECONF step with its duration)")
    .option('--json', 'print one JSON object')
    .action(async (o: RunCliOptions) => {
      process.exitCode = await runCommand(o);
    });
}

function addStressCommand(program: Command): void {
  program
    .command('stress')
    .description('random arrays under a verifying load, reconfigured mid-run (every kind; two devices at once; two in a row), seeds in parallel')
    .option('--seeds <n>', 'how many seeds', intArg('--seeds', 1, 1_000_000), 50)
    .option('--seed <s>', 'the first seed', intArg('--seed', 0), 0)
    .option('--jobs <j>', 'seeds run at once (piscina pool threads)', intArg('--jobs', 1, 64))
    .option(
      '--faults',
      'inject faults: batches between actors delayed and reordered; disk and host adapters failed and replaced during ESTABLISH, at the switch, during the transfer and between sessions',
    )
    .option('--deterministic', 'run each seed under the seeded scheduler: one thread, virtual time, the same interleaving on every rerun')
    .option('--threads', "each seed's actors in worker threads of their own (with --faults: adapter workers terminated wherever they are)")
    .option('--schedules <k>', 'with --deterministic: run each seed under k schedules (interleavings), each replayable', intArg('--schedules', 1, 10_000), 1)
    .option('--schedule <i>', 'with --deterministic: the first schedule to run (a rerun names the one that failed)', intArg('--schedule', 0, 1_000_000_000), 0)
    .option('--break-fill', 'TEST ONLY: a deliberately broken fill that skips split(o), to see the run catch it')
    .option('--drive-models', 'a timing model on every drive (a random preset and queue policy each): drives take time')
    .option('--heavy', 'heavy host load around the switch: queue depth 32-128 on each of 2-4 host processors, half the requests aimed at locations both layouts share')
    .option('--verbose', "print every actor's log lines on stderr, stamped with the scheduler's clock (for a rerun with --jobs 1)")
    .option('--json', 'print one JSON object')
    .action(async (o: StressCliOptions) => {
      process.exitCode = await stressCommand(o);
    });
}

/** `--drive-model`: a preset with mechanics (not `instant`), or a refusal naming the choices. */
function timedPreset(name: string | undefined) {
  const presets = DRIVE_MODEL_PRESETS.filter((p) => p !== 'instant');
  const preset = presets.find((p) => p === name);
  if (!preset) throw new ArrayError('USAGE', `--drive-model ${name}: must be one of ${presets.join(', ')}`);
  return preset;
}

interface ReplayCliOptions {
  trace: string;
  format?: string;
  closedLoop?: boolean;
  driveModel?: string;
  scheduler?: string;
  driveCache: boolean;
  config?: string;
  device?: string;
  responses?: string;
  json?: boolean;
}

async function replayCommand(o: ReplayCliOptions): Promise<number> {
  if (!!o.config !== !!o.device) throw new ArrayError('USAGE', '--config and --device go together: the array and the logical device to replay on');
  if (!o.driveModel === !o.config) throw new ArrayError('USAGE', 'give either --drive-model PRESET (one bare drive) or --config F --device ID (through the whole array)');
  const { parseTrace, detectFormat, TRACE_FORMATS } = await import('./host/trace.ts');
  let text: string;
  try {
    text = readFileSync(o.trace, 'utf8');
  } catch (err) {
    throw new ArrayError('USAGE', `--trace ${o.trace}: cannot be read (${errorMessage(err)})`);
  }
  if (o.format && !(TRACE_FORMATS as readonly string[]).includes(o.format)) throw new ArrayError('USAGE', `--format ${o.format}: must be one of ${TRACE_FORMATS.join(', ')}`);
  const format = (o.format as (typeof TRACE_FORMATS)[number] | undefined) ?? detectFormat(text);
  const recs = parseTrace(text, format);
  const { result: r, on } = o.config ? await replayArray(o, recs) : await replayDrive(o, recs);
  if (o.responses) writeFileSync(o.responses, r.responsesMs.map((x) => x.toFixed(4)).join('\n') + '\n');
  const { requests, meanMs, p50Ms, p90Ms, p99Ms, measuredMeanMs, demeritMs } = r;
  print(!!o.json, { requests, meanMs, p50Ms, p90Ms, p99Ms, measuredMeanMs, demeritMs }, () =>
    [
      `${requests} requests (${format}, ${o.closedLoop ? 'closed' : 'open'} loop) on ${on}, virtual time: mean ${meanMs} ms, p50 ${p50Ms}, p90 ${p90Ms}, p99 ${p99Ms} ms`,
      measuredMeanMs === null ? '  the trace carries no response times: no demerit' : `  measured mean ${measuredMeanMs} ms; demerit ${demeritMs} ms`,
      '  response-time CDF (simulated):',
      ...r.cdf.filter((_, i) => i % 2 === 1).map((c) => `    ${String(Math.round(c.fraction * 100)).padStart(3)}%  ≤ ${c.ms} ms`),
    ].join('\n'),
  );
  return 0;
}

type Records = import('./host/trace.ts').TraceRecord[];

async function replayDrive(o: ReplayCliOptions, recs: Records) {
  const { replayOnDrive } = await import('./host/replay.ts');
  const { timingModel } = await import('./disk-adapter/timing/timed-drive.ts');
  const preset = timedPreset(o.driveModel);
  const scheduler = DRIVE_SCHEDULERS.find((x) => x === o.scheduler);
  if (o.scheduler && !scheduler) throw new ArrayError('USAGE', `--scheduler ${o.scheduler}: must be one of ${DRIVE_SCHEDULERS.join(', ')}`);
  const model = timingModel({ preset, scheduler, cache: o.driveCache })!;
  return { result: replayOnDrive(model, recs, { closedLoop: !!o.closedLoop }), on: `a bare ${preset}` };
}

async function replayArray(o: ReplayCliOptions, recs: Records) {
  const { replayOnArray } = await import('./host/replay.ts');
  const config = loadConfig(o.config!);
  const dev = config.devices.find((d) => d.id === o.device);
  if (!dev || dev.layout === 'bcv')
    throw new ArrayError(
      'USAGE',
      `--device ${o.device}: no such host device in ${o.config} (devices: ${config.devices
        .filter((d) => d.layout !== 'bcv')
        .map((d) => d.id)
        .join(', ')})`,
    );
  const run = await runVirtual(1, async () => {
    const emu = await ArrayEmulator.start(config, { mode: 'inline' });
    try {
      return await replayOnArray(emu, o.device!, recs, { closedLoop: !!o.closedLoop });
    } finally {
      await emu.stop();
    }
  });
  return { result: run.value, on: `${o.device} of ${o.config}` };
}

function addReplayCommand(program: Command): void {
  program
    .command('replay')
    .description(
      'replay a block trace (MSR Cambridge, SPC, DiskSim ASCII) on one bare drive model or through a whole array, in virtual time; with measured response times, the demerit',
    )
    .requiredOption('--trace <file>', 'the trace')
    .option('--format <f>', 'msr | spc | disksim (default: detected from the first line)')
    .option('--closed-loop', 'issue each request a think time after the previous completes (think time from the trace), instead of at its timestamp')
    .option('--drive-model <preset>', 'one bare drive: atlas10k, cheetah9LP, barracuda, hdd-15k, hdd-7200, ssd')
    .option('--scheduler <s>', "the drive's queue policy: fcfs, clook, sptf (default: the preset's)")
    .option('--no-drive-cache', "switch the drive's cache off")
    .option('--config <file>', 'replay through a whole array (its cache, adapters and drive models), on --device')
    .option('--device <id>', 'the logical device of --config the trace addresses (block 0 is its first byte)')
    .option('--responses <file>', 'write one simulated response time (ms) per request, in trace order')
    .option('--json', 'print one JSON object: {"requests","meanMs","p50Ms","p90Ms","p99Ms","measuredMeanMs","demeritMs"}')
    .action(async (o: ReplayCliOptions) => {
      process.exitCode = await replayCommand(o);
    });
}

interface SweepCliOptions {
  diskAdapters: number[];
  hostAdapters: number[];
  drivesPerAdapter: number;
  driveModel: string;
  workload: string;
  blockBytes: number;
  queueDepth: number;
  seconds: number;
  seed: number;
  restripe?: string;
  restripeCylinders?: number;
  channelMbps?: number;
  driveCylinders?: number;
  virtual?: boolean;
  real?: boolean;
  out: string;
  json?: boolean;
}

const listArg = (name: string, max: number) => (v: string) => v.split(',').map((x) => intArg(name, 1, max)(x.trim()));

async function sweepCommand(o: SweepCliOptions): Promise<number> {
  const { runSweep, sweepCsv, SWEEP_WORKLOADS, SWEEP_RESTRIPES } = await import('./host/sweep.ts');
  const restripe = o.restripe === undefined ? undefined : SWEEP_RESTRIPES.find((k) => k === o.restripe);
  if (o.restripe !== undefined && !restripe) throw new ArrayError('USAGE', `--restripe ${o.restripe}: must be one of ${SWEEP_RESTRIPES.join(', ')}`);
  if (restripe && o.real) throw new ArrayError('USAGE', '--restripe runs in virtual time only: drop --real');
  const { writeSweepCharts } = await import('./host/sweep-charts.ts');
  if (!(SWEEP_WORKLOADS as readonly string[]).includes(o.workload)) throw new ArrayError('USAGE', `--workload ${o.workload}: must be one of ${SWEEP_WORKLOADS.join(', ')}`);
  const model = timedPreset(o.driveModel);
  if (o.blockBytes % 512 !== 0) throw new ArrayError('USAGE', `--block-bytes ${o.blockBytes} is not a multiple of 512`);
  if (o.real && o.virtual) throw new ArrayError('USAGE', '--real and --virtual exclude each other: a sweep runs on one clock');
  mkdirSync(o.out, { recursive: true });
  const tty = process.stderr.isTTY === true;
  const result = await runSweep(
    {
      diskAdapters: o.diskAdapters,
      hostAdapters: o.hostAdapters,
      drivesPerAdapter: o.drivesPerAdapter,
      driveModel: model,
      workload: o.workload as (typeof SWEEP_WORKLOADS)[number],
      blockBytes: o.blockBytes,
      queueDepth: o.queueDepth,
      seconds: o.seconds,
      seed: o.seed,
      clock: o.real ? 'real' : 'virtual',
      restripe,
      restripeCylinders: o.restripeCylinders,
      channelMBps: o.channelMbps,
      driveCylinders: o.driveCylinders,
    },
    (p, done, total) => {
      if (!o.json || tty)
        process.stderr.write(
          `${tty ? '\r' : ''}sweep: ${done}/${total} points (${p.diskAdapters} DA × ${p.hostAdapters} HA: ${p.iops} IOPS, p99 ${p.latencyMs.p99} ms)${tty ? '' : '\n'}`,
        );
    },
  );
  if (tty) process.stderr.write('\n');
  writeFileSync(join(o.out, 'results.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(o.out, 'results.csv'), sweepCsv(result.points));
  const files = await writeSweepCharts(o.out, result.points);
  print(!!o.json, result, () =>
    [
      `sweep (${o.real ? 'real time' : 'virtual time'}, ${o.workload}, ${o.blockBytes} B, QD ${o.queueDepth} per drive, ${o.drivesPerAdapter} ${model} drives per disk adapter, ${o.seconds} s per point):`,
      ...result.points.map(
        (p) =>
          `  ${String(p.diskAdapters).padStart(2)} DA × ${p.hostAdapters} HA, ${p.drives} drives: ${p.iops} IOPS, ${p.mbps} MB/s, p50 ${p.latencyMs.p50} ms, p99 ${p.latencyMs.p99} ms` +
          (p.restripe
            ? `\n      ${p.restripe.kind} of ${p.restripe.tracks} tracks: ${p.restripe.durationMs} ms under load (host ${p.restripe.hostOpsDuringRatio}× ops, ${p.restripe.hostP99DuringRatio}× p99), ${p.restripe.idleDurationMs} ms with none = ${p.restripe.idleOverBound}× the ${p.restripe.boundBy}-bound ${p.restripe.lowerBoundMs} ms`
            : ''),
      ),
      `written to ${o.out}: results.json, results.csv, ${files.join(', ')}`,
    ].join('\n'),
  );
  return 0;
}

function addSweepCommand(program: Command): void {
  program
    .command('sweep')
    .description(
      'adapter-count sweep: one array per point, a striped device over every drive, a workload with a queue depth per drive, in virtual time; results.json, results.csv, SVG charts and index.html',
    )
    .requiredOption('--out <dir>', 'where to write the results and charts')
    .option('--disk-adapters <list>', 'disk adapter counts, e.g. 1,2,4,8,16', listArg('--disk-adapters', 64), [1, 2, 4])
    .option('--host-adapters <list>', 'host adapter counts, e.g. 1,2,4', listArg('--host-adapters', 16), [1])
    .option('--drives-per-adapter <k>', 'main drives per disk adapter', intArg('--drives-per-adapter', 1, 64), 4)
    .option('--drive-model <preset>', 'atlas10k, cheetah9LP, barracuda, hdd-15k, hdd-7200, ssd (full-size drives, sparse store)', 'atlas10k')
    .option('--workload <w>', 'randread | randwrite | randrw | seqread | seqwrite', 'randread')
    .option('--block-bytes <b>', 'bytes per request (multiple of 512)', intArg('--block-bytes', 512, 64 << 20), 4096)
    .option('--queue-depth <q>', 'requests in flight per main drive', intArg('--queue-depth', 1, 1024), 4)
    .option('--seconds <s>', 'simulated seconds of load per point', numArg('--seconds', 0.01), 2)
    .option('--seed <n>', 'workload seed', intArg('--seed', 0), 1)
    .option(
      '--restripe <kind>',
      'expand | stripe-change | both: at each point, restripe a device (a BCV drive beside each member) under the load and with none; expand needs 2+ disk adapters (it expands onto the last one)',
    )
    .option(
      '--restripe-cylinders <n>',
      'cylinders of the restriped device in all, shared out over its members (the same device at every point)',
      intArg('--restripe-cylinders', 2, 1_000_000),
      96,
    )
    .option('--drive-cylinders <n>', "each drive short-stroked to its outer N cylinders (default: the preset's full size)", intArg('--drive-cylinders', 1, 10_000_000))
    .option('--channel-mbps <n>', `each disk adapter's back-end link, MB/s (default ${DEFAULT_CHANNEL_MBPS}: a 2 Gb/s FC loop)`, numArg('--channel-mbps', 1))
    .option('--virtual', 'virtual time: a discrete-event clock, reproducible (the default)')
    .option('--real', 'real time: every actor a worker thread, drives waiting for real (to check the virtual figures against)')
    .option('--json', 'print the results as one JSON object')
    .action(async (o: SweepCliOptions) => {
      process.exitCode = await sweepCommand(o);
    });
}

function addServeCommand(program: Command): void {
  program
    .command('serve')
    .description('start the array and serve every non-BCV logical device as an NBD export (named by its device id) until SIGINT/SIGTERM')
    .option('--config <file>', 'the array configuration (with --data-dir, only the first time: the directory keeps the running one)')
    .option(
      '--data-dir <dir>',
      'keep the array here, durable: every write acknowledged before a FLUSH (or a FUA write) survives a crash, an interrupted restripe resumes at the next start',
    )
    .option('--listen <host:port>', 'TCP address (default 127.0.0.1:10809 when no --socket is given)')
    .option('--socket <path>', 'a Unix socket to serve on as well (or alone)')
    .option('--http <host:port>', 'the control API and /metrics (e.g. 127.0.0.1:9180; an address other than loopback needs --token-file)')
    .option('--token-file <file>', 'a bearer token every control API request must carry')
    .option('--inline', 'run every actor in this thread (no worker threads)')
    .option('--verbose', 'log refused requests and dropped connections on stderr')
    .option('--json', 'print the export URIs as one JSON object')
    .action(async (o: ServeCliOptions) => serveCommand(o));
}

interface ServeCliOptions {
  config?: string;
  dataDir?: string;
  listen?: string;
  socket?: string;
  http?: string;
  tokenFile?: string;
  inline?: boolean;
  verbose?: boolean;
  json?: boolean;
}

async function serveCommand(o: ServeCliOptions): Promise<void> {
  const { serve } = await import('./host/nbd/serve.ts');
  const { startControl } = await import('./host/control/server.ts');
  if (!o.config && !o.dataDir) throw new ArrayError('USAGE', 'give --config (and/or --data-dir holding an array)');
  const config = o.config ? loadConfig(o.config) : undefined;
  const log = o.verbose ? (l: string) => process.stderr.write(`${l}\n`) : undefined;
  const s = await serve(config, { listen: o.listen, socket: o.socket, mode: o.inline ? 'inline' : 'threads', log, dataDir: o.dataDir });
  let control: Awaited<ReturnType<typeof startControl>> | undefined;
  try {
    if (o.http) control = await startControl(s, s.running, o.http, o.tokenFile);
  } catch (err) {
    await s.close();
    throw err;
  }
  const http = control ? [`${control.url}/v1/status`, `${control.url}/metrics`] : [];
  print(!!o.json, { ok: true, uris: s.uris, http }, () => `arrayemu serving (Ctrl-C to stop):\n${[...s.uris, ...http].map((u) => `  ${u}`).join('\n')}`);
  await signalled();
  const running = control?.jobs.running()[0];
  if (running && !o.dataDir) {
    // Without a data dir a reconfiguration cut short is lost with the array: let it finish first.
    process.stderr.write(`arrayemu: waiting for reconfiguration ${running.id} of ${running.device} to finish (signal again to stop now)\n`);
    const again = await Promise.race([control!.jobs.idle().then(() => false), signalled().then(() => true)]);
    if (again) process.exit(130);
  }
  // With a data dir a second signal stops at once: the store holds the last commit, which a restart resumes from.
  if (o.dataDir) void signalled().then(() => process.exit(130));
  const resumes = o.dataDir && running ? { id: running.id, device: running.device } : undefined;
  if (o.json) process.stdout.write(`${JSON.stringify({ event: 'stopping', dataDir: o.dataDir ?? null, resumesAtNextStart: resumes ?? null })}\n`);
  else
    process.stderr.write(
      `arrayemu: stopping: destaging the cache${o.dataDir ? ` and committing it to ${o.dataDir}${resumes ? ` (reconfiguration ${resumes.id} of ${resumes.device} resumes at the next start)` : ''}` : ''}\n`,
    );
  await control?.close();
  await s.close();
}

/** Resolves at the next SIGINT or SIGTERM. */
function signalled(): Promise<void> {
  return new Promise<void>((resolve) => {
    const on = () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve();
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

function addControlCommands(program: Command): void {
  const server = (c: Command) =>
    c.requiredOption('--server <url>', 'the control API of an arrayemu serve --http, e.g. http://127.0.0.1:9180').option('--token-file <file>', 'its bearer token');
  server(program.command('status').description("the array's devices and the reconfiguration in progress, from a running arrayemu serve (an mdstat-like view)"))
    .option('--watch', 'refresh every half second until interrupted')
    .option('--json', 'print the status as JSON')
    .action(async (o) => {
      const { statusCommand } = await import('./host/control/client.ts');
      process.exitCode = await statusCommand(o);
    });
  for (const verb of ['pause', 'resume'] as const)
    server(program.command(verb).description(`${verb} the background copy of the reconfiguration in progress on a running arrayemu serve`))
      .option('--id <n>', 'the reconfiguration (default: the one in progress)', intArg('--id', 1))
      .option('--json', 'print the reconfiguration as JSON')
      .action(async (o) => {
        const { pauseCommand } = await import('./host/control/client.ts');
        process.exitCode = await pauseCommand(o, verb === 'resume');
      });
  server(
    program
      .command('throttle')
      .description(
        "limit a running arrayemu serve's background copy (md's meaning: at most --max-mbps while hosts are idle, never below --min-mbps while they are busy; 0: no limit)",
      ),
  )
    .option('--min-mbps <n>', 'MB/s the copy keeps while hosts are busy', numArg('--min-mbps', 0), 0)
    .option('--max-mbps <n>', 'MB/s the copy may take while hosts are idle', numArg('--max-mbps', 0), 0)
    .option('--json', 'print the throttle as JSON')
    .action(async (o) => {
      const { throttleCommand } = await import('./host/control/client.ts');
      process.exitCode = await throttleCommand(o);
    });
  server(program.command('reconfigure').description('reconfigure a running arrayemu serve online to a target configuration'))
    .requiredOption('--to <file>', 'the target configuration')
    .option('--wait', 'wait until it completes (a progress bar on a TTY); exit 1 if it fails')
    .option('--json', 'print the reconfiguration as JSON')
    .action(async (o) => {
      const { reconfigureCommand } = await import('./host/control/client.ts');
      process.exitCode = await reconfigureCommand(o);
    });
}

function addDemoCommand(program: Command): void {
  program
    .command('demo')
    .description("the embedded demo: the patent's FIG. 2 array under a verifying load")
    .option('--json', 'print one JSON object')
    .action(async (o: { json?: boolean }) => {
      const { demoCommand } = await import('./demo.ts');
      process.exitCode = await demoCommand(o);
    });
}

function addBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('measure the array (speed figures in three runs, sweeps, NBD, drive models); --write docs/BENCHMARKS.md')
    .option('--write <file>', 'write the figures into this markdown file')
    .option('--quick', 'short runs and small devices (a smoke test)')
    .addOption(new Option('--only <part>', 'run one part').choices(['speed', 'host-io', 'restripe', 'drive-model', 'sweep', 'nbd', 'durable']))
    .option('--json', 'print one JSON object')
    .action(async (o: { write?: string; quick?: boolean; json?: boolean; only?: string }) => {
      const { benchCommand } = await import('../bench/bench.ts');
      process.exitCode = await benchCommand(o);
    });
}

export function buildProgram(): Command {
  const program = new Command('arrayemu')
    .description('Emulator of a multi-adapter disk array that restripes logical devices online (WO 02/29807)')
    .showHelpAfterError()
    .exitOverride();
  for (const add of [
    addLayoutCommand,
    addValidateCommand,
    addRunCommand,
    addStressCommand,
    addReplayCommand,
    addSweepCommand,
    addServeCommand,
    addControlCommands,
    addDemoCommand,
    addBenchCommand,
  ])
    add(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (err instanceof ArrayError && err.code !== 'INVARIANT') {
      process.stderr.write(`arrayemu: ${err.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`arrayemu: internal error: ${errorMessage(err)}\n`);
    if (process.env.ARRAYEMU_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return EXIT_FAILED;
  }
}
