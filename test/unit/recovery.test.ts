// What a worker terminated between two of its stores leaves behind, and how takeBack mends it.
// Each case builds, store by store, the state a disk adapter stopped at that point would leave.
import { describe, expect, it } from 'vitest';
import {
  createSharedBuffers,
  NO_SLOT,
  NO_TRACK,
  SharedState,
  SLOT,
  TRACK,
  lockOwnerOf,
} from '../../src/shared/tables/memory.ts';
import { tryLockTrack } from '../../src/shared/tables/track-lock.ts';
import { tryAllocateSlot } from '../../src/shared/tables/cache.ts';
import { recordMove } from '../../src/shared/tables/intent.ts';
import { takeBack } from '../../src/runtime/recovery.ts';
import { MemoryOwner } from '../../src/drives/memory-owner.ts';
import { DriveMap } from '../../src/shared/layout/layout.ts';
import { sched } from '../../src/shared/sched/sched.ts';
import { small } from '../support/helpers.ts';
import { hasFlag } from '../../src/shared/tables/tables.ts';

const DEAD = { tag: 'DA30#1', id: 7 };

function array() {
  const config = small('fig2', 8);
  const state = new SharedState(createSharedBuffers(config));
  const drives = new DriveMap(config);
  const as = <T>(fn: () => T) => sched().runAs(DEAD, fn);
  const lock = (g: number) => expect(as(() => tryLockTrack(state, g))).toBe(true);
  const takeBackDa0 = () => takeBack(state, 'da', 0, DEAD.id);
  return { state, drives, as, lock, takeBackDa0 };
}

