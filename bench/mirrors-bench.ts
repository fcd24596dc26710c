// npm run bench (`--only mirrors`): drives that fail (DESIGN §14), in virtual time on timed drives.
//  - a rebuild onto a spare against the drive's size, beside its sequential bound (the drive's bytes
//    at its outer-zone media rate: a rebuild reads the mirror and writes the spare at once);
//  - hosts' random 4 KiB reads before a rebuild and during it (p50, p99, IOPS);
//  - a restripe of a two-way mirrored device beside the same restripe unmirrored.
import { parseConfig, type ArrayConfig } from '../src/shared/config/config.ts';
import { runVirtual } from '../src/shared/sched/sched.ts';
import { ArrayEmulator } from '../src/runtime/emulator.ts';
import { runWorkload, startWorkload, type HostSummary, type RunOptions } from '../src/host/run.ts';
import { sweepDriveGeometry, streamFigures, TRACK_BYTES } from '../src/lab/sweep-restripe.ts';
import { ArrayError } from '../src/shared/errors/errors.ts';
import { DEFAULT_CHANNEL_MBPS } from '../src/shared/config/drive-models.ts';

/** The drive model of every figure: a 15k rpm disk whose interface outruns its media. */
const PRESET = 'hdd-15k' as const;
/** Drive sizes of the rebuild figure (cylinders of 64 KiB tracks, the outer ones). */
const REBUILD_CYLINDERS = [32, 64, 128];
const QUICK_CYLINDERS = [16, 32];
/** Host load of the latency figure: random 4 KiB reads at this depth, for this long before the failure. */
const HOST_LOAD: RunOptions = {
  hostProcessors: 1,
  queueDepth: 4,
  readPct: 100,
  blockBytes: 4096,
  pattern: 'random',
  seed: 7,
};
const BEFORE_SECONDS = 0.5;
/** Cache slots of the latency figure: few beside the device's tracks, so nearly every read is a miss. */
const HOST_SLOTS = 16;

export interface RebuildRow {
  cylinders: number;
  mib: number;
  rebuildMs: number;
  /** The drive's bytes at its outer-zone media rate, and through one adapter's link. */
  mediaMs: number;
  linkMs: number;
  overBound: number;
}
export interface HostRow {
  cylinders: number;
  before: { iops: number; p50: number; p99: number };
  during: { iops: number; p50: number; p99: number };
}
export interface RestripeRow {
  copies: number;
  tracks: number;
  durationMs: number;
}
export interface MirrorsFigures {
  rebuild: RebuildRow[];
  host: HostRow;
  restripe: RestripeRow[];
}

const model = { preset: PRESET, scheduler: 'sptf' as const };
const members = (ids: string[]) => ids.map((drive) => ({ drive, startCylinder: 0 }));

/** LD1 on d0..d{n-1} (mirror 2 on m0.. if `mirrored`), BCV b0.., one more drive pair d{n}/m{n}, spares s0 s1; two adapters. */
function mirroredArray(
  cylinders: number,
  n: number,
  mirrored: boolean,
  slots = 256,
): { config: ArrayConfig; target: unknown } {
  const { heads } = sweepDriveGeometry(PRESET, cylinders);
  const ids = (p: string, k: number) => Array.from({ length: k }, (_, i) => `${p}${i}`);
  const all = [...ids('d', n + 1), ...ids('m', n + 1), ...ids('b', n), 's0', 's1'];
  const device = (k: number) => ({
    id: 'LD1',
    layout: 'striped',
    cylinders: cylinders * k,
    stripeCylinders: 1,
    members: members(ids('d', k)),
    ...(mirrored ? { mirrors: [{ members: members(ids('m', k)) }] } : {}),
  });
  const raw = {
    geometry: { trackBytes: TRACK_BYTES, headsPerCylinder: heads },
    cache: { slots },
    background: { minMBps: 0, maxMBps: 0 }, // unthrottled: the figures are what the drives can do
    drives: all.map((id) => ({ id, cylinders, model, store: 'sparse' })),
    diskAdapters: [
      { id: 'DA0', drives: all.filter((_, i) => i % 2 === 0) },
      { id: 'DA1', drives: all.filter((_, i) => i % 2 === 1) },
    ],
    devices: [device(n), { id: 'BCV1', layout: 'bcv', of: 'LD1', members: members(ids('b', n)) }],
    spares: ['s0', 's1'],
  };
  return { config: parseConfig(raw), target: { ...raw, devices: [device(n + 1), raw.devices[1]] } };
}

