// npm run bench: every figure of docs/BENCHMARKS.md, each section with its command, machine and
// date: the drive models, the adapter sweeps, NBD beside nbdkit, the speed figures (host I/O
// beside an in-process reference, restripe beside a plain copy, the switch's window, hosts during
// a restripe; three runs) and the restripe at three device sizes.
import { uiBench, uiMarkdown } from './ui-bench.ts';
import { stageBench, stageMarkdown } from './stage-bench.ts';
import { cpus, totalmem, tmpdir } from 'node:os';
import { readFileSync, writeFileSync, existsSync, mkdtempSync } from 'node:fs';
import { hostIoRows, type Row } from './host-io.ts';
import { speedBench, speedMarkdown, switchWindows } from './speed.ts';
import { restripeBench, restripeMarkdown } from './restripe.ts';
import { driveModelBench, driveModelMarkdown } from './drive-model.ts';
import { scalingMarkdown, scalingSweep, sweepBench, sweepMarkdown } from './sweep-bench.ts';
import { nbdBench, nbdMarkdown } from './nbd-bench.ts';
import {
  restripeSweepBench,
  restripeSweepMarkdown,
  virtualSpeedBench,
  virtualSpeedMarkdown,
} from './restripe-sweep.ts';
import { dirname, join } from 'node:path';
import { durableBench, durableMarkdown } from './durable.ts';
import { durableServeBench, durableServeMarkdown } from './durable-serve.ts';
import { mirrorsBench, mirrorsMarkdown } from './mirrors-bench.ts';
import { driveCacheBench, driveCacheMarkdown } from './drive-cache.ts';
import { alternate, alternateText, BenchRunFailed } from './alternate.ts';
import { ArrayError } from '../src/shared/errors/errors.ts';
import { ALTERNATE_ROUNDS, type BenchOptions } from '../src/cli/commands/bench.ts';

/** Runs of the speed figures in one `npm run bench` (the issue asks for three, side by side). */
const SPEED_RUNS = 3;

/** The durable data dir's figures: FLUSH against data held, then the server under real clients. */
async function durableSections(
  opts: { write?: string; quick?: boolean },
  machine: string,
  date: string,
  say: (s: string) => void,
): Promise<Record<string, unknown>> {
  const rows = await durableBench(opts.quick ? [10] : [10, 1024, 4096], say);
  if (opts.write) writeSection(opts.write, 'durable', durableMarkdown(rows, machine, date));
  const served = await durableServeBench(opts.quick ? [64] : [64, 1024], opts.quick ? 2 : 10, say);
  if (opts.write) writeSection(opts.write, 'durable-serve', durableServeMarkdown(served, machine, date));
  return { durable: rows, durableServe: served };
}

/** The sweeps in virtual time (adapter counts, real beside virtual, restripes, virtual speed): each its section. */
async function sweepSections(
  opts: { write?: string; quick?: boolean },
  machine: string,
  date: string,
  say: (s: string) => void,
): Promise<Record<string, unknown>> {
  const points = await scalingSweep(
    opts.write ? dirname(opts.write) : mkdtempSync(join(tmpdir(), 'arrayemu-sweep-')),
    !!opts.quick,
    say,
  );
  const out: Record<string, unknown> = { scaling: points };
  if (opts.write) writeSection(opts.write, 'scaling', scalingMarkdown(points, date));
  const rows = await sweepBench(!!opts.quick, say);
  out.sweep = rows;
  if (opts.write) writeSection(opts.write, 'sweep', sweepMarkdown(rows, machine, date, opts.quick ? 0.5 : 2));
  const runs = await restripeSweepBench(
    opts.write ? dirname(opts.write) : mkdtempSync(join(tmpdir(), 'arrayemu-sweep-')),
    !!opts.quick,
    say,
  );
  out.restripeSweep = runs.map((r) => ({
    model: r.model,
    points: r.points.map((p) => ({ diskAdapters: p.diskAdapters, restripe: p.restripe })),
  }));
  if (opts.write) writeSection(opts.write, 'restripe-sweep', restripeSweepMarkdown(runs, date));
  const speed = await virtualSpeedBench(!!opts.quick, say);
  out.virtualSpeed = speed;
  if (opts.write) writeSection(opts.write, 'virtual-speed', virtualSpeedMarkdown(speed, machine, date));
  return out;
}

