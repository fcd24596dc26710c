// `sweep`: the adapter-count sweep in virtual time, with results.json, CSV and charts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { DEFAULT_CHANNEL_MBPS } from '../../shared/config/drive-models.ts';
import { ArrayError } from '../../shared/errors/errors.ts';
import { intArg, numArg, print, timedPreset, listArg } from '../args.ts';
import type { SweepOptions } from '../../lab/sweep-types.ts';

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
  shard?: string;
  verify: string;
  stage: string;
  trace?: string;
  format?: string;
  closedLoop?: boolean;
  json?: boolean;
}

export async function sweepCommand(o: SweepCliOptions): Promise<number> {
  const { runSweepSlice, SWEEP_WORKLOADS, SWEEP_RESTRIPES } = await import('../../lab/sweep.ts');
  const { parseShard, SHARD_FILE, SHARD_FORMAT } = await import('../../lab/shard.ts');
  const shard = o.shard === undefined ? undefined : parseShard(o.shard);
  const restripe = o.restripe === undefined ? undefined : SWEEP_RESTRIPES.find((k) => k === o.restripe);
  if (o.restripe !== undefined && !restripe)
    throw new ArrayError('USAGE', `--restripe ${o.restripe}: must be one of ${SWEEP_RESTRIPES.join(', ')}`);
  if (restripe && o.real) throw new ArrayError('USAGE', '--restripe runs in virtual time only: drop --real');
  if (!(SWEEP_WORKLOADS as readonly string[]).includes(o.workload))
    throw new ArrayError('USAGE', `--workload ${o.workload}: must be one of ${SWEEP_WORKLOADS.join(', ')}`);
  const model = timedPreset(o.driveModel);
  if (o.blockBytes % 512 !== 0) throw new ArrayError('USAGE', `--block-bytes ${o.blockBytes} is not a multiple of 512`);
  if (o.real && o.virtual)
    throw new ArrayError('USAGE', '--real and --virtual exclude each other: a sweep runs on one clock');
  if (o.verify !== 'on' && o.verify !== 'off') throw new ArrayError('USAGE', `--verify ${o.verify}: must be on or off`);
  if (o.stage !== 'partial' && o.stage !== 'track')
    throw new ArrayError('USAGE', `--stage ${o.stage}: must be partial or track`);
  mkdirSync(o.out, { recursive: true });
  const tty = process.stderr.isTTY === true;
  const options: SweepOptions = {
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
    verify: o.verify === 'on',
    stage: o.stage,
  };
  if (o.trace !== undefined) {
    const { loadSweepTrace } = await import('../../lab/sweep-trace.ts');
    options.trace = loadSweepTrace(o.trace, o.format, !!o.closedLoop).trace;
  } else if (o.format !== undefined || o.closedLoop)
    throw new ArrayError('USAGE', '--format and --closed-loop go with --trace');
  const slice = await runSweepSlice(options, shard, (p, done, total) => {
    if (!o.json || tty)
      process.stderr.write(
        `${tty ? '\r' : ''}sweep: ${done}/${total} points${shard ? ` of slice ${shard.index}/${shard.count}` : ''} (${p.diskAdapters} DA × ${p.hostAdapters} HA: ${p.error !== undefined ? `could not run: ${p.error}` : `${p.iops} IOPS, p99 ${p.latencyMs.p99} ms`})${tty ? '' : '\n'}`,
      );
  });
  if (tty) process.stderr.write('\n');
  const result = { points: slice.items.map((x) => x.item) };
  let files: string[];
  if (shard) {
    const file = { format: SHARD_FORMAT, kind: 'sweep', shard, of: options, total: slice.total, items: slice.items };
    writeFileSync(join(o.out, SHARD_FILE), `${JSON.stringify(file, null, 2)}\n`);
    files = [SHARD_FILE];
  } else files = await (await import('../../lab/sweep-charts.ts')).writeSweepOutputs(o.out, result.points, options);
  print(!!o.json, result, () =>
    [
      options.trace
        ? `sweep (virtual time, trace ${options.trace.file}: ${options.trace.requests} requests, ${options.trace.closedLoop ? 'closed' : 'open'} loop, laid onto each point's device by 1 MiB regions; ${o.drivesPerAdapter} ${model} drives per disk adapter):`
        : `sweep (${o.real ? 'real time' : 'virtual time'}, ${o.workload}, ${o.blockBytes} B, QD ${o.queueDepth} per drive, ${o.drivesPerAdapter} ${model} drives per disk adapter, ${o.seconds} s per point):`,
      ...result.points.map((p) =>
        p.error !== undefined
          ? `  ${String(p.diskAdapters).padStart(2)} DA × ${p.hostAdapters} HA, ${p.drives} drives: could not run: ${p.error}`
          : `  ${String(p.diskAdapters).padStart(2)} DA × ${p.hostAdapters} HA, ${p.drives} drives: ${p.iops} IOPS, ${p.mbps} MB/s, p50 ${p.latencyMs.p50} ms, p99 ${p.latencyMs.p99} ms` +
            (p.simulator
              ? `\n      simulator: ${p.simulator.requestsPerSec} requests/s, ${p.simulator.eventsPerSec} events/s, ${p.simulator.stepsPerRequest} steps a request, ${p.simulator.simSecPerSec} simulated s per wall s`
              : '') +
            (p.restripe
              ? `\n      ${p.restripe.kind} of ${p.restripe.tracks} tracks: ${p.restripe.durationMs} ms under load (host ${p.restripe.hostOpsDuringRatio}× ops, ${p.restripe.hostP99DuringRatio}× p99), ${p.restripe.idleDurationMs} ms with none = ${p.restripe.idleOverBound}× the ${p.restripe.boundBy}-bound ${p.restripe.lowerBoundMs} ms`
              : ''),
      ),
      shard
        ? `slice ${shard.index}/${shard.count}: ${slice.items.length} of ${slice.total} points, written to ${join(o.out, SHARD_FILE)} (arrayemu merge joins the slices)`
        : `written to ${o.out}: ${files.join(', ')}`,
    ].join('\n'),
  );
  return 0;
}

