// A sweep point's restripe: the array of the point with a BCV drive beside each main drive of the
// device, the device restriped under the point's load (expansion onto the last adapter's drives,
// the stripe halved, or both), and the same restripe with no load, against its drive-bound lower
// bound. In virtual time.
import { parseConfig, type ArrayConfig } from '../shared/config/config.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { runVirtual } from '../shared/sched/sched.ts';
import { DEFAULT_CHANNEL_MBPS } from '../shared/config/drive-models.ts';
import { BLOCK_BYTES, hddPreset } from '../drives/timing/drive-spec.ts';
import { DiskMechanics } from '../drives/timing/mechanics.ts';
import { ssdPreset } from '../drives/timing/ssd-model.ts';
import { ArrayEmulator } from '../runtime/emulator.ts';
import { duringOverBefore, runWorkload, startWorkload, type HostSummary, type RunOptions } from '../host/run.ts';
import type { RestripeFigures, SweepOptions } from './sweep-types.ts';

/** Array track size of a sweep: 64 KiB (128 blocks). */
export const TRACK_BYTES = 65536;

/** A full-size drive of `preset` in the array's terms: its heads, and the cylinders of 64 KiB tracks that fill the model. */
export function sweepDriveGeometry(
  preset: SweepOptions['driveModel'],
  driveCylinders?: number,
): { heads: number; cylinders: number } {
  const full = fullGeometry(preset);
  if (driveCylinders !== undefined && driveCylinders > full.cylinders)
    throw new ArrayError(
      'USAGE',
      `--drive-cylinders ${driveCylinders}: a ${preset} holds ${full.cylinders} cylinders of ${TRACK_BYTES / 1024} KiB tracks`,
    );
  return { heads: full.heads, cylinders: driveCylinders ?? full.cylinders };
}

function fullGeometry(preset: SweepOptions['driveModel']): { heads: number; cylinders: number } {
  if (preset === 'ssd')
    return {
      heads: SSD_HEADS,
      cylinders: Math.floor(ssdPreset().capacityBlocks / (SSD_HEADS * (TRACK_BYTES / BLOCK_BYTES))),
    };
  const spec = hddPreset(preset);
  return {
    heads: spec.surfaces,
    cylinders: Math.floor(new DiskMechanics(spec).totalBlocks / (spec.surfaces * (TRACK_BYTES / BLOCK_BYTES))),
  };
}
/** An SSD has no heads: the array's geometry gives it 16 tracks a cylinder. */
const SSD_HEADS = 16;

/** What a drive of `preset` streams at best (bytes/ms) — an HDD's outer-zone media rate, an SSD's dies or channels — and the tracks its write cache holds. */
export function streamFigures(preset: SweepOptions['driveModel']): {
  readBytesPerMs: number;
  writeCacheTracks: number;
} {
  if (preset === 'ssd') {
    const s = ssdPreset();
    const dies = s.channels * s.diesPerChannel;
    return {
      readBytesPerMs: Math.min(s.channels * s.channelMBps * 1000, (dies * s.pageBytes) / s.pageReadMs),
      writeCacheTracks: 0,
    };
  }
  const spec = hddPreset(preset);
  return {
    readBytesPerMs: (spec.zones[0]!.blocksPerTrack * BLOCK_BYTES) / (60_000 / spec.rpm),
    writeCacheTracks: spec.cache.writeCache
      ? (spec.cache.segments * spec.cache.segmentBlocks * BLOCK_BYTES) / TRACK_BYTES
      : 0,
  };
}

/** Default cylinders of the restriped device, in all (shared out over its members at each point). */
export const RESTRIPE_CYLINDERS = 96;

interface RestripeArrays {
  config: ArrayConfig;
  target: unknown;
  /** Tracks of the device, per original member, per new member. */
  tracks: number;
  oldMembers: number;
  newMembers: number;
}

/** The point's array with BCV drives, and the target of its restripe. */
export function restripeArrays(o: SweepOptions, da: number, ha: number): RestripeArrays {
  const kind = o.restripe!;
  const expand = kind !== 'stripe-change';
  if (expand && da < 2)
    throw new ArrayError(
      'USAGE',
      `--restripe ${kind}: a point needs 2 or more disk adapters to expand onto one of them (got ${da})`,
    );
  const { heads, cylinders } = sweepDriveGeometry(o.driveModel, o.driveCylinders);
  const K = o.drivesPerAdapter;
  const model = { preset: o.driveModel, scheduler: 'sptf' as const };
  const drives: Array<Record<string, unknown>> = [];
  const diskAdapters: Array<{ id: string; drives: string[]; channelMBps?: number }> = [];
  for (let a = 0; a < da; a++) {
    const ids = Array.from({ length: K }, (_, k) => `d${a}.${k}`);
    const bcv = Array.from({ length: K }, (_, k) => `b${a}.${k}`);
    for (const id of [...ids, ...bcv]) drives.push({ id, cylinders, model, store: 'sparse' });
    diskAdapters.push({ id: `DA${a}`, drives: [...ids, ...bcv], channelMBps: o.channelMBps });
  }
  const main = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ drive: `d${Math.floor(i / K)}.${i % K}`, startCylinder: 0 }));
  const oldM = expand ? (da - 1) * K : da * K;
  const newM = da * K;
  // The device is the same size at every point (about restripeCylinders in all): more adapters, less on each drive.
  const R = 2 * Math.ceil((o.restripeCylinders ?? RESTRIPE_CYLINDERS) / oldM / 2);
  const oldS = kind === 'expand' ? 1 : 2;
  const newS = 1;
  const device = { id: 'LD1', layout: 'striped', cylinders: oldM * R, stripeCylinders: oldS, members: main(oldM) };
  const bcv = {
    id: 'BCV1',
    layout: 'bcv',
    of: 'LD1',
    members: main(oldM).map((m) => ({ ...m, drive: m.drive.replace('d', 'b') })),
  };
  // Unthrottled: the sweep measures what the adapters and drives can do (the default throttle would cap every point alike).
  const background = { minMBps: 0, maxMBps: 0 };
  const raw = {
    geometry: { trackBytes: TRACK_BYTES, headsPerCylinder: heads },
    cache: { slots: 16 * newM },
    hostAdapters: ha,
    background,
    drives,
    diskAdapters,
    devices: [device, bcv],
  };
  const perNew = Math.ceil((oldM * R) / newM / newS) * newS;
  const target = {
    ...raw,
    devices: [{ ...device, cylinders: newM * perNew, stripeCylinders: newS, members: main(newM) }, bcv],
  };
  return { config: parseConfig(raw), target, tracks: oldM * R * heads, oldMembers: oldM, newMembers: newM };
}

