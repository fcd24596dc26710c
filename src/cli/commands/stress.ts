// `stress`: seeded campaigns of random arrays under load, reconfigured, with faults.
import { Command } from 'commander';
import { ArrayError } from '../../shared/errors/errors.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { intArg, print, EXIT_FAILED } from '../args.ts';
import type { StressSummary } from '../../stress/pool.ts';

type StressCliOptions = {
  seeds: number;
  seed: number;
  jobs?: number;
  json?: boolean;
  breakFill?: boolean;
  breakRebuild?: boolean;
  breakBcvMirror?: boolean;
  faults?: boolean;
  deterministic?: boolean;
  schedules: number;
  schedule: number;
  verbose?: boolean;
  threads?: boolean;
  heavy?: boolean;
  driveModels?: boolean;
  driveFaults?: boolean;
  shard?: string;
  out?: string;
};

export async function stressCommand(o: StressCliOptions): Promise<number> {
  if (o.threads && o.deterministic)
    throw new ArrayError(
      'USAGE',
      '--threads and --deterministic exclude each other: the seeded scheduler runs every actor in one thread',
    );
  if (o.verbose && o.jobs !== 1)
    throw new ArrayError('USAGE', '--verbose prints the log lines of this thread: give --jobs 1 (a rerun prints it)');
  if (!o.deterministic && (o.schedules !== 1 || o.schedule !== 0)) {
    throw new ArrayError(
      'USAGE',
      '--schedules and --schedule choose interleavings of the seeded scheduler: they need --deterministic',
    );
  }
  const { runStressSlice, summarize, defaultJobs } = await import('../../stress/pool.ts');
  const { parseShard, inShard, SHARD_FILE, SHARD_FORMAT } = await import('../../lab/shard.ts');
  const shard = o.shard === undefined ? undefined : parseShard(o.shard);
  if (shard && o.out === undefined)
    throw new ArrayError('USAGE', '--shard writes its slice to a directory: give --out DIR');
  const tty = process.stderr.isTTY === true;
  const unit = o.schedules > 1 ? 'runs' : 'seeds';
  const t0 = performance.now();
  // What the campaign is (every slice of one campaign has the same); how many jobs run it is not part of it.
  const opts = {
    seeds: o.seeds,
    firstSeed: o.seed,
    schedules: o.schedules,
    mode: o.threads ? ('threads' as const) : ('inline' as const),
    seedOptions: {
      breakFill: o.breakFill,
      breakRebuild: o.breakRebuild,
      breakBcvMirror: o.breakBcvMirror,
      heavy: o.heavy,
      driveModels: o.driveModels,
      driveFaults: o.driveFaults,
      faults: o.faults,
      deterministic: o.deterministic,
      ...(o.deterministic ? { schedule: o.schedule } : {}),
    },
  };
  const log = o.verbose ? { log: (text: string) => process.stderr.write(`arrayemu ${text}\n`) } : {};
  const total = shard ? Math.ceil((o.seeds * o.schedules - (shard.index - 1)) / shard.count) : o.seeds * o.schedules;
  const slice = await runStressSlice(
    {
      ...opts,
      jobs: o.jobs ?? defaultJobs(),
      seedOptions: { ...opts.seedOptions, ...log },
      onSeed: (r, done) => {
        if (!r.ok)
          process.stderr.write(
            `${tty ? '\n' : ''}seed ${r.seed}${o.schedules > 1 || o.schedule > 0 ? ` schedule ${r.schedule}` : ''} FAILED: ${r.reason}\n`,
          );
        if (!o.json || tty)
          process.stderr.write(
            tty
              ? `\rstress: ${done}/${total} ${unit}`
              : done % 10 === 0 || done === total
                ? `stress: ${done}/${total} ${unit}\n`
                : '',
          );
      },
    },
    (i) => inShard(i, shard),
  );
  if (tty) process.stderr.write('\n');
  const s = summarize(
    opts,
    slice.items.map((x) => x.item),
  );
  s.elapsedMs = Math.round(performance.now() - t0);
  if (o.out !== undefined) {
    mkdirSync(o.out, { recursive: true });
    if (shard) {
      const file = { format: SHARD_FORMAT, kind: 'stress', shard, of: opts, total: slice.total, items: slice.items };
      writeFileSync(join(o.out, SHARD_FILE), `${JSON.stringify(file)}\n`);
    } else writeStressResults(o.out, s);
  }
  printStress(!!o.json, s, o.schedules);
  return s.failures === 0 ? 0 : EXIT_FAILED;
}

