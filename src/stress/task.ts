// A piscina task: one stress seed, inline (every actor of its array in this pool thread) or with
// its actors in worker threads of their own (threads mode).
import type { Mode } from '../runtime/emulator.ts';
import { runSeed, type SeedOptions, type SeedResult } from './seed.ts';

export default async function stressSeed(task: { seed: number; mode?: Mode; opts: SeedOptions }): Promise<SeedResult> {
  return runSeed(task.seed, task.mode ?? 'inline', task.opts);
}
