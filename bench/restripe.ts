// Restripe benchmarks (issue "Online reconfiguration"): restripe throughput beside a plain copy of
// the same bytes, the host-blocked window at three device sizes, and host throughput / p99 during a
// restripe beside before it. FIG. 2's expansion (3 drives → 4) scaled to the device size.
import { parseConfig, type ArrayConfig } from '../src/shared/config/config.ts';
import { deviceLayout } from '../src/shared/layout/layout.ts';
import { ArrayEmulator } from '../src/runtime/emulator.ts';
import {
  duringOverBefore,
  runWorkload,
  startWorkload,
  verifyDevices,
  type HostsDuring,
  type HostSummary,
  type RunOptions,
} from '../src/host/run.ts';
import { createVerifierBuffers } from '../src/host/verifier.ts';
import type { ReconfReport } from '../src/shared/restripe/report.ts';

const TRACK_BYTES = 256 * 1024;
const HEADS = 15;
const MIB = 1048576;

/** Cylinders per member of the small device a warm-up restripe moves first (WARM_UP_DEVICE). */
const WARM_UP_CYLINDERS = 2;
/** The device restriped once before the measured restripe, in the same array (its threads' code then runs warm). */
const WARM_UP_DEVICE = 'LD9';
/**
 * Restripes of the same device in one array before the hot ones are timed: each actor is an isolate
 * of its own that optimizes its own copy of the restripe code, a disk adapter a third of the tracks
 * (8-12 restripes of 256 MiB until the times settle: BENCHMARKS).
 */
const HOT_AFTER_RESTRIPES = 10;
/** Hot restripes timed after them (their median is the figure). */
const HOT_TIMED = 3;

/**
 * FIG. 2 at `mib` MiB: LD1 striped (S=2) over 31 33 35, spare 37, BCV1 on 46 47 48; and the FIG. 2
 * new target. With `warmUp`, a small LD9 (and BCV9) past LD1's cylinders, and `warmUpTarget` expanding it onto 37.
 */
export function fig2Scaled(
  mib: number,
  warmUp = false,
): { running: ArrayConfig; target: unknown; warmUpTarget?: unknown } {
  const cylBytes = TRACK_BYTES * HEADS;
  const cylinders = Math.max(6, Math.ceil((mib * MIB) / cylBytes / 6) * 6); // whole stripes on 3 members
  const per = cylinders / 3;
  const extra = warmUp ? WARM_UP_CYLINDERS : 0;
  const raw = {
    geometry: { trackBytes: TRACK_BYTES, headsPerCylinder: HEADS },
    cache: { slots: 256 },
    drives: ['31', '33', '35', '37', '46', '47', '48'].map((id) => ({ id, cylinders: per + extra })),
    diskAdapters: [
      { id: 'DA30', drives: ['31', '46'] },
      { id: 'DA32', drives: ['33', '47'] },
      { id: 'DA34', drives: ['35', '48'] },
      { id: 'DA36', drives: ['37'] },
    ],
    devices: [
      {
        id: 'LD1',
        layout: 'striped',
        cylinders,
        stripeCylinders: 2,
        members: ['31', '33', '35'].map((drive) => ({ drive, startCylinder: 0 })),
      },
      {
        id: 'BCV1',
        layout: 'bcv',
        of: 'LD1',
        members: ['46', '47', '48'].map((drive) => ({ drive, startCylinder: 0 })),
      },
    ],
  };
  if (warmUp)
    raw.devices.push(
      {
        id: WARM_UP_DEVICE,
        layout: 'striped',
        cylinders: 3 * WARM_UP_CYLINDERS,
        stripeCylinders: 1,
        members: ['31', '33', '35'].map((drive) => ({ drive, startCylinder: per })),
      },
      {
        id: 'BCV9',
        layout: 'bcv',
        of: WARM_UP_DEVICE,
        members: ['46', '47', '48'].map((drive) => ({ drive, startCylinder: per })),
      },
    );
  const target = expandLd1(raw, per);
  if (!warmUp) return { running: parseConfig(raw), target };
  const warmUpTarget = JSON.parse(JSON.stringify(raw));
  warmUpTarget.devices[2].cylinders = 4 * WARM_UP_CYLINDERS;
  warmUpTarget.devices[2].members.push({ drive: '37', startCylinder: per });
  return { running: parseConfig(raw), target, warmUpTarget };
}

/** `config` with LD1 (`per` cylinders on each of 3 members) expanded onto drive 37: FIG. 2's new layout. */
function expandLd1(config: unknown, per: number): unknown {
  const target = JSON.parse(JSON.stringify(config));
  const ld1 = target.devices.find((d: { id: string }) => d.id === 'LD1');
  ld1.cylinders = per * 4;
  ld1.members.push({ drive: '37', startCylinder: 0 });
  return target;
}