/** A rebuild of d0 (LD1's only member) from m0 onto a spare, no host load: its virtual ms. */
async function rebuildMs(cylinders: number): Promise<number> {
  const { config } = mirroredArray(cylinders, 1, true);
  const { value } = await runVirtual(1, async () => {
    const emu = await ArrayEmulator.start(config, { mode: 'inline' });
    try {
      emu.failDrive({ drive: 'd0', kind: 'whole' });
      const report = await emu.rebuilds.get('d0');
      if (!report || report.unrecoverable > 0)
        throw new ArrayError('INVARIANT', `rebuild of d0: ${JSON.stringify(report)}`);
      return report.ms;
    } finally {
      await emu.stop();
    }
  });
  return value;
}

const figures = (h: HostSummary) => ({ iops: h.iops, p50: h.latencyMs.p50, p99: h.latencyMs.p99 });

/** Hosts' random reads over LD1 for BEFORE_SECONDS, then while d0 fails and is rebuilt. */
async function hostsAroundRebuild(cylinders: number): Promise<HostRow> {
  const { config } = mirroredArray(cylinders, 1, true, HOST_SLOTS); // a small cache: reads go to the drives
  const { value } = await runVirtual(2, async () => {
    const emu = await ArrayEmulator.start(config, { mode: 'inline' });
    try {
      const before = await runWorkload(emu, { ...HOST_LOAD, seconds: BEFORE_SECONDS, verify: false });
      const wl = startWorkload(emu, { ...HOST_LOAD, verify: false });
      emu.failDrive({ drive: 'd0', kind: 'whole' });
      await emu.rebuilds.get('d0')!.finally(() => wl.stop());
      return { cylinders, before: figures(before), during: figures(await wl.done) };
    } finally {
      await emu.stop();
    }
  });
  return value;
}

/** LD1 expanded from 2 drives to 3, mirrored or not, no host load: the session's virtual ms. */
async function restripeMs(cylinders: number, mirrored: boolean): Promise<RestripeRow> {
  const { config, target } = mirroredArray(cylinders, 2, mirrored);
  const { value } = await runVirtual(3, async () => {
    const emu = await ArrayEmulator.start(config, { mode: 'inline' });
    try {
      const r = await emu.reconfigure(target);
      return { copies: mirrored ? 2 : 1, tracks: r.tracksTotal, durationMs: r.durationMs };
    } finally {
      await emu.stop();
    }
  });
  return value;
}

