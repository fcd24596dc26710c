// What a drive timing model needs to know of a drive, and the presets: three drives built from
// DiskSim's measured parameter files in ./drives (Quantum Atlas 10K, Seagate Cheetah 9LP, Seagate
// Barracuda; see ./drives/NOTICE), two generic drives from datasheet figures, and `instant`.
import { readFileSync } from 'node:fs';
import { ArrayError } from '../../shared/errors/errors.ts';
import { SECTOR_BYTES } from '../../shared/config/constants.ts';
import { num, parseDiskSpec, sub, type SpecBlock, type SpecValue } from './diskspec.ts';

/** One recording zone: a band of cylinders with the same number of blocks per track. Skews in blocks. */
export interface ZoneSpec {
  firstCylinder: number;
  lastCylinder: number;
  blocksPerTrack: number;
  trackSkewBlocks: number;
  cylinderSkewBlocks: number;
}

/** A command's controller overhead (ms) by its kind and whether the buffer serves it. */
export interface Overheads {
  readHitMs: number;
  readMissMs: number;
  writeHitMs: number;
  writeMissMs: number;
}

/** The four overheads after a command of kind `before`, from a DiskSim parameter file's section. */
function overheadsAfter(specs: SpecBlock, before: 'read' | 'write'): Overheads {
  return {
    readHitMs: num(specs, `Read hit over. after ${before}`),
    readMissMs: num(specs, `Read miss over. after ${before}`),
    writeHitMs: num(specs, `Write hit over. after ${before}`),
    writeMissMs: num(specs, `Write miss over. after ${before}`),
  };
}

/** One overhead for every command (a datasheet drive). */
const sameOverheads = (ms: number): Overheads => ({ readHitMs: ms, readMissMs: ms, writeHitMs: ms, writeMissMs: ms });

/** Seek time by distance: a measured table (interpolated) or three datasheet figures (a fitted curve). */
export type SeekSpec =
  | { table: Array<[distanceCylinders: number, ms: number]> }
  | { singleMs: number; averageMs: number; fullStrokeMs: number };

export type SchedulerName = 'fcfs' | 'clook' | 'sptf';

export interface HddSpec {
  kind: 'hdd';
  name: string;
  rpm: number;
  surfaces: number;
  cylinders: number;
  zones: ZoneSpec[];
  seek: SeekSpec;
  headSwitchMs: number;
  writeSettleMs: number;
  /**
   * Per-command controller overheads (ms), by the kind of the command before it (DiskSim's "Read hit
   * over. after write" and its seven siblings): a drive's firmware takes another path when the
   * command before was of the other kind (on the Barracuda a read hit costs 0.082 ms after a read
   * and 0.596 after a write).
   */
  overheads: { afterRead: Overheads; afterWrite: Overheads };
  /** Interface transfer of one 512 B block (ms); overlapped with the media but for the last block. */
  busBlockMs: number;
  /**
   * Zero-latency access (DiskSim's "Immediate buffer read" and "Immediate buffer write"): a head
   * that lands inside a track's run of asked blocks starts at the next block under it and takes the
   * run's first blocks when they come round, rather than waiting for its first block.
   */
  zeroLatency: { read: boolean; write: boolean };
  cache: { segments: number; segmentBlocks: number; readAheadBlocks: number; writeCache: boolean };
  scheduler: SchedulerName;
}

/** A logical block of the drive models (a sector). */
export const BLOCK_BYTES = SECTOR_BYTES;
const DRIVES_DIR = new URL('./drives/', import.meta.url);

function zoneOf(z: SpecValue): ZoneSpec {
  if (typeof z === 'string' || Array.isArray(z))
    throw new ArrayError('CONFIG', 'a zone of a drive model is not a block');
  return {
    firstCylinder: num(z, 'First cylinder number'),
    lastCylinder: num(z, 'Last cylinder number'),
    blocksPerTrack: num(z, 'Blocks per track'),
    trackSkewBlocks: num(z, 'Skew for track switch'),
    cylinderSkewBlocks: num(z, 'Skew for cylinder switch'),
  };
}

function seekTable(text: string, file: string): Array<[number, number]> {
  const rows: Array<[number, number]> = [];
  for (const line of text.split('\n').slice(1)) {
    const m = /^\s*(\d+),\s*([\d.]+)\s*$/.exec(line);
    if (m) rows.push([Number(m[1]), Number(m[2])]);
    else if (line.trim()) throw new ArrayError('CONFIG', `${file}: "${line.trim()}" is not "distance, ms"`);
  }
  if (rows.length < 2) throw new ArrayError('CONFIG', `${file}: fewer than two seek distances`);
  return rows;
}

