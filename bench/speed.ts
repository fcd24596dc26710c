// The speed figures (issue "Speed"), side by side in one run, three runs: host I/O through the
// actors beside the in-process reference, restripe throughput beside a plain copy, the
// host-blocked window at the switch over many switches (instant and mechanical drives), and host
// throughput during a restripe beside before it (default throttle). Each figure is checked
// against its target; the report says in how many runs it was met.
import { duringOverBefore, type HostsDuring } from '../src/host/run.ts';
import { hostIoRows, HOST_IO_CASES, HOST_IO_QUEUE_DEPTH, type HostIoKey } from './host-io.ts';
import { hostsDuringRestripe, restripeThroughput } from './restripe.ts';
import { nbdBench, nbdFigures, type NbdCaseKey, type NbdFigure } from './nbd-bench.ts';
import { ringFloor, type RingFloor } from './ring-floor.ts';
import { quantile, switchWindowBench, writeSwitchChart, SWITCH_LOAD, type SwitchWindow } from './switch-window.ts';

/** Switches measured per drive model in each run (the issue asks for at least 100). */
export const SWITCHES_PER_MODEL = 120;
/** The mechanical model the switch is measured under, beside instant drives. */
const MECHANICAL_MODEL = 'hdd-15k';

interface HostIoFigure {
  opsPerSec: number;
  /** Each of the two host processors' queue depth. */
  queueDepth: number;
  referenceOpsPerSec: number;
  ratio: number;
  /** Against the reference reading into one reused buffer, as the host processors do (like for like). */
  referenceIntoOpsPerSec: number;
  ratioInto: number;
  p99Ms: number;
  /** Busy share (0-1) of HA0's thread and of the host processors' threads (their mean). */
  busy: { hostAdapter: number; hostProcessors: number };
}

export interface SpeedFigures {
  /** fio over NBD against `arrayemu serve` and `nbdkit memory`, in the same run (absent without fio or nbdkit). */
  nbd?: Record<NbdCaseKey, NbdFigure>;
  hostIo: Record<HostIoKey, HostIoFigure>;
  /**
   * The design's crossing alone (ring-floor.ts), measured after the host I/O rows: what a request
   * costs at the least. copy4kOfWriteReference: its 4 KiB rate ÷ the 4 KiB write row's reference
   * (the most the writes' ratio could be); writesOfFloor: the 4 KiB writes ÷ its 4 KiB rate.
   */
  ringFloor: RingFloor & { copy4kOfWriteReference: number; writesOfFloor: number };
  /**
   * ratio: in an array whose threads have restriped once (warm); coldRatio: the first restripe of a
   * fresh array; hotRatio: after ten restripes of the same device in one array.
   */
  restripe: { mbPerSec: number; plainCopyMbPerSec: number; ratio: number; coldRatio: number; hotRatio: number };
  blockedMs: {
    p50: number;
    p99: number;
    max: number;
    switches: number;
    /** Per drive model; spThreadNice: the nice value the service processor's thread ran at (DESIGN §3). */
    byModel: Record<string, { p50: number; p99: number; max: number; switches: number; spThreadNice?: number }>;
  };
  duringRestripe: HostsDuring & { restripeMs: number };
}

/** The host-blocked window over SWITCHES_PER_MODEL switches with instant drives, then with MECHANICAL_MODEL (`bench --only switch`). */
export async function switchWindows(
  quick: boolean,
  say: (s: string) => void,
): Promise<{ windows: SwitchWindow[]; blockedMs: SpeedFigures['blockedMs'] }> {
  const switches = quick ? 10 : SWITCHES_PER_MODEL;
  const windows = [
    await switchWindowBench(undefined, switches, say),
    await switchWindowBench(MECHANICAL_MODEL, switches, say),
  ];
  const all = windows.flatMap((w) => w.samplesMs).sort((a, b) => a - b);
  const byModel = Object.fromEntries(
    windows.map((w) => [w.model, { ...w.blockedMs, switches: w.switches, spThreadNice: w.spThreadNice }]),
  );
  const blockedMs = {
    p50: quantile(all, 0.5),
    p99: quantile(all, 0.99),
    max: all.at(-1) ?? 0,
    switches: all.length,
    byModel,
  };
  return { windows, blockedMs };
}

