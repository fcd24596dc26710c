// The configuration file (DESIGN §8): schema, semantic checks, and one clear refusal per problem.
import { DRIVE_MODEL_PRESETS, DRIVE_SCHEDULERS } from './drive-models.ts';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../errors/errors.ts';
import { DEFAULT_BACKGROUND, MAX_EXTRA_MIRRORS, SECTOR_BYTES } from './constants.ts';

export { DEFAULT_BACKGROUND, MAX_EXTRA_MIRRORS, SECTOR_BYTES };

const id = z.string().min(1, 'must be a non-empty id');
const count = (min: number) => z.number().int('must be an integer').min(min, `must be at least ${min}`);
const positiveNumber = (max: number) =>
  z.number({ error: 'must be a number' }).positive('must be above 0').max(max, `must be at most ${max}`);
const rateMBps = z
  .number({ error: 'must be a number' })
  .min(0, 'must be 0 (no limit) or more')
  .max(1e6, 'must be at most 1000000');
/** An adapter's processor time per command (ms): 0 to 100. */
const costMs = z.number({ error: 'must be a number' }).min(0, 'must be 0 or more').max(100, 'must be at most 100 ms');

const StripedMember = z.strictObject({ drive: id, startCylinder: count(0) });
const ConcatMember = z.strictObject({ drive: id, startCylinder: count(0), cylinders: count(1) });
const BcvMember = z.strictObject({ drive: id, startCylinder: count(0), cylinders: count(1).optional() });

const mirrorsOf = <T extends z.ZodType>(member: T) =>
  z
    .array(z.strictObject({ members: z.array(member).min(1, 'a mirror needs at least one member') }))
    .max(MAX_EXTRA_MIRRORS, `at most ${MAX_EXTRA_MIRRORS} mirrors beyond the device's own members (4 in all)`)
    .optional();

const StripedDevice = z.strictObject({
  id,
  layout: z.literal('striped'),
  cylinders: count(1),
  stripeCylinders: count(1),
  members: z.array(StripedMember).min(1, 'a striped device needs at least one member'),
  /** Mirrors 2..4: each the shape of `members`, on other drives (DESIGN §14). */
  mirrors: mirrorsOf(StripedMember),
});
const ConcatDevice = z.strictObject({
  id,
  layout: z.literal('concatenated'),
  members: z.array(ConcatMember).min(1, 'a concatenated device needs at least one member'),
  mirrors: mirrorsOf(ConcatMember),
});
const BcvDevice = z.strictObject({
  id,
  layout: z.literal('bcv'),
  of: id,
  members: z.array(BcvMember).min(1, 'a BCV needs at least one member'),
  /** Mirrors 2..4 of the BCV: each the shape of `members`, on other drives (WPB2..WPB4; DESIGN §14). */
  mirrors: mirrorsOf(BcvMember),
});

/** A drive's timing model: a preset's name, or `{ preset, scheduler?, cache?, writeCache? }` (see drive-models.ts); a name is read as `{ preset: name }`. */
const DriveModel = z.preprocess(
  (v) => (typeof v === 'string' ? { preset: v } : v),
  z.strictObject({
    preset: z.enum(DRIVE_MODEL_PRESETS, { error: `must be one of ${DRIVE_MODEL_PRESETS.join(', ')}` }),
    scheduler: z.enum(DRIVE_SCHEDULERS, { error: `must be one of ${DRIVE_SCHEDULERS.join(', ')}` }).optional(),
    cache: z.boolean().optional(),
    writeCache: z.boolean().optional(),
  }),
);

