// What a write-pending slot owes a disk adapter's drives (its destage duty), and the one atomic step
// that clears what was destaged: WP1 → the owner track; WP2-4 → the device's mirror k location;
// WPB → the owner's BCV mirror location while
// a BCV is established; original-layout data on a location not split after the switch is split
// (moved to the BCV), never destaged there.
import {
  DEVICE,
  MAX_MIRRORS,
  NO_TRACK,
  SLOT,
  TRACK,
  WPB_ALL,
  WPK_ALL,
  wpbOfMirror,
  wpOfMirror,
  type SharedState,
} from '../shared/tables/memory.ts';
import type { ArrayModel } from '../shared/model/model.ts';
import type { Session } from '../shared/restripe/session.ts';
import type { ReconfStep } from '../shared/links/messages.ts';
import { assert } from '../shared/errors/assert.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { sched, sleep } from '../shared/sched/sched.ts';
import { SLOT_WAIT_MS } from '../shared/tables/cache.ts';
import { PIPELINE_LIMIT } from './pipeline.ts';
import { casSlotState, deviceWordOf, hasFlag, slotOwnerOf, slotStateOf } from '../shared/tables/tables.ts';

/** How soon a destage blocked by a track lock is tried again (ms). */
export const DEFERRED_RETRY_MS = 1;

/**
 * Compare-and-swaps of a word under its track lock (a slot's state in the destager, a location's
 * flags in fill) before the adapter stops loudly: only REF may change meanwhile.
 */
export const CLEAR_PENDING_TRIES = 64;

/** What a disk adapter's duty depends on. */
export interface DutyContext {
  readonly state: SharedState;
  readonly model: ArrayModel;
  readonly sessions: Map<number, Session>;
  ownsTrack(g: number): boolean;
}

/** A destage owed: mirror bit `wp` of the slot to location `target`; with `split`, split the owner instead. */
export interface Duty {
  wp: number;
  target: number;
  split?: Session;
  /** TEST ONLY (UNWRITTEN_BCV_MIRROR): the copy is not written, and the duty counts as done. */
  unwritten?: boolean;
}

/**
 * Clear mirror bit `wp` of slot `s`, and WP with it when no WPk is left — in one atomic step, so a
 * worker stopped here never leaves WP set with no WPk (a slot nobody would destage or evict).
 */
export function clearPending(state: SharedState, s: number, wp: number): void {
  for (let i = 0; i < CLEAR_PENDING_TRIES; i++) {
    const st = slotStateOf(state, s);
    let next = st & ~wp;
    if (!(next & WPK_ALL)) next &= ~SLOT.WP;
    if (casSlotState(state, s, st, next) === st) return;
  }
  assert(
    false,
    () => `destage: ${state.describeSlot(s)} changed under its track lock ${CLEAR_PENDING_TRIES} times running`,
  );
}

/** The session whose original layout holds main location g, if any. */
function sessionOfOriginal(sessions: Map<number, Session>, g: number): Session | undefined {
  for (const s of sessions.values()) if (s.oInv.get(g) >= 0) return s;
  return undefined;
}

function switched(state: SharedState, s: Session): boolean {
  return deviceWordOf(state, s.spec.deviceIndex, DEVICE.GENERATION) === s.spec.newGen;
}

/**
 * What slot s owes this adapter's drives: WP1 → its owner track; WPB → the owner's BCV mirror
 * location (an established BCV). WP1 of a location still pending split after the switch is not
 * destaged: that data belongs to the original layout, and split moves it to the BCV.
 */