/** results.json of a campaign (a whole run, or the merge of its slices): the summary but its wall time, so the same campaign writes the same bytes. */
export function writeStressResults(out: string, s: StressSummary): void {
  const { elapsedMs: _wall, ...rest } = s;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'results.json'), `${JSON.stringify(rest, null, 2)}\n`);
}

export function printStress(json: boolean, s: StressSummary, schedules: number): void {
  print(json, s, () =>
    [
      `${s.failures === 0 ? 'OK' : 'FAILED'}: ${s.runs === s.seeds ? `${s.seeds} seeds` : `${s.runs} runs (${s.seeds} seeds × ${schedules} schedules, or a slice of them)`}, ${s.failures} failures, ${s.verifyErrors} verify errors, ${s.faultsInjected} faults injected, ${s.ops} host operations in ${(s.elapsedMs / 1000).toFixed(1)} s`,
      `  reconfigurations: ${s.reconfigurations} (${Object.entries(s.kinds)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')})`,
      `  scenarios met: 1:${s.scenarios['1']} 2:${s.scenarios['2']} 3:${s.scenarios['3']} 4:${s.scenarios['4']}`,
      `  faults: ${Object.entries(s.faults)
        .map(([k, n]) => `${k} ${n}`)
        .join(
          ', ',
        )}${s.lostWithAdapter ? ` (${s.lostWithAdapter} requests failed with their host adapter, as they should)` : ''}`,
      ...s.failed.map(
        (f) =>
          `  seed ${f.seed}${f.schedule ? ` schedule ${f.schedule}` : ''}: ${f.reason}${f.trace ? ` [trace ${f.trace}, ${f.steps} steps]` : ''}\n    rerun: ${f.rerun}`,
      ),
    ].join('\n'),
  );
}

export function addStressCommand(program: Command): void {
  program
    .command('stress')
    .description(
      'random arrays under a verifying load, reconfigured mid-run (every kind; two devices at once; two in a row), seeds in parallel',
    )
    .option('--seeds <n>', 'how many seeds', intArg('--seeds', 1, 1_000_000), 50)
    .option('--seed <s>', 'the first seed', intArg('--seed', 0), 0)
    .option('--jobs <j>', 'seeds run at once (piscina pool threads)', intArg('--jobs', 1, 64))
    .option(
      '--faults',
      'inject faults: batches between actors delayed and reordered; disk and host adapters failed and replaced during ESTABLISH, at the switch, during the transfer and between sessions',
    )
    .option(
      '--deterministic',
      'run each seed under the seeded scheduler: one thread, virtual time, the same interleaving on every rerun',
    )
    .option(
      '--threads',
      "each seed's actors in worker threads of their own (with --faults: adapter workers terminated wherever they are)",
    )
    .option(
      '--schedules <k>',
      'with --deterministic: run each seed under k schedules (interleavings), each replayable',
      intArg('--schedules', 1, 10_000),
      1,
    )
    .option(
      '--schedule <i>',
      'with --deterministic: the first schedule to run (a rerun names the one that failed)',
      intArg('--schedule', 0, 1_000_000_000),
      0,
    )
    .option('--break-fill', 'TEST ONLY: a deliberately broken fill that skips split(o), to see the run catch it')
    .option(
      '--break-rebuild',
      'TEST ONLY (with --drive-faults): a deliberately broken rebuild that copies from the other mirror’s drive over newer data in cache',
    )
    .option(
      '--break-bcv-mirror',
      'TEST ONLY (with --drive-faults): a mirrored BCV whose mirrors are never written, while its own drives fail in the transfer',
    )
    .option(
      '--drive-faults',
      'drive faults: each seed gets a two-way mirrored device and two spares, and its drives fail whole (rebuilt onto a spare) or return media errors while the other devices restripe',
    )
    .option('--drive-models', 'a timing model on every drive (a random preset and queue policy each): drives take time')
    .option(
      '--heavy',
      'heavy host load around the switch: queue depth 32-128 on each of 2-4 host processors, half the requests aimed at locations both layouts share',
    )
    .option(
      '--verbose',
      "print every actor's log lines on stderr, stamped with the scheduler's clock (for a rerun with --jobs 1)",
    )
    .option(
      '--out <dir>',
      'write the campaign’s results.json there (its summary but the wall time: the same campaign, the same bytes)',
    )
    .option(
      '--shard <I/N>',
      'run slice I of N of the campaign (runs dealt round-robin) and write it to DIR/shard.json (needs --out); `arrayemu merge` joins the slices into the results.json one run writes',
    )
    .option('--json', 'print one JSON object')
    .action(async (o: StressCliOptions) => {
      process.exitCode = await stressCommand(o);
    });
}

/** `--drive-model`: a preset with mechanics (not `instant`), or a refusal naming the choices. */
