// Faults a stress seed injects: adapters failed and replaced (a disk or host adapter, during
// ESTABLISH, at the switch, during the transfer, between sessions), write pendings held at the
// switch, and the counts of what was injected.
import type { ArrayConfig } from '../shared/config/config.ts';
import type { ArrayEmulator } from '../runtime/emulator.ts';
import { DEVICE, PHASE } from '../shared/tables/memory.ts';
import type { ReconfReport } from '../shared/restripe/report.ts';
import { sched, sleep } from '../shared/sched/sched.ts';
import { pick, type Rng } from './seed-plan.ts';
import { POLL_MS, SEED_STALL_MS, someOps, untilOps } from './waits.ts';
import type { RunningWorkload } from '../host/run.ts';
import { deviceWordOf } from '../shared/tables/tables.ts';

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
  /** Drive faults (`--drive-faults`): drives failed whole (each rebuilt onto a spare), media faults injected. */
  drivesFailed: number;
  mediaFaults: number;
  /** Of those, the faults that hit MX while its own restripe ran (DESIGN §14). */
  driveFaultsInRestripe: number;
}

export const noFaults = (): FaultCounts => ({
  drivesFailed: 0,
  mediaFaults: 0,
  driveFaultsInRestripe: 0,
  delayedBatches: 0,
  diskAdapterRestarts: 0,
  hostAdapterRestarts: 0,
  duringEstablish: 0,
  atSwitch: 0,
  duringTransfer: 0,
  outsideSessions: 0,
});

type FaultPoint = 'establish' | 'switch' | 'transfer';

/** Fail one adapter (a disk adapter more often than a host adapter) and start its replacement. */
export async function failAdapter(
  emu: ArrayEmulator,
  r: Rng,
  faults: FaultCounts,
  where: keyof FaultCounts,
): Promise<void> {
  const has = Array.from({ length: emu.model.config.hostAdapters }, (_, i) => `HA${i}`);
  const ha = r() < 0.3;
  const name = ha ? pick(r, has) : pick(r, emu.model.diskAdapterIds);
  await emu.restart(name);
  if (ha) faults.hostAdapterRestarts++;
  else faults.diskAdapterRestarts++;
  faults[where]++;
}

/**
 * One round of reconfigurations. Most rounds leave write pendings (every mix of WPk) at the
 * switch: the switch is held once the BCVs are synchronised, destage to the main drives and/or
 * to the BCV is held while the host writes on, then the switch goes ahead with those pending.
 * With faults, adapters fail at the chosen points: the process there is held, let run a little,
 * held again, an adapter fails and is replaced, and the process goes on.
 */
export async function reconfigureRound(
  emu: ArrayEmulator,
  wl: { opsDone(): number },
  round: unknown[],
  r: Rng,
  faults?: FaultCounts,
): Promise<ReconfReport[]> {
  const pendings = r() < 0.7;
  const at = new Set<FaultPoint>(faults ? (['establish', 'switch', 'transfer'] as const).filter(() => r() < 0.5) : []);
  if (faults && at.size === 0) at.add(pick(r, ['establish', 'switch', 'transfer'] as const));
  const holdSwitch = pendings || at.has('switch');
  if (at.has('establish')) emu.test.hold('establish', true);
  if (holdSwitch) emu.test.hold('switch', true);
  if (at.has('transfer')) emu.test.hold('transfer', true);
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
    emu.test.hold(name, false);
    await sleep(r() * 3);
    if (emu.mode === 'inline') emu.test.hold(name, true);
  };
  try {
    const devices = round.map((t) => {
      const changed = (t as ArrayConfig).devices.find(
        (d) =>
          d.layout !== 'bcv' &&
          JSON.stringify(d) !== JSON.stringify(emu.model.config.devices.find((x) => x.id === d.id)),
      );
      return changed!.id;
    });
    const phaseAtLeast = (p: number) => () => devices.every((d, i) => done[i] || emu.test.phase(d) >= p);
    const gens = devices.map((d) => emu.test.generation(d));
    if (at.has('establish')) {
      await must(phaseAtLeast(PHASE.ESTABLISHING), 'ESTABLISH begun');
      await partly('establish');
      await failAdapter(emu, r, faults!, 'duringEstablish');
      emu.test.hold('establish', false);
    }
    if (holdSwitch) {
      // Every session of the round synchronised (held at the switch) or, a meta expansion, done.
      await must(phaseAtLeast(PHASE.SYNCHRONISED), 'BCVs synchronised');
      if (at.has('switch')) await failAdapter(emu, r, faults!, 'atSwitch');
      const mix = pendings
        ? pick(r, [['destage-main'], ['destage-mirror'], ['destage-main', 'destage-mirror']] as const)
        : [];
      for (const h of mix) emu.test.hold(h, true);
      if (pendings) await someOps(wl, 40, 300);
      emu.test.hold('switch', false);
      // The switch drains requests in flight; with destage held a full cache may stall them, so the
      // holds last a short while at most, switched or not.
      await wait(() => devices.every((d, i) => done[i] || emu.test.generation(d) !== gens[i]), 'switch', 300);
      if (pendings) await someOps(wl, 40, 300);
      for (const h of mix) emu.test.hold(h, false);
    }
    if (at.has('transfer')) {
      await must(phaseAtLeast(PHASE.TRANSFERRING), 'transfer begun');
      await partly('transfer');
      await failAdapter(emu, r, faults!, 'duringTransfer');
      emu.test.hold('transfer', false);
    }
  } finally {
    for (const h of ['establish', 'switch', 'transfer', 'destage-main', 'destage-mirror'] as const)
      emu.test.hold(h, false);
  }
  return reports;
}

