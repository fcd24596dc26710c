// `arrayemu stress`: many seeds on a piscina pool (one seed per task, each array inline in its
// pool thread), merged into one verdict with the command that repeats each failed seed.
import { Piscina } from 'piscina';
import { poolModule } from '../runtime/worker-code.ts';
import { cpus } from 'node:os';
import { errorMessage } from '../shared/errors/errors.ts';
import { noScenarios, type ScenarioCounts } from '../shared/restripe/report.ts';
import { assert } from '../shared/errors/assert.ts';
import type { Mode } from '../runtime/emulator.ts';
import { emptySeedResult, runSeed, type SeedOptions, type SeedResult } from './seed.ts';
import { noFaults, type FaultCounts } from './faults.ts';

export interface StressOptions {
  seeds: number;
  firstSeed: number;
  jobs: number;
  /**
   * Deterministic mode: schedules (interleavings) per seed, numbered from `seedOptions.schedule`
   * (default 0). Each (seed, schedule) is one run, replayable on its own.
   */
  schedules?: number;
  /** Where each seed's actors run: in its pool thread (inline, default) or in worker threads of their own. */
  mode?: Mode;
  seedOptions?: SeedOptions;
  onSeed?: (r: SeedResult, done: number) => void;
}

export interface StressSummary {
  seeds: number;
  /** Runs: seeds × schedules per seed. */
  runs: number;
  failures: number;
  verifyErrors: number;
  faultsInjected: number;
  faults: FaultCounts;
  /** Requests failed with a host adapter restarted under them (expected with faults). */
  lostWithAdapter: number;
  /** Deterministic mode: scheduler steps (task choices) over every seed: interleavings explored. */
  steps: number;
  reconfigurations: number;
  kinds: Record<string, number>;
  scenarios: ScenarioCounts;
  ops: number;
  elapsedMs: number;
  failed: Array<{ seed: number; schedule?: number; reason: string; rerun: string; trace?: string; steps?: number }>;
}

const TASK = new URL('./task.ts', import.meta.url).href;

export const rerunCommand = (seed: number, opts: SeedOptions = {}, mode: Mode = 'inline') =>
  `npx arrayemu stress --seeds 1 --seed ${seed} --jobs 1${mode === 'threads' ? ' --threads' : ''}${opts.faults ? ' --faults' : ''}${opts.deterministic ? ' --deterministic' : ''}${opts.deterministic && (opts.schedule ?? 0) > 0 ? ` --schedule ${opts.schedule}` : ''}${opts.breakFill ? ' --break-fill' : ''}${opts.breakRebuild ? ' --break-rebuild' : ''}${opts.breakBcvMirror ? ' --break-bcv-mirror' : ''}${opts.heavy ? ' --heavy' : ''}${opts.driveModels ? ' --drive-models' : ''}${opts.driveFaults ? ' --drive-faults' : ''}`;

export async function runStress(opts: StressOptions): Promise<StressSummary> {
  const t0 = performance.now();
  const { items } = await runStressSlice(opts);
  const summary = summarize(
    opts,
    items.map((x) => x.item),
  );
  summary.elapsedMs = Math.round(performance.now() - t0);
  return summary;
}

/**
 * The campaign's runs (seed × schedule, in order) that `only` picks (every one without it), each
 * with its index in the whole campaign; `total` is the whole campaign's count of runs.
 */
