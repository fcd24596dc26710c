// The service processor's steps that touch the shared tables directly (DESIGN §3): the session's
// bits set before ESTABLISH (steps 106, 110-112), the switch (steps 114-120), and the progress a
// session reports. The phases that order them are ServiceProcessor's (preparePhase, switchPhase,
// transferPhase, completePhase).
import { DEVICE, MAX_DISK_ADAPTERS, PHASE, TRACK, splitCursorWord, type SharedState } from '../shared/tables/memory.ts';
import { formatMirrors } from '../shared/mirrors/mirrors.ts';
import { throughDriveFaults } from './establish-faults.ts';
import type { Session } from '../shared/restripe/session.ts';
import { sched } from '../shared/sched/sched.ts';
import { testPause } from '../shared/hooks/hooks.ts';
import { pbLeft } from '../shared/restripe/bits.ts';
import type { Progress } from '../shared/restripe/report.ts';
import type { Message, ReconfStep } from '../shared/links/messages.ts';
import { deviceWordOf, orPb, setDeviceWord, setFlag, setSplitCursor } from '../shared/tables/tables.ts';
import { assert } from '../shared/errors/assert.ts';

/** Longest the switch waits for host requests inside their critical section (they await nothing: microseconds). */
export const DRAIN_WAIT_MS = 30_000;
/** How often the data transfer reports its progress (ms). */
const PROGRESS_EVERY_MS = 250;

type Emit = (event: string, data: unknown) => void;

/**
 * Step 106: PS on every location of O. Steps 110-111: session column y, PB on every BCV track.
 * Step 112: IND on locations of N outside O that receive an old track; FMT on those that receive a
 * new host track (they may hold anything). Then the split cursors start over and the device names
 * its session.
 */
export function setSessionBits(state: SharedState, session: Session): void {
  const y = session.spec.y;
  const named = deviceWordOf(state, session.spec.deviceIndex, DEVICE.SESSION);
  assert(
    y >= 0 && (named === 0 || named === y + 1),
    () =>
      `${session.spec.deviceId}: session ${session.spec.sid} (PB column ${y}) sets its bits while the device names session column ${named - 1}`,
  );
  for (let t = 0; t < session.O.tracks; t++) {
    setFlag(state, session.O.locate(t), TRACK.PS);
    orPb(state, session.B!.locate(t), 1 << y);
  }
  for (let t = 0; t < session.N.tracks; t++) {
    const n = session.N.locate(t);
    if (session.oInv.get(n) >= 0) continue;
    if (t >= session.oldTracks) formatMirrors(state, session.N, t);
    setFlag(state, n, t < session.oldTracks ? TRACK.IND : TRACK.FMT);
  }
  for (let a = 0; a < MAX_DISK_ADAPTERS; a++) setSplitCursor(state, splitCursorWord(y, a), 0);
  setDeviceWord(state, session.spec.deviceIndex, DEVICE.SESSION, y + 1);
}

/**
 * Steps 114-120: block host access, wait for the requests inside their critical section (track
 * locked, nothing awaited: never a drive or a stage), activate the new generation (one store),
 * unblock. Requests queued for a lock, staging or filling are not waited for: they translate
 * again under the new generation when they enter.
 */
export async function switchOver(
  state: SharedState,
  emit: Emit,
  session: Session,
  inWindow: () => Promise<void>,
  activated: () => Promise<void> = async () => {},
): Promise<number> {
  const dev = session.spec.deviceIndex;
  setDeviceWord(state, dev, DEVICE.PHASE, PHASE.SWITCHING);
  reportPhase(emit, session, 'switch');
  const t0 = sched().now();
  setDeviceWord(state, dev, DEVICE.BLOCKED, 1);
  try {
    await state.awaitDrained(dev, DRAIN_WAIT_MS, `${session.spec.deviceId}: host requests in flight at the switch`);
    await state.hooks.passHold('switch-window');
    await testPause('switch-window');
    await inWindow();
    const gen = deviceWordOf(state, dev, DEVICE.GENERATION); // N once already if a failed commit after it is resumed
    assert(
      gen === session.spec.oldGen || gen === session.spec.newGen,
      () =>
        `${session.spec.deviceId}: switch of session ${session.spec.sid} from generation ${session.spec.oldGen} to ${session.spec.newGen} finds ${gen}`,
    );
    setDeviceWord(state, dev, DEVICE.GENERATION, session.spec.newGen); // step 115: activation
    await activated();
  } finally {
    setDeviceWord(state, dev, DEVICE.BLOCKED, 0);
  }
  return sched().now() - t0;
}

