// bench --alternate's comparison (bench/figures-compare.ts): every number by its path, rows named
// by their name field, samples left out, medians and the ratio of here to there.
import { describe, expect, it } from 'vitest';
import { compareRuns, MAX_FIGURE_ARRAY, median, numericLeaves } from '../../bench/figures-compare.ts';

describe('figures compared side by side', () => {
  it('finds every finite number by its path; rows by their name, long arrays (samples) left out', () => {
    const leaves = numericLeaves({
      machine: 'x',
      blockedMs: { p99: 0.5, byModel: { instant: { p99: 0.4 } } },
      rows: [{ case: '4 KiB read', opsPerSec: 10 }, { opsPerSec: 20 }],
      samplesMs: Array.from({ length: MAX_FIGURE_ARRAY + 1 }, (_, i) => i),
      short: [1, 2],
      nan: NaN,
    });
    expect([...leaves]).toEqual([
      ['blockedMs.p99', 0.5],
      ['blockedMs.byModel.instant.p99', 0.4],
      ['rows[4 KiB read].opsPerSec', 10],
      ['rows[1].opsPerSec', 20],
      ['short[0]', 1],
      ['short[1]', 2],
    ]);
  });

  it('medians of each side and here ÷ there; a figure one side lacks has no ratio', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
    const [a, b, c] = compareRuns(
      [
        { x: 2, y: 1 },
        { x: 4, y: 1 },
        { x: 3, y: 1 },
      ],
      [
        { x: 1, z: 5 },
        { x: 2, z: 5 },
        { x: 1.5, z: 5 },
      ],
    );
    expect(a).toEqual({ figure: 'x', here: [2, 4, 3], there: [1, 2, 1.5], hereMedian: 3, thereMedian: 1.5, ratio: 2 });
    expect(b).toMatchObject({ figure: 'y', hereMedian: 1, thereMedian: null, ratio: null });
    expect(c).toMatchObject({ figure: 'z', here: [], there: [5, 5, 5], ratio: null });
  });

  it('a zero median there gives no ratio, not Infinity', () => {
    expect(compareRuns([{ x: 1 }], [{ x: 0 }])[0]!.ratio).toBeNull();
  });
});