export async function mirrorsBench(quick: boolean, say: (s: string) => void): Promise<MirrorsFigures> {
  const { readBytesPerMs } = streamFigures(PRESET);
  const rebuild: RebuildRow[] = [];
  for (const cylinders of quick ? QUICK_CYLINDERS : REBUILD_CYLINDERS) {
    const { heads } = sweepDriveGeometry(PRESET, cylinders);
    const bytes = cylinders * heads * TRACK_BYTES;
    const ms = await rebuildMs(cylinders);
    const mediaMs = bytes / readBytesPerMs;
    const linkMs = bytes / (DEFAULT_CHANNEL_MBPS * 1000); // every byte crosses each adapter's link once
    const boundMs = Math.max(mediaMs, linkMs);
    rebuild.push({
      cylinders,
      mib: Math.round(bytes / 2 ** 20),
      rebuildMs: Math.round(ms),
      mediaMs: Math.round(mediaMs),
      linkMs: Math.round(linkMs),
      overBound: Math.round((ms / boundMs) * 100) / 100,
    });
    say(`rebuild of a ${cylinders}-cylinder ${PRESET}: ${Math.round(ms)} ms (${rebuild.at(-1)!.overBound}x its bound)`);
  }
  const size = quick ? QUICK_CYLINDERS[0]! : REBUILD_CYLINDERS[1]!;
  const host = await hostsAroundRebuild(size);
  say(
    `hosts around a rebuild: p99 ${host.before.p99} → ${host.during.p99} ms, ${host.before.iops} → ${host.during.iops} IOPS`,
  );
  const restripe = [await restripeMs(size, false), await restripeMs(size, true)];
  say(`restripe of LD1: ${restripe[0]!.durationMs} ms unmirrored, ${restripe[1]!.durationMs} ms two-way mirrored`);
  return { rebuild, host, restripe };
}

export function mirrorsMarkdown(f: MirrorsFigures, machine: string, date: string): string {
  const [one, two] = f.restripe;
  return [
    '## Drives that fail: rebuild, hosts during it, a mirrored restripe',
    '',
    `Command: \`npm run bench\` (or \`arrayemu bench --only mirrors\`) · machine: ${machine} · date: ${date} · virtual time.`,
    '',
    `Every drive an \`${PRESET}\` (its outer cylinders, 64 KiB tracks), two disk adapters, unthrottled. A`,
    'rebuild: LD1 is one whole drive d0 with its mirror m0 on the other adapter; d0 fails and a spare on',
    "d0's adapter is rebuilt from m0 (every track read from m0 and written to the spare, through the",
    "cache). Its bound is the larger of the drive's bytes at its outer-zone media rate (the mirror streams",
    `out while the spare streams in) and the same bytes through an adapter's ${DEFAULT_CHANNEL_MBPS} MB/s link (each crosses`,
    "the mirror's adapter's link in and the spare's out).",
    '',
    '| drive cylinders | MiB | rebuild ms | media bound ms | link bound ms | rebuild / bound |',
    '|---:|---:|---:|---:|---:|---:|',
    ...f.rebuild.map(
      (r) => `| ${r.cylinders} | ${r.mib} | ${r.rebuildMs} | ${r.mediaMs} | ${r.linkMs} | ${r.overBound} |`,
    ),
    '',
    `Hosts during a rebuild (${f.host.cylinders}-cylinder drives, a ${HOST_SLOTS}-slot cache so nearly every read is a miss): random 4 KiB`,
    `reads of LD1 at queue depth ${HOST_LOAD.queueDepth}, ${BEFORE_SECONDS} s before the failure (spread over d0 and m0), then for as long as the`,
    'rebuild runs (all from m0, which the rebuild reads too, while the spare is written).',
    '',
    '| | IOPS | p50 ms | p99 ms |',
    '|---|---:|---:|---:|',
    `| before | ${f.host.before.iops} | ${f.host.before.p50} | ${f.host.before.p99} |`,
    `| during the rebuild | ${f.host.during.iops} | ${f.host.during.p50} | ${f.host.during.p99} |`,
    '',
    `A restripe (${f.host.cylinders}-cylinder drives): LD1 expanded from 2 drives to 3, no host load, unmirrored and two-way`,
    'mirrored (each mirror of the target on its own drives: every fill writes two copies).',
    '',
    '| copies | tracks moved | restripe ms |',
    '|---:|---:|---:|',
    ...f.restripe.map((r) => `| ${r.copies} | ${r.tracks} | ${r.durationMs} |`),
    '',
    `Mirrored / unmirrored: ${one && two ? Math.round((two.durationMs / one.durationMs) * 100) / 100 : '?'}.`,
    '',
  ].join('\n');
}