export async function benchCommand(opts: BenchOptions): Promise<number> {
  if (opts.alternate !== undefined) return alternateCommand(opts);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const date = new Date().toISOString().slice(0, 10);
  const say = (s: string) => !opts.json && process.stdout.write(`${s}\n`);
  const out: Record<string, unknown> = { machine, date };
  if (opts.only === undefined || opts.only === 'durable')
    Object.assign(out, await durableSections(opts, machine, date, say));
  if (opts.only === undefined || opts.only === 'drive-cache') {
    const rows = await driveCacheBench(opts.quick ? 16 : 256, opts.quick ? 1 : 8, say);
    out.driveCache = rows;
    if (opts.write && rows.length > 0) writeSection(opts.write, 'drive-cache', driveCacheMarkdown(rows, machine, date));
  }
  if (opts.only === undefined || opts.only === 'drive-model') {
    const rows = driveModelBench();
    out.driveModel = rows;
    for (const r of rows)
      say(
        `drive model ${r.preset}: QD1 8 KiB read ${r.qd1ReadMs} ms; QD32 SPTF ${r.sptfQd32Iops} IOPS (${r.sptfOverQd1}x QD1)`,
      );
    if (opts.write) writeSection(opts.write, 'drive-model', driveModelMarkdown(rows, date));
  }
  if (opts.only === undefined || opts.only === 'mirrors') {
    const f = await mirrorsBench(!!opts.quick, say);
    out.mirrors = f;
    if (opts.write) writeSection(opts.write, 'mirrors', mirrorsMarkdown(f, machine, date));
    if (opts.only === 'mirrors') return report(out, opts);
  }
  if (opts.only === undefined || opts.only === 'sweep')
    Object.assign(out, await sweepSections(opts, machine, date, say));
  if (opts.only === undefined || opts.only === 'sweep' || opts.only === 'stage') {
    const rows = await stageBench(!!opts.quick, say);
    out.stage = rows;
    if (opts.write) writeSection(opts.write, 'stage', stageMarkdown(rows, date, opts.quick ? 0.25 : 1));
  }
  if (opts.only === 'sweep' || opts.only === 'stage') return report(out, opts);
  if (opts.only === undefined || opts.only === 'ui') {
    const row = await uiBench(say);
    out.ui = row ?? null;
    if (opts.write && row) writeSection(opts.write, 'ui', uiMarkdown(row, machine, date));
    if (opts.only === 'ui') return report(out, opts);
  }
  // The fio figures are part of each speed run (the issue's table); `--only nbd` measures them alone.
  if (opts.only === 'nbd') {
    const rows = await nbdBench(!!opts.quick, say);
    out.nbd = rows;
    if (opts.write) writeSection(opts.write, 'nbd', nbdMarkdown(rows, machine, date));
    if (opts.only === 'nbd') return report(out, opts);
  }
  if (opts.only === undefined || opts.only === 'speed') {
    const r = await speedBench(
      opts.only === 'speed' && opts.quick ? 1 : SPEED_RUNS,
      !!opts.quick,
      opts.write ? join(dirname(opts.write), 'speed') : undefined,
      say,
    );
    Object.assign(out, r.median, { speedRuns: r.runs, speedTargets: r.targets });
    for (const t of r.targets)
      say(
        `${t.figure}: ${t.values.join(', ')} (target ${t.target}${t.metIn === undefined ? '' : `; met in ${t.metIn} of ${r.runs.length}`})`,
      );
    if (opts.write) writeSection(opts.write, 'speed', speedMarkdown(r, machine, date, !!opts.quick));
  }
  if (opts.only === 'switch' || opts.only === 'host-io') await partAlone(opts, out, machine, date, say);
  if (opts.only === undefined || opts.only === 'restripe') {
    const f = await restripeBench(!!opts.quick, say);
    out.restripeBySize = f;
    if (opts.write) writeSection(opts.write, 'restripe', restripeMarkdown(f, machine, date));
  }
  return report(out, opts);
}

