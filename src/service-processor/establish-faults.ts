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
import { copyServesRead, mediaOf, rebuildUnderWay } from '../shared/drive-state.ts';
import type { SharedState } from '../shared/memory.ts';
import type { Session } from '../shared/session.ts';
import type { DeviceLayout } from '../shared/layout.ts';
import { sched, sleep } from '../shared/sched.ts';
import { ArrayError, errorCode, errorMessage } from '../shared/errors.ts';

/** Times ESTABLISH is asked in all while drive faults keep stopping it. */
export const ESTABLISH_TRIES = 4;
/** Longest ESTABLISH waits for one rebuild to end (ms). */
export const REBUILD_WAIT_MS = 600_000;
/** How often the wait looks at the drive states (ms). */
const REBUILD_POLL_MS = 10;

/** Run `establish` (given the mirror copies to read this attempt) again after each drive fault, at most ESTABLISH_TRIES times in all. */
export function establishThroughFaults(
  state: SharedState,
  session: Session,
  establish: (attempt: number, fromCopies: number[]) => Promise<unknown>,
  logStep: (s: string) => void,
): Promise<void> {
  return throughDriveFaults(state, session, { step: 'ESTABLISH', unreadable: unreadableOriginals }, establish, logStep);
}

/**
 * The data transfer through drive faults, as ESTABLISH: a BCV track not filled yet whose own copy
 * cannot be read is filled from a readable mirror of a mirrored BCV (by the adapter serving it); a
 * fault during an attempt makes the session wait for any rebuild to end and ask again (a fill clears
 * PB under the track's locks: a track filled twice is filled once).
 */
export function transferThroughFaults(
  state: SharedState,
  session: Session,
  transfer: (attempt: number, fromCopies: number[]) => Promise<unknown>,
  logStep: (s: string) => void,
): Promise<void> {
  return throughDriveFaults(
    state,
    session,
    { step: 'the data transfer', unreadable: unreadableBcvTracks },
    transfer,
    logStep,
  );
}

interface Faulted {
  step: string;
  /** Pairs (location, readable copy) the step reads elsewhere this attempt. */
  unreadable: (state: SharedState, session: Session) => number[];
}

/** Run `run` (given the copies to read this attempt) again after each drive fault, at most ESTABLISH_TRIES times in all. */
async function throughDriveFaults(
  state: SharedState,
  session: Session,
  { step, unreadable }: Faulted,
  run: (attempt: number, fromCopies: number[]) => Promise<unknown>,
  logStep: (s: string) => void,
): Promise<void> {
  const positions = session.drives.ids.length;
  for (let attempt = 1; ; attempt++) {
    const fromCopies = unreadable(state, session);
    if (fromCopies.length > 0)
      logStep(`${step} reads ${fromCopies.length / 2} tracks from a mirror (their own copy cannot be read)`);
    const served = mediaMap(state, positions);
    try {
      await run(attempt, fromCopies);
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
  return session.B ? unreadableIn(state, session, session.B, (b) => state.pb(b, session.y)) : [];
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
