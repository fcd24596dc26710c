// Writing one copy of a track (a destage to M1 or to mirror k) when drives can fail (DESIGN §14): a
// copy on a failed drive is dropped, not written, and a track left with no copy on a drive that has
// not failed is marked LOST, so its reads fail naming it instead of serving garbage.
import { DEFERRED_RETRY_MS } from './duty.ts';
import type { ArrayModel } from '../shared/model/model.ts';
import { TRACK, type SharedState } from '../shared/tables/memory.ts';
import type { Log } from '../shared/links/link.ts';
import { DriveFault, driveWritable } from '../shared/drive-states/drive-state.ts';
import type { Locations } from './locations.ts';
import { fillCopyWritten } from './fill-pending.ts';
import { NoRoom } from '../drives/sparse-drive.ts';
import { sched, sleep } from '../shared/sched/sched.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { SPARSE } from '../shared/config/memory-size.ts';
import { loadWord } from '../shared/tables/words.ts';
import { hasFlag, setFlag } from '../shared/tables/tables.ts';

/** How long a restripe's write waits for its drive cache to have room (a commit lets durable tracks go), in all, and between tries (ms). */
const ROOM_WAIT_MS = 30_000;
const ROOM_RETRY_MS = 5;

/**
 * Write `src` onto location `target` (only bytes `dirty`, if given): false if its drive has failed;
 * 'no-room' when its drive's cache holds no track it may let go before the next commit (NoRoom,
 * drives/sparse-drive.ts): nothing was written, the caller tries again after asking for a commit.
 */
export async function writeCopy(
  locations: Locations,
  target: number,
  src: Uint8Array,
  dirty?: [number, number],
): Promise<boolean | 'no-room'> {
  if (!locations.writable(target)) return false;
  try {
    await locations.write(target, src, dirty);
    return true;
  } catch (err) {
    if (err instanceof DriveFault && err.fault === 'failed') return false; // it failed meanwhile
    if (err instanceof NoRoom) return 'no-room';
    throw err;
  }
}

/** writeCopy, and after a 'no-room' again, asking for a commit before each try, up to ROOM_WAIT_MS. */
export async function writeCopyAfterRoom(
  locations: Locations,
  target: number,
  src: Uint8Array,
  askRoom: () => void,
): Promise<boolean> {
  const first = await writeCopy(locations, target, src);
  if (first !== 'no-room') return first;
  const tries = ROOM_WAIT_MS / ROOM_RETRY_MS;
  for (let i = 0; i < tries; i++) {
    askRoom();
    await sleep(ROOM_RETRY_MS);
    const wrote = await writeCopy(locations, target, src);
    if (wrote !== 'no-room') return wrote;
  }
  throw new ArrayError('TIMEOUT', `no room in the drive cache for location ${target} within ${ROOM_WAIT_MS} ms`);
}

/** Least time between two asks for a commit to make room in the drive cache (ms). */
const ROOM_ASK_MS = 2;

/** Longest the destager waits between two tries of writes that found no room (ms): a data dir whose disk is full makes none. */
const ROOM_BACKOFF_MAX_MS = 256;
/** Doublings of the wait at most (DEFERRED_RETRY_MS · 2^ROOM_BACKOFF_STEPS ≥ ROOM_BACKOFF_MAX_MS). */
const ROOM_BACKOFF_STEPS = 9;

/**
 * Asks the service processor for a commit (at most once per ROOM_ASK_MS), so that a drive cache may
 * let durable tracks go; and says how long the destager waits before it tries again.
 */
export class RoomAsker {
  private askedMs = -Infinity;
  /** Rounds running in which a write found no room. */
  private rounds = 0;
  private askedThisRound = false;
  /** The commits made when the last round ended (SPARSE.COMMITTED), and the words holding it. */
  private commitsSeen = 0;
  private words?: Int32Array;
  constructor(
    private readonly send: () => void,
    private readonly counted: () => void,
    /** The words holding SPARSE.COMMITTED: commits made so far (a commit lets durable tracks go: room again). */
    private readonly sparseWords: () => SharedArrayBuffer,
  ) {}

  /**
   * The wait before the destager's next try of the slots it put off: DEFERRED_RETRY_MS, doubled for
   * each round running in which a write found no room and no commit was made, up to
   * ROOM_BACKOFF_MAX_MS (a data dir out of space made the destager try every ms, a core's worth of
   * CPU, and its log grew by the line). A commit made since starts again from DEFERRED_RETRY_MS: a
   * small drive cache that fills between commits must not make a restripe or a rebuild wait 256 ms a round.
   */
  retryMs(): number {
    this.words ??= new Int32Array(this.sparseWords()); // (the buffers exist only once the adapter is built)
    const commits = loadWord(this.words, SPARSE.COMMITTED);
    const stuck = this.askedThisRound && commits === this.commitsSeen;
    this.rounds = stuck ? Math.min(ROOM_BACKOFF_STEPS, this.rounds + 1) : 0;
    this.commitsSeen = commits;
    this.askedThisRound = false;
    return Math.min(ROOM_BACKOFF_MAX_MS, DEFERRED_RETRY_MS * 2 ** this.rounds);
  }

  ask(): void {
    this.counted();
    this.askedThisRound = true;
    const now = sched().now();
    if (now - this.askedMs < ROOM_ASK_MS) return;
    this.askedMs = now;
    this.send();
  }
}

/**
 * Copy `target` of M1 location `owner` was dropped: mark the track LOST if no copy is left on a
 * working drive. A fill waits for no copy that is never to be written.
 */
export function noteDroppedCopy(
  name: string,
  model: ArrayModel,
  state: SharedState,
  log: Log,
  { owner, target }: { owner: number; target: number },
): void {
  const { drives } = model;
  fillCopyWritten(state, model, target);
  if (model.copiesOf(owner).some((g) => driveWritable(state, drives.driveOf(g)))) return;
  if (!hasFlag(state, owner, TRACK.LOST))
    log('error', `${name}: track ${drives.dch(owner)} is lost: every copy is on a failed drive`);
  setFlag(state, owner, TRACK.LOST);
}