/**
 * The seed's drive faults (`stress --drive-faults`), beside its restripes: at seeded points of the
 * workload a drive of MX fails whole (and is rebuilt onto a spare before the next) or some of its
 * tracks get media errors. Never two faults on the two copies of one track: that is what one
 * mirror covers. A whole failure is repaired (rebuilt) before the next fault, a media error only
 * when its track is read, so every fault of a seed hits one side (MX's mirror 1 or 2, or MXB's).
 */
export async function driveFaults(
  emu: ArrayEmulator,
  wl: RunningWorkload,
  drives: string[],
  r: Rng,
  faults: FaultCounts,
  { totalOps, phases = MX_FAULT_PHASES }: { totalOps: number; phases?: readonly number[] },
): Promise<void> {
  const n = 1 + Math.floor(r() * 3);
  const failed = new Set<string>();
  const side = pick(r, [...new Set(drives.map((d) => d[0]!))].sort()); // MX's mirror 1 or 2 (x, y), or MXB's (w, v)
  const ofSide = drives.filter((d) => d.startsWith(side));
  const mxDone = { done: false };
  const onCompleted = (e: { report: ReconfReport }) => void (e.report.device === 'MX' && (mxDone.done = true));
  emu.on('completed', onCompleted);
  try {
    for (let i = 0; i < n; i++) {
      // The last fault aims at MX's own restripe (a seeded phase of it); the others at seeded points of the load.
      if (i === n - 1 && (await intoMxRestripe(emu, pick(r, phases), mxDone))) {
        await oneDriveFault(emu, r, ofSide, failed, faults);
        continue;
      }
      await untilOps(wl, (totalOps * (i + 1 + r())) / (n + 2), `before drive fault ${i + 1}`);
      if (!(await oneDriveFault(emu, r, ofSide, failed, faults))) return;
    }
  } finally {
    emu.off('completed', onCompleted);
  }
}

/** The phases of MX's restripe a drive fault is aimed at. */
const MX_FAULT_PHASES = [PHASE.ESTABLISHING, PHASE.TRANSFERRING] as const;
/** The phase a fault is aimed at to open the window an unwritten BCV mirror leaves (TEST ONLY: --break-bcv-mirror). */
export const TRANSFER_ONLY = [PHASE.TRANSFERRING] as const;

/** How long the last drive fault waits for MX's restripe to reach its phase (ms: a seed's restripes take tens). */
const MX_PHASE_WAIT_MS = 2000;

/** Wait until MX's restripe is in `phase` (true), or past it or done (false); bounded by MX_PHASE_WAIT_MS. */
async function intoMxRestripe(emu: ArrayEmulator, phase: number, mx: { done: boolean }): Promise<boolean> {
  const dev = emu.model.device('MX').index;
  const deadline = sched().now() + MX_PHASE_WAIT_MS;
  for (;;) {
    const now = deviceWordOf(emu.state, dev, DEVICE.PHASE);
    if (now === phase) return true;
    if (mx.done || now > phase || sched().now() > deadline) return false;
    await sleep(POLL_MS / 5);
  }
}

/** Fail one drive of MX's side (whole, rebuilt before this returns) or inject media faults; false when none is left to fail. */
async function oneDriveFault(
  emu: ArrayEmulator,
  r: Rng,
  ofSide: string[],
  failed: Set<string>,
  faults: FaultCounts,
): Promise<boolean> {
  {
    const left = ofSide.filter((d) => !failed.has(d));
    if (left.length === 0) return false; // every drive of MX failed once (each rebuilt): enough
    const drive = pick(r, left);
    const inRestripe = deviceWordOf(emu.state, emu.model.device('MX').index, DEVICE.PHASE) !== PHASE.IDLE ? 1 : 0;
    if (r() < 0.35) {
      if (!holdsCopies(emu, drive)) return true; // a drive MX's restripe has not reached yet: nothing to hit
      emu.failDrive({ drive, kind: 'media', tracks: 1 + Math.floor(r() * 4), seed: Math.floor(r() * 1e9) });
      faults.mediaFaults++;
      faults.driveFaultsInRestripe += inRestripe;
      return true;
    }
    faults.driveFaultsInRestripe += inRestripe;
    emu.failDrive({ drive, kind: 'whole' });
    failed.add(drive);
    faults.drivesFailed++;
    await emu.rebuilds.get(drive); // the next failure only once redundancy is back
    return true;
  }
}

/** Whether drive `id` holds some device's copy now (a media fault needs a track to hit). */
function holdsCopies(emu: ArrayEmulator, id: string): boolean {
  const { drives } = emu.model;
  const d = drives.index(id);
  const base = drives.baseTrack[d]!;
  for (let g = base; g < drives.endTrack(d); g++) if (emu.model.copyAt(g)) return true;
  return false;
}
