// Stress seeds: each seed builds a random valid array (disk adapters, drives, stripe sizes, caches
// from tiny to large, several devices sharing drives, a BCV per striped device), runs a verifying
// workload on every device, and reconfigures in the middle of it (every kind; sometimes two devices
// at once, sometimes two in a row on one device). One seed, one answer: what failed, or nothing.
import { parseConfig, type ArrayConfig } from '../shared/config.ts';
import { errorMessage } from '../shared/errors.ts';
import type { Log } from '../shared/link.ts';
import { assert } from '../shared/assert.ts';
import { ArrayEmulator, type Mode } from '../emulator.ts';
import { mergeCompleted, planReconfiguration, planRounds } from '../service-processor/plan.ts';
import type { ReconfReport } from '../service-processor/service-processor.ts';
import { startWorkload } from './run.ts';
import { createVerifierBuffers, SECTOR_BYTES, Verifier } from './verifier.ts';
import { HostClient } from './client.ts';
import { DEVICE, NO_SLOT, NO_TRACK, PHASE, SLOT, TRACK } from '../shared/memory.ts';
import { seededRandom, type HotSpot } from './workload.ts';
import { deviceLayout } from '../shared/layout.ts';
import { mulberry32, runSeeded, sched, sleep } from '../shared/sched.ts';

export interface SeedPlan {
  seed: number;
  config: ArrayConfig;
  /** Rounds of reconfiguration; the targets of one round run at once (different devices). */
  rounds: unknown[][];
  workload: { queueDepth: number; readPct: number; blockBytes: number; ops: number };
}

export interface SeedResult {
  seed: number;
  ok: boolean;
  reason?: string;
  verifyErrors: number;
  ioErrors: number;
  reconfigurations: number;
  kinds: Record<string, number>;
  scenarios: { '1': number; '2': number; '3': number; '4': number };
  ops: number;
  ms: number;
  /** Faults injected, in all and per kind. */
  faultsInjected: number;
  faults: FaultCounts;
  /** Requests that failed because their host adapter was restarted under them (expected). */
  lostWithAdapter: number;
  /** Deterministic mode: the schedule run, the tasks the seeded scheduler ran, and the hash of its choices. */
  schedule?: number;
  steps?: number;
  trace?: string;
}

/** Faults per kind. */
export interface FaultCounts {
  delayedBatches: number;
  diskAdapterRestarts: number;
  hostAdapterRestarts: number;
  /** Adapter restarts by where the reconfiguration stood. */
  duringEstablish: number;
  atSwitch: number;
  duringTransfer: number;
  outsideSessions: number;
}

export const noFaults = (): FaultCounts => ({
  delayedBatches: 0,
  diskAdapterRestarts: 0,
  hostAdapterRestarts: 0,
  duringEstablish: 0,
  atSwitch: 0,
  duringTransfer: 0,
  outsideSessions: 0,
});