export function slotDuty(ctx: DutyContext, owner: number, st: number): Duty | undefined {
  const { state } = ctx;
  if (st & SLOT.WP1 && ctx.ownsTrack(owner) && !state.hooks.isHeld('destage-main')) {
    const session = hasFlag(state, owner, TRACK.PS) ? sessionOfOriginal(ctx.sessions, owner) : undefined;
    if (!session || !switched(state, session)) return { wp: SLOT.WP1, target: owner };
    // Original-layout data pending on a location not split yet: it must not land there, so the
    // destager splits the location itself (its data moves to the BCV, whose adapter destages
    // it). Waiting for the instant split instead could deadlock a full cache: the instant split
    // may be waiting for a lock whose holder waits for a slot.
    return { wp: SLOT.WP1, target: owner, split: session };
  }
  // WPk: mirror k's copy of the owner (DESIGN §14), at its location on another drive.
  if (st & (SLOT.WP2 | SLOT.WP3 | SLOT.WP4) && !state.hooks.isHeld('destage-main'))
    for (let k = 2; k <= MAX_MIRRORS; k++) {
      const target = st & wpOfMirror(k) ? ctx.model.mirrorLocation(owner, k) : NO_TRACK;
      if (target !== NO_TRACK && ctx.ownsTrack(target)) return { wp: wpOfMirror(k), target };
    }
  // WPB: the BCV's copy; WPBk: mirror k's copy of that BCV track (a mirrored BCV).
  if (st & WPB_ALL && !state.hooks.isHeld('destage-mirror')) {
    const session = sessionOfOriginal(ctx.sessions, owner);
    if (session?.B) {
      const b = session.bcvOfOriginal(owner);
      for (let k = 1; k <= MAX_MIRRORS; k++) {
        const target = !(st & wpbOfMirror(k)) ? NO_TRACK : k === 1 ? b : ctx.model.mirrorLocation(b, k);
        // (TEST ONLY: UNWRITTEN_BCV_MIRROR leaves a BCV mirror's copy unwritten, counted as dropped.)
        const unwritten = k > 1 && state.hooks.testFault('UNWRITTEN_BCV_MIRROR');
        if (target !== NO_TRACK && ctx.ownsTrack(target)) return { wp: wpbOfMirror(k), target, unwritten };
      }
    }
  }
  // A held destage (test hook) leaves the slot pending; the periodic sweep finds it again.
  return undefined;
}

/** Write-pending slots that owe something to this adapter's drives. */
export function pendingSlots(ctx: DutyContext): number[] {
  const { state } = ctx;
  const out: number[] = [];
  for (let s = 0; s < state.slots; s++) {
    const st = slotStateOf(state, s);
    if (!(st & WPK_ALL)) continue;
    const owner = slotOwnerOf(state, s);
    if (owner !== NO_TRACK && slotDuty(ctx, owner, st)) out.push(s);
  }
  return out;
}

/** Destage the pending slots that `which` picks until none is left, bounded by SLOT_WAIT_MS (`what` names them in the error). */
export async function destageUntilNone(
  ctx: DutyContext,
  destage: (s: number) => Promise<unknown>,
  which: (s: number) => boolean,
  what: string,
): Promise<void> {
  const deadline = sched().now() + SLOT_WAIT_MS;
  let pending = pendingSlots(ctx).filter(which);
  while (pending.length > 0) {
    for (const s of pending) await destage(s);
    pending = pendingSlots(ctx).filter(which); // one scan of the cache a round
    if (pending.length === 0) return;
    if (sched().now() > deadline) throw new ArrayError('TIMEOUT', `${what} still pending after ${SLOT_WAIT_MS} ms`);
    await sleep(DEFERRED_RETRY_MS); // a slot locked by its holder: tried again shortly
  }
}

/** Destages an adapter keeps in flight at once, per drive it has: each drive sees a queue it can order, join and stream. */
const DESTAGES_IN_FLIGHT_PER_DRIVE = 8;

/**
 * Destages in flight for an adapter: deep for timed drives (their queues stream), one for instant
 * ones (an access takes no time, so more in flight would only add turns).
 */
export function destagesInFlight(timed: boolean, drives: number): number {
  return timed ? Math.min(PIPELINE_LIMIT, DESTAGES_IN_FLIGHT_PER_DRIVE * drives) : 1;
}

/** The RECONF steps asked of a disk adapter before the switch (under O) and after it (under N). */
const STEP_UNDER: Partial<Record<ReconfStep, 'O' | 'N'>> = {
  purge: 'O',
  establish: 'O',
  mirror: 'O', // in the switch window, before the activation
  split: 'N',
  transfer: 'N',
  filled: 'N',
};

/** A session step comes in its phase: its device's generation is O's before the switch, N's after. */
export function assertStepPhase(state: SharedState, actor: string, session: Session, step: ReconfStep): void {
  const under = STEP_UNDER[step];
  if (under === undefined) return;
  const { spec } = session;
  const gen = deviceWordOf(state, spec.deviceIndex, DEVICE.GENERATION);
  assert(
    gen === (under === 'O' ? spec.oldGen : spec.newGen),
    () =>
      `${actor}: step "${step}" of session ${spec.sid} on ${spec.deviceId} at generation ${gen}, not ${under}'s (${spec.oldGen} → ${spec.newGen})`,
  );
}
