// `merge`: the slices of a sharded sweep or stress campaign (each `--shard I/N --out DIR`) joined
// into what one run writes (src/lab/shard.ts, docs/SCALE.md).
import { Command } from 'commander';
import { EXIT_FAILED, print } from '../args.ts';
import type { SweepOptions, SweepPoint } from '../../lab/sweep-types.ts';
import type { SeedResult } from '../../stress/seed.ts';
import type { StressOptions } from '../../stress/pool.ts';

export async function mergeCommand(dirs: string[], o: { out: string; json?: boolean }): Promise<number> {
  const { mergeShards } = await import('../../lab/shard.ts');
  const merged = mergeShards<unknown>(dirs);
  if (merged.kind === 'sweep') {
    const { writeSweepOutputs } = await import('../../lab/sweep-charts.ts');
    const points = merged.items as SweepPoint[];
    const files = await writeSweepOutputs(o.out, points, merged.of as SweepOptions);
    print(
      !!o.json,
      { points },
      () => `merged ${dirs.length} slices: ${points.length} points, written to ${o.out}: ${files.join(', ')}`,
    );
    return 0;
  }
  const { summarize } = await import('../../stress/pool.ts');
  const { writeStressResults, printStress } = await import('./stress.ts');
  const of = merged.of as Pick<StressOptions, 'seeds' | 'mode' | 'seedOptions' | 'schedules'>;
  const s = summarize(of, merged.items as SeedResult[]);
  writeStressResults(o.out, s);
  if (!o.json) process.stderr.write(`merged ${dirs.length} slices into ${o.out}/results.json\n`);
  printStress(!!o.json, s, of.schedules ?? 1);
  return s.failures === 0 ? 0 : EXIT_FAILED;
}

export function addMergeCommand(program: Command): void {
  program
    .command('merge')
    .description(
      'join the slices of a sharded sweep or stress run (each written by --shard I/N --out DIR) into the results one run writes: every slice of the same run, each point or seed once',
    )
    .argument('<dirs...>', 'the slices’ directories (each holding shard.json)')
    .requiredOption('--out <dir>', 'where to write the merged results')
    .option('--json', 'print the merged results as JSON')
    .action(async (dirs: string[], o: { out: string; json?: boolean }) => {
      process.exitCode = await mergeCommand(dirs, o);
    });
}
