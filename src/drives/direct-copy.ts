// The restripe's direct copy (DESIGN §11): a track moved drive to drive in one copy, where the
// patent's path takes two (stage into a slot, destage from it). Only between untimed memory drives
// (dense or sparse) — a timed drive's access must cost its time on its own adapter's link, and a
// test's drive is not a memory store — and only when the configuration allows it
// (`restripe.copy: direct`). Whether a track may go this way (no host holds it in cache, every
// location locked) is the restripe's to decide; this module only knows which drives can.
import type { ArrayModel } from '../shared/model/model.ts';
import { assert } from '../shared/errors/assert.ts';
import { lockedBy } from '../shared/tables/track-lock.ts';
import { sched } from '../shared/sched/sched.ts';
import { TRACK, type SharedState } from '../shared/tables/memory.ts';
import { MemoryDrive, SparseDrive, driveStore, type MemoryStore } from './store.ts';
import { NoRoom } from './sparse-drive.ts';
import { timingModel } from './timing/timed-drive.ts';
import { driveFailed, mediaOf } from '../shared/drive-states/drive-state.ts';
import { carrySum, sumUnknown } from '../shared/checksums/checksums.ts';
import { clearFlag, hasFlag } from '../shared/tables/tables.ts';

export class DirectCopier {
  /** Each drive's memory store as this adapter sees it; null: the drive cannot be copied directly. */
  private readonly stores = new Map<number, MemoryStore | null>();

  constructor(
    private readonly model: ArrayModel,
    private readonly state: SharedState,
    private readonly adapterIndex: number,
  ) {}

  /** The configuration lets the restripe copy directly at all. */
  get enabled(): boolean {
    return this.model.config.restripe.copy === 'direct';
  }

  /**
   * Copy location `src` (on a drive this adapter owns) onto location `dst` in one copy, a formatted
   * source (FMT) as zeros, and clear FMT and FILLPEND on `dst` after, as any whole-track write does.
   * The caller holds both locations' track locks. False, with nothing done: either drive cannot.
   */
  copy(src: number, dst: number): boolean {
    if (!this.enabled) return false;
    // Whoever writes dst holds a lock the caller holds too (DESIGN §11); src's own lock it holds always.
    assert(
      lockedBy(this.state, src, sched().current().id),
      () => `direct copy from ${this.model.drives.dch(src)} without its lock (${this.state.describeTrack(src)})`,
    );
    const drives = this.model.drives;
    if (!this.asThemselves(drives.driveOf(src), drives.driveOf(dst))) return false;
    // A faulty source track (a media error, rot) is read through the cache, where the fault shows.
    if (hasFlag(this.state, src, TRACK.MEDIA | TRACK.ROT)) return false;
    const from = this.store(drives.driveOf(src));
    const to = this.store(drives.driveOf(dst));
    if (!from || !to) return false;
    assert(
      from.trackBytes === to.trackBytes,
      () => `direct copy from drive ${from.id} (${from.trackBytes}-byte tracks) onto ${to.id} (${to.trackBytes})`,
    );
    const bytes = hasFlag(this.state, src, TRACK.FMT)
      ? null
      : from.trackBytesOf(src - drives.baseTrack[drives.driveOf(src)]!);
    sumUnknown(this.state, dst); // until the copy has ended (checksums.ts)
    try {
      to.copyIn(dst - drives.baseTrack[drives.driveOf(dst)]!, bytes);
    } catch (err) {
      if (err instanceof NoRoom) return false; // nothing copied: the track goes through the cache instead
      throw err;
    }
    carrySum(this.state, src, dst);
    clearFlag(this.state, dst, TRACK.FMT | TRACK.FILLPEND);
    return true;
  }

  /**
   * `copy` of `count` locations in a row, src..src+count-1 onto dst..dst+count-1, in one copy: all or
   * nothing. Only where both runs lie on one dense memory drive each (a sparse drive keeps its tracks
   * apart) and no source track is formatted or faulty; the caller holds every location's lock.
   */
  copySpan(src: number, dst: number, count: number): boolean {
    if (!this.enabled || count < 1) return false;
    const drives = this.model.drives;
    const sd = drives.driveOf(src);
    const dd = drives.driveOf(dst);
    if (drives.driveOf(src + count - 1) !== sd || drives.driveOf(dst + count - 1) !== dd) return false;
    if (!this.asThemselves(sd, dd)) return false;
    const from = this.store(sd);
    const to = this.store(dd);
    if (!(from instanceof MemoryDrive) || !(to instanceof MemoryDrive) || from.trackBytes !== to.trackBytes)
      return false;
    const me = sched().current().id;
    for (let i = 0; i < count; i++) {
      assert(lockedBy(this.state, src + i, me), () => `span copy from ${drives.dch(src + i)} without its lock`);
      if (hasFlag(this.state, src + i, TRACK.MEDIA | TRACK.ROT | TRACK.FMT)) return false;
    }
    for (let i = 0; i < count; i++) sumUnknown(this.state, dst + i); // until the copy has ended (checksums.ts)
    to.copySpanIn(dst - drives.baseTrack[dd]!, from.spanOf(src - drives.baseTrack[sd]!, count));
    for (let i = 0; i < count; i++) {
      carrySum(this.state, src + i, dst + i);
      clearFlag(this.state, dst + i, TRACK.FMT | TRACK.FILLPEND);
    }
    return true;
  }

  /** Both drives serve as themselves: a failed drive, or a spare in another's place, copies through the cache. */
  private asThemselves(a: number, b: number): boolean {
    for (const d of [a, b]) if (mediaOf(this.state, d) !== d || driveFailed(this.state, d)) return false;
    return true;
  }

  private store(d: number): MemoryStore | null {
    let s = this.stores.get(d);
    if (s === undefined) {
      const id = this.model.drives.ids[d]!;
      const timed = timingModel(this.model.config.drives.find((x) => x.id === id)?.model) !== undefined;
      const store = timed ? null : driveStore(this.state, id, d, this.adapterIndex, this.model.drives.baseTrack[d]!);
      s = store instanceof MemoryDrive || store instanceof SparseDrive ? store : null;
      this.stores.set(d, s);
    }
    return s;
  }
}