/** The same bytes copied in one thread: each old track from its original place to the BCV, then to its new place. */
function plainCopyMs(running: ArrayConfig, target: unknown): number {
  const o = deviceLayout(running, 'LD1');
  const n = deviceLayout(parseConfig(target, { running }), 'LD1', running);
  const b = deviceLayout(running, 'BCV1');
  const total = running.drives.reduce((s, d) => s + d.cylinders * HEADS, 0);
  const drives = new Uint8Array(new SharedArrayBuffer(total * TRACK_BYTES));
  drives.fill(1); // touch every page first, as prefault() does for the emulator's drives
  const at = (g: number) => g * TRACK_BYTES;
  const t0 = performance.now();
  for (let t = 0; t < o.tracks; t++) {
    drives.copyWithin(at(b.locate(t)), at(o.locate(t)), at(o.locate(t)) + TRACK_BYTES);
    drives.copyWithin(at(n.locate(t)), at(b.locate(t)), at(b.locate(t)) + TRACK_BYTES);
  }
  return performance.now() - t0;
}

/**
 * Touch every page of every drive (and the cache) before measuring: a fresh SharedArrayBuffer is
 * zero pages the kernel fills on first touch, which would bill page faults to whoever writes first.
 */
function prefault(emu: ArrayEmulator): void {
  for (const d of emu.state.buffers.driveData) new Uint8Array(d).fill(0);
  emu.state.slotData.fill(0);
}

const LIGHT_LOAD: Omit<RunOptions, 'ops' | 'seconds'> = {
  hostProcessors: 1,
  queueDepth: 4,
  readPct: 50,
  blockBytes: 4096,
  pattern: 'random',
  seed: 5,
  devices: ['LD1'],
};