/** A part `npm run bench` runs only inside the speed runs, measured alone (`--only switch|host-io`). */
async function partAlone(
  opts: { write?: string; quick?: boolean; only?: string },
  out: Record<string, unknown>,
  machine: string,
  date: string,
  say: (s: string) => void,
): Promise<void> {
  if (opts.only === 'switch') {
    const { blockedMs } = await switchWindows(!!opts.quick, say);
    out.blockedMs = blockedMs;
    say(
      `host-blocked window over ${blockedMs.switches} switches: p50 ${blockedMs.p50} ms, p99 ${blockedMs.p99} ms, max ${blockedMs.max} ms`,
    );
  }
  if (opts.only === 'host-io') {
    const seconds = opts.quick ? 0.5 : 3;
    const rows = await hostIoRows(seconds, say);
    out.hostIoRows = rows;
    if (opts.write) writeSection(opts.write, 'host-io', hostIoMarkdown(rows, machine, date, seconds));
  }
}

/** `--only PART --alternate REF`: the part here and at REF, alternating, every figure side by side. */
async function alternateCommand(opts: BenchOptions): Promise<number> {
  if (opts.only === undefined)
    throw new ArrayError('USAGE', '--alternate needs --only PART: the whole bench takes about an hour a side');
  if (opts.write !== undefined)
    throw new ArrayError('USAGE', "--alternate with --write: two codes' figures do not go into one file");
  const say = (s: string) => process.stderr.write(`${s}\n`);
  try {
    const r = await alternate(
      { part: opts.only, ref: opts.alternate!, rounds: opts.rounds ?? ALTERNATE_ROUNDS, quick: opts.quick },
      say,
    );
    process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `${alternateText(r)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof BenchRunFailed)) throw err;
    process.stderr.write(`arrayemu: bench --alternate: ${err.message}\n`);
    return 1;
  }
}

function report(out: Record<string, unknown>, opts: { json?: boolean }): number {
  if (opts.json) process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

function hostIoMarkdown(rows: Row[], machine: string, date: string, seconds: number): string {
  const table = [
    '| case | queue depth | actor path ops/s | MB/s | p99 ms | in-process reference ops/s | ratio | reference reading into one buffer | ratio |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.case} | 2 × ${r.queueDepth} | ${r.actorOpsPerSec} | ${r.actorMBPerSec} | ${r.actorP99Ms} | ${r.referenceOpsPerSec} | ${r.ratio} | ${r.referenceIntoOpsPerSec} | ${r.ratioInto} |`,
    ),
  ];
  const r4 = rows.find((r) => r.blockBytes === 4096 && r.readPct === 100);
  const r64 = rows.filter((r) => r.blockBytes === 65536);
  return [
    '## Host I/O through the actors',
    '',
    `Command: \`npm run bench\` · machine: ${machine} · date: ${date} · ${seconds} s per case.`,
    '',
    'FIG. 2 array (4 disk adapters, 1 host adapter), cache of 1024 slots holding every track; LD1 (11.25 MiB)',
    'written once first. 2 host processors (piscina threads) × the queue depth named, verification off (the',
    'benchmark measures the array, not the verifier). The reference does the same `locate()` and',
    'the same copies into and out of a track cache, in one thread, in the same run; its reads each allocate',
    "the buffer they land in, or (the last two columns) land in one reused buffer, as the host processors' do.",
    '',
    ...table,
    '',
    `Targets: ≥ 100k 4 KiB cached reads/s (measured ${r4?.actorOpsPerSec ?? '?'}); ratio ≥ 0.3 at 64 KiB (measured ${r64.map((r) => r.ratio).join(' and ')}).`,
    '',
  ].join('\n');
}

/** Replace (or append) the section between `<!-- bench:NAME -->` markers in a markdown file. */
export function writeSection(file: string, name: string, body: string): void {
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const text = existsSync(file)
    ? readFileSync(file, 'utf8')
    : '# Benchmarks\n\nFigures written by `npm run bench` (bench/bench.ts). Each section says the command, the machine and the date.\n\n';
  const block = `${start}\n${body}${end}\n`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  const out = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length + 1) : `${text}${block}`;
  writeFileSync(file, out);
}