export const ConfigSchema = z.strictObject({
  geometry: z
    .strictObject({
      trackBytes: count(512)
        .max(1 << 20, 'must be at most 1 MiB')
        .refine((n) => n % SECTOR_BYTES === 0, `must be a multiple of ${SECTOR_BYTES} (the sector size)`)
        .default(65536),
      headsPerCylinder: count(1).max(255, 'must be at most 255').default(15),
    })
    .prefault({}),
  /**
   * The global cache: its slots (one track each), and what a read miss stages (DESIGN §2): `partial`
   * reads only the sectors asked for on a random miss and whole tracks for a sequential stream;
   * `track` always reads the whole track; `auto` (the default) is `partial` on drives with a timing
   * model (the bytes cost media and link time) and `track` on instant drives (a trip to the disk
   * adapter costs far more than copying a track).
   */
  cache: z
    .strictObject({
      slots: count(1)
        .max(1 << 20, 'must be at most 1048576')
        .default(4096),
      stage: z.enum(['auto', 'partial', 'track'], { error: 'must be auto, partial or track' }).default('auto'),
    })
    .prefault({}),
  hostAdapters: count(1).max(16, 'must be at most 16').default(1),
  /** What each host adapter's work costs when the array has timed drives (defaults in src/shared/cost/cost.ts). */
  hostAdapter: z
    .strictObject({
      ports: count(1).max(64, 'must be at most 64').optional(),
      portMBps: positiveNumber(1e6).optional(),
      commandMs: costMs.optional(),
    })
    .optional(),
  /** The background copy's throttle at start (the control API changes it while the array runs). */
  background: z
    .strictObject({
      minMBps: rateMBps.default(DEFAULT_BACKGROUND.minMBps),
      maxMBps: rateMBps.default(DEFAULT_BACKGROUND.maxMBps),
    })
    .refine((b) => b.maxMBps === 0 || b.minMBps <= b.maxMBps, {
      message: 'minMBps must not be above maxMBps (0: unlimited)',
    })
    .prefault({}),
  /**
   * How the restripe's copies (ESTABLISH and the data transfer) move a track: `direct` copies it
   * drive to drive in one copy where both drives are untimed dense memory drives and no host holds
   * the track in cache, through a cache slot otherwise; `cache` always goes through a slot (the
   * patent's path: stage, then destage).
   */
  restripe: z
    .strictObject({ copy: z.enum(['direct', 'cache'], { error: 'must be direct or cache' }).default('direct') })
    .prefault({}),
  drives: z
    .array(
      z.strictObject({
        id,
        cylinders: count(1),
        model: DriveModel.optional(),
        store: z.enum(['dense', 'sparse'], { error: 'must be dense or sparse' }).optional(),
      }),
    )
    .min(1, 'an array needs at least one drive'),
  diskAdapters: z
    .array(
      z.strictObject({
        id,
        drives: z.array(id),
        channelMBps: positiveNumber(1e6).optional(),
        commandMs: costMs.optional(),
      }),
    )
    .min(1, 'an array needs at least one disk adapter')
    .max(64, 'at most 64 disk adapters'),
  devices: z.array(z.discriminatedUnion('layout', [StripedDevice, ConcatDevice, BcvDevice])).max(256),
  /** Drives kept for rebuilds: attached to a disk adapter, used by no device (DESIGN §14). */
  spares: z.array(id).optional(),
});

export type ArrayConfig = z.output<typeof ConfigSchema>;
export type DeviceConfig = ArrayConfig['devices'][number];

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path)
    out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  return out === '' ? '(file)' : out;
}

/** Cylinders of member `m` of device `dev`, for any layout (a BCV member pairs with its device's). */
function memberCylinders(cfg: ArrayConfig, dev: DeviceConfig, m: number, running: ArrayConfig): number | undefined {
  if (dev.layout === 'striped') return dev.cylinders / dev.members.length;
  if (dev.layout === 'concatenated') return dev.members[m]!.cylinders;
  const given = dev.members[m]!.cylinders;
  if (given !== undefined) return given;
  const of = running.devices.find((d) => d.id === dev.of);
  if (!of || of.layout === 'bcv' || m >= of.members.length) return undefined;
  return memberCylinders(running, of, m, running);
}

export interface ValidateOptions {
  /** The running configuration when `raw` is a reconfiguration target: BCVs are checked against it. */
  running?: ArrayConfig;
  /**
   * `raw` is a configuration that was running (kept in a data dir): its BCVs mirror their devices
   * as they were before the last reconfiguration, so they are taken as they stand.
   */
  restored?: boolean;
}

/** Parse and check a configuration. Throws ConfigError listing every problem as `path: reason`. */
export function parseConfig(raw: unknown, opts: ValidateOptions = {}): ArrayConfig {
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`));
  }
  const cfg = parsed.data;
  const problems = semanticProblems(cfg, opts.running ?? (opts.restored ? structuredClone(cfg) : cfg));
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg;
}

export function loadConfig(file: string, opts: ValidateOptions = {}): ArrayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot be read (${errorMessage(err)})`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`${file}: is not valid JSON (${errorMessage(err)})`]);
  }
  try {
    return parseConfig(raw, opts);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.problems.map((p) => `${file}: ${p}`));
    throw err;
  }
}

interface Extent {
  path: string;
  device: string;
  drive: string;
  start: number;
  end: number; // exclusive, in cylinders
}

