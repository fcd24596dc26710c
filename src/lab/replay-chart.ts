// `replay --chart F.svg`: the simulated response-time CDF against the measured one, drawn by
// vega-lite as SVG (no browser), with the demerit and the mean error in the title: where the two
// curves part is where the model is wrong.
import type { TopLevelSpec } from 'vega-lite';
import { cdfOf, type ReplayResult } from './replay.ts';
import { vegaLiteSvg } from './sweep-charts.ts';

/** Points of each curve: every percentile. */
const CHART_POINTS = 100;

/** The chart's SVG for replay result `r` of `what` (e.g. "a bare atlas10k"). */
export async function replayCdfSvg(r: ReplayResult, what: string): Promise<string> {
  const sim = cdfOf(
    [...r.responsesMs].sort((a, b) => a - b),
    CHART_POINTS,
  );
  const measured = r.measuredSortedMs ? cdfOf(r.measuredSortedMs, CHART_POINTS) : [];
  const values = [
    ...sim.map((p) => ({ ...p, curve: 'simulated' })),
    ...measured.map((p) => ({ ...p, curve: 'measured' })),
  ];
  const score =
    r.demeritMs === null
      ? 'no measured response times'
      : `demerit ${r.demeritMs} ms, mean ${r.meanMs} ms against ${r.measuredMeanMs} (${r.meanErrorPct! > 0 ? '+' : ''}${r.meanErrorPct}%)`;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `Response-time CDF, ${r.requests} requests on ${what}`, subtitle: score },
    width: 560,
    height: 320,
    data: { values },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'ms', type: 'quantitative', title: 'response time (ms)', scale: { type: 'symlog' } },
      y: { field: 'fraction', type: 'quantitative', title: 'fraction of requests', scale: { domain: [0, 1] } },
      color: { field: 'curve', type: 'nominal', title: null, sort: ['measured', 'simulated'] },
    },
  };
  return vegaLiteSvg(spec);
}
