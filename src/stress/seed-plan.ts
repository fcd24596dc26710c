// Stress plans: each seed builds a random valid array (disk adapters, drives, stripe sizes, caches
// from tiny to large, several devices sharing drives, a BCV per striped device) and the
// reconfigurations to run on it (every kind; sometimes two devices at once, sometimes two in a row
// on one device). Deterministic in the seed.
import { parseConfig, type ArrayConfig } from '../shared/config/config.ts';
import { deviceLayout } from '../shared/layout/layout.ts';
import { mergeCompleted, planReconfiguration, walkRounds } from '../shared/restripe/reconf-plan.ts';
import type { HotSpot } from '../host/workload.ts';
import { mulberry32 } from '../shared/sched/sched.ts';
import { DRIVE_MODEL_PRESETS, DRIVE_SCHEDULERS } from '../shared/config/drive-models.ts';

export interface SeedPlan {
  seed: number;
  config: ArrayConfig;
  /** Rounds of reconfiguration; the targets of one round run at once (different devices). */
  rounds: unknown[][];
  workload: { queueDepth: number; readPct: number; blockBytes: number; ops: number };
}

export type Rng = () => number;
export const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

interface StripedSpec {
  id: string;
  drives: number[]; // main drive indices of its members
  spare: number[]; // main drives it may expand onto
  S: number;
  rows: number;
  start: number; // start cylinder on every member drive
  room: number; // cylinders reserved per member drive (growth room)
}

/** A random valid array and the reconfigurations to run on it. Deterministic in `seed`. */
export function planSeed(seed: number): SeedPlan {
  const r = mulberry32(seed * 7919 + 17);
  const trackBytes = pick(r, [512, 1024, 4096]);
  const heads = int(r, 1, 3);
  const mainDrives = int(r, 2, 8);
  const { specs, cursor } = stripedSpecs(r, mainDrives);
  const withMeta = r() < 0.6;
  const drives: Array<{ id: string; cylinders: number }> = [];
  for (let d = 0; d < mainDrives; d++) drives.push({ id: `m${d}`, cylinders: cursor + (withMeta ? 4 : 0) });
  const { devices, pools } = deviceDefs(r, specs, drives, withMeta ? { start: cursor, mainDrives } : undefined);
  const diskAdapters = assignAdapters(r, drives);
  const raw = {
    geometry: { trackBytes, headsPerCylinder: heads },
    cache: { slots: pick(r, [4, 8, 16, 64, 512]), stage: cacheStage(seed) },
    restripe: { copy: restripeCopy(seed) },
    hostAdapters: int(r, 1, 2),
    drives,
    diskAdapters,
    devices,
  };
  const config = parseConfig(raw);
  const rounds = reconfigurationRounds(r, config, specs, withMeta, pools);
  const blockBytes = pick(r, [512, 1024, 4096, trackBytes * 2]);
  return {
    seed,
    config,
    rounds,
    workload: { queueDepth: int(r, 1, 16), readPct: int(r, 20, 80), blockBytes, ops: int(r, 600, 2000) },
  };
}

/**
 * How the seed's restripes copy (config `restripe.copy`): half the seeds drive to drive where the
 * drives allow it, half through the cache (the patent's path), so both stay exercised. Drawn from
 * its own stream, so every other choice of a seed is the same either way: a seed drawing `cache`
 * replays as it did before the direct copy existed. (The broken fill is caught in 7 of seeds 0-199
 * either way: all through the cache, or half direct.)
 */
function restripeCopy(seed: number): 'direct' | 'cache' {
  return mulberry32(seed * 2_654_435_761 + 11)() < DIRECT_COPY_SEEDS ? 'direct' : 'cache';
}

/** The share of stress seeds whose restripes copy drive to drive. */
const DIRECT_COPY_SEEDS = 0.5;

/**
 * What the seed's read misses stage (config `cache.stage`): half the seeds only the sectors asked
 * for (partial slots, which every restripe copy and split must drop or complete), half whole tracks.
 * Its own stream, as restripeCopy's: a seed drawing `track` replays as it did before partial stages.
 */
function cacheStage(seed: number): 'partial' | 'track' {
  return mulberry32(seed * 2_246_822_519 + 29)() < PARTIAL_STAGE_SEEDS ? 'partial' : 'track';
}