export function addSweepCommand(program: Command): void {
  program
    .command('sweep')
    .description(
      'adapter-count sweep: one array per point, a striped device over every drive, a workload with a queue depth per drive, in virtual time; results.json, results.csv, SVG charts and index.html',
    )
    .requiredOption('--out <dir>', 'where to write the results and charts')
    .option('--disk-adapters <list>', 'disk adapter counts, e.g. 1,2,4,8,16', listArg('--disk-adapters', 64), [1, 2, 4])
    .option('--host-adapters <list>', 'host adapter counts, e.g. 1,2,4', listArg('--host-adapters', 16), [1])
    .option('--drives-per-adapter <k>', 'main drives per disk adapter', intArg('--drives-per-adapter', 1, 64), 4)
    .option(
      '--drive-model <preset>',
      'atlas10k, cheetah9LP, barracuda, hdd-15k, hdd-7200, ssd (full-size drives, sparse store)',
      'atlas10k',
    )
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
    .option(
      '--drive-cylinders <n>',
      "each drive short-stroked to its outer N cylinders (default: the preset's full size)",
      intArg('--drive-cylinders', 1, 10_000_000),
    )
    .option(
      '--channel-mbps <n>',
      `each disk adapter's back-end link, MB/s (default ${DEFAULT_CHANNEL_MBPS}: a 2 Gb/s FC loop)`,
      numArg('--channel-mbps', 1),
    )
    .option('--virtual', 'virtual time: a discrete-event clock, reproducible (the default)')
    .option(
      '--real',
      'real time: every actor a worker thread, drives waiting for real (to check the virtual figures against)',
    )
    .option(
      '--trace <file>',
      "replay this block trace at each point instead of --workload (virtual time): its address space laid onto the point's device by 1 MiB regions, region r of the trace's R_t at region floor(r·R_d/R_t) of the device's R_d, offsets within a region kept",
    )
    .option('--format <f>', 'the trace: msr | spc | disksim (default: detected from its first line)')
    .option(
      '--closed-loop',
      "the trace: each request a think time after the previous completes (default: at the trace's timestamps)",
    )
    .option(
      '--verify <on|off>',
      'check every read against what was written (on; state kept only for the sectors written), or off for pure timing runs',
      'on',
    )
    .option(
      '--stage <partial|track>',
      "what a read miss stages (the array's cache.stage): partial, the sectors asked for (whole tracks for a sequential stream), or track, always the whole track",
      'partial',
    )
    .option(
      '--shard <I/N>',
      'run slice I of N (points dealt round-robin) and write it to DIR/shard.json; `arrayemu merge` joins the slices into the same results a single run writes',
    )
    .option('--json', 'print the results as one JSON object')
    .action(async (o: SweepCliOptions) => {
      process.exitCode = await sweepCommand(o);
    });
}