describe('takeBack after a worker terminated mid-update', () => {
  it('a lock and its owner are one word: the dead adapter’s locks, and only those, are freed', () => {
    const { state, lock, takeBackDa0 } = array();
    lock(3);
    expect(lockOwnerOf(Atomics.load(state.trackFlags, 3))).toBe(DEAD.id);
    sched().runAs({ tag: 'HA0#1', id: 2 }, () => expect(tryLockTrack(state, 4)).toBe(true));
    const taken = takeBackDa0();
    expect(taken.locks).toBe(1);
    expect(Atomics.load(state.trackFlags, 3)).toBe(0); // LOCK and owner bits cleared together
    expect(hasFlag(state, 4, TRACK.LOCK)).toBe(true); // another actor's lock stays
  });

  it('a slot move (split handing write-pending data to the BCV track) stopped half-way is finished', () => {
    const { state, as, lock, takeBackDa0 } = array();
    const p = 10;
    const b = state.totalTracks - 1; // on a BCV drive
    lock(p);
    lock(b);
    const s = as(() => tryAllocateSlot(state, p));
    Atomics.store(state.slotState, s, SLOT.VALID | SLOT.WP | SLOT.WP1 | SLOT.WPB);
    state.slotBytes(s).fill(0xab);
    // moveSlot: the intent written, then two of the four stores, then the worker is gone.
    recordMove(state, DEAD.id, s, p, b, SLOT.VALID | SLOT.WP | SLOT.WP1);
    Atomics.store(state.trackSlot, p, NO_SLOT);
    Atomics.store(state.slotOwner, s, b);
    const taken = takeBackDa0();
    expect(taken.moves).toBe(1);
    expect([
      Atomics.load(state.trackSlot, b),
      Atomics.load(state.slotOwner, s),
      Atomics.load(state.trackSlot, p),
    ]).toEqual([s, b, NO_SLOT]);
    expect(Atomics.load(state.slotState, s)).toBe(SLOT.VALID | SLOT.WP | SLOT.WP1); // the data is pending for the BCV drive
    expect(state.slotBytes(s).every((x) => x === 0xab)).toBe(true);
    expect(hasFlag(state, p, TRACK.LOCK) || hasFlag(state, b, TRACK.LOCK)).toBe(false);
    // A second takeBack finds nothing left to do.
    expect(takeBackDa0()).toEqual({ locks: 0, slots: 0, moves: 0, inflight: 0, tornWrites: 0 });
  });

  it('a slot claimed but not yet attached, or an eviction stopped half-way, is freed (it held nothing that counts)', () => {
    const { state, lock, takeBackDa0 } = array();
    // Claim: the slot's owner word set to g, g's Track ID entry not yet pointing at it.
    lock(20);
    Atomics.store(state.slotOwner, 5, 20);
    // Eviction of clean track 30 for track 21: 30's entry cleared, the slot still owned by 30.
    lock(21);
    lock(30);
    Atomics.store(state.slotOwner, 6, 30);
    Atomics.store(state.slotState, 6, SLOT.VALID);
    const taken = takeBackDa0();
    expect(taken.slots).toBe(2);
    for (const s of [5, 6])
      expect([Atomics.load(state.slotOwner, s), Atomics.load(state.slotState, s)]).toEqual([NO_TRACK, 0]);
    expect(taken.locks).toBe(3);
  });

  it("a drive write stopped between its seqlock's two increments is closed — on any drive the dead adapter wrote, and only its own writes", () => {
    const { state, drives, takeBackDa0 } = array();
    const mine = (d: number) => Atomics.load(state.driveOwner, d) === 0;
    const other = drives.baseTrack.findIndex((_, d) => !mine(d));
    const writer = (adapterIndex: number) =>
      new MemoryOwner(
        {
          id: `d${other}`,
          trackBytes: state.trackBytes,
          driveOwner: state.driveOwner,
          driveIndex: other,
          adapterIndex,
          writeSeq: { seq: state.driveWriteSeq, baseTrack: drives.baseTrack[other]!, writing: state.driveWriting },
        },
        drives.endTrack(other) - drives.baseTrack[other]!,
      );
    const base = drives.baseTrack[other]!;
    // DA0 copies directly onto another adapter's drive: a span of tracks 4-6, track 4 ended, then it dies.
    const da0 = writer(0);
    const [g4] = [4, 5, 6].map((t) => da0.beginWrite(t));
    da0.endWrite(g4!);
    // DA1 (alive) has its own write of track 9 of the same drive open now.
    writer(1).beginWrite(9);
    expect(takeBackDa0().tornWrites).toBe(2);
    const seq = (t: number) => Atomics.load(state.driveWriteSeq, base + t);
    expect([seq(4), seq(5), seq(6), seq(9)]).toEqual([2, 2, 2, 1]); // DA1's write is still open, untouched
    expect(takeBackDa0().tornWrites).toBe(0);
    const again = writer(0); // the replacement writes the same tracks as any writer
    again.endWrite(again.beginWrite(5));
    expect(seq(5)).toBe(4);
  });

  it('a write begun out of its span, or ended unbegun, stops the adapter loudly', () => {
    const { state, drives } = array();
    const owner = new MemoryOwner(
      {
        id: 'd0',
        trackBytes: state.trackBytes,
        driveOwner: state.driveOwner,
        driveIndex: 0,
        adapterIndex: 0,
        writeSeq: { seq: state.driveWriteSeq, baseTrack: drives.baseTrack[0]!, writing: state.driveWriting },
      },
      drives.endTrack(0) - drives.baseTrack[0]!,
    );
    owner.beginWrite(1);
    expect(() => owner.beginWrite(3)).toThrow(/write of global track \d+ begun with 1 open from track \d+/);
    const fresh = array();
    const other = new MemoryOwner(
      {
        id: 'd0',
        trackBytes: fresh.state.trackBytes,
        driveOwner: fresh.state.driveOwner,
        driveIndex: 0,
        adapterIndex: 0,
        writeSeq: { seq: fresh.state.driveWriteSeq, baseTrack: 0, writing: fresh.state.driveWriting },
      },
      8,
    );
    expect(() => other.endWrite(2)).toThrow(/ended that disk adapter #0 had not begun/);
  });

  it('a half-moved write-pending slot with no intent written stops takeBack loudly', () => {
    const { state, as, lock, takeBackDa0 } = array();
    lock(10);
    const s = as(() => tryAllocateSlot(state, 10));
    Atomics.store(state.slotState, s, SLOT.VALID | SLOT.WP | SLOT.WP1);
    Atomics.store(state.trackSlot, 10, NO_SLOT); // a move that skipped its intent record: data would be lost
    expect(() => takeBackDa0()).toThrow(/write-pending slot .* owned by track 10 but not attached to it/);
  });
});