export interface RestripeBound {
  lowerBoundMs: number;
  driveBoundMs: number;
  channelBoundMs: number;
  boundBy: 'drive' | 'channel';
}

/**
 * The least time the restripe can take (no host load). Drive bound: its phases run one after the
 * other, ESTABLISH before the switch and the data transfer after it, so it takes at least an
 * original member reading its tracks from the media, then a BCV drive reading them back (but for
 * those its write cache still holds: a drive answers reads of data it has not destaged yet), each
 * at the drive's outer-zone media rate. Writes can hide in the drives' write caches and overlap
 * the reads, so they do not add to it. Channel bound, the busiest disk adapter: every byte of its
 * drives crosses its back-end link (reads of the originals, the BCV's writes and reads, and its
 * share of the new layout's writes).
 */
export function restripeLowerBound(o: SweepOptions, a: RestripeArrays): RestripeBound {
  const { readBytesPerMs, writeCacheTracks } = streamFigures(o.driveModel);
  const perOld = a.tracks / a.oldMembers;
  const perNew = a.tracks / a.newMembers;
  const driveBoundMs = ((perOld + Math.max(0, perOld - writeCacheTracks)) * TRACK_BYTES) / readBytesPerMs;
  const K = o.drivesPerAdapter;
  const channelBoundMs = (K * (3 * perOld + perNew) * TRACK_BYTES) / ((o.channelMBps ?? DEFAULT_CHANNEL_MBPS) * 1000);
  const boundBy = channelBoundMs > driveBoundMs ? 'channel' : 'drive';
  return { lowerBoundMs: Math.max(driveBoundMs, channelBoundMs), driveBoundMs, channelBoundMs, boundBy };
}

async function virtual<T>(seed: number, body: () => Promise<T>): Promise<T> {
  return (await runVirtual(seed, body)).value;
}

/** The restripe with no host load: its duration (virtual ms). */
async function idleRestripe(a: RestripeArrays, seed: number): Promise<number> {
  return virtual(seed, async () => {
    const emu = await ArrayEmulator.start(a.config, { mode: 'inline' });
    try {
      return (await emu.reconfigure(a.target)).durationMs;
    } finally {
      await emu.stop();
    }
  });
}

/** Host load for `o.seconds`, then the same load while the device is restriped. */
async function loadedRestripe(
  o: SweepOptions,
  a: RestripeArrays,
  load: RunOptions,
): Promise<{ before: HostSummary; during: HostSummary; durationMs: number }> {
  return virtual(o.seed, async () => {
    const emu = await ArrayEmulator.start(a.config, { mode: 'inline' });
    try {
      const before = await runWorkload(emu, { ...load, seconds: o.seconds });
      const wl = startWorkload(emu, {
        ...load,
        seconds: undefined,
        ops: undefined,
        maxBytes: { LD1: a.tracks * TRACK_BYTES * 2 },
      });
      const report = await emu.reconfigure(a.target).finally(() => wl.stop());
      return { before, during: await wl.done, durationMs: report.durationMs };
    } finally {
      await emu.stop();
    }
  });
}

export async function restripeFigures(
  o: SweepOptions,
  da: number,
  ha: number,
  load: RunOptions,
): Promise<RestripeFigures> {
  const a = restripeArrays(o, da, ha);
  const idleDurationMs = await idleRestripe(a, o.seed);
  const { before, during, durationMs } = await loadedRestripe(o, a, load);
  for (const h of [before, during])
    if (h.verifyErrors > 0 || h.ioErrors > 0)
      throw new ArrayError(
        'INVARIANT',
        `restripe at ${da} DA: ${h.verifyErrors} verify and ${h.ioErrors} I/O errors: ${h.described[0]}`,
      );
  const bound = restripeLowerBound(o, a);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    kind: o.restripe!,
    tracks: a.tracks,
    durationMs,
    idleDurationMs,
    lowerBoundMs: Math.round(bound.lowerBoundMs),
    driveBoundMs: Math.round(bound.driveBoundMs),
    channelBoundMs: Math.round(bound.channelBoundMs),
    boundBy: bound.boundBy,
    idleOverBound: r2(idleDurationMs / bound.lowerBoundMs),
    hostOpsDuringRatio: duringOverBefore(before, during).opsRatio,
    hostP99DuringRatio: duringOverBefore(before, during).p99Ratio,
  };
}