/** A phase before the transfer begins (ESTABLISH, the switch): nothing has moved yet; or the completion: everything has. */
export function reportPhase(emit: Emit, session: Session, phase: 'establish' | 'switch' | 'completion'): void {
  emit('progress', {
    device: session.spec.deviceId,
    phase,
    tracksMoved: phase === 'completion' ? session.oldTracks : 0,
    tracksTotal: session.oldTracks,
  } satisfies Progress);
}

/** Steps 121-124 begin: the device's phase word and the progress say so (and, TEST ONLY, a pause there). */
export async function enterCompletion(emit: Emit, state: SharedState, session: Session): Promise<void> {
  setDeviceWord(state, session.spec.deviceIndex, DEVICE.PHASE, PHASE.COMPLETING);
  reportPhase(emit, session, 'completion');
  await testPause('completion');
}

/** Run the data transfer's `work`, reporting its progress every PROGRESS_EVERY_MS and once at its end. */
export async function withProgress<T>(
  emit: Emit,
  state: SharedState,
  session: Session,
  work: () => Promise<T>,
): Promise<T> {
  const report = () =>
    emit('progress', {
      device: session.spec.deviceId,
      phase: 'transfer',
      tracksMoved: session.oldTracks - pbLeft(state, session),
      tracksTotal: session.oldTracks,
    } satisfies Progress);
  const timer = sched().every(PROGRESS_EVERY_MS, report);
  try {
    return await work();
  } finally {
    timer.cancel();
    report();
  }
}

/** Step 117: the data transfer in every disk adapter, asked again after a drive fault (establish-faults.ts). */
export function dataTransfer(
  state: SharedState,
  session: Session,
  logStep: (s: string) => void,
  askDiskAdapters: (step: ReconfStep, msg: Message) => Promise<unknown>,
): Promise<void> {
  return throughDriveFaults(state, session, 'transfer', (msg) => askDiskAdapters('transfer', msg), logStep);
}

/** A meta expansion's new tracks: formatted (FMT) at every copy, as they may hold anything. */
export function formatNewTracks(state: SharedState, session: Session): void {
  for (let t = session.O.tracks; t < session.N.tracks; t++) {
    formatMirrors(state, session.N, t);
    setFlag(state, session.N.locate(t), TRACK.FMT);
  }
}

/** Steps 104-112: ESTABLISH the BCV, set PS, PB and IND; then wait for the BCV (step 113). */
export async function preparation(
  state: SharedState,
  emit: Emit,
  session: Session,
  logStep: (s: string) => void,
  askDiskAdapters: (sid: number, step: ReconfStep, msg: Message) => Promise<unknown>,
): Promise<void> {
  const { spec } = session;
  const bcvIndex = spec.bcvIndex!;
  // Step 105: the BCV is not ready (no other access) from here to completion. Its own round, after
  // every adapter has opened the session (which stops their rebuilds of BCV copies): a purge riding
  // on the open lost a flushed write (Restripe.assertBcvPurged says how).
  setDeviceWord(state, bcvIndex, DEVICE.READY, 0);
  setDeviceWord(state, bcvIndex, DEVICE.GENERATION, spec.newGen);
  await askDiskAdapters(spec.sid, 'purge', { t: 'bcv-purge', sid: spec.sid });
  logStep('step 105: BCV not ready, its cached tracks dropped');
  // Step 106: PS on every location of O. Step 110-111: session column y, PB on every BCV track.
  // Step 112: IND on locations of N outside O that receive an old track; FMT on those that
  // receive a new host track (they may hold anything).
  setSessionBits(state, session);
  logStep('steps 106, 110-112: PS, PB and IND set');
  // Step 104: ESTABLISH. Host writes are mirrored (WPB) from now; each main adapter copies.
  setDeviceWord(state, spec.deviceIndex, DEVICE.PHASE, PHASE.ESTABLISHING);
  reportPhase(emit, session, 'establish');
  setDeviceWord(state, spec.deviceIndex, DEVICE.MIRROR, bcvIndex + 1);
  await throughDriveFaults(state, session, 'establish', (msg) => askDiskAdapters(spec.sid, 'establish', msg), logStep);
  logStep('steps 104, 113: BCV established and synchronised (but for write-pending slots)');
}
