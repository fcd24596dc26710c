// `bench --only PART --alternate REF`: the same part run by this checkout and by REF (a git worktree
// made beside it for the run), alternating — here, there; there, here; … — each run its own
// process, so that the machine's hour weighs on both sides alike. Every number the part prints in
// --json is put side by side with the ratio of the medians (figures-compare.ts). This is how each
// change to the host path was judged (BENCHMARKS: "side by side, alternating").
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArrayError, errorMessage } from '../src/shared/errors/errors.ts';
import { compareRuns, type FigureComparison } from './figures-compare.ts';

/** The checkout this code runs from (bench/..). */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Longest one run of a part may take before it is ended and the comparison fails. */
const PART_RUN_MAX_MS = 60 * 60_000;
/** Characters of a failed run's stderr kept for its error. */
const STDERR_TAIL_CHARS = 2000;

/** A run of the part that failed or printed no JSON: the comparison ends, said without a stack. */
export class BenchRunFailed extends Error {}

interface Side {
  label: string;
  dir: string;
  commit: string;
}

export interface AlternateOptions {
  part: string;
  ref: string;
  rounds: number;
  quick?: boolean;
}

export interface AlternateReport {
  part: string;
  rounds: number;
  here: { commit: string; uncommitted: boolean };
  there: { ref: string; commit: string };
  figures: FigureComparison[];
}

function git(args: string[], cwd = ROOT): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function commitOf(ref: string): string {
  try {
    return git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch {
    throw new ArrayError('USAGE', `--alternate ${ref}: not a commit in ${ROOT}`);
  }
}

/** One run of the part in `side`'s checkout, its JSON parsed. */
function runPart(side: Side, o: AlternateOptions): Promise<unknown> {
  const args = [
    join(side.dir, 'bin', 'arrayemu.mjs'),
    'bench',
    '--only',
    o.part,
    '--json',
    ...(o.quick ? ['--quick'] : []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: side.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-STDERR_TAIL_CHARS)));
    const timer = setTimeout(() => child.kill('SIGKILL'), PART_RUN_MAX_MS);
    child.on('error', (e) => reject(e));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const where = `bench --only ${o.part} at ${side.label}`;
      if (code !== 0)
        return reject(
          new BenchRunFailed(`${where} ended with ${signal ?? `exit ${code}`}: ${err.trim() || '(no output)'}`),
        );
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? ''));
      } catch (e) {
        reject(new BenchRunFailed(`${where} printed no JSON (${errorMessage(e)})`));
      }
    });
  });
}

/** A worktree of `commit` in a new temporary directory, sharing this checkout's node_modules. */
function worktree(commit: string, say: (s: string) => void): { dir: string; remove: () => void } {
  const parent = mkdtempSync(join(tmpdir(), 'arrayemu-alternate-'));
  const dir = join(parent, 'tree');
  git(['worktree', 'add', '--detach', dir, commit]);
  const remove = () => {
    try {
      git(['worktree', 'remove', '--force', dir]);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  };
  try {
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const lock = (d: string) =>
      existsSync(join(d, 'package-lock.json')) ? readFileSync(join(d, 'package-lock.json'), 'utf8') : '';
    if (lock(dir) !== lock(ROOT))
      say(`note: package-lock.json differs at ${commit.slice(0, 7)}; its runs use this checkout's node_modules`);
  } catch (e) {
    remove();
    throw e;
  }
  return { dir, remove };
}

/** The part run `rounds` times a side, alternating (ABBA), and every figure compared. */
export async function alternate(o: AlternateOptions, say: (s: string) => void): Promise<AlternateReport> {
  const thereCommit = commitOf(o.ref);
  const hereCommit = git(['rev-parse', 'HEAD']);
  const uncommitted = git(['status', '--porcelain', '--untracked-files=no']) !== '';
  const tree = worktree(thereCommit, say);
  const here: Side = {
    label: `here (${hereCommit.slice(0, 7)}${uncommitted ? ' with uncommitted changes' : ''})`,
    dir: ROOT,
    commit: hereCommit,
  };
  const there: Side = { label: `${o.ref} (${thereCommit.slice(0, 7)})`, dir: tree.dir, commit: thereCommit };
  const runs = new Map<Side, unknown[]>([
    [here, []],
    [there, []],
  ]);
  try {
    for (let r = 0; r < o.rounds; r++)
      for (const side of r % 2 === 0 ? [here, there] : [there, here]) {
        say(`round ${r + 1} of ${o.rounds}: bench --only ${o.part} at ${side.label}`);
        runs.get(side)!.push(await runPart(side, o));
      }
  } finally {
    tree.remove();
  }
  return {
    part: o.part,
    rounds: o.rounds,
    here: { commit: hereCommit, uncommitted },
    there: { ref: o.ref, commit: thereCommit },
    figures: compareRuns(runs.get(here)!, runs.get(there)!),
  };
}

/** The comparison as a table: each figure's medians and every run's value, here then there. */
export function alternateText(r: AlternateReport): string {
  const fmt = (x: number | null) => (x === null ? '–' : String(Math.round(x * 1000) / 1000));
  const rows = r.figures.map(
    (f) =>
      `| ${f.figure} | ${fmt(f.hereMedian)} | ${fmt(f.thereMedian)} | ${fmt(f.ratio)} | ${f.here.map(fmt).join(', ')} | ${f.there.map(fmt).join(', ')} |`,
  );
  return [
    `bench --only ${r.part}: here (${r.here.commit.slice(0, 7)}${r.here.uncommitted ? ' + uncommitted changes' : ''}) against ${r.there.ref} (${r.there.commit.slice(0, 7)}), ${r.rounds} run(s) a side, alternating`,
    '',
    '| figure | here (median) | there (median) | here ÷ there | here, each run | there, each run |',
    '|---|---:|---:|---:|---|---|',
    ...rows,
  ].join('\n');
}