/** Reconfigure while `load` runs; the workload stops as soon as the restripe completes. */
async function restripeUnderLoad(
  emu: ArrayEmulator,
  target: unknown,
  load: Omit<RunOptions, 'ops' | 'seconds'>,
): Promise<{ report: ReconfReport; host: HostSummary }> {
  const wl = startWorkload(emu, { ...load, maxBytes: { LD1: (emu.model.device('LD1').bytes * 4) / 3 } });
  try {
    // The host processors' threads take a moment to start: reconfigure once the load is flowing.
    for (let i = 0; wl.opsDone() < 200; i++) {
      if (i > 3000) throw new Error('the host load did not start within 30 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    const report = await emu.reconfigure(target);
    wl.stop();
    return { report, host: await wl.done };
  } catch (err) {
    wl.stop();
    await wl.done;
    throw err;
  }
}

export interface RestripeFigures {
  throughput: {
    mib: number;
    restripeMs: number;
    restripeMBps: number;
    plainCopyMs: number;
    plainCopyMBps: number;
    ratio: number;
    /** The same restripe as the first one of a fresh array (its threads' code cold), beside the same copy. */
    coldRestripeMs: number;
    coldRatio: number;
    /** A restripe of the same bytes (LD1's stripe size changed) after HOT_AFTER_RESTRIPES of them in one array: the median of HOT_TIMED. */
    hotRestripeMs: number;
    hotRatio: number;
  };
  blocked: Array<{
    mib: number;
    tracks: number;
    hostBlockedMs: number;
    durationMs: number;
    verifyErrors: number;
    hostP99Ms: number;
  }>;
  underLoad: {
    mib: number;
    before: HostSummary;
    during: HostSummary;
    restripeMs: number;
  } & HostsDuring;
}

export async function restripeBench(quick: boolean, say: (s: string) => void): Promise<RestripeFigures> {
  return {
    throughput: await restripeThroughput(quick, say),
    blocked: await blockedBySize(quick, say),
    underLoad: await hostsDuringRestripe(quick, say),
  };
}

/**
 * Restripe throughput with no host load, beside a plain copy of the same bytes: in an array that
 * has restriped a small device first (its threads' code warm, as in an array that has run a while),
 * and as the first restripe of a fresh array (every thread's code cold: ~15-20 ms more of the
 * session's steps, DESIGN §11).
 */
export async function restripeThroughput(
  quick: boolean,
  say: (s: string) => void,
  tMib = quick ? 16 : 256,
): Promise<RestripeFigures['throughput']> {
  const warm = fig2Scaled(tMib, true);
  const cold = fig2Scaled(tMib);
  const per = (warm.running.devices.find((d) => d.id === 'LD1') as { cylinders: number }).cylinders / 3;
  const report = await timedRestripe(warm.running, (after) => expandLd1(after, per), warm.warmUpTarget);
  const coldReport = await timedRestripe(cold.running, () => cold.target);
  const hotMs = await hotRestripeMs(cold.running, quick ? 1 : HOT_AFTER_RESTRIPES, say);
  const bytes = report.tracksTotal * TRACK_BYTES;
  const copyMs = plainCopyMs(cold.running, cold.target);
  const throughput = {
    mib: tMib,
    restripeMs: report.durationMs,
    restripeMBps: Math.round(bytes / MIB / (report.durationMs / 1000)),
    plainCopyMs: Math.round(copyMs * 10) / 10,
    plainCopyMBps: Math.round(bytes / MIB / (copyMs / 1000)),
    ratio: Math.round((copyMs / report.durationMs) * 1000) / 1000,
    coldRestripeMs: coldReport.durationMs,
    coldRatio: Math.round((copyMs / coldReport.durationMs) * 1000) / 1000,
    hotRestripeMs: hotMs,
    hotRatio: Math.round((copyMs / hotMs) * 1000) / 1000,
  };
  say(
    `restripe ${tMib} MiB, no host load: ${throughput.restripeMBps} MB/s vs plain copy ${throughput.plainCopyMBps} MB/s → ratio ${throughput.ratio} (first restripe of a fresh array: ${throughput.coldRatio}; hot: ${throughput.hotRatio})`,
  );
  return throughput;
}

/**
 * LD1's stripe size changed back and forth in one array (every track moves through the BCV: the
 * same copies as the expansion): `after` restripes, then the median of HOT_TIMED more, in ms.
 */
async function hotRestripeMs(running: ArrayConfig, after: number, say: (s: string) => void): Promise<number> {
  const emu = await ArrayEmulator.start(running);
  try {
    prefault(emu);
    const ms: number[] = [];
    for (let i = 0; i < after + HOT_TIMED; i++) {
      const target = JSON.parse(JSON.stringify(emu.model.config));
      const ld1 = target.devices.find((d: { id: string }) => d.id === 'LD1');
      ld1.stripeCylinders = ld1.stripeCylinders === 2 ? 1 : 2;
      const r = await emu.reconfigure(target);
      if (i >= after) ms.push(r.durationMs);
      else if (i % 5 === 4) say(`  hot restripe: ${i + 1} of ${after} warming restripes done`);
    }
    return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
  } finally {
    await emu.stop();
  }
}

/**
 * LD1's restripe in a fresh array, after `warmUpTarget`'s (another device's) if given; `target`
 * makes LD1's target from the configuration running then.
 */
async function timedRestripe(
  running: ArrayConfig,
  target: (running: ArrayConfig) => unknown,
  warmUpTarget?: unknown,
): Promise<ReconfReport> {
  const emu = await ArrayEmulator.start(running);
  try {
    prefault(emu);
    if (warmUpTarget !== undefined) await emu.reconfigure(warmUpTarget);
    return await emu.reconfigure(target(emu.model.config)); // the running configuration, as the reconfiguration left it
  } finally {
    await emu.stop();
  }
}

/** The host-blocked window at three device sizes, under a light verifying load. */
export async function blockedBySize(quick: boolean, say: (s: string) => void): Promise<RestripeFigures['blocked']> {
  const blocked: RestripeFigures['blocked'] = [];
  for (const mib of quick ? [16] : [16, 256, 1024]) {
    const s = fig2Scaled(mib);
    const emu = await ArrayEmulator.start(s.running);
    try {
      prefault(emu);
      const r = await restripeUnderLoad(emu, s.target, LIGHT_LOAD);
      if (r.host.verifyErrors + r.host.ioErrors > 0)
        throw new Error(
          `restripe bench ${mib} MiB: ${r.host.verifyErrors} verify and ${r.host.ioErrors} I/O errors: ${r.host.described.slice(0, 3).join('; ')}`,
        );
      blocked.push({
        mib,
        tracks: r.report.tracksTotal,
        hostBlockedMs: r.report.hostBlockedMs,
        durationMs: r.report.durationMs,
        verifyErrors: r.host.verifyErrors,
        hostP99Ms: r.host.latencyMs.p99,
      });
      say(
        `restripe ${mib} MiB under a light load: host blocked ${r.report.hostBlockedMs} ms (restripe ${r.report.durationMs} ms, verify errors ${r.host.verifyErrors})`,
      );
    } finally {
      await emu.stop();
    }
  }
  return blocked;
}

/** Host throughput and p99 during a restripe, beside before it (same array, same load, the default throttle). */
export async function hostsDuringRestripe(
  quick: boolean,
  say: (s: string) => void,
): Promise<RestripeFigures['underLoad']> {
  const uMib = quick ? 16 : 256;
  const u = fig2Scaled(uMib);
  const load: Omit<RunOptions, 'ops' | 'seconds'> = { ...LIGHT_LOAD, hostProcessors: 2, queueDepth: 16 };
  const emu = await ArrayEmulator.start(u.running);
  try {
    prefault(emu);
    // One verifier across both phases: the second checks reads of what the first wrote too.
    const maxBytes = (emu.model.device('LD1').bytes * 4) / 3;
    const verifier = createVerifierBuffers(verifyDevices(emu, ['LD1']).map((d) => ({ ...d, bytes: maxBytes })));
    const before = await runWorkload(emu, { ...load, seconds: quick ? 1 : 3, verifier });
    const r = await restripeUnderLoad(emu, u.target, { ...load, verifier });
    const during = r.host;
    for (const [phase, h] of [
      ['before', before],
      ['during', during],
    ] as const) {
      if (h.verifyErrors + h.ioErrors > 0)
        throw new Error(
          `restripe bench: ${h.verifyErrors} verify and ${h.ioErrors} I/O errors ${phase} the restripe: ${h.described.slice(0, 3).join('; ')}`,
        );
    }
    say(
      `host load before: ${before.iops} ops/s p99 ${before.latencyMs.p99} ms; during the restripe (${r.report.durationMs} ms): ${during.iops} ops/s p99 ${during.latencyMs.p99} ms`,
    );
    return {
      mib: uMib,
      before,
      during,
      restripeMs: r.report.durationMs,
      ...duringOverBefore(before, during),
    };
  } finally {
    await emu.stop();
  }
}

export function restripeMarkdown(f: RestripeFigures, machine: string, date: string): string {
  const th = f.throughput;
  return [
    '## Online restripe',
    '',
    `Command: \`npm run bench\` · machine: ${machine} · date: ${date}.`,
    '',
    `FIG. 2's expansion (LD1 on 31 33 35 → 31 33 35 37, stripe 2 cylinders) scaled to the device size; 256 KiB`,
    'tracks, 15 heads, a 256-slot cache, 4 disk adapters in worker threads.',
    '',
    `**Restripe throughput, no host load** (${th.mib} MiB): the whole session (ESTABLISH, switch, instant split,`,
    'data transfer, completion) beside a plain copy of the same bytes in one thread (each old track copied',
    'original → BCV → new, as the method copies it), in the same run. Every page of both is touched first. The',
    'restripe runs in an array that has restriped a small device first (its threads warm), and again as the',
    'first restripe of a fresh array (cold: its threads run the session code for the first time).',
    '',
    '| restripe ms | restripe MB/s | plain copy ms | plain copy MB/s | ratio (target ≥ 0.5) | cold restripe ms | cold ratio |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    `| ${th.restripeMs} | ${th.restripeMBps} | ${th.plainCopyMs} | ${th.plainCopyMBps} | ${th.ratio} | ${th.coldRestripeMs} | ${th.coldRatio} |`,
    '',
    '**Host-blocked window** (steps 114-120: block, wait for the pieces inside their critical section, activate,',
    'unblock) under a light verifying load (1 host processor, queue depth 4, 4 KiB, 50% reads). Target ≤ 1 ms at',
    'every size. Requests in flight are not drained: they translate again under the new layout (DESIGN §3).',
    '',
    '| device | old tracks | host blocked ms | host p99 ms | restripe ms | verify errors |',
    '|---:|---:|---:|---:|---:|---:|',
    ...f.blocked.map(
      (b) =>
        `| ${b.mib} MiB | ${b.tracks} | ${b.hostBlockedMs} | ${b.hostP99Ms} | ${b.durationMs} | ${b.verifyErrors} |`,
    ),
    '',
    `**Host load during a restripe** (${f.underLoad.mib} MiB, the default throttle; 2 host processors × queue depth 16, 4 KiB, 50% reads, verifying; the restripe took ${f.underLoad.restripeMs} ms):`,
    '',
    '| | ops/s | p99 ms | verify errors |',
    '|---|---:|---:|---:|',
    `| before | ${f.underLoad.before.iops} | ${f.underLoad.before.latencyMs.p99} | ${f.underLoad.before.verifyErrors} |`,
    `| during the restripe | ${f.underLoad.during.iops} | ${f.underLoad.during.latencyMs.p99} | ${f.underLoad.during.verifyErrors} |`,
    `| ratio (targets ≥ 0.7 and ≤ 2) | ${f.underLoad.opsRatio} | ${f.underLoad.p99Ratio} | |`,
    '',
  ].join('\n');
}