/** The share of stress seeds whose random read misses stage only the sectors asked for. */
const PARTIAL_STAGE_SEEDS = 0.5;

/**
 * The plan with a timing model on every drive (a preset and queue policy each, seeded) and a
 * dense or sparse store, in the array and in every target alike (a target may change device
 * definitions only).
 */
export function withDriveModels(plan: SeedPlan): SeedPlan {
  const r = mulberry32(plan.seed * 48271 + 7);
  const models = new Map(
    plan.config.drives.map((d) => [d.id, { preset: pick(r, TIMED_PRESETS), scheduler: pick(r, DRIVE_SCHEDULERS) }]),
  );
  const stores = new Map(plan.config.drives.map((d) => [d.id, pick(r, ['dense', 'sparse'] as const)]));
  const apply = (cfg: any) => ({
    ...cfg,
    drives: cfg.drives.map((d: any) => ({ ...d, model: models.get(d.id), store: stores.get(d.id) })),
  });
  return { ...plan, config: parseConfig(apply(plan.config)), rounds: plan.rounds.map((round) => round.map(apply)) };
}

/** The presets `withDriveModels` draws from (every one but instant). */
const TIMED_PRESETS = DRIVE_MODEL_PRESETS.filter((p) => p !== 'instant');

/** One to three striped devices stacked on the main drives, each in its own band of cylinders. */
function stripedSpecs(r: Rng, mainDrives: number): { specs: StripedSpec[]; cursor: number } {
  const nStriped = int(r, 1, Math.min(3, mainDrives));
  const specs: StripedSpec[] = [];
  let cursor = 0;
  for (let i = 0; i < nStriped; i++) {
    const M = int(r, 1, Math.max(1, mainDrives - 1));
    const first = int(r, 0, mainDrives - 1);
    const drives = Array.from({ length: M }, (_, j) => (first + j) % mainDrives);
    const spare = Array.from({ length: mainDrives }, (_, d) => d).filter((d) => !drives.includes(d));
    const S = int(r, 1, 2);
    const rows = int(r, 1, 2);
    const room = S * rows * 2 + 2; // enough to double, or to add a row at another stripe size
    specs.push({ id: `LD${i + 1}`, drives, spare, S, rows, start: cursor, room });
    cursor += room;
  }
  return { specs, cursor };
}

/**
 * The devices: each striped one with a BCV on BCV drives of its own (added to `drives`), big enough
 * for a second restripe of the grown device, and (with `meta`) a two-cylinder META1. `pools`: per
 * BCV, the members it may pair with as its device grows.
 */
function deviceDefs(
  r: Rng,
  specs: StripedSpec[],
  drives: Array<{ id: string; cylinders: number }>,
  meta?: { start: number; mainDrives: number },
) {
  const devices: any[] = [];
  const pools = new Map<string, any[]>();
  let bcvDrive = 0;
  for (const s of specs) {
    const per = s.S * s.rows;
    devices.push({
      id: s.id,
      layout: 'striped',
      cylinders: per * s.drives.length,
      stripeCylinders: s.S,
      members: s.drives.map((d) => ({ drive: `m${d}`, startCylinder: s.start })),
    });
    const bcvMembers = [];
    for (let j = 0; j < s.drives.length + s.spare.length; j++) {
      drives.push({ id: `b${bcvDrive}`, cylinders: s.room * 2 });
      bcvMembers.push({ drive: `b${bcvDrive++}`, startCylinder: 0 });
    }
    const bcvId = `BCV${s.id.slice(2)}`;
    devices.push({ id: bcvId, layout: 'bcv', of: s.id, members: bcvMembers.slice(0, s.drives.length) });
    pools.set(bcvId, bcvMembers);
  }
  if (meta)
    devices.push({
      id: 'META1',
      layout: 'concatenated',
      members: [{ drive: `m${int(r, 0, meta.mainDrives - 1)}`, startCylinder: meta.start, cylinders: 2 }],
    });
  return { devices, pools };
}

