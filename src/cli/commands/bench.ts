// `bench`: the figures of docs/BENCHMARKS.md. The benchmarks live in bench/, above src (src never
// imports them): the entry point (bin/arrayemu.mjs) hands the CLI a loader for them.
import { Command, Option } from 'commander';
import { ArrayError } from '../../shared/errors/errors.ts';
import { intArg } from '../args.ts';

/** Runs a side of `--alternate` unless `--rounds` says (bench/bench.ts takes it from here), and the most. */
export const ALTERNATE_ROUNDS = 3;
const ALTERNATE_ROUNDS_LIMIT = 20;

export interface BenchOptions {
  write?: string;
  quick?: boolean;
  json?: boolean;
  only?: string;
  /** Run the part here and at this git commit, alternating, and print every figure side by side. */
  alternate?: string;
  /** Runs a side with --alternate. */
  rounds?: number;
}

/** Loads bench/bench.ts (given by bin/arrayemu.mjs; absent where the CLI runs without the benchmarks). */
export type LoadBench = () => Promise<{ benchCommand(o: BenchOptions): Promise<number> }>;

export function addBenchCommand(program: Command, loadBench?: LoadBench): void {
  program
    .command('bench')
    .description(
      'measure the array (speed figures in three runs, sweeps, NBD, drive models); --write docs/BENCHMARKS.md',
    )
    .option('--write <file>', 'write the figures into this markdown file')
    .option('--quick', 'short runs and small devices (a smoke test)')
    .addOption(
      new Option('--only <part>', 'run one part').choices([
        'speed',
        'host-io',
        'switch',
        'restripe',
        'drive-model',
        'sweep',
        'nbd',
        'durable',
        'drive-cache',
        'stage',
        'ui',
        'mirrors',
      ]),
    )
    .option(
      '--alternate <ref>',
      'run --only PART here and at git commit REF (a worktree beside this one), alternating, each run its own process; print every figure side by side with the ratio of the medians',
    )
    .option(
      '--rounds <n>',
      `runs a side with --alternate (default ${ALTERNATE_ROUNDS})`,
      intArg('--rounds', 1, ALTERNATE_ROUNDS_LIMIT),
    )
    .option('--json', 'print one JSON object')
    .action(async (o: BenchOptions) => {
      if (!loadBench)
        throw new ArrayError(
          'USAGE',
          'bench: the benchmarks are not installed here (run it from the repository: node bin/arrayemu.mjs bench)',
        );
      process.exitCode = await (await loadBench()).benchCommand(o);
    });
}
