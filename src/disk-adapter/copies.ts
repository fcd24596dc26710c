// Writing one copy of a track (a destage to M1 or to mirror k) when drives can fail (DESIGN §14): a
// copy on a failed drive is dropped, not written, and a track left with no copy on a drive that has
// not failed is marked LOST, so its reads fail naming it instead of serving garbage.
import type { ArrayModel } from '../shared/model.ts';
import { TRACK, type SharedState } from '../shared/memory.ts';
import type { Log } from '../shared/link.ts';
import { DriveFault, driveWritable } from '../shared/drive-state.ts';
import type { Locations } from './locations.ts';
import { fillCopyWritten } from '../shared/fill-pending.ts';
import { NoRoom } from '../drives/sparse-drive.ts';
import { sched, sleep } from '../shared/sched.ts';
import { ArrayError } from '../shared/errors.ts';

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

/** writeCopy again after a 'no-room', asking for a commit before each try, up to ROOM_WAIT_MS. */
export async function writeCopyAfterRoom(
  locations: Locations,
  target: number,
  src: Uint8Array,
  askRoom: () => void,
): Promise<boolean> {
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

/** Asks the service processor for a commit (at most once per ROOM_ASK_MS), so that a drive cache may let durable tracks go. */
export class RoomAsker {
  private askedMs = -Infinity;
  constructor(
    private readonly send: () => void,
    private readonly counted: () => void,
  ) {}

  ask(): void {
    this.counted();
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
  if (!state.flag(owner, TRACK.LOST))
    log('error', `${name}: track ${drives.dch(owner)} is lost: every copy is on a failed drive`);
  state.setFlag(owner, TRACK.LOST);
}
