// A piscina task: one stress seed, inline (every actor of its array in this pool thread).
import { runSeed, type SeedOptions, type SeedResult } from './stress.ts';

export default async function stressSeed(task: { seed: number; opts: SeedOptions }): Promise<SeedResult> {
  return runSeed(task.seed, 'inline', task.opts);
}
