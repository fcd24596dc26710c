// ESTABLISH through drive faults (DESIGN §14). A disk adapter copies the original layout's
// locations from its own drives; where one cannot be read (its drive failed, a media error, a spare
// not rebuilt yet), the copy is read from a mirror instead, by the adapter serving that mirror: the
// service processor names those locations and their mirror copies at the start of each attempt, so
// every adapter splits the work the same way. A drive fault met during an attempt (a failure after
// it began) fails it; the session then waits for any rebuild onto a spare to end and asks for
// ESTABLISH again, with the faults as they stand (every part of ESTABLISH is idempotent: a track
// copied twice holds the same data, and host writes are mirrored to the BCV meanwhile). A location
// with no readable copy at all fails every attempt: the session stalls before the switch, naming it.
// The data transfer goes through drive faults the same way, reading a mirrored BCV's other copy.
import { copyServesRead, mediaOf, rebuildUnderWay } from '../shared/drive-states/drive-state.ts';
import type { SharedState } from '../shared/tables/memory.ts';
import type { Session } from '../shared/restripe/session.ts';
import type { DeviceLayout } from '../shared/layout/layout.ts';
import type { Message } from '../shared/links/messages.ts';
import { sched, sleep } from '../shared/sched/sched.ts';
import { ArrayError, errorCode, errorMessage } from '../shared/errors/errors.ts';
import { hasPb } from '../shared/tables/tables.ts';

/** Times ESTABLISH is asked in all while drive faults keep stopping it. */
export const ESTABLISH_TRIES = 4;
/** Longest ESTABLISH waits for one rebuild to end (ms). */
export const REBUILD_WAIT_MS = 600_000;
/** How often the wait looks at the drive states (ms). */
const REBUILD_POLL_MS = 10;

/**
 * The steps that read copies and go on through drive faults: ESTABLISH reads the original layout's
 * locations; the data transfer reads the BCV's tracks not filled yet, a mirrored BCV's other copy
 * where one cannot be read (a fill clears PB under the track's locks: a track filled twice is filled once).
 */
const FAULTED = {
  establish: { step: 'ESTABLISH', unreadable: unreadableOriginals },
  transfer: { step: 'the data transfer', unreadable: unreadableBcvTracks },
} as const;

/** The message asking the disk adapters for `which` (attempt > 1: again after a drive fault; fromCopies: what to read elsewhere). */
function askFor(which: keyof typeof FAULTED, sid: number, attempt: number, fromCopies: number[]): Message {
  const again = { ...(attempt > 1 ? { attempt } : {}), ...(fromCopies.length > 0 ? { fromCopies } : {}) };
  return which === 'establish' ? { t: 'establish', sid, ...again } : { t: 'start-transfer', sid, ...again };
}

/** Ask the disk adapters for step `which` again after each drive fault, at most ESTABLISH_TRIES times in all. */
export async function throughDriveFaults(
  state: SharedState,
  session: Session,
  which: keyof typeof FAULTED,
  ask: (msg: Message) => Promise<unknown>,
  logStep: (s: string) => void,
): Promise<void> {
  const { step, unreadable } = FAULTED[which];
  const positions = session.drives.ids.length;
  for (let attempt = 1; ; attempt++) {
    const fromCopies = unreadable(state, session);
    if (fromCopies.length > 0)
      logStep(`${step} reads ${fromCopies.length / 2} tracks from a mirror (their own copy cannot be read)`);
    const served = mediaMap(state, positions);
    try {
      await ask(askFor(which, session.spec.sid, attempt, fromCopies));
      // Each adapter took the positions its drives serve when the attempt reached it: a spare that
      // took a place meanwhile may have left one to nobody. Then once more, as they stand now.
      if (mediaMap(state, positions) === served) return;
      if (attempt >= ESTABLISH_TRIES)
        throw new ArrayError('DRIVE_FAULT', `${step}: spares kept taking drives' places (${attempt} attempts)`);
      logStep(`a spare took a drive's place during ${step}: ${step} again`);
    } catch (err) {
      if (errorCode(err) !== 'DRIVE_FAULT' || attempt >= ESTABLISH_TRIES) throw err;
      const rebuilding = rebuildUnderWay(state, positions);
      logStep(
        `${step} stopped by a drive fault (${errorMessage(err)})${rebuilding ? ': paused until the rebuild onto a spare ends' : ''}`,
      );
      await rebuildEnd(state, positions, step);
    }
  }
}

/** Which drive serves each position (a spare taking a failed drive's place changes it). */
const mediaMap = (state: SharedState, positions: number) =>
  Array.from({ length: positions }, (_, d) => mediaOf(state, d)).join(',');

/** Pairs (o, x): original locations whose own copy cannot be read now, each with a mirror copy x that can. */
function unreadableOriginals(state: SharedState, session: Session): number[] {
  return unreadableIn(state, session, session.O, () => true);
}

/** Pairs (b, x): BCV locations not filled yet whose own copy cannot be read now, each with a mirror copy x that can. */
function unreadableBcvTracks(state: SharedState, session: Session): number[] {
  return session.B ? unreadableIn(state, session, session.B, (b) => hasPb(state, b, session.y)) : [];
}

/** Pairs (g, x) of layout `l`'s locations g that `wanted` picks and cannot be read now, each with a readable mirror copy x. */
function unreadableIn(state: SharedState, session: Session, l: DeviceLayout, wanted: (g: number) => boolean): number[] {
  const readable = (g: number) => copyServesRead(state, session.drives, g);
  const out: number[] = [];
  if (l.mirrors.length === 0) return out;
  for (let t = 0; t < l.tracks; t++) {
    const g = l.locate(t);
    if (!wanted(g) || readable(g)) continue;
    const x = l.mirrors.map((m) => m.locate(t)).find(readable);
    if (x !== undefined) out.push(g, x);
  }
  return out;
}

/** Resolves once no spare is being rebuilt (bounded by REBUILD_WAIT_MS). */
async function rebuildEnd(state: SharedState, positions: number, step: string): Promise<void> {
  const deadline = sched().now() + REBUILD_WAIT_MS;
  while (rebuildUnderWay(state, positions)) {
    if (sched().now() > deadline)
      throw new ArrayError('TIMEOUT', `${step} waited ${REBUILD_WAIT_MS} ms for a rebuild onto a spare to end`);
    await sleep(REBUILD_POLL_MS);
  }
}
