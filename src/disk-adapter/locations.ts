// A disk adapter's locations: global tracks on the drives it owns, read and written as the Track
// ID table says (a formatted location reads as zeros until a whole track is written to it).
import type { ArrayModel } from '../shared/model.ts';
import { TRACK, type SharedState } from '../shared/memory.ts';
import type { ByteRange } from '../shared/messages.ts';
import { assert } from '../shared/assert.ts';
import type { Drive } from '../drives/store.ts';

export class Locations {
  constructor(
    private readonly name: string,
    private readonly model: ArrayModel,
    private readonly state: SharedState,
    private readonly drives: Map<number, Drive>,
  ) {}

  owns(g: number): boolean {
    return this.drives.has(this.model.drives.driveOf(g));
  }

  /** The drive and drive-local track of global track `g`, asserting this adapter owns it. */
  driveTrack(g: number): { drive: Drive; track: number } {
    const d = this.model.drives.driveOf(g);
    const drive = this.drives.get(d);
    assert(drive, () => `${this.name}: asked to touch ${this.model.drives.dch(g)} on a drive it does not own`);
    return { drive, track: g - this.model.drives.baseTrack[d]! };
  }

  /** Read location g (only bytes `range` of it, if given); a formatted location (FMT) reads as zeros. */
  async read(g: number, dst: Uint8Array, range?: ByteRange): Promise<void> {
    const { drive, track } = this.driveTrack(g);
    if (this.state.flag(g, TRACK.FMT)) dst.fill(0, range?.[0] ?? 0, range?.[1] ?? dst.length);
    else if (range) await drive.readRange(track, dst, range[0], range[1]);
    else await drive.readTrack(track, dst);
  }

  /**
   * Write a track onto location g (it is no longer formatted-as-zeros, and a fill of it is on its
   * drive now). Given the slot's dirty range [lo, hi) (DESIGN §11), only those bytes, if the drive can
   * write part of a track and g is not formatted-as-zeros (its other bytes are then the slot's already).
   */
  async write(g: number, src: Uint8Array, dirty?: [number, number]): Promise<void> {
    const { drive, track } = this.driveTrack(g);
    if (dirty && drive.writeRange && dirty[0] < dirty[1] && !this.state.flag(g, TRACK.FMT))
      await drive.writeRange(track, src, dirty[0], dirty[1]);
    else await drive.writeTrack(track, src);
    this.state.clearFlag(g, TRACK.FMT | TRACK.FILLPEND);
  }
}