export async function runStressSlice(
  opts: StressOptions,
  only: (runIndex: number) => boolean = () => true,
): Promise<{ total: number; items: Array<{ index: number; item: SeedResult }> }> {
  const perSeed = opts.schedules ?? 1;
  assert(Number.isInteger(perSeed) && perSeed >= 1, () => `schedules: ${perSeed} is not a whole number ≥ 1`);
  assert(
    perSeed === 1 || opts.seedOptions?.deterministic,
    'schedules: more than one schedule per seed needs deterministic mode',
  );
  const firstSchedule = opts.seedOptions?.schedule ?? 0;
  // One run per (seed, schedule): the seed's array, workload and faults under one interleaving.
  const every = Array.from({ length: opts.seeds * perSeed }, (_, i) => ({
    index: i,
    seed: opts.firstSeed + Math.floor(i / perSeed),
    mode: opts.mode ?? 'inline',
    opts: {
      ...opts.seedOptions,
      ...(opts.seedOptions?.deterministic ? { schedule: firstSchedule + (i % perSeed) } : {}),
    } satisfies SeedOptions,
  }));
  const runs = every.filter((r) => only(r.index));
  let results: SeedResult[];
  let done = 0;
  const note = (r: SeedResult) => {
    done++;
    opts.onSeed?.(r, done);
    return r;
  };
  if (opts.jobs <= 1) {
    results = [];
    for (const r of runs) results.push(note(await runSeed(r.seed, r.mode, r.opts)));
  } else {
    const { filename, execArgv } = await poolModule(TASK); // bundled like the actors' code (worker-code.ts)
    const pool = new Piscina({
      filename,
      execArgv,
      minThreads: opts.jobs,
      maxThreads: opts.jobs,
      atomics: 'disabled',
      idleTimeout: 1000,
    });
    try {
      // A seed whose thread died (an actor threw out of its task) is that seed's failure, not the run's.
      results = await Promise.all(
        runs.map((r) =>
          (pool.run(r) as Promise<SeedResult>)
            .catch((err: unknown) => failedSeed(r.seed, `its thread died: ${errorMessage(err)}`, r.opts.schedule))
            .then(note),
        ),
      );
    } finally {
      await pool.destroy();
    }
  }
  return { total: every.length, items: runs.map((r, i) => ({ index: r.index, item: results[i]! })) };
}

/** The campaign's counts summed over its runs (in the campaign's order), and each failed run with its rerun command. */
export function summarize(
  opts: Pick<StressOptions, 'seeds' | 'mode' | 'seedOptions'>,
  results: SeedResult[],
): StressSummary {
  const summary: StressSummary = {
    seeds: opts.seeds,
    runs: results.length,
    failures: 0,
    verifyErrors: 0,
    faultsInjected: 0,
    faults: noFaults(),
    lostWithAdapter: 0,
    steps: 0,
    reconfigurations: 0,
    kinds: {},
    scenarios: noScenarios(),
    ops: 0,
    elapsedMs: 0,
    failed: [],
  };
  for (const r of results) {
    summary.verifyErrors += r.verifyErrors;
    summary.reconfigurations += r.reconfigurations;
    summary.ops += r.ops;
    summary.faultsInjected += r.faultsInjected;
    summary.lostWithAdapter += r.lostWithAdapter;
    summary.steps += r.steps ?? 0;
    for (const k of Object.keys(summary.faults) as Array<keyof FaultCounts>) summary.faults[k] += r.faults[k];
    for (const [k, n] of Object.entries(r.kinds)) summary.kinds[k] = (summary.kinds[k] ?? 0) + n;
    for (const k of ['1', '2', '3', '4'] as const) summary.scenarios[k] += r.scenarios[k];
    if (!r.ok) {
      summary.failures++;
      const schedule = r.schedule === undefined ? {} : { schedule: r.schedule };
      summary.failed.push({
        seed: r.seed,
        ...schedule,
        reason: r.reason ?? 'failed',
        rerun: rerunCommand(r.seed, { ...opts.seedOptions, ...schedule }, opts.mode),
        ...(r.trace ? { trace: r.trace, steps: r.steps } : {}),
      });
    }
  }
  return summary;
}

function failedSeed(seed: number, reason: string, schedule?: number): SeedResult {
  return { ...emptySeedResult(seed, schedule), reason };
}

export const defaultJobs = (): number => Math.max(1, Math.min(4, cpus().length));