/** One to eight disk adapters, every drive owned by one, none without a drive. */
function assignAdapters(r: Rng, drives: Array<{ id: string }>) {
  const nDa = int(r, 1, Math.min(8, drives.length));
  const diskAdapters = Array.from({ length: nDa }, (_, i) => ({ id: `DA${i}`, drives: [] as string[] }));
  drives.forEach((d, i) => diskAdapters[(i + int(r, 0, nDa - 1)) % nDa]!.drives.push(d.id));
  for (const a of diskAdapters)
    if (a.drives.length === 0) a.drives.push(diskAdapters.find((b) => b.drives.length > 1)!.drives.pop()!);
  return diskAdapters;
}

/** One or two rounds; a round changes one device, or two at once. Only targets the planner accepts. */
function reconfigurationRounds(
  r: Rng,
  config: ArrayConfig,
  specs: StripedSpec[],
  withMeta: boolean,
  pools: Map<string, any[]>,
): unknown[][] {
  const rounds: unknown[][] = [];
  let running = config;
  const nRounds = int(r, 1, 2);
  for (let k = 0; k < nRounds; k++) {
    const candidates = [...specs.map((s) => s.id), ...(withMeta ? ['META1'] : [])];
    const count = candidates.length > 1 && r() < 0.3 ? 2 : 1;
    const chosen = candidates.sort(() => r() - 0.5).slice(0, count);
    const round: unknown[] = [];
    let next = running;
    for (const id of chosen) {
      const target = mutate(
        running,
        id,
        specs.find((s) => s.id === id),
        pools,
        r,
      );
      if (!target) continue;
      try {
        const plan = planReconfiguration(running, target);
        round.push(target);
        next = mergeCompleted(next, plan.target, plan.deviceId, plan.bcvId);
      } catch {
        // a mutation that the planner refuses is not a stress case
      }
    }
    if (round.length === 0) break;
    rounds.push(round);
    running = next;
  }
  return rounds;
}

/** A target: `running` with device `id` changed in one of the ways the kind allows. */
function mutate(
  running: ArrayConfig,
  id: string,
  spec: StripedSpec | undefined,
  pools: Map<string, any[]>,
  r: Rng,
): unknown | undefined {
  const cfg = JSON.parse(JSON.stringify(running));
  const dev = cfg.devices.find((d: any) => d.id === id);
  if (dev.layout === 'concatenated') {
    // Append one cylinder after the last member, if the drive has room (drives never change).
    const last = dev.members[dev.members.length - 1];
    const start = last.startCylinder + last.cylinders;
    if (start + 1 > cfg.drives.find((d: any) => d.id === last.drive).cylinders) return undefined;
    dev.members.push({ drive: last.drive, startCylinder: start, cylinders: 1 });
    return cfg;
  }
  if (!spec) return undefined;
  const M = dev.members.length;
  const S = dev.stripeCylinders;
  const per = dev.cylinders / M;
  const bcv = cfg.devices.find((d: any) => d.layout === 'bcv' && d.of === id);
  bcv.members = pools
    .get(bcv.id)!
    .slice(0, M)
    .map((m) => ({ ...m })); // the BCV pairs with the running members
  const kinds = [
    'stripe',
    'rows',
    ...(spec.spare.some((d) => !dev.members.some((m: any) => m.drive === `m${d}`)) ? ['expand', 'both'] : []),
  ];
  const kind = pick(r, kinds);
  const S2 = S === 1 ? 2 : 1;
  if (kind === 'rows') dev.cylinders = (per + S) * M;
  if (kind === 'stripe') {
    if (per % S2 !== 0) dev.cylinders = Math.ceil(per / S2) * S2 * M;
    dev.stripeCylinders = S2;
  }
  if (kind === 'expand' || kind === 'both') {
    const free = spec.spare.find((d) => !dev.members.some((m: any) => m.drive === `m${d}`))!;
    dev.members.push({ drive: `m${free}`, startCylinder: spec.start });
    const s = kind === 'both' ? S2 : S;
    dev.stripeCylinders = s;
    dev.cylinders = Math.ceil(per / s) * s * (M + 1);
  }
  if (dev.cylinders / dev.members.length > spec.room) return undefined;
  return cfg;
}

/** Queue depths per host processor under `heavy` load. */
export const HEAVY_QUEUE_DEPTHS = [32, 64, 128] as const;
/** Percent of `heavy` requests aimed at locations both layouts share. */
export const HEAVY_HOT_PCT = 50;

/**
 * The logical tracks of each restriped device whose location is one of both layouts (under O it
 * is a location of N, or under N one of O), as byte ranges: where a host split, a fill and the
 * switch's check meet.
 */
