// `bench --only PART --alternate REF`: the part here and in a worktree of REF, each run its own
// process, every figure side by side. Against HEAD a deterministic part (the drive models: pure
// mechanics, no clock) must give the same figures on both sides, so every ratio is 1; the worktree
// is gone afterwards; bad input is refused by name.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/arrayemu.mjs', ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const worktrees = () => spawnSync('git', ['worktree', 'list', '--porcelain'], { encoding: 'utf8' }).stdout;

describe('bench --alternate', () => {
  it('runs the part here and at the ref, alternating, and compares every figure (HEAD against HEAD: all 1)', () => {
    const before = worktrees();
    const r = cli('bench', '--only', 'drive-model', '--alternate', 'HEAD', '--rounds', '2', '--json');
    expect(r.code, r.err).toBe(0);
    const out = JSON.parse(r.out);
    expect(out).toMatchObject({ part: 'drive-model', rounds: 2, there: { ref: 'HEAD' } });
    expect(out.there.commit).toBe(out.here.commit);
    expect(out.figures.length).toBeGreaterThan(5);
    for (const f of out.figures) {
      expect(f.here, f.figure).toHaveLength(2);
      expect(f.there, f.figure).toHaveLength(2);
      expect(f.ratio ?? 1, f.figure).toBe(1);
    }
    expect(out.figures.map((f: { figure: string }) => f.figure)).toContainEqual(
      expect.stringMatching(/^driveModel\[[^\]]+\]\.qd1ReadMs$/),
    );
    // The order alternates: here, there; there, here.
    expect(r.err).toMatch(
      /round 1 of 2: bench --only drive-model at here[\s\S]*round 1 of 2: bench --only drive-model at HEAD[\s\S]*round 2 of 2: bench --only drive-model at HEAD[\s\S]*round 2 of 2: bench --only drive-model at here/,
    );
    expect(worktrees()).toBe(before);
  }, 300_000);

  it('refuses a ref that is not a commit, a missing --only, --write, and a bad --rounds, by name', () => {
    const noRef = cli('bench', '--only', 'drive-model', '--alternate', 'no-such-ref-anywhere');
    expect(noRef.code).toBe(2);
    expect(noRef.err).toMatch(/--alternate no-such-ref-anywhere: not a commit/);
    const noOnly = cli('bench', '--alternate', 'HEAD');
    expect(noOnly.code).toBe(2);
    expect(noOnly.err).toMatch(/--alternate needs --only PART/);
    const write = cli('bench', '--only', 'drive-model', '--alternate', 'HEAD', '--write', 'x.md');
    expect(write.code).toBe(2);
    expect(write.err).toMatch(/--alternate with --write/);
    const rounds = cli('bench', '--only', 'drive-model', '--alternate', 'HEAD', '--rounds', '0');
    expect(rounds.code).toBe(2);
    expect(rounds.err).toMatch(/--rounds must be an integer in 1\.\.20/);
    for (const r of [noRef, noOnly, write, rounds]) expect(r.err).not.toMatch(/internal error|at .*\.ts:\d+/);
  });
});
