// A disk adapter's locations: global tracks on the drives it owns, read and written as the Track
// ID table says (a formatted location reads as zeros until a whole track is written to it).
import type { ArrayModel } from '../shared/model/model.ts';
import { TRACK, type SharedState } from '../shared/tables/memory.ts';
import type { ByteRange } from '../shared/links/messages.ts';
import { assert } from '../shared/errors/assert.ts';
import type { Drive } from '../drives/store.ts';
import { addRebuilt, DriveFault, driveWritable, mediaOf, mediaTrack } from '../shared/drive-states/drive-state.ts';
import { fillCopyWritten } from './fill-pending.ts';
import { noteSum, sumUnknown } from '../shared/checksums/checksums.ts';
import { clearFlag, hasFlag } from '../shared/tables/tables.ts';

/** What a rotted track's reads return instead of its bytes: each byte XORed with this. */
const ROT_XOR = 0x5a;

export class Locations {
  constructor(
    private readonly name: string,
    private readonly model: ArrayModel,
    private readonly state: SharedState,
    private readonly drives: Map<number, Drive>,
  ) {}

  /** Location g is on a drive of this adapter's (the media behind g's drive position: a spare rebuilt in its place). */
  owns(g: number): boolean {
    return this.drives.has(mediaOf(this.state, this.model.drives.driveOf(g)));
  }

  /** The drive and drive-local track of global track `g`, asserting this adapter owns it. */
  driveTrack(g: number): { drive: Drive; track: number } {
    return { drive: this.driveOf(g), track: this.localTrack(g) };
  }

  /** Location g as a track of its drive (drive-local index). */
  private localTrack(g: number): number {
    return g - this.model.drives.baseTrack[this.model.drives.driveOf(g)]!;
  }

  /** The drive holding location g, asserting this adapter owns it. */
  private driveOf(g: number): Drive {
    const drive = this.drives.get(mediaOf(this.state, this.model.drives.driveOf(g)));
    if (!drive) assert(false, `${this.name}: asked to touch ${this.model.drives.dch(g)} on a drive it does not own`);
    return drive;
  }

  /**
   * Read location g (only bytes `range` of it, if given); a formatted location (FMT) reads as zeros.
   * A failed drive or a media error throws DriveFault; a rotted track (ROT) returns other bytes, silently.
   */
  async read(g: number, dst: Uint8Array, range?: ByteRange): Promise<void> {
    this.checkDrive(g, 'read');
    const drive = this.driveOf(g); // not driveTrack: no object a read
    const track = this.localTrack(g);
    if (hasFlag(this.state, g, TRACK.MEDIA))
      throw new DriveFault('media', `media error reading ${this.model.drives.dch(g)}`);
    const lo = range ? range[0] : 0;
    const hi = range ? range[1] : dst.length;
    if (hasFlag(this.state, g, TRACK.FMT)) dst.fill(0, lo, hi);
    else if (range) await drive.readRange(track, dst, lo, hi);
    else await drive.readTrack(track, dst);
    if (hasFlag(this.state, g, TRACK.ROT)) for (let i = lo; i < hi; i++) dst[i]! ^= ROT_XOR;
  }

  /** The least location g's drive reads (bytes); a DriveFault if the drive cannot serve g now. */
  blockBytes(g: number): number {
    this.checkDrive(g, 'read');
    return this.driveTrack(g).drive.blockBytes;
  }

  /** Whether location g takes writes (its drive has not failed; a spare being rebuilt does). */
  writable(g: number): boolean {
    return driveWritable(this.state, this.model.drives.driveOf(g));
  }

  private checkDrive(g: number, what: 'read' | 'write'): void {
    const d = this.model.drives.driveOf(g);
    // Its media failed (a spare being rebuilt in d's place takes reads and writes; its copies not
    // rewritten yet are STALE, below).
    if (!driveWritable(this.state, d))
      throw new DriveFault(
        'failed',
        `drive ${this.model.drives.ids[mediaOf(this.state, d)]} cannot serve a ${what} of ${this.model.drives.dch(g)}: it has failed`,
      );
    // A request that raced a spare's taking d's place (the request was routed before): not ours now.
    if (mediaOf(this.state, d) !== d && !this.owns(g))
      throw new DriveFault(
        'failed',
        `${this.model.drives.dch(g)} is served by a spare on another adapter now (a ${what} routed before it took the place)`,
      );
    if (what === 'read' && hasFlag(this.state, g, TRACK.STALE))
      throw new DriveFault('media', `${this.model.drives.dch(g)} is not rebuilt yet`);
  }

  /**
   * Write a track onto location g (it is no longer formatted-as-zeros). Given the slot's dirty range [lo, hi) (DESIGN §11), only those bytes, if the drive can
   * write part of a track and g is not formatted-as-zeros (its other bytes are then the slot's already).
   */
  async write(g: number, src: Uint8Array, dirty?: [number, number]): Promise<void> {
    this.checkDrive(g, 'write');
    const { drive, track } = this.driveTrack(g);
    const at = mediaTrack(this.state, this.model.drives, g); // where the media keeps g's bytes and checksum
    sumUnknown(this.state, at); // until the write has ended (checksums.ts)
    if (dirty && drive.writeRange && dirty[0] < dirty[1] && !hasFlag(this.state, g, TRACK.FMT))
      await drive.writeRange(track, src, dirty[0], dirty[1]);
    else await drive.writeTrack(track, src);
    // A whole-track write remaps a bad track (MEDIA) and replaces rotted bytes (ROT); a partial one
    // rewrites only some sectors, so the fault stays.
    const whole = !(dirty && drive.writeRange && dirty[0] < dirty[1]) || (dirty[0] === 0 && dirty[1] === src.length);
    if (whole && hasFlag(this.state, g, TRACK.STALE)) {
      clearFlag(this.state, g, TRACK.STALE);
      addRebuilt(this.state, this.model.drives.driveOf(g), 1); // a rebuilt copy: the rebuild's progress
    }
    noteSum(this.state, at, src); // the copy holds src's whole track now (a write-pending slot is whole)
    clearFlag(this.state, g, TRACK.FMT | (whole ? TRACK.MEDIA | TRACK.ROT : 0));
    fillCopyWritten(this.state, this.model, g); // a fill's data is on this copy's drive now
  }
}
