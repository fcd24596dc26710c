// Shards (src/lab/shard.ts, docs/SCALE.md): a sweep and a stress campaign cut into 4 slices, each
// run on its own (as a batch engine would), merged: results.json byte-identical to a single run's.
// A slice missing, given twice or from another run is refused by name.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepCommand } from '../../src/cli/commands/sweep.ts';
import { stressCommand } from '../../src/cli/commands/stress.ts';
import { mergeCommand } from '../../src/cli/commands/merge.ts';

const root = mkdtempSync(join(tmpdir(), 'arrayemu-shard-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const SHARDS = 4;

const sweepOptions = {
  diskAdapters: [1, 2, 4],
  hostAdapters: [1, 2],
  drivesPerAdapter: 2,
  driveModel: 'hdd-15k',
  workload: 'randrw',
  blockBytes: 4096,
  queueDepth: 2,
  seconds: 0.05,
  seed: 3,
  driveCylinders: 64,
  verify: 'on',
  stage: 'partial',
  json: true,
};
const stressOptions = { seeds: 10, seed: 20, jobs: 1, deterministic: true, schedules: 1, schedule: 0, json: true };

/** Run `whole` into one dir and each of SHARDS slices into its own; merge the slices. */
async function wholeAndMerged(
  name: string,
  run: (out: string, shard?: string) => Promise<number>,
): Promise<{ whole: string; merged: string; slices: string[] }> {
  const whole = join(root, `${name}-whole`);
  await run(whole);
  const slices = Array.from({ length: SHARDS }, (_, i) => join(root, `${name}-slice-${i + 1}`));
  for (const [i, dir] of slices.entries()) await run(dir, `${i + 1}/${SHARDS}`);
  const merged = join(root, `${name}-merged`);
  await mergeCommand(slices, { out: merged, json: true });
  return { whole, merged, slices };
}

describe('shards', () => {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true); // the commands print their results

  it(`a sweep in ${SHARDS} slices merges to the single run's results.json, byte for byte`, async () => {
    const r = await wholeAndMerged('sweep', (out, shard) => sweepCommand({ ...sweepOptions, out, shard }));
    const whole = readFileSync(join(r.whole, 'results.json'), 'utf8');
    expect(JSON.parse(whole).points).toHaveLength(6);
    expect(readFileSync(join(r.merged, 'results.json'), 'utf8')).toBe(whole);
    expect(readFileSync(join(r.merged, 'results.csv'), 'utf8')).toBe(
      readFileSync(join(r.whole, 'results.csv'), 'utf8'),
    );
    // Refusals: a slice missing, a slice given twice.
    await expect(mergeCommand(r.slices.slice(1), { out: join(root, 'x') })).rejects.toThrow(
      /items missing \(slices 1 of 4 not given\)/,
    );
    await expect(mergeCommand([...r.slices, r.slices[0]!], { out: join(root, 'x') })).rejects.toThrow(/is in .* too/);
  }, 120_000);

  it(`a stress campaign in ${SHARDS} slices merges to the single run's results.json, byte for byte`, async () => {
    const r = await wholeAndMerged('stress', (out, shard) => stressCommand({ ...stressOptions, out, shard }));
    const whole = readFileSync(join(r.whole, 'results.json'), 'utf8');
    expect(JSON.parse(whole)).toMatchObject({ seeds: 10, runs: 10, failures: 0 });
    expect(readFileSync(join(r.merged, 'results.json'), 'utf8')).toBe(whole);
    // A slice of another campaign (another first seed) is refused.
    const other = join(root, 'stress-other');
    await stressCommand({ ...stressOptions, seed: 21, out: other, shard: `1/${SHARDS}` });
    await expect(mergeCommand([other, ...r.slices.slice(1)], { out: join(root, 'y') })).rejects.toThrow(
      /a slice of another run/,
    );
  }, 120_000);
});
