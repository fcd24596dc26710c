// A host request's track pieces (DESIGN §3, the switch without a drain): what a piece is, what it
// does with its locked track, and its critical section — counted in, then BLOCKED and the generation
// tested; left before anything that waits. The switch waits only for pieces inside.
import type { DeviceEntry } from '../shared/model/model.ts';
import { DEVICE, SLOT, type SharedState } from '../shared/tables/memory.ts';
import { releaseSlot } from '../shared/tables/cache.ts';
import { assert } from '../shared/errors/assert.ts';
import { deviceWordOf, slotStateOf } from '../shared/tables/tables.ts';

/** Thrown inside a locked body that found no free slot: the lock is given up and the body retried. */
export class NoSlotNow extends Error {}

/**
 * Thrown where a request piece enters its critical section and finds the device blocked or its
 * generation moved on (a switch happened while it queued for its lock, staged or filled): the
 * lock is given up and the piece translated again under the layout now active.
 */
export class LayoutChanged extends Error {}

/**
 * One track piece of a host request and its place in the switch's count: `inside` while it holds
 * its track lock under generation `gen` with nothing awaited (the only time it holds the switch).
 */
export interface Piece {
  dev: DeviceEntry;
  gen: number;
  inside: boolean;
}

/**
 * What a piece does with its locked track g: `slot` finds its cache slot, staging it on a miss
 * (it may wait: it runs before the critical section); `use` copies and sets bits inside the
 * critical section and never waits, so the switch waits microseconds for it at most.
 */
export interface PieceWork {
  slot: (g: number) => Promise<number> | number;
  use: (g: number, s: number) => void;
}

/** The first track piece of a byte range: logical track t, its offset `at` in the track, and its length. */
export function firstPiece(
  offsetBytes: number,
  lengthBytes: number,
  trackBytes: number,
): { t: number; at: number; len: number } {
  const t = Math.floor(offsetBytes / trackBytes);
  const at = offsetBytes - t * trackBytes;
  return { t, at, len: Math.min(trackBytes - at, lengthBytes) };
}

/** The critical sections of one host adapter's pieces. */
export class CriticalSection {
  constructor(
    private readonly state: SharedState,
    /** The host adapter's index (its count words) and name. */
    private readonly index: number,
    private readonly name: string,
  ) {}

  /** The fast path's piece (reusedPiece), made on its first request. */
  private reused?: Piece;

  /**
   * Enter the critical section of `piece` (its track locked): counted first, then BLOCKED and the
   * generation tested (the switch sets BLOCKED, then waits for the count to reach zero, then
   * moves the generation). Blocked or moved on: LayoutChanged, and the piece translates again.
   */
  enter(piece: Piece): void {
    assert(!piece.inside, () => `${this.name}: a request piece on ${piece.dev.id} entered its critical section twice`);
    this.state.addCritical(this.index, piece.dev.index, 1);
    const blocked = deviceWordOf(this.state, piece.dev.index, DEVICE.BLOCKED) !== 0;
    if (blocked || this.moved(piece)) {
      this.state.addCritical(this.index, piece.dev.index, -1);
      throw new LayoutChanged();
    }
    piece.inside = true;
  }

  /**
   * The fast path's one piece (HostAdapter.served, which leaves it before it returns, in the same
   * turn), set anew for each request: no object a request. Never two at once: it is not inside.
   */
  reusedPiece(dev: DeviceEntry, gen: number): Piece {
    const p = (this.reused ??= { dev, gen, inside: false });
    assert(!p.inside, () => `${this.name}: the fast path's piece is still inside (on ${p.dev.id}): taken twice`);
    p.dev = dev;
    p.gen = gen;
    return p;
  }

  /**
   * Enter with slot s of locked track g in hand. If the piece must translate again, a slot that is
   * not write-pending is released first: one just allocated for a whole-track write is not VALID
   * yet, and one just staged may hold a location the layouts have moved past while its stage ran
   * (a session that began meanwhile may have marked it IND: it must not stay cached).
   */
  enterWithSlot(piece: Piece, g: number, s: number): void {
    try {
      this.enter(piece);
    } catch (err) {
      if (!(slotStateOf(this.state, s) & SLOT.WP)) releaseSlot(this.state, g);
      throw err;
    }
  }

  /** The device's generation has moved on since `piece` was translated (a switch came). */
  moved(piece: Piece): boolean {
    return deviceWordOf(this.state, piece.dev.index, DEVICE.GENERATION) !== piece.gen;
  }

  leave(piece: Piece): void {
    if (!piece.inside) return;
    piece.inside = false;
    this.state.addCritical(this.index, piece.dev.index, -1);
  }
}
