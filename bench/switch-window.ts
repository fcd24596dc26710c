// The host-blocked window at the switch (steps 114-120) as a distribution: one device restriped
// back and forth between two stripe sizes (FIG. 8) many times while a verifying host load of queue
// depth 64 per host processor runs on it without a pause, once with instant drives and once with a
// mechanical timing model. Each session's report gives its window; the verifier checks every read.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { parseConfig } from '../src/shared/config/config.ts';
import { ArrayEmulator } from '../src/runtime/emulator.ts';
import { startWorkload, type HostSummary } from '../src/host/run.ts';
import { vegaLiteSvg } from '../src/lab/sweep-charts.ts';

/** Host processors × queue depth of the load during the switches. */
export const SWITCH_LOAD = { hostProcessors: 2, queueDepth: 64 } as const;
/** A third of LD1's 96 tracks: most host requests and every ESTABLISH copy read a drive. */
const CACHE_SLOTS = 32;
/** Longest one session may take before the bench gives up on it. */
const SESSION_WAIT_MS = 120_000;

export interface SwitchWindow {
  model: string;
  switches: number;
  blockedMs: { p50: number; p99: number; max: number };
  samplesMs: number[];
  host: HostSummary;
  /** The nice value the service processor's thread ran at (undefined: it shares the main thread). */
  spThreadNice?: number;
}

/** LD1 striped over 3 drives (stripe `s` cylinders), its BCV on 3 more, one disk adapter per pair. */
function stripeConfig(stripeCylinders: number, model?: string): Record<string, unknown> {
  const drive = (id: string) => ({ id, cylinders: 16, ...(model ? { model } : {}) });
  return {
    geometry: { trackBytes: 4096, headsPerCylinder: 2 },
    cache: { slots: CACHE_SLOTS },
    hostAdapters: 1,
    drives: ['31', '33', '35', '46', '47', '48'].map(drive),
    diskAdapters: [
      { id: 'DA30', drives: ['31', '46'] },
      { id: 'DA32', drives: ['33', '47'] },
      { id: 'DA34', drives: ['35', '48'] },
    ],
    devices: [
      {
        id: 'LD1',
        layout: 'striped',
        cylinders: 48,
        stripeCylinders,
        members: ['31', '33', '35'].map((d) => ({ drive: d, startCylinder: 0 })),
      },
      {
        id: 'BCV1',
        layout: 'bcv',
        of: 'LD1',
        members: ['46', '47', '48'].map((d) => ({ drive: d, startCylinder: 0 })),
      },
    ],
  };
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** `switches` sessions under load with drive model `model` (undefined: instant drives). */
export async function switchWindowBench(
  model: string | undefined,
  switches: number,
  say: (s: string) => void,
): Promise<SwitchWindow> {
  const configs = [stripeConfig(1, model), stripeConfig(2, model)];
  const emu = await ArrayEmulator.start(parseConfig(configs[0]));
  const samplesMs: number[] = [];
  try {
    const spThreadNice = (await emu.status()).SP?.threadNice;
    const wl = startWorkload(emu, {
      ...SWITCH_LOAD,
      seconds: 3600,
      readPct: 50,
      blockBytes: 4096,
      pattern: 'random',
      seed: 11,
      devices: ['LD1'],
    });
    try {
      for (let i = 0; wl.opsDone() < 500; i++) {
        if (i > 3000) throw new Error('the host load did not start within 30 s');
        await new Promise((r) => setTimeout(r, 10));
      }
      for (let i = 0; i < switches; i++) {
        const report = await withTimeout(emu.reconfigure(configs[(i + 1) % 2]), SESSION_WAIT_MS, `session ${i + 1}`);
        samplesMs.push(report.hostBlockedMs);
        if ((i + 1) % 25 === 0)
          say(`switch window (${model ?? 'instant'}): ${i + 1}/${switches} switches, last ${report.hostBlockedMs} ms`);
      }
    } finally {
      wl.stop();
    }
    const host = await wl.done;
    if (host.verifyErrors + host.ioErrors > 0)
      throw new Error(
        `switch bench: ${host.verifyErrors} verify and ${host.ioErrors} I/O errors: ${host.described.slice(0, 3).join('; ')}`,
      );
    const sorted = [...samplesMs].sort((a, b) => a - b);
    const blockedMs = { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? 0 };
    say(
      `switch window (${model ?? 'instant'}): ${switches} switches under load: p50 ${blockedMs.p50} ms, p99 ${blockedMs.p99} ms, max ${blockedMs.max} ms; ${host.iops} host ops/s, 0 verify errors; SP thread at nice ${spThreadNice ?? 'of the main thread'}`,
    );
    return { model: model ?? 'instant', switches, blockedMs, samplesMs, host, spThreadNice };
  } finally {
    await emu.stop();
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The distribution as a chart: each switch's window, sorted, per drive model (an empirical CDF). */
export async function writeSwitchChart(dir: string, runs: SwitchWindow[]): Promise<string> {
  const values = runs.flatMap((r) =>
    [...r.samplesMs]
      .sort((a, b) => a - b)
      .map((ms, i) => ({ ms, fraction: (i + 1) / r.samplesMs.length, model: r.model })),
  );
  const spec: TopLevelSpec = {
    title: 'Host-blocked window at the switch, under a QD 64 × 2 verifying load',
    width: 420,
    height: 260,
    data: { values },
    mark: { type: 'line', point: true, interpolate: 'step-after' },
    encoding: {
      x: { field: 'ms', type: 'quantitative', title: 'host blocked (ms)' },
      y: { field: 'fraction', type: 'quantitative', title: 'fraction of switches ≤ x' },
      color: { field: 'model', type: 'nominal', title: 'drive model' },
    },
  } as TopLevelSpec;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'switch-window.svg');
  writeFileSync(file, await vegaLiteSvg(spec));
  return file;
}
