// The sweep's charts, drawn by vega-lite as SVG (no browser), and an index.html that shows them.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { SweepOptions, SweepPoint } from './sweep-types.ts';
import { sweepCsv } from './sweep.ts';

export async function vegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

/** The x axis: disk adapters on a log2 scale, ticks at exactly the counts the sweep ran. */
function axisDa(points: SweepPoint[]) {
  const counts = [...new Set(points.map((p) => p.diskAdapters))].sort((a, b) => a - b);
  return {
    field: 'diskAdapters',
    type: 'quantitative',
    title: 'disk adapters',
    scale: { type: 'log', base: 2, domain: [counts[0] ?? 1, counts[counts.length - 1] ?? 1] },
    axis: { values: counts, format: 'd', grid: true },
  };
}

/** One colour per host-adapter count, the same in every chart. */
const COLOR_HA = { field: 'ha', type: 'nominal', title: 'host adapters' } as const;

/**
 * Throughput against adapter count: measured as solid lines with each point's figure written
 * beside it, the ideal linear line (the smallest point's figure per adapter × adapters) dashed,
 * one colour per host-adapter count.
 */
function throughputSpec(points: SweepPoint[], field: 'iops' | 'mbps', title: string): TopLevelSpec {
  const smallest = new Map<number, SweepPoint>();
  for (const p of [...points].sort((a, b) => b.diskAdapters - a.diskAdapters)) smallest.set(p.hostAdapters, p);
  const values = points.map((p) => {
    const base = smallest.get(p.hostAdapters)!;
    return {
      diskAdapters: p.diskAdapters,
      ha: `${p.hostAdapters} HA`,
      measured: p[field],
      ideal: Math.round((base[field] / base.diskAdapters) * p.diskAdapters * 10) / 10,
    };
  });
  const x = axisDa(points);
  const unit = field === 'iops' ? 'IOPS' : 'MB/s';
  return {
    title: { text: title, subtitle: 'solid: measured · dashed: ideal (linear from the fewest adapters)' },
    width: 460,
    height: 280,
    data: { values },
    encoding: { x, color: COLOR_HA },
    layer: [
      {
        mark: { type: 'line', strokeDash: [6, 4], opacity: 0.7 },
        encoding: { y: { field: 'ideal', type: 'quantitative', title: unit } },
      },
      {
        mark: { type: 'line', point: { filled: true, size: 50 } },
        encoding: { y: { field: 'measured', type: 'quantitative', title: unit } },
      },
      // Each point's figure above it; the labels of each host-adapter count a line higher than the last.
      ...[...smallest.keys()]
        .sort((a, b) => a - b)
        .map((ha, i) => ({
          transform: [{ filter: `datum.ha === '${ha} HA'` }],
          mark: { type: 'text', dy: -9 - 11 * i, fontSize: 10 },
          encoding: {
            y: { field: 'measured', type: 'quantitative' },
            text: { field: 'measured', type: 'quantitative' },
          },
        })),
    ],
  } as unknown as TopLevelSpec;
}

/** p50 (solid) and p99 (dashed) latency against adapter count, one colour per host-adapter count. */
function latencySpec(points: SweepPoint[]): TopLevelSpec {
  const values = points.flatMap((p) => [
    { diskAdapters: p.diskAdapters, ms: p.latencyMs.p50, ha: `${p.hostAdapters} HA`, quantile: 'p50' },
    { diskAdapters: p.diskAdapters, ms: p.latencyMs.p99, ha: `${p.hostAdapters} HA`, quantile: 'p99' },
  ]);
  return {
    title: { text: 'Host latency against disk adapters', subtitle: 'solid: p50 · dashed: p99' },
    width: 460,
    height: 280,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: axisDa(points),
      y: { field: 'ms', type: 'quantitative', title: 'ms' },
      color: COLOR_HA,
      strokeDash: {
        field: 'quantile',
        type: 'nominal',
        title: 'quantile',
        scale: {
          range: [
            [1, 0],
            [6, 4],
          ],
        },
      },
    },
  } as unknown as TopLevelSpec;
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
      x: axisDa(points),
      y: { field: 'value', type: 'quantitative', title: what === 'duration' ? 's (virtual)' : 'ratio' },
      color: { field: 'series', type: 'nominal' },
    },
  } as unknown as TopLevelSpec;
}