type Rng = () => number;
const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

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
  const r = seededRandom(seed * 7919 + 17);
  const trackBytes = pick(r, [512, 1024, 4096]);
  const heads = int(r, 1, 3);
  const mainDrives = int(r, 2, 8);
  const nStriped = int(r, 1, Math.min(3, mainDrives));
  const specs: StripedSpec[] = [];
  let cursor = 0; // devices stack up on the drives, each in its own band of cylinders
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
  const metaStart = cursor;
  const withMeta = r() < 0.6;
  const mainCyl = cursor + (withMeta ? 4 : 0);
  const drives: Array<{ id: string; cylinders: number }> = [];
  for (let d = 0; d < mainDrives; d++) drives.push({ id: `m${d}`, cylinders: mainCyl });
  const devices: any[] = [];
  let bcvDrive = 0;
  for (const s of specs) {
    const per = s.S * s.rows;
    devices.push({ id: s.id, layout: 'striped', cylinders: per * s.drives.length, stripeCylinders: s.S, members: s.drives.map((d) => ({ drive: `m${d}`, startCylinder: s.start })) });
    // A BCV per striped device, on BCV drives big enough for a second restripe of the grown device.
    const bcvMembers = [];
    for (let j = 0; j < s.drives.length + s.spare.length; j++) {
      drives.push({ id: `b${bcvDrive}`, cylinders: s.room * 2 });
      bcvMembers.push({ drive: `b${bcvDrive++}`, startCylinder: 0 });
    }
    devices.push({ id: `BCV${s.id.slice(2)}`, layout: 'bcv', of: s.id, members: bcvMembers.slice(0, s.drives.length), pool: bcvMembers });
  }
  if (withMeta) devices.push({ id: 'META1', layout: 'concatenated', members: [{ drive: `m${int(r, 0, mainDrives - 1)}`, startCylinder: metaStart, cylinders: 2 }] });
  const nDa = int(r, 1, Math.min(8, drives.length));
  const diskAdapters = Array.from({ length: nDa }, (_, i) => ({ id: `DA${i}`, drives: [] as string[] }));
  drives.forEach((d, i) => diskAdapters[(i + int(r, 0, nDa - 1)) % nDa]!.drives.push(d.id));
  for (const a of diskAdapters) if (a.drives.length === 0) a.drives.push(diskAdapters.find((b) => b.drives.length > 1)!.drives.pop()!);
  const pools = new Map<string, any[]>();
  for (const d of devices) if (d.pool) (pools.set(d.id, d.pool), delete d.pool);
  const raw = {
    geometry: { trackBytes, headsPerCylinder: heads },
    cache: { slots: pick(r, [4, 8, 16, 64, 512]) },
    hostAdapters: int(r, 1, 2),
    drives,
    diskAdapters,
    devices,
  };
  const config = parseConfig(raw);

  // Reconfigurations: one or two rounds; a round changes one device, or two at once.
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
      const target = mutate(running, id, specs.find((s) => s.id === id), pools, r);
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
  const blockBytes = pick(r, [512, 1024, 4096, trackBytes * 2]);
  return { seed, config, rounds, workload: { queueDepth: int(r, 1, 16), readPct: int(r, 20, 80), blockBytes, ops: int(r, 600, 2000) } };
}