export function sharedLocationSpots(config: ArrayConfig, rounds: unknown[][]): HotSpot[] {
  const tb = config.geometry.trackBytes;
  const spots: HotSpot[] = [];
  walkRounds(config, rounds, (plan, running) => {
    if (plan.kind === 'meta-expansion') return;
    const O = deviceLayout(running, plan.deviceId);
    const N = deviceLayout(plan.target, plan.deviceId, running);
    const inO = new Set(Array.from({ length: O.tracks }, (_, t) => O.locate(t)));
    const inN = new Set(Array.from({ length: N.tracks }, (_, t) => N.locate(t)));
    for (let t = 0; t < N.tracks; t++) {
      if (!inO.has(N.locate(t)) && !(t < O.tracks && inN.has(O.locate(t)))) continue;
      const last = spots[spots.length - 1];
      if (last && last.device === plan.deviceId && last.offsetBytes + last.lengthBytes === t * tb)
        last.lengthBytes += tb;
      else spots.push({ device: plan.deviceId, offsetBytes: t * tb, lengthBytes: tb });
    }
  });
  return spots;
}

/**
 * The plan with a mirrored device of its own for drive faults (`stress --drive-faults`): MX, striped
 * over drives x0.. with mirror 2 on drives y0.., its BCV MXB on drives w0.. with mirror 2 on v0.., and
 * two spares z0 and z1, on seeded adapters, in the array and in every target alike. Its drives hold nothing else, so
 * failing one of them loses no data. After the seed's rounds, a last round restripes MX (DESIGN §14):
 * onto one more drive xN with its mirror on yN, its stripe changed or not, while drive faults go on.
 */
export function withMirroredDevice(plan: SeedPlan): SeedPlan {
  const r = mulberry32(plan.seed * 69069 + 1);
  const members = int(r, 1, 3);
  const stripe = int(r, 1, 2);
  const cylinders = stripe * int(r, 1, 2);
  const size = Math.max(2, cylinders);
  const ids = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}`);
  const newDrives = [
    ...ids('x', members + 1),
    ...ids('y', members + 1),
    ...ids('w', members),
    ...ids('v', members),
    ...ids('z', 2),
  ];
  const adapterOf = new Map(newDrives.map((d) => [d, int(r, 0, plan.config.diskAdapters.length - 1)]));
  const mx = (n: number, stripeCylinders: number) => ({
    id: 'MX',
    layout: 'striped',
    cylinders: cylinders * n,
    stripeCylinders,
    members: ids('x', n).map((drive) => ({ drive, startCylinder: 0 })),
    mirrors: [{ members: ids('y', n).map((drive) => ({ drive, startCylinder: 0 })) }],
  });
  const mxb = {
    id: 'MXB',
    layout: 'bcv',
    of: 'MX',
    members: ids('w', members).map((drive) => ({ drive, startCylinder: 0 })),
    mirrors: [{ members: ids('v', members).map((drive) => ({ drive, startCylinder: 0 })) }],
  };
  const apply = (cfg: any) => ({
    ...cfg,
    drives: [...cfg.drives, ...newDrives.map((id) => ({ id, cylinders: size }))],
    diskAdapters: cfg.diskAdapters.map((a: any, i: number) => ({
      ...a,
      drives: [...a.drives, ...newDrives.filter((d) => adapterOf.get(d) === i)],
    })),
    devices: [...cfg.devices, mx(members, stripe), mxb],
    spares: ids('z', 2),
  });
  const config = parseConfig(apply(plan.config));
  const rounds = plan.rounds.map((round) => round.map(apply));
  const last = walkRounds(config, rounds);
  const newStripe = stripe === 2 && r() < 0.5 ? 1 : stripe; // an expansion, or an expansion and a stripe change
  const restripe = { ...last, devices: last.devices.map((d) => (d.id === 'MX' ? mx(members + 1, newStripe) : d)) };
  return { ...plan, config, rounds: [...rounds, [restripe]] };
}

/** MX's and MXB's drives a drive fault may hit (mirror 1 or 2; never a spare: it is what a rebuild needs). */
export const mirroredDeviceDrives = (cfg: ArrayConfig): string[] =>
  cfg.drives.map((d) => d.id).filter((id) => /^[xywv]\d+$/.test(id));
