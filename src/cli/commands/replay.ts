// `replay`: a block trace replayed on one timed drive or on an array.
import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { DRIVE_SCHEDULERS } from '../../shared/config/drive-models.ts';
import { ArrayError, errorMessage } from '../../shared/errors/errors.ts';
import { print, timedPreset } from '../args.ts';

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
  chart?: string;
  json?: boolean;
}

export async function replayCommand(o: ReplayCliOptions): Promise<number> {
  if (!!o.config !== !!o.device)
    throw new ArrayError('USAGE', '--config and --device go together: the array and the logical device to replay on');
  if (!o.driveModel === !o.config)
    throw new ArrayError(
      'USAGE',
      'give either --drive-model PRESET (one bare drive) or --config F --device ID (through the whole array)',
    );
  const { parseTrace, detectFormat, TRACE_FORMATS } = await import('../../lab/trace.ts');
  let text: string;
  try {
    text = readFileSync(o.trace, 'utf8');
  } catch (err) {
    throw new ArrayError('USAGE', `--trace ${o.trace}: cannot be read (${errorMessage(err)})`);
  }
  if (o.format && !(TRACE_FORMATS as readonly string[]).includes(o.format))
    throw new ArrayError('USAGE', `--format ${o.format}: must be one of ${TRACE_FORMATS.join(', ')}`);
  const format = (o.format as (typeof TRACE_FORMATS)[number] | undefined) ?? detectFormat(text);
  const recs = parseTrace(text, format);
  const { result: r, on } = o.config ? await replayArray(o, recs) : await replayDrive(o, recs);
  if (o.responses) writeFileSync(o.responses, r.responsesMs.map((x) => x.toFixed(4)).join('\n') + '\n');
  if (o.chart) await writeChart(o.chart, r, on);
  const { requests, meanMs, p50Ms, p90Ms, p99Ms, measuredMeanMs, demeritMs, meanErrorPct, cdf, measuredCdf } = r;
  const json = { requests, meanMs, p50Ms, p90Ms, p99Ms, measuredMeanMs, demeritMs, meanErrorPct, cdf, measuredCdf };
  print(!!o.json, json, () =>
    [
      `${requests} requests (${format}, ${o.closedLoop ? 'closed' : 'open'} loop) on ${on}, virtual time: mean ${meanMs} ms, p50 ${p50Ms}, p90 ${p90Ms}, p99 ${p99Ms} ms`,
      measuredMeanMs === null
        ? '  the trace carries no response times: no demerit'
        : `  measured mean ${measuredMeanMs} ms (simulated ${meanErrorPct! > 0 ? '+' : ''}${meanErrorPct}%); demerit ${demeritMs} ms`,
      `  response-time CDF: ${measuredCdf ? 'simulated | measured' : 'simulated'}`,
      ...cdf
        .map((c, i) => ({ c, m: measuredCdf?.[i] }))
        .filter((_, i) => i % 2 === 1)
        .map(
          ({ c, m }) =>
            `    ${String(Math.round(c.fraction * 100)).padStart(3)}%  ≤ ${String(c.ms).padStart(8)} ms${m ? ` | ${String(m.ms).padStart(8)} ms` : ''}`,
        ),
      ...(o.chart ? [`  chart: ${o.chart}`] : []),
    ].join('\n'),
  );
  return 0;
}

async function writeChart(file: string, r: ReplayResult, on: string): Promise<void> {
  if (!file.endsWith('.svg')) throw new ArrayError('USAGE', `--chart ${file}: the chart is SVG; name a .svg file`);
  const { replayCdfSvg } = await import('../../lab/replay-chart.ts');
  const svg = await replayCdfSvg(r, on);
  try {
    writeFileSync(file, svg);
  } catch (err) {
    throw new ArrayError('USAGE', `--chart ${file}: cannot be written (${errorMessage(err)})`);
  }
}

type ReplayResult = import('../../lab/replay.ts').ReplayResult;

type Records = import('../../lab/trace.ts').TraceRecord[];

async function replayDrive(o: ReplayCliOptions, recs: Records) {
  const { replayOnDrive } = await import('../../lab/replay.ts');
  const { timingModel } = await import('../../drives/timing/timed-drive.ts');
  const preset = timedPreset(o.driveModel);
  const scheduler = DRIVE_SCHEDULERS.find((x) => x === o.scheduler);
  if (o.scheduler && !scheduler)
    throw new ArrayError('USAGE', `--scheduler ${o.scheduler}: must be one of ${DRIVE_SCHEDULERS.join(', ')}`);
  const model = timingModel({ preset, scheduler, cache: o.driveCache })!;
  return { result: replayOnDrive(model, recs, { closedLoop: !!o.closedLoop }), on: `a bare ${preset}` };
}

async function replayArray(o: ReplayCliOptions, recs: Records) {
  const { replayOnArray } = await import('../../lab/replay.ts');
  const { loadConfig } = await import('../../shared/config/config.ts');
  const { runVirtual } = await import('../../shared/sched/sched.ts');
  const { ArrayEmulator } = await import('../../runtime/emulator.ts');
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

export function addReplayCommand(program: Command): void {
  program
    .command('replay')
    .description(
      'replay a block trace (MSR Cambridge, SPC, DiskSim ASCII) on one bare drive model or through a whole array, in virtual time; with measured response times, the demerit',
    )
    .requiredOption('--trace <file>', 'the trace')
    .option('--format <f>', 'msr | spc | disksim (default: detected from the first line)')
    .option(
      '--closed-loop',
      'issue each request a think time after the previous completes (think time from the trace), instead of at its timestamp',
    )
    .option('--drive-model <preset>', 'one bare drive: atlas10k, cheetah9LP, barracuda, hdd-15k, hdd-7200, ssd')
    .option('--scheduler <s>', "the drive's queue policy: fcfs, clook, sptf (default: the preset's)")
    .option('--no-drive-cache', "switch the drive's cache off")
    .option('--config <file>', 'replay through a whole array (its cache, adapters and drive models), on --device')
    .option('--device <id>', 'the logical device of --config the trace addresses (block 0 is its first byte)')
    .option('--responses <file>', 'write one simulated response time (ms) per request, in trace order')
    .option('--chart <file.svg>', 'draw the simulated response-time CDF against the measured one (SVG)')
    .option(
      '--json',
      'print one JSON object: {"requests","meanMs","p50Ms","p90Ms","p99Ms","measuredMeanMs","demeritMs","meanErrorPct","cdf","measuredCdf"}',
    )
    .action(async (o: ReplayCliOptions) => {
      process.exitCode = await replayCommand(o);
    });
}
