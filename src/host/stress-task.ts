// A piscina task: one stress seed, inline (every actor of its array in this pool thread).
import { runSeed, type SeedResult } from './stress.ts';

export default async function stressSeed(seed: number): Promise<SeedResult> {
  return runSeed(seed, 'inline');
}