function semanticProblems(cfg: ArrayConfig, running: ArrayConfig): string[] {
  const problems: string[] = [];
  const drives = driveProblems(cfg, problems);
  const extents: Extent[] = [];
  const deviceIds = new Set<string>();
  cfg.devices.forEach((dev, i) => {
    const at = `devices[${i}]`;
    if (deviceIds.has(dev.id)) problems.push(`${at}.id: device "${dev.id}" is defined twice`);
    deviceIds.add(dev.id);
    if (!deviceShapeOk(cfg, running, dev, at, problems)) return;
    extents.push(...memberExtents(cfg, running, dev, at, drives, problems));
    extents.push(...mirrorExtents(dev, at, drives, problems, (j) => memberCylinders(cfg, dev, j, running)));
  });
  overlapProblems(extents, problems);
  spareProblems(cfg, extents, problems);
  return problems;
}

/**
 * A device's mirrors 2..4: each with as many members as the device, a concatenated mirror's member
 * as long as its pair, within its drive, and no drive holding two mirrors of the device (one drive's
 * failure would take both).
 */
function mirrorExtents(
  dev: DeviceConfig,
  at: string,
  drives: Map<string, number>,
  problems: string[],
  memberSize: (j: number) => number | undefined,
): Extent[] {
  if (!dev.mirrors) return [];
  const out: Extent[] = [];
  const mirrorOfDrive = new Map<string, number>(dev.members.map((m) => [m.drive, 1]));
  dev.mirrors.forEach((mirror, i) => {
    const k = i + 2;
    const mAt = `${at}.mirrors[${i}]`;
    if (mirror.members.length !== dev.members.length)
      return problems.push(
        `${mAt}.members: mirror ${k} of "${dev.id}" has ${mirror.members.length} members but the device has ${dev.members.length}`,
      );
    mirror.members.forEach((m, j) => {
      const path = `${mAt}.members[${j}]`;
      const size = memberSize(j);
      const given = (m as { cylinders?: number }).cylinders;
      if ((dev.layout === 'concatenated' || given !== undefined) && given !== size && size !== undefined)
        problems.push(`${path}.cylinders: ${given} differs from the paired member of "${dev.id}" (${size})`);
      const other = mirrorOfDrive.get(m.drive);
      if (other !== undefined && other !== k)
        problems.push(
          `${path}.drive: drive "${m.drive}" already holds mirror ${other} of "${dev.id}": two mirrors of one device on one drive (its failure would take both)`,
        );
      mirrorOfDrive.set(m.drive, k);
      if (!drives.has(m.drive)) return problems.push(`${path}.drive: unknown drive id "${m.drive}"`);
      if (size === undefined) return; // a BCV whose pair is unknown: named by its members' check
      const end = m.startCylinder + size;
      if (end > drives.get(m.drive)!)
        problems.push(
          `${path}: extent cylinders ${m.startCylinder}..${end - 1} runs past the end of drive "${m.drive}" (${drives.get(m.drive)} cylinders)`,
        );
      out.push({ path, device: `${dev.id} mirror ${k}`, drive: m.drive, start: m.startCylinder, end });
    });
  });
  return out;
}

/** Spares: known drives, listed once, holding no device's extent. */
function spareProblems(cfg: ArrayConfig, extents: Extent[], problems: string[]): void {
  const seen = new Set<string>();
  (cfg.spares ?? []).forEach((d, i) => {
    const path = `spares[${i}]`;
    if (!cfg.drives.some((x) => x.id === d)) return problems.push(`${path}: unknown drive id "${d}"`);
    if (seen.has(d)) problems.push(`${path}: drive "${d}" is listed twice`);
    seen.add(d);
    const used = extents.find((e) => e.drive === d);
    if (used) problems.push(`${path}: drive "${d}" is not free: ${used.device} uses it (${used.path})`);
  });
}