/** A preset from DiskSim's files `<stem>.model`, `<stem>.diskspecs`, `<stem>.seek`. */
export function diskSimPreset(stem: string): HddSpec {
  const read = (ext: string) => readFileSync(new URL(`${stem}.${ext}`, DRIVES_DIR), 'utf8');
  const model: SpecBlock = parseDiskSpec(read('model'), `${stem}.model`)[0]!;
  const specs: SpecBlock = parseDiskSpec(read('diskspecs'), `${stem}.diskspecs`)[0]!;
  const mech = sub(model, 'Mechanical Model');
  const zones = sub(model, 'Layout Model').fields.get('Zones');
  if (!Array.isArray(zones)) throw new ArrayError('CONFIG', `${stem}.model: no zone list`);
  return {
    kind: 'hdd',
    name: stem,
    rpm: num(mech, 'Rotation speed (in rpms)'),
    surfaces: num(model, 'Number of data surfaces'),
    cylinders: num(model, 'Number of cylinders'),
    zones: zones.map(zoneOf),
    seek: { table: seekTable(read('seek'), `${stem}.seek`) },
    headSwitchMs: num(mech, 'Head switch time'),
    writeSettleMs: num(mech, 'Add. write settling delay'),
    overheads: { afterRead: overheadsAfter(specs, 'read'), afterWrite: overheadsAfter(specs, 'write') },
    busBlockMs: num(specs, 'Bulk sector transfer time'),
    zeroLatency: { read: num(specs, 'Immediate buffer read') > 0, write: num(specs, 'Immediate buffer write') > 0 },
    cache: {
      segments: num(specs, 'Number of buffer segments'),
      segmentBlocks: num(specs, 'Segment size (in blks)'),
      readAheadBlocks: num(specs, 'Maximum read-ahead (blks)'),
      writeCache: num(specs, 'Fast write level') > 0,
    },
    scheduler: 'fcfs',
  };
}

/**
 * A generic drive from datasheet figures: `zones` equal bands from `outerBlocks` to `innerBlocks`
 * per track, seek from single / average / full-stroke times.
 */
function datasheetPreset(o: {
  name: string;
  rpm: number;
  surfaces: number;
  cylinders: number;
  outerBlocks: number;
  innerBlocks: number;
  singleMs: number;
  averageMs: number;
  fullStrokeMs: number;
  headSwitchMs: number;
  writeSettleMs: number;
  overheadMs: number;
  busMBps: number;
}): HddSpec {
  const bands = 16;
  const per = Math.floor(o.cylinders / bands);
  const zones: ZoneSpec[] = Array.from({ length: bands }, (_, i) => {
    const blocksPerTrack = Math.round(o.outerBlocks - ((o.outerBlocks - o.innerBlocks) * i) / (bands - 1));
    const revMs = 60_000 / o.rpm;
    // Skew: the blocks that pass under the head during a head switch (track) or a 1-cylinder seek,
    // and the write settle after it: a sequential write crosses to the next track without losing a revolution.
    const skew = (ms: number) => Math.ceil(((ms + o.writeSettleMs) / revMs) * blocksPerTrack);
    return {
      firstCylinder: i * per,
      lastCylinder: i === bands - 1 ? o.cylinders - 1 : (i + 1) * per - 1,
      blocksPerTrack,
      trackSkewBlocks: skew(o.headSwitchMs),
      cylinderSkewBlocks: skew(o.singleMs),
    };
  });
  return {
    kind: 'hdd',
    name: o.name,
    rpm: o.rpm,
    surfaces: o.surfaces,
    cylinders: o.cylinders,
    zones,
    seek: { singleMs: o.singleMs, averageMs: o.averageMs, fullStrokeMs: o.fullStrokeMs },
    headSwitchMs: o.headSwitchMs,
    writeSettleMs: o.writeSettleMs,
    overheads: { afterRead: sameOverheads(o.overheadMs), afterWrite: sameOverheads(o.overheadMs) },
    busBlockMs: BLOCK_BYTES / (o.busMBps * 1000),
    zeroLatency: { read: false, write: false },
    cache: { segments: 16, segmentBlocks: 2048, readAheadBlocks: 1024, writeCache: true },
    scheduler: 'fcfs',
  };
}

/** Names of the HDD presets. */
export const HDD_PRESETS = ['atlas10k', 'cheetah9LP', 'barracuda', 'hdd-15k', 'hdd-7200'] as const;
export type HddPresetName = (typeof HDD_PRESETS)[number];

const presetCache = new Map<string, HddSpec>();

/** An HDD preset by name (DiskSim's measured drives, or generic drives from datasheet figures). */
export function hddPreset(name: string): HddSpec {
  const known = presetCache.get(name);
  if (known) return known;
  let spec: HddSpec;
  if (name === 'atlas10k' || name === 'cheetah9LP' || name === 'barracuda') spec = diskSimPreset(name);
  else if (name === 'hdd-15k')
    // A 15,000 rpm enterprise drive of the 300 GB class: 3.5 ms average seek, 0.2 / 6.5 ms track-to-track / full stroke.
    spec = datasheetPreset({
      name,
      rpm: 15_000,
      surfaces: 4,
      cylinders: 74_000,
      outerBlocks: 2_000,
      innerBlocks: 1_200,
      singleMs: 0.2,
      averageMs: 3.5,
      fullStrokeMs: 6.5,
      headSwitchMs: 0.2,
      writeSettleMs: 0.3,
      overheadMs: 0.1,
      busMBps: 600,
    });
  else if (name === 'hdd-7200')
    // A 7,200 rpm desktop drive of the 1 TB class: 8.5 ms average seek, 0.8 / 16 ms track-to-track / full stroke.
    spec = datasheetPreset({
      name,
      rpm: 7_200,
      surfaces: 4,
      cylinders: 120_000,
      outerBlocks: 2_400,
      innerBlocks: 1_200,
      singleMs: 0.8,
      averageMs: 8.5,
      fullStrokeMs: 16,
      headSwitchMs: 0.5,
      writeSettleMs: 0.4,
      overheadMs: 0.2,
      busMBps: 600,
    });
  else
    throw new ArrayError(
      'CONFIG',
      `drive model "${name}" is not a preset (presets: instant, ${HDD_PRESETS.join(', ')})`,
    );
  presetCache.set(name, spec);
  return spec;
}
