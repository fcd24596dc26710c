// Two codes' figures side by side (`bench --alternate`): every number a bench part prints in its
// JSON, found by its path, with the median of each side's runs and their ratio. Pure: the runs are
// given, nothing is measured here.

/** Arrays longer than this are a distribution's raw samples, not figures: left out. */
export const MAX_FIGURE_ARRAY = 16;
/** Fields that name an element of an array of rows (its path says the name, not the index). */
const ROW_NAME_FIELDS = ['key', 'case', 'name', 'figure', 'model', 'preset', 'id'] as const;

export interface FigureComparison {
  /** Where the number is in the part's JSON, e.g. `blockedMs.byModel.instant.p99`, `hostIoRows[4 KiB random read].actorOpsPerSec`. */
  figure: string;
  here: number[];
  there: number[];
  hereMedian: number | null;
  thereMedian: number | null;
  /** hereMedian ÷ thereMedian (null: a side lacks the figure, or there's median is 0). */
  ratio: number | null;
}

function rowName(x: unknown): string | undefined {
  if (x === null || typeof x !== 'object') return undefined;
  for (const f of ROW_NAME_FIELDS) {
    const v = (x as Record<string, unknown>)[f];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

/** Every finite number in `value`, by path (object keys joined by dots, array rows by their name or index). */
export function numericLeaves(value: unknown, path = '', out = new Map<string, number>()): Map<string, number> {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && path !== '') out.set(path, value);
  } else if (Array.isArray(value)) {
    if (value.length <= MAX_FIGURE_ARRAY) value.forEach((x, i) => numericLeaves(x, `${path}[${rowName(x) ?? i}]`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) numericLeaves(v, path === '' ? k : `${path}.${k}`, out);
  }
  return out;
}

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;

/** Each figure either side's runs printed, in the order first met, with both sides' values. */
export function compareRuns(here: unknown[], there: unknown[]): FigureComparison[] {
  const h = here.map((r) => numericLeaves(r));
  const t = there.map((r) => numericLeaves(r));
  const names = new Set<string>();
  for (const m of [...h, ...t]) for (const k of m.keys()) names.add(k);
  return [...names].map((figure) => {
    const hv = h.flatMap((m) => (m.has(figure) ? [m.get(figure)!] : []));
    const tv = t.flatMap((m) => (m.has(figure) ? [m.get(figure)!] : []));
    const hereMedian = median(hv);
    const thereMedian = median(tv);
    const ratio =
      hereMedian !== null && thereMedian !== null && thereMedian !== 0 ? round4(hereMedian / thereMedian) : null;
    return { figure, here: hv, there: tv, hereMedian, thereMedian, ratio };
  });
}