/** Drives defined once, each owned by exactly one disk adapter. Returns each drive's cylinders. */
function driveProblems(cfg: ArrayConfig, problems: string[]): Map<string, number> {
  const drives = new Map<string, number>();
  cfg.drives.forEach((d, i) => {
    if (drives.has(d.id)) problems.push(`drives[${i}].id: drive "${d.id}" is defined twice`);
    drives.set(d.id, d.cylinders);
  });
  const owner = new Map<string, string>();
  const adapterIds = new Set<string>();
  cfg.diskAdapters.forEach((a, i) => {
    if (adapterIds.has(a.id)) problems.push(`diskAdapters[${i}].id: adapter "${a.id}" is defined twice`);
    adapterIds.add(a.id);
    a.drives.forEach((d, j) => {
      const path = `diskAdapters[${i}].drives[${j}]`;
      if (!drives.has(d)) problems.push(`${path}: unknown drive id "${d}"`);
      else if (owner.has(d)) problems.push(`${path}: drive "${d}" is already owned by adapter "${owner.get(d)}"`);
      else owner.set(d, a.id);
    });
  });
  cfg.drives.forEach((d, i) => {
    if (!owner.has(d.id)) problems.push(`drives[${i}]: drive "${d.id}" is owned by no disk adapter`);
  });
  return drives;
}

/** A BCV carried over unchanged from the running configuration keeps the extents it had (after a restripe it is detached, holding the old image). */
function carriedBcv(cfg: ArrayConfig, running: ArrayConfig, dev: DeviceConfig): boolean {
  return (
    dev.layout === 'bcv' &&
    running !== cfg &&
    isDeepStrictEqual(
      running.devices.find((d) => d.id === dev.id),
      dev,
    )
  );
}

/** A striped device's capacity fits its stripes; a BCV pairs with a device of the running configuration. False: its members cannot be checked. */
function deviceShapeOk(
  cfg: ArrayConfig,
  running: ArrayConfig,
  dev: DeviceConfig,
  at: string,
  problems: string[],
): boolean {
  if (dev.layout === 'striped') {
    const unit = dev.stripeCylinders * dev.members.length;
    if (dev.cylinders % unit === 0) return true;
    problems.push(`${at}.cylinders: ${dev.cylinders} is not a multiple of stripeCylinders × members (${unit})`);
    return false;
  }
  if (dev.layout !== 'bcv' || carriedBcv(cfg, running, dev)) return true;
  const of = running.devices.find((d) => d.id === dev.of);
  if (!of) return (problems.push(`${at}.of: unknown device "${dev.of}"`), false);
  if (of.layout === 'bcv') return (problems.push(`${at}.of: "${dev.of}" is itself a BCV`), false);
  if (of.members.length === dev.members.length) return true;
  const hint =
    running === cfg
      ? '; a BCV mirrors its device as it runs: a reconfiguration target is checked against the running configuration (layout --config RUNNING --to TARGET)'
      : '';
  problems.push(
    `${at}.members: BCV "${dev.id}" has ${dev.members.length} members but "${dev.of}" has ${of.members.length}${hint}`,
  );
  return false;
}

/** Each member's extent: on a known drive, within it, a BCV member the size of its pair. */
function memberExtents(
  cfg: ArrayConfig,
  running: ArrayConfig,
  dev: DeviceConfig,
  at: string,
  drives: Map<string, number>,
  problems: string[],
): Extent[] {
  const out: Extent[] = [];
  const carried = carriedBcv(cfg, running, dev);
  dev.members.forEach((m, j) => {
    const path = `${at}.members[${j}]`;
    const size = memberCylinders(cfg, dev, j, running);
    const given = dev.layout === 'bcv' ? dev.members[j]!.cylinders : undefined;
    if (dev.layout === 'bcv' && given !== undefined && !carried) {
      const of = running.devices.find((d) => d.id === dev.of)!;
      const want = memberCylinders(running, of, j, running);
      if (want !== undefined && want !== given)
        problems.push(`${path}.cylinders: ${given} differs from the paired member of "${dev.of}" (${want})`);
    }
    if (!drives.has(m.drive)) return problems.push(`${path}.drive: unknown drive id "${m.drive}"`);
    if (size === undefined) return;
    const end = m.startCylinder + size;
    const driveCyl = drives.get(m.drive)!;
    if (end > driveCyl)
      problems.push(
        `${path}: extent cylinders ${m.startCylinder}..${end - 1} runs past the end of drive "${m.drive}" (${driveCyl} cylinders)`,
      );
    out.push({ path, device: dev.id, drive: m.drive, start: m.startCylinder, end });
  });
  return out;
}

function overlapProblems(extents: Extent[], problems: string[]): void {
  for (let i = 0; i < extents.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = extents[i]!;
      const b = extents[j]!;
      if (a.drive === b.drive && a.start < b.end && b.start < a.end) {
        problems.push(
          `${a.path}: extent ${a.start}..${a.end - 1} of "${a.device}" overlaps ${b.start}..${b.end - 1} of "${b.device}" on drive "${a.drive}"`,
        );
      }
    }
  }
}