/** What the page says was run: the sweep's options, the version that ran it, the date. */
export interface SweepAbout {
  options: SweepOptions;
  version: string;
  date: string;
}

/** Write iops.svg, mbps.svg, latency.svg (and with restripes restripe.svg, restripe-host.svg) and index.html into `dir`; returns the file names. */
export async function writeSweepCharts(dir: string, all: SweepPoint[], about: SweepAbout): Promise<string[]> {
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
  writeFileSync(
    join(dir, 'index.html'),
    sweepPage(
      all,
      charts.map(([n]) => n),
      about,
    ),
  );
  return [...charts.map(([n]) => n), 'index.html'];
}

const esc = (x: unknown) =>
  String(x).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The page: what was run, the charts, and every point in a table. */
function sweepPage(points: SweepPoint[], charts: string[], about: SweepAbout): string {
  const o = about.options;
  const run = [
    [
      'drive model',
      `${o.driveModel}, ${o.drivesPerAdapter} per disk adapter${o.driveCylinders ? `, ${o.driveCylinders} cylinders` : ' (full size)'}`,
    ],
    ...(o.trace
      ? [
          [
            'trace',
            `${o.trace.file} (${o.trace.format}, ${o.trace.requests} requests, sha256 ${o.trace.sha256.slice(0, 12)}…)`,
          ],
          [
            'replay',
            `${o.trace.closedLoop ? 'closed' : 'open'} loop, laid onto each device by 1 MiB regions (virtual time)`,
          ],
        ]
      : [
          ['workload', o.workload],
          ['block size', `${o.blockBytes} B`],
          ['queue depth', `${o.queueDepth} per drive`],
          ['time per point', `${o.seconds} s (${o.clock === 'real' ? 'real time' : 'virtual time'})`],
        ]),
    ['seed', o.seed],
    ['verified', o.verify === false ? 'no' : 'every read'],
    ...(o.restripe ? [['restripe', o.restripe]] : []),
    ['arrayemu', about.version],
    ['date', about.date],
  ];
  const head = ['disk adapters', 'host adapters', 'drives', 'IOPS', 'MB/s', 'p50 ms', 'p99 ms', 'requests', 'note'];
  const rows = points.map((p) => [
    p.diskAdapters,
    p.hostAdapters,
    p.drives,
    p.iops,
    p.mbps,
    p.latencyMs.p50,
    p.latencyMs.p99,
    p.requests,
    p.error ? `could not run: ${p.error}` : '',
  ]);
  return [
    '<!doctype html>',
    '<meta charset="utf-8">',
    '<title>arrayemu sweep</title>',
    '<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#f4f4f4}</style>',
    '<h1>arrayemu adapter-count sweep</h1>',
    `<table>${run.map(([k, v]) => `<tr><th>${esc(k)}</th><td style="text-align:left">${esc(v)}</td></tr>`).join('')}</table>`,
    '<p>results: <a href="results.json">results.json</a>, <a href="results.csv">results.csv</a></p>',
    ...charts.map((n) => `<p><img src="${n}" alt="${n}"></p>`),
    `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((v) => `<td>${esc(v)}</td>`).join('')}</tr>`).join('')}</table>`,
    '',
  ].join('\n');
}

/** What a sweep writes from its points (a whole run, or the merge of its slices): results.json, results.csv, charts, index.html. */
export async function writeSweepOutputs(out: string, points: SweepPoint[], options: SweepOptions): Promise<string[]> {
  mkdirSync(out, { recursive: true });
  // The simulator's wall-clock speed is left out: results.json is the same run to run.
  const kept = points.map(({ simulator: _wallClock, ...p }) => p);
  writeFileSync(join(out, 'results.json'), `${JSON.stringify({ points: kept }, null, 2)}\n`);
  writeFileSync(join(out, 'results.csv'), sweepCsv(points));
  const about = { options, version: VERSION, date: new Date().toISOString().slice(0, 10) };
  return ['results.json', 'results.csv', ...(await writeSweepCharts(out, points, about))];
}

/** This arrayemu's version (package.json), named on the pages it writes. */
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
