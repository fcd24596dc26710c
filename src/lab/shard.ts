// Shards of a long lab run (docs/SCALE.md): a sweep's points or a stress campaign's runs dealt out
// over N independent processes, which a batch engine starts (a Kubernetes Indexed Job, a CI
// matrix); each writes its slice to `shard.json`, and `merge` joins the slices into what one run
// writes. Each point and each run is deterministic on its own (a fresh array, its own seed), so
// where it ran does not change it: the merge is byte-identical to a single run. The project only
// slices and merges; spreading the slices is the engine's.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';

/** Slice `index` (1-based, as Jest's and Playwright's --shard) of `count`. */
export interface Shard {
  index: number;
  count: number;
}

/** Most shards one run may be cut into. */
export const MAX_SHARDS = 10_000;
/** The slice's file in its output directory. */
export const SHARD_FILE = 'shard.json';
/** Format of shard.json; another is refused, naming both. */
export const SHARD_FORMAT = 1;

/** "I/N" → the shard, or a refusal naming the option and why. */
export function parseShard(s: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || count > MAX_SHARDS || index < 1 || index > count)
    throw new ArrayError(
      'USAGE',
      `--shard ${s}: expected I/N with 1 ≤ I ≤ N ≤ ${MAX_SHARDS} (e.g. 2/4: the second of four slices)`,
    );
  return { index, count };
}

/** Item `i` (0-based, in the run's order) belongs to `shard`: items are dealt round-robin, so each slice gets a share of the costly ones. */
export function inShard(i: number, shard: Shard | undefined): boolean {
  return shard === undefined || i % shard.count === shard.index - 1;
}

/** One slice as written: what it is a slice of (`of`, the run's options), its items by index. */
export interface ShardFile<T> {
  format: number;
  kind: 'sweep' | 'stress';
  shard: Shard;
  /** The run's options: every slice of one run has the same. */
  of: unknown;
  /** Items in the whole run. */
  total: number;
  items: Array<{ index: number; item: T }>;
}

/** Read the slices in `dirs`, check they are the whole of one run, and return its items in order. */
export function mergeShards<T>(dirs: string[]): { kind: ShardFile<T>['kind']; of: unknown; items: T[] } {
  if (dirs.length === 0) throw new ArrayError('USAGE', 'merge: give the directories of the shards');
  const files = dirs.map((d) => readShard<T>(d));
  const first = files[0]!;
  files.forEach((f, i) => {
    const where = dirs[i]!;
    if (f.kind !== first.kind) throw refuse(where, `a ${f.kind} slice, but ${dirs[0]} holds a ${first.kind} slice`);
    if (f.shard.count !== first.shard.count || f.total !== first.total || !isDeepStrictEqual(f.of, first.of))
      throw refuse(where, `a slice of another run than ${dirs[0]} (its options, shard count or size differ)`);
  });
  const byIndex = new Map<number, { item: T; dir: string }>();
  files.forEach((f, i) => {
    for (const { index, item } of f.items) {
      const seen = byIndex.get(index);
      if (seen) throw refuse(dirs[i]!, `item ${index} is in ${seen.dir} too (the same slice given twice?)`);
      byIndex.set(index, { item, dir: dirs[i]! });
    }
  });
  const missing = Array.from({ length: first.total }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length > 0) {
    const slices = [...new Set(missing.map((i) => (i % first.shard.count) + 1))];
    throw new ArrayError(
      'USAGE',
      `merge: ${missing.length} of ${first.total} items missing (slices ${slices.slice(0, 10).join(', ')} of ${first.shard.count} not given)`,
    );
  }
  const items = Array.from({ length: first.total }, (_, i) => byIndex.get(i)!.item);
  return { kind: first.kind, of: first.of, items };
}

function readShard<T>(dir: string): ShardFile<T> {
  const file = join(dir, SHARD_FILE);
  if (!existsSync(file)) throw refuse(dir, `no ${SHARD_FILE} (write one with --shard I/N --out ${dir})`);
  let f: ShardFile<T>;
  try {
    f = JSON.parse(readFileSync(file, 'utf8')) as ShardFile<T>;
  } catch (err) {
    throw refuse(dir, `${SHARD_FILE} is not JSON (${errorMessage(err)})`);
  }
  if (f.format !== SHARD_FORMAT)
    throw refuse(dir, `${SHARD_FILE} format ${f.format}, this arrayemu reads ${SHARD_FORMAT}`);
  if ((f.kind !== 'sweep' && f.kind !== 'stress') || !Array.isArray(f.items) || !Number.isInteger(f.total))
    throw refuse(dir, `${SHARD_FILE} is not a slice of a sweep or a stress run`);
  return f;
}

const refuse = (dir: string, why: string) => new ArrayError('USAGE', `merge: ${dir}: ${why}`);
