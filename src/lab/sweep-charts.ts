// The sweep's charts, drawn by vega-lite as SVG (no browser), and an index.html that shows them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { SweepPoint } from './sweep-types.ts';

export async function vegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

const AXIS_DA = {
  field: 'diskAdapters',
  type: 'quantitative',
  title: 'disk adapters',
  scale: { type: 'log', base: 2 },
} as const;

/** Throughput against adapter count beside the ideal linear line (the 1-adapter figure × adapters). */
function throughputSpec(points: SweepPoint[], field: 'iops' | 'mbps', title: string): TopLevelSpec {
  // Per host-adapter count: the smallest disk-adapter point's figure per adapter, times the adapters.
  const perAdapter = new Map<number, number>();
  for (const p of [...points].sort((a, b) => b.diskAdapters - a.diskAdapters))
    perAdapter.set(p.hostAdapters, p[field] / p.diskAdapters);
  const values = points.flatMap((p) => [
    { diskAdapters: p.diskAdapters, value: p[field], series: `measured, ${p.hostAdapters} HA` },
    {
      diskAdapters: p.diskAdapters,
      value: Math.round(perAdapter.get(p.hostAdapters)! * p.diskAdapters * 10) / 10,
      series: `ideal linear, ${p.hostAdapters} HA`,
    },
  ]);
  return {
    title,
    width: 420,
    height: 260,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: AXIS_DA,
      y: { field: 'value', type: 'quantitative', title: field === 'iops' ? 'IOPS' : 'MB/s' },
      color: { field: 'series', type: 'nominal' },
      strokeDash: { field: 'series', type: 'nominal' },
    },
  } as TopLevelSpec;
}

function latencySpec(points: SweepPoint[]): TopLevelSpec {
  const values = points.flatMap((p) => [
    { diskAdapters: p.diskAdapters, ms: p.latencyMs.p50, series: `p50, ${p.hostAdapters} HA` },
    { diskAdapters: p.diskAdapters, ms: p.latencyMs.p99, series: `p99, ${p.hostAdapters} HA` },
  ]);
  return {
    title: 'Host latency against disk adapters',
    width: 420,
    height: 260,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: AXIS_DA,
      y: { field: 'ms', type: 'quantitative', title: 'ms' },
      color: { field: 'series', type: 'nominal' },
    },
  } as TopLevelSpec;
}

/** Restripe duration (under load, with none, the drive-bound lower bound), or the host's ratios during it, against disk adapters. */
function restripeSpec(points: SweepPoint[], what: 'duration' | 'host'): TopLevelSpec {
  const values = points.flatMap((p) => {
    const r = p.restripe;
    if (!r) return [];
    return what === 'duration'
      ? [
          { diskAdapters: p.diskAdapters, value: r.durationMs / 1000, series: `under load, ${p.hostAdapters} HA` },
          {
            diskAdapters: p.diskAdapters,
            value: r.idleDurationMs / 1000,
            series: `no host load, ${p.hostAdapters} HA`,
          },
          {
            diskAdapters: p.diskAdapters,
            value: r.lowerBoundMs / 1000,
            series: 'lower bound (drives or back-end link)',
          },
        ]
      : [
          {
            diskAdapters: p.diskAdapters,
            value: r.hostOpsDuringRatio,
            series: `host ops/s during ÷ before, ${p.hostAdapters} HA`,
          },
          {
            diskAdapters: p.diskAdapters,
            value: r.hostP99DuringRatio,
            series: `host p99 during ÷ before, ${p.hostAdapters} HA`,
          },
        ];
  });
  return {
    title:
      what === 'duration'
        ? 'Restripe duration against disk adapters'
        : 'Host load during the restripe, against before it',
    width: 420,
    height: 260,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: AXIS_DA,
      y: { field: 'value', type: 'quantitative', title: what === 'duration' ? 's (virtual)' : 'ratio' },
      color: { field: 'series', type: 'nominal' },
    },
  } as TopLevelSpec;
}

/** Write iops.svg, mbps.svg, latency.svg (and with restripes restripe.svg, restripe-host.svg) and index.html into `dir`; returns the file names. */
export async function writeSweepCharts(dir: string, all: SweepPoint[]): Promise<string[]> {
  const points = all.filter((p) => p.error === undefined); // a point that could not run has no figures to draw
  const charts: Array<[string, TopLevelSpec]> = [
    ['iops.svg', throughputSpec(points, 'iops', 'Throughput (IOPS) against disk adapters')],
    ['mbps.svg', throughputSpec(points, 'mbps', 'Throughput (MB/s) against disk adapters')],
    ['latency.svg', latencySpec(points)],
  ];
  if (points.some((p) => p.restripe))
    charts.push(
      ['restripe.svg', restripeSpec(points, 'duration')],
      ['restripe-host.svg', restripeSpec(points, 'host')],
    );
  for (const [name, spec] of charts) writeFileSync(join(dir, name), await vegaLiteSvg(spec));
  const html = `<!doctype html>\n<meta charset="utf-8">\n<title>arrayemu sweep</title>\n<h1>arrayemu adapter-count sweep</h1>\n<p>results: <a href="results.json">results.json</a>, <a href="results.csv">results.csv</a></p>\n${charts.map(([n]) => `<p><img src="${n}" alt="${n}"></p>`).join('\n')}\n`;
  writeFileSync(join(dir, 'index.html'), html);
  return [...charts.map(([n]) => n), 'index.html'];
}