/** A target: `running` with device `id` changed in one of the ways the kind allows. */
function mutate(running: ArrayConfig, id: string, spec: StripedSpec | undefined, pools: Map<string, any[]>, r: Rng): unknown | undefined {
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
  bcv.members = pools.get(bcv.id)!.slice(0, M).map((m) => ({ ...m })); // the BCV pairs with the running members
  const kinds = ['stripe', 'rows', ...(spec.spare.some((d) => !dev.members.some((m: any) => m.drive === `m${d}`)) ? ['expand', 'both'] : [])];
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
const HEAVY_QUEUE_DEPTHS = [32, 64, 128] as const;
/** Percent of `heavy` requests aimed at locations both layouts share. */
const HEAVY_HOT_PCT = 50;

/**
 * The logical tracks of each restriped device whose location is one of both layouts (under O it
 * is a location of N, or under N one of O), as byte ranges: where a host split, a fill and the
 * switch's check meet.
 */
export function sharedLocationSpots(config: ArrayConfig, rounds: unknown[][]): HotSpot[] {
  const tb = config.geometry.trackBytes;
  const spots: HotSpot[] = [];
  let running = config;
  for (const round of rounds) {
    let next = running;
    for (const target of round) {
      const plan = planReconfiguration(running, target);
      next = mergeCompleted(next, plan.target, plan.deviceId, plan.bcvId);
      if (plan.kind === 'meta-expansion') continue;
      const O = deviceLayout(running, plan.deviceId);
      const N = deviceLayout(plan.target, plan.deviceId, running);
      const inO = new Set(Array.from({ length: O.tracks }, (_, t) => O.locate(t)));
      const inN = new Set(Array.from({ length: N.tracks }, (_, t) => N.locate(t)));
      for (let t = 0; t < N.tracks; t++) {
        if (!inO.has(N.locate(t)) && !(t < O.tracks && inN.has(O.locate(t)))) continue;
        const last = spots[spots.length - 1];
        if (last && last.device === plan.deviceId && last.offsetBytes + last.lengthBytes === t * tb) last.lengthBytes += tb;
        else spots.push({ device: plan.deviceId, offsetBytes: t * tb, lengthBytes: tb });
      }
    }
    running = next;
  }
  return spots;
}

const POLL_MS = 5;
/** Longest a seed's workload may take to reach its next mark before the seed fails. */
const SEED_STALL_MS = 60_000;

async function untilOps(wl: { opsDone(): number }, ops: number, what: string): Promise<void> {
  const deadline = sched().now() + SEED_STALL_MS;
  while (wl.opsDone() < ops) {
    if (sched().now() > deadline) throw new Error(`workload stalled at ${wl.opsDone()} of ${ops} operations (${what})`);
    await sleep(POLL_MS);
  }
}

export interface SeedOptions {
  /**
   * Faults: batches between actors delayed and reordered, and adapters failed and replaced (a disk
   * or host adapter, during ESTABLISH, at the switch, during the transfer, or between sessions).
   */
  faults?: boolean;
  /** Run under the seeded scheduler: the seed replays the identical interleaving. */
  deterministic?: boolean;
  /**
   * Deterministic mode: which of the seed's schedules (0, 1, …) picks the interleaving. The array,
   * the workload and the fault points are the seed's; the schedule only changes which ready task
   * runs next, so one array can be tried under many interleavings, each replayable.
   */
  schedule?: number;
  /**
   * Deterministic mode: the scheduler's first choices (each taken modulo the tasks ready), then
   * the seeded PRNG. fast-check generates and shrinks these to find and minimise an interleaving.
   */
  choices?: number[];
  /** Test-only: a deliberately broken fill that skips split(o). */
  breakFill?: boolean;
  /**
   * Heavy host load around the switch: queue depths of 32 to 128 per host processor, two to four
   * processors, half the requests aimed at the logical tracks whose location both layouts of a
   * restripe share (where host splits and fills meet the switch and its check).
   */
  heavy?: boolean;
  /** Every actor's log line, stamped with the scheduler's clock (virtual ms when deterministic): for a rerun. */
  log?: (text: string) => void;
  /** Test-only fault: once a third of the workload is done, the cache forgets every write-pending slot. */
  loseWritePending?: boolean;
}

/** The cache forgets every write-pending slot (acknowledged writes lost): only for proving the checks. */
function loseWritePending(emu: ArrayEmulator): number {
  const st = emu.state;
  let lost = 0;
  for (let s = 0; s < st.slots; s++) {
    if (!(Atomics.load(st.slotState, s) & SLOT.WP)) continue;
    const owner = Atomics.load(st.slotOwner, s);
    if (owner === NO_TRACK || Atomics.load(st.trackFlags, owner) & TRACK.LOCK) continue;
    Atomics.store(st.trackSlot, owner, NO_SLOT);
    Atomics.store(st.slotState, s, 0);
    Atomics.store(st.slotOwner, s, NO_TRACK);
    lost++;
  }
  return lost;
}

/** Read every byte of every host device back and check it: whatever was lost shows here. */
async function readBack(emu: ArrayEmulator, verifier: Verifier): Promise<void> {
  const client = new HostClient(emu.hostLink(0));
  try {
    for (const d of emu.model.hostDevices()) {
      const dev = { id: d.id, index: d.index, bytes: d.bytes };
      const chunk = Math.max(SECTOR_BYTES, emu.model.trackBytes * 4);
      for (let off = 0; off < d.bytes; off += chunk) {
        const len = Math.min(chunk, d.bytes - off);
        const check = verifier.beginRead(dev, off, len);
        verifier.endRead(check, await client.read(d.id, off, len));
      }
    }
  } finally {
    client.close();
  }
}

/** Wait until `ops` more operations are done, or `ms` passed (a held destage may stall writes). */
async function someOps(wl: { opsDone(): number }, ops: number, ms: number): Promise<void> {
  const target = wl.opsDone() + ops;
  const deadline = sched().now() + ms;
  while (wl.opsDone() < target && sched().now() < deadline) await sleep(POLL_MS);
}

type FaultPoint = 'establish' | 'switch' | 'transfer';

/** Fail one adapter (a disk adapter more often than a host adapter) and start its replacement. */
async function failAdapter(emu: ArrayEmulator, r: Rng, faults: FaultCounts, where: keyof FaultCounts): Promise<void> {
  const has = Array.from({ length: emu.model.config.hostAdapters }, (_, i) => `HA${i}`);
  const ha = r() < 0.3;
  const name = ha ? pick(r, has) : pick(r, emu.model.diskAdapterIds);
  await emu.restart(name);
  if (ha) faults.hostAdapterRestarts++;
  else faults.diskAdapterRestarts++;
  faults[where]++;
}

/**
 * One round of reconfigurations. Most rounds leave write pendings at the switch, as the SPEC's
 * model does: the switch is held once the BCVs are synchronised, destage to the main drives and/or
 * to the BCV is held while the host writes on, then the switch goes ahead with those pending.
 * With faults, adapters fail at the chosen points: the process there is held, let run a little,
 * held again, an adapter fails and is replaced, and the process goes on.
 */
async function reconfigureRound(emu: ArrayEmulator, wl: { opsDone(): number }, round: unknown[], r: Rng, faults?: FaultCounts): Promise<ReconfReport[]> {
  const pendings = r() < 0.7;
  const at = new Set<FaultPoint>(faults ? (['establish', 'switch', 'transfer'] as const).filter(() => r() < 0.5) : []);
  if (faults && at.size === 0) at.add(pick(r, ['establish', 'switch', 'transfer'] as const));
  const holdSwitch = pendings || at.has('switch');
  if (at.has('establish')) emu.hold('establish', true);
  if (holdSwitch) emu.hold('switch', true);
  if (at.has('transfer')) emu.hold('transfer', true);
  const done = round.map(() => false);
  let failed = false;
  const reports = Promise.all(round.map((t, i) => emu.reconfigure(t).then((rep) => ((done[i] = true), rep))));
  if (!holdSwitch && at.size === 0) return reports;
  reports.catch(() => (failed = true));
  const wait = async (cond: () => boolean, what: string, ms = SEED_STALL_MS) => {
    const deadline = sched().now() + ms;
    while (!cond() && !failed) {
      if (sched().now() > deadline) return what;
      await sleep(POLL_MS);
    }
    return undefined;
  };
  const must = async (cond: () => boolean, what: string) => {
    const late = await wait(cond, what);
    if (late) throw new Error(`${late}: not within ${SEED_STALL_MS} ms`);
  };
  /**
   * Let a held process run a little (0-3 ms). Inline, hold it again (it stops part-way, and the
   * adapter fails between two of its steps); in threads mode the worker is terminated while the
   * process runs, wherever it is.
   */
  const partly = async (name: 'establish' | 'transfer') => {
    emu.hold(name, false);
    await sleep(r() * 3);
    if (emu.mode === 'inline') emu.hold(name, true);
  };
  try {
    const devices = round.map((t) => {
      const changed = (t as ArrayConfig).devices.find((d) => d.layout !== 'bcv' && JSON.stringify(d) !== JSON.stringify(emu.model.config.devices.find((x) => x.id === d.id)));
      return emu.model.device(changed!.id).index;
    });
    const phaseAtLeast = (p: number) => () => devices.every((d, i) => done[i] || emu.state.deviceWord(d, DEVICE.PHASE) >= p);
    const gens = devices.map((d) => emu.state.deviceWord(d, DEVICE.GENERATION));
    if (at.has('establish')) {
      await must(phaseAtLeast(PHASE.ESTABLISHING), 'ESTABLISH begun');
      await partly('establish');
      await failAdapter(emu, r, faults!, 'duringEstablish');
      emu.hold('establish', false);
    }
    if (holdSwitch) {
      // Every session of the round synchronised (held at the switch) or, a meta expansion, done.
      await must(phaseAtLeast(PHASE.SYNCHRONISED), 'BCVs synchronised');
      if (at.has('switch')) await failAdapter(emu, r, faults!, 'atSwitch');
      const mix = pendings ? pick(r, [['destage-main'], ['destage-mirror'], ['destage-main', 'destage-mirror']] as const) : [];
      for (const h of mix) emu.hold(h, true);
      if (pendings) await someOps(wl, 40, 300);
      emu.hold('switch', false);
      // The switch drains requests in flight; with destage held a full cache may stall them, so the
      // holds last a short while at most, switched or not.
      await wait(() => devices.every((d, i) => done[i] || emu.state.deviceWord(d, DEVICE.GENERATION) !== gens[i]), 'switch', 300);
      if (pendings) await someOps(wl, 40, 300);
      for (const h of mix) emu.hold(h, false);
    }
    if (at.has('transfer')) {
      await must(phaseAtLeast(PHASE.TRANSFERRING), 'transfer begun');
      await partly('transfer');
      await failAdapter(emu, r, faults!, 'duringTransfer');
      emu.hold('transfer', false);
    }
  } finally {
    for (const h of ['establish', 'switch', 'transfer', 'destage-main', 'destage-mirror'] as const) emu.hold(h, false);
  }
  return reports;
}

/**
 * Run one seed to its verdict. `mode` inline runs every actor in this thread; `deterministic` runs
 * them under the seeded scheduler, so the same seed takes the same interleaving every time.
 */
/** The PRNG seed of schedule `schedule` of stress seed `seed` (schedule 0 is the seed's default). */
export function scheduleSeed(seed: number, schedule: number): number {
  assert(Number.isInteger(schedule) && schedule >= 0, () => `schedule ${schedule} is not a whole number ≥ 0`);
  return (seed * 2654435761 + 1 + Math.imul(schedule, 0x9e3779b9)) >>> 0;
}

export async function runSeed(seed: number, mode: Mode = 'inline', opts: SeedOptions = {}): Promise<SeedResult> {
  const t0 = performance.now();
  const result: SeedResult = {
    seed,
    ok: false,
    verifyErrors: 0,
    ioErrors: 0,
    reconfigurations: 0,
    kinds: {},
    scenarios: { '1': 0, '2': 0, '3': 0, '4': 0 },
    ops: 0,
    ms: 0,
    faultsInjected: 0,
    faults: noFaults(),
    lostWithAdapter: 0,
  };
  if (!opts.deterministic) {
    await seedBody(seed, mode, opts, result);
  } else {
    if (mode !== 'inline') throw new Error('deterministic mode runs inline (one thread)');
    try {
      const schedule = opts.schedule ?? 0;
      const rng = mulberry32(scheduleSeed(seed, schedule));
      const given = opts.choices ?? [];
      let i = 0;
      const choose = (n: number) => (i < given.length ? given[i++]! % n : Math.floor(rng() * n));
      const run = await runSeeded({ seed, choose }, () => seedBody(seed, mode, opts, result));
      result.schedule = schedule;
      result.steps = run.steps;
      result.trace = run.trace.toString(16).padStart(8, '0');
    } catch (err) {
      // The run itself broke (an actor threw out of its task: an invariant stopped it).
      result.ok = false;
      result.reason ??= `stopped: ${errorMessage(err)}`;
    }
  }
  result.faultsInjected = result.faults.delayedBatches + result.faults.diskAdapterRestarts + result.faults.hostAdapterRestarts;
  result.ms = Math.round(performance.now() - t0);
  return result;
}

async function seedBody(seed: number, mode: Mode, opts: SeedOptions, result: SeedResult): Promise<void> {
  let plan: SeedPlan;
  try {
    plan = planSeed(seed);
  } catch (err) {
    result.reason = `plan: ${errorMessage(err)}`;
    return;
  }
  const problems: string[] = [];
  const chaos = opts.faults && mode === 'inline' ? { random: seededRandom(seed * 104729 + 3), maxDelayTurns: 1 + (seed % 8), delayed: 0 } : undefined;
  const faults = opts.faults ? result.faults : undefined;
  const log: Log = (level, text) => {
    opts.log?.(`[${sched().now().toFixed(2)} ms] ${level}: ${text}`);
    if (level === 'error') problems.push(text);
  };
  const emu = await ArrayEmulator.start(plan.config, { mode, log, chaos });
  if (opts.breakFill) emu.state.setBrokenFill(true);
  try {
    // Devices may grow: the verifier is sized for the largest each becomes.
    const { maxBytes } = planRounds(plan.config, plan.rounds);
    const devices = emu.model.hostDevices().map((d) => ({ id: d.id, index: d.index, bytes: Math.max(d.bytes, maxBytes[d.id] ?? 0) }));
    const verifierBuffers = createVerifierBuffers(devices);
    const hr = seededRandom(seed * 13 + 11);
    const heavy = opts.heavy
      ? { hostProcessors: int(hr, 2, 4), queueDepth: pick(hr, HEAVY_QUEUE_DEPTHS), hotSpots: sharedLocationSpots(plan.config, plan.rounds), hotPct: HEAVY_HOT_PCT }
      : { hostProcessors: 2, queueDepth: plan.workload.queueDepth };
    const wl = startWorkload(emu, {
      ...heavy,
      readPct: plan.workload.readPct,
      blockBytes: plan.workload.blockBytes,
      pattern: 'random',
      seed,
      verifier: verifierBuffers,
      hostProcessorsHere: true,
    });
    const onSwitched = (e: { device: string; bytes: number }) => wl.setDeviceBytes(e.device, e.bytes);
    emu.on('switched', onSwitched);
    const reports: ReconfReport[] = [];
    let reconfError: string | undefined;
    const fr = seededRandom(seed * 7 + 5);
    try {
      const third = plan.workload.ops / 3;
      if (opts.loseWritePending) {
        await untilOps(wl, third, 'before the fault');
        emu.hold('destage-main', true); // let write pendings pile up, then lose them
        await someOps(wl, 40, 300);
        loseWritePending(emu);
        emu.hold('destage-main', false);
      }
      if (faults && fr() < 0.5) {
        // An adapter fails between sessions too, under plain host I/O.
        await untilOps(wl, third / 2, 'before the first fault');
        await failAdapter(emu, fr, faults, 'outsideSessions');
      }
      for (const [k, round] of plan.rounds.entries()) {
        await untilOps(wl, third * (k + 1), `before round ${k + 1}`);
        reports.push(...(await reconfigureRound(emu, wl, round, seededRandom(seed * 31 + k), faults)));
      }
      await untilOps(wl, plan.workload.ops, 'after the last round');
    } catch (err) {
      reconfError = errorMessage(err);
    } finally {
      wl.stop();
      emu.off('switched', onSwitched);
    }
    const host = await wl.done;
    const final = new Verifier(verifierBuffers);
    await readBack(emu, final);
    host.verifyErrors += final.errors;
    host.described.push(...final.described);
    result.verifyErrors = host.verifyErrors;
    result.ioErrors = host.ioErrors;
    result.lostWithAdapter = host.lostWithAdapter;
    result.ops = host.reads + host.writes;
    result.reconfigurations = reports.length;
    for (const rep of reports) {
      result.kinds[rep.kind] = (result.kinds[rep.kind] ?? 0) + 1;
      for (const k of ['1', '2', '3', '4'] as const) result.scenarios[k] += rep.scenarios[k];
    }
    const bits = reports.find((rep) => rep.bitsLeft.pb + rep.bitsLeft.ps + rep.bitsLeft.ind > 0);
    const reason =
      reconfError ??
      (host.verifyErrors > 0 ? `${host.verifyErrors} verify errors: ${host.described[0]}` : undefined) ??
      (host.ioErrors > 0 ? `${host.ioErrors} I/O errors: ${host.described[0]}` : undefined) ??
      (host.lostWithAdapter > 0 && result.faults.hostAdapterRestarts === 0 ? `${host.lostWithAdapter} requests lost with a host adapter that was never restarted` : undefined) ??
      (bits ? `bits left set: ${JSON.stringify(bits.bitsLeft)}` : undefined) ??
      (problems.length > 0 ? problems[0] : undefined) ??
      (emu.problems().length > 0 ? emu.problems()[0] : undefined);
    result.ok = reason === undefined;
    result.reason = reason;
  } catch (err) {
    result.reason = errorMessage(err);
  } finally {
    await emu.stop();
    result.faults.delayedBatches = chaos?.delayed ?? 0;
  }
}