/** One run of every figure. */
export async function speedRun(
  quick: boolean,
  say: (s: string) => void,
): Promise<{ figures: SpeedFigures; windows: SwitchWindow[] }> {
  const nbd = nbdFigures(await nbdBench(quick, say));
  const rows = await hostIoRows(quick ? 0.5 : 3, say);
  const hostIo = {} as SpeedFigures['hostIo'];
  for (const [name, , , key] of HOST_IO_CASES) {
    const r = rows.find((x) => x.case === name)!;
    hostIo[key] = {
      opsPerSec: r.actorOpsPerSec,
      queueDepth: r.queueDepth,
      referenceOpsPerSec: r.referenceOpsPerSec,
      ratio: r.ratio,
      referenceIntoOpsPerSec: r.referenceIntoOpsPerSec,
      ratioInto: r.ratioInto,
      p99Ms: r.actorP99Ms,
      busy: { hostAdapter: r.hostAdapterBusy, hostProcessors: r.hostProcessorsBusy },
    };
  }
  const floor = await ringFloor(quick ? 0.5 : 3, say);
  const ringFloorFigure = {
    ...floor,
    copy4kOfWriteReference: round3(floor.copy4kOpsPerSec / hostIo.write4k.referenceOpsPerSec),
    writesOfFloor: round3(hostIo.write4k.opsPerSec / floor.copy4kOpsPerSec),
  };
  const th = await restripeThroughput(quick, say);
  const { windows, blockedMs } = await switchWindows(quick, say);
  const u = await hostsDuringRestripe(quick, say);
  return {
    windows,
    figures: {
      nbd,
      hostIo,
      ringFloor: ringFloorFigure,
      restripe: {
        mbPerSec: th.restripeMBps,
        plainCopyMbPerSec: th.plainCopyMBps,
        ratio: th.ratio,
        coldRatio: th.coldRatio,
        hotRatio: th.hotRatio,
      },
      blockedMs,
      duringRestripe: { ...duringOverBefore(u.before, u.during), restripeMs: u.restripeMs },
    },
  };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** CPU a request over all the server's threads ÷ nbdkit memory's, for one fio job (NaN: not measured). */
function cpuOverNbdkit(f: SpeedFigures, k: NbdCaseKey): number {
  const x = f.nbd?.[k];
  return x && x.nbdkitCpuUsPerIo > 0 ? round3(x.cpuUsPerIo / x.nbdkitCpuUsPerIo) : NaN;
}

/**
 * The issues' targets, each a figure of a run and whether it is met (a figure not measured is NaN:
 * not met). A row without `met` is a measured bound shown beside the target it bounds.
 */
export const SPEED_TARGETS: Array<{
  figure: string;
  target: string;
  value: (f: SpeedFigures) => number;
  met?: (v: number) => boolean;
}> = [
  {
    figure: 'fio 64 KiB randrw QD16 verify ÷ nbdkit memory',
    target: '≥ 0.5',
    value: (f) => f.nbd?.randrw64k.ratio ?? NaN,
    met: (v) => v >= 0.5,
  },
  {
    figure: 'fio 4 KiB randread QD32 ÷ nbdkit memory',
    target: '≥ 0.7',
    value: (f) => f.nbd?.randread4k.ratio ?? NaN,
    met: (v) => v >= 0.7,
  },
  {
    figure: 'fio 64 KiB randrw: CPU a request ÷ nbdkit memory’s',
    target: '≤ 2',
    value: (f) => cpuOverNbdkit(f, 'randrw64k'),
    met: (v) => v <= 2,
  },
  {
    figure: 'fio 4 KiB randread: CPU a request ÷ nbdkit memory’s',
    target: '≤ 2',
    value: (f) => cpuOverNbdkit(f, 'randread4k'),
    met: (v) => v <= 2,
  },
  {
    figure: '4 KiB cached reads ÷ in-process reference',
    target: '≥ 0.6',
    value: (f) => f.hostIo.read4k.ratio,
    met: (v) => v >= 0.6,
  },
  {
    figure: '4 KiB cached reads ÷ the reference reading into one buffer (like for like)',
    target: '≥ 0.6',
    value: (f) => f.hostIo.read4k.ratioInto,
    met: (v) => v >= 0.6,
  },
  { figure: '4 KiB cached reads p99 (ms)', target: '≤ 2', value: (f) => f.hostIo.read4k.p99Ms, met: (v) => v <= 2 },
  {
    figure: '4 KiB cached reads/s',
    target: '≥ 250000',
    value: (f) => f.hostIo.read4k.opsPerSec,
    met: (v) => v >= 250_000,
  },
  {
    figure: '4 KiB writes ÷ in-process reference',
    target: '≥ 0.3',
    value: (f) => f.hostIo.write4k.ratio,
    met: (v) => v >= 0.3,
  },
  {
    figure: 'bound: the ring alone carrying 4 KiB ÷ that reference (the most the row above could be)',
    target: '—',
    value: (f) => f.ringFloor.copy4kOfWriteReference,
  },
  {
    figure: '4 KiB writes ÷ the ring alone carrying 4 KiB',
    target: '—',
    value: (f) => f.ringFloor.writesOfFloor,
  },
  {
    figure: '4 KiB random writes/s',
    target: '≥ 250000',
    value: (f) => f.hostIo.write4k.opsPerSec,
    met: (v) => v >= 250_000,
  },
  { figure: 'restripe MB/s ÷ plain copy', target: '≥ 0.5', value: (f) => f.restripe.ratio, met: (v) => v >= 0.5 },
  {
    figure: 'host-blocked window p99 (ms), every model',
    target: '≤ 1 (kept)',
    value: (f) => Math.max(...Object.values(f.blockedMs.byModel).map((m) => m.p99)),
    met: (v) => v <= 1,
  },
  {
    figure: 'host ops/s during a restripe ÷ before',
    target: '≥ 0.7 (kept)',
    value: (f) => f.duringRestripe.opsRatio,
    met: (v) => v >= 0.7,
  },
  {
    figure: 'host p99 during a restripe ÷ before',
    target: '≤ 2 (kept)',
    value: (f) => f.duringRestripe.p99Ratio,
    met: (v) => v <= 2,
  },
];

export interface SpeedReport {
  /** The median of each figure over the runs (what `arrayemu bench --json` prints at the top). */
  median: SpeedFigures;
  runs: SpeedFigures[];
  /** metIn: in how many runs the target was met (absent for a measured bound, which has none). */
  targets: Array<{ figure: string; target: string; values: number[]; metIn?: number }>;
}

/** `runs` runs of every figure, side by side; the chart of the blocked window written into `chartDir`. */
export async function speedBench(
  runs: number,
  quick: boolean,
  chartDir: string | undefined,
  say: (s: string) => void,
): Promise<SpeedReport> {
  const all: SpeedFigures[] = [];
  const windows: SwitchWindow[] = [];
  for (let i = 0; i < runs; i++) {
    say(`speed run ${i + 1} of ${runs}`);
    const r = await speedRun(quick, say);
    all.push(r.figures);
    windows.push(...r.windows.map((w) => ({ ...w, model: `${w.model}, run ${i + 1}` })));
  }
  if (chartDir) await writeSwitchChart(chartDir, windows);
  const targets = SPEED_TARGETS.map((t) => {
    const values = all.map(t.value);
    return { figure: t.figure, target: t.target, values, metIn: t.met ? values.filter(t.met).length : undefined };
  });
  return { median: medianOf(all) as SpeedFigures, runs: all, targets };
}

/** The median of every numeric leaf over objects of one shape. */
function medianOf(objs: unknown[]): unknown {
  const first = objs[0];
  if (typeof first === 'number') {
    const xs = (objs as number[]).slice().sort((a, b) => a - b);
    return xs[Math.floor((xs.length - 1) / 2)];
  }
  if (first === null || typeof first !== 'object') return first;
  return Object.fromEntries(
    Object.keys(first).map((k) => [k, medianOf(objs.map((o) => (o as Record<string, unknown>)[k]))]),
  );
}

export function speedMarkdown(r: SpeedReport, machine: string, date: string, quick: boolean): string {
  const n = r.runs.length;
  const head = `| figure | ${r.runs.map((_, i) => `run ${i + 1}`).join(' | ')} | target | met in |`;
  const rule = `|---|${r.runs.map(() => '---:').join('|')}|---|---|`;
  const rows = r.targets.map(
    (t) =>
      `| ${t.figure} | ${t.values.join(' | ')} | ${t.target} | ${t.metIn === undefined ? '—' : `${t.metIn} of ${n}`} |`,
  );
  const io = (k: keyof SpeedFigures['hostIo'], label: string) =>
    `| ${label} | ${r.runs.map((f) => `${f.hostIo[k].opsPerSec} (ref ${f.hostIo[k].referenceOpsPerSec}, ${f.hostIo[k].ratio}${k.startsWith('read') ? `; into one buffer ${f.hostIo[k].referenceIntoOpsPerSec}, ${f.hostIo[k].ratioInto}` : ''}; p99 ${f.hostIo[k].p99Ms} ms; busy HA0 ${f.hostIo[k].busy?.hostAdapter ?? '–'}, host processors ${f.hostIo[k].busy?.hostProcessors ?? '–'})`).join(' | ')} |`;
  return [
    '## Speed: real clients and the host path, three runs side by side',
    '',
    `Command: \`npm run bench\` (or \`arrayemu bench --only speed${quick ? ' --quick' : ''} --json\`) · machine: ${machine} · date: ${date}.`,
    '',
    ...[head, rule, ...rows],
    '',
    ...nbdLines(r),
    'Host I/O through the actors (FIG. 2 array, 1 host adapter, 2 host processors × queue depth 64 unless named, verification',
    'off, cache holding every track), ops/s beside the in-process reference doing the same `locate()` and copies (its reads',
    'each allocate their buffer, as issue 31 set it; "into one buffer": reads land in one reused buffer, as the host',
    "processors' do), and how busy HA0's thread and the host processors' threads were (their event loops' active share, 0-1):",
    '',
    `| case | ${r.runs.map((_, i) => `run ${i + 1}`).join(' | ')} |`,
    `|---|${r.runs.map(() => '---').join('|')}|`,
    io('read4k', '4 KiB random read'),
    io('write4k', '4 KiB random write'),
    io('read64k', '64 KiB random read'),
    io('write64k', '64 KiB random write'),
    io('read4kHalf', '4 KiB random read, 2 × 32 in flight'),
    io('read512', '512 B random read: the smallest request'),
    '',
    `The ring alone (bench/ring-floor.ts: the array's \`Ring\`, two producer threads × ${HOST_IO_QUEUE_DEPTH} in flight to one consumer thread that`,
    'answers each at once: no lookup, no lock, no destage; then with 4 KiB written into the arena and copied into a slot, as a',
    `write's data is): ${r.runs.map((f) => `${f.ringFloor.emptyOpsPerSec} answered empty, ${f.ringFloor.copy4kOpsPerSec} carrying 4 KiB (${f.ringFloor.copy4kOfWriteReference} of the write reference)`).join('; ')}.`,
    '',
    `Restripe (256 MiB FIG. 2 expansion, instant drives, no host load, after a small restripe of another device in the same array): ${r.runs.map((f) => `${f.restripe.mbPerSec} MB/s vs plain copy ${f.restripe.plainCopyMbPerSec} MB/s`).join('; ')}; as the first restripe of a fresh array (every thread's code cold) ÷ plain copy: ${r.runs.map((f) => f.restripe.coldRatio).join(' / ')}; hot (LD1's stripe size changed, after ten such restripes in one array; the median of three) ÷ plain copy: ${r.runs.map((f) => f.restripe.hotRatio ?? '–').join(' / ')}.`,
    '',
    `Host-blocked window at the switch: ${SWITCHES_PER_MODEL} switches per drive model per run (LD1 restriped back and forth between`,
    `stripe 1 and 2 cylinders, FIG. 8) under a verifying load of ${SWITCH_LOAD.hostProcessors} host processors × queue depth ${SWITCH_LOAD.queueDepth}, 4 KiB, 50% reads;`,
    `a 32-slot cache, so requests stage from the drives: ${r.runs
      .map((f) =>
        Object.entries(f.blockedMs.byModel)
          .map(([m, b]) => `${m} p50 ${b.p50} / p99 ${b.p99} / max ${b.max} ms`)
          .join(', '),
      )
      .join('; ')}.`,
    '',
    '![host-blocked window at the switch](speed/switch-window.svg)',
    '',
    `Hosts during a restripe (256 MiB, default throttle ${'{minMBps 200, maxMBps 0}'}; 2 host processors × queue depth 16, 4 KiB, 50% reads,`,
    `verifying): ${r.runs.map((f) => `${f.duringRestripe.opsPerSecBefore} → ${f.duringRestripe.opsPerSecDuring} ops/s, p99 ${f.duringRestripe.p99MsBefore} → ${f.duringRestripe.p99MsDuring} ms (restripe ${f.duringRestripe.restripeMs} ms)`).join('; ')}.`,
    '',
  ].join('\n');
}

/** The fio figures of each run (arrayemu MiB/s beside nbdkit memory's, and the ratio). */
function nbdLines(r: SpeedReport): string[] {
  if (r.runs.every((f) => !f.nbd)) return ['fio over NBD: not measured (fio or nbdkit not installed).', ''];
  const cell = (f: SpeedFigures, k: NbdCaseKey) =>
    f.nbd
      ? `${f.nbd[k].mibPerSec} vs ${f.nbd[k].nbdkitMibPerSec} MiB/s (${f.nbd[k].ratio}); CPU ${f.nbd[k].cpuUsPerIo} vs ${f.nbd[k].nbdkitCpuUsPerIo} µs a request`
      : '—';
  const row = (k: NbdCaseKey, label: string) => `| ${label} | ${r.runs.map((f) => cell(f, k)).join(' | ')} |`;
  return [
    "fio's nbd engine over a Unix socket: `arrayemu serve` (LD1, 256 MiB striped over 4 instant drives on 4 disk",
    'adapters, 2 host adapters, worker threads) beside `nbdkit memory` of the same size, one after the other; and',
    'the CPU each request cost the server, all its threads (each server its own process, every block written once first; `/proc/<pid>/stat` of each):',
    '',
    `| fio job | ${r.runs.map((_, i) => `run ${i + 1}: arrayemu vs nbdkit`).join(' | ')} |`,
    `|---|${r.runs.map(() => '---').join('|')}|`,
    row('randrw64k', '64 KiB randrw QD16, crc32c verify'),
    row('randread4k', '4 KiB randread QD32'),
    row('randwrite4k', '4 KiB randwrite QD32'),
    '',
  ];
}
