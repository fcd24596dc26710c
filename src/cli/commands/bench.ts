// `bench`: the figures of docs/BENCHMARKS.md. The benchmarks live in bench/, above src (src never
// imports them): the entry point (bin/arrayemu.mjs) hands the CLI a loader for them.
import { Command, Option } from 'commander';
import { ArrayError } from '../../shared/errors/errors.ts';

export interface BenchOptions {
  write?: string;
  quick?: boolean;
  json?: boolean;
  only?: string;
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
