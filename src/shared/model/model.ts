// What every actor derives from the configuration file: drives, devices and their layouts.
import type { ArrayConfig } from '../config/config.ts';
import { deviceLayout, DriveMap, type DeviceLayout } from '../layout/layout.ts';
import { ArrayError } from '../errors/errors.ts';
import { assert } from '../errors/assert.ts';
import { MAX_MIRRORS, NO_TRACK, SLOT, wpbOfMirror, wpOfMirror } from '../tables/memory.ts';

export interface DeviceEntry {
  id: string;
  index: number; // row in the logical device headers
  /** The newest layout known (generation `gen`); `layouts` keeps every generation still in use. */
  layout: DeviceLayout;
  gen: number;
  layouts: Map<number, DeviceLayout>;
  bcvOf?: string; // set for a BCV device
  bytes: number;
}

export class ArrayModel {
  config: ArrayConfig;
  readonly drives: DriveMap;
  readonly devices: DeviceEntry[];
  readonly trackBytes: number;
  readonly diskAdapterIds: string[];
  private readonly byId = new Map<string, DeviceEntry>();
  /**
   * Per extra mirror k = 2..4 (index k - 2): mirror k's location of each M1 location g, NO_TRACK where
   * g has none. Empty while no device is mirrored (nothing allocated, nothing looked up).
   */
  private readonly mirrorLoc: Int32Array[] = [];

  constructor(config: ArrayConfig) {
    this.config = config;
    this.drives = new DriveMap(config);
    this.trackBytes = config.geometry.trackBytes;
    this.diskAdapterIds = config.diskAdapters.map((a) => a.id);
    this.devices = config.devices.map((d, index) => {
      const layout = deviceLayout(config, d.id);
      return {
        id: d.id,
        index,
        layout,
        gen: 1,
        layouts: new Map([[1, layout]]),
        bcvOf: d.layout === 'bcv' ? d.of : undefined,
        bytes: layout.tracks * config.geometry.trackBytes,
      };
    });
    for (const d of this.devices) this.byId.set(d.id, d);
    this.learnMirrors();
  }

  /**
   * The other layout of each device restriped by an open session (DESIGN §14): an adapter's model
   * holds the original (its device's layout is the new one), the main thread's the new one. Until the
   * session closes, the locations and mirrors of both hold the device's copies.
   */
  private readonly held = new Map<string, DeviceLayout>();

  /** The layouts whose locations hold a device's copies now: each device's newest, and those held for open sessions. */
  private liveLayouts(): DeviceLayout[] {
    return [...this.devices.map((d) => d.layout), ...this.held.values()];
  }

  /**
   * Rebuild the mirror map from the live layouts. A location is M1 of at most one mirror map: a
   * restripe's original and new layouts agree wherever they share a location (reconf-plan.ts refuses
   * targets that do not), so a disagreement here is a broken invariant and stops the actor.
   */
  private learnMirrors(): void {
    this.mirrorLoc.length = 0;
    for (const layout of this.liveLayouts())
      layout.mirrors.forEach((mirror, i) => {
        this.mirrorLoc[i] ??= new Int32Array(this.drives.totalTracks).fill(NO_TRACK);
        const table = this.mirrorLoc[i]!;
        for (let t = 0; t < layout.tracks; t++) {
          const g = layout.locate(t);
          const m = mirror.locate(t);
          assert(
            table[g] === NO_TRACK || table[g] === m,
            () =>
              `${layout.deviceId}: mirror ${i + 2} of ${this.drives.dch(g)} is ${this.drives.dch(table[g]!)} in one live layout and ${this.drives.dch(m)} in another`,
          );
          table[g] = m;
        }
      });
    this.copyIndex = undefined;
  }

  /** A session on `deviceId` opened: `layout` (its other layout) is live beside the device's own until released. */
  holdLayout(deviceId: string, layout: DeviceLayout): void {
    this.held.set(deviceId, layout);
    this.learnMirrors();
  }

  /** The session on `deviceId` closed: only the device's own layout holds its copies now. */
  releaseLayout(deviceId: string): void {
    if (this.held.delete(deviceId)) this.learnMirrors();
  }

  /** Per location: the M1 location of the track whose copy it is (NO_TRACK: none), and which copy (k). Built when first asked. */
  private copyIndex?: { owner: Int32Array; k: Int8Array };

  /**
   * Which track's copy location g holds under the devices' live layouts (the newest, and an open
   * session's original): its M1 location and the mirror k (1: g is the M1 location itself), or
   * undefined where no device keeps a copy.
   */
  copyAt(g: number): { owner: number; k: number } | undefined {
    if (!this.copyIndex) {
      const owner = new Int32Array(this.drives.totalTracks).fill(NO_TRACK);
      const k = new Int8Array(this.drives.totalTracks);
      for (const layout of this.liveLayouts())
        [layout, ...layout.mirrors].forEach((l, i) => {
          for (let t = 0; t < l.tracks; t++) {
            const at = l.locate(t);
            owner[at] = layout.locate(t);
            k[at] = i + 1;
          }
        });
      this.copyIndex = { owner, k };
    }
    const owner = this.copyIndex.owner[g]!;
    return owner === NO_TRACK ? undefined : { owner, k: this.copyIndex.k[g]! };
  }

  /** The M1 location of the track whose copy location g is: g itself but for a mirror's copy (and where no device keeps a copy). */
  ownerOfCopy(g: number): number {
    return this.mirrorLoc.length === 0 ? g : (this.copyAt(g)?.owner ?? g); // no mirror: every copy is its own M1
  }

  /** Mirror k's location (k = 2..4) of M1 location g, or NO_TRACK. */
  mirrorLocation(g: number, k: number): number {
    return this.mirrorLoc[k - 2]?.[g] ?? NO_TRACK;
  }

  /** Every copy of M1 location g, mirror k at index k - 1: [g] for an unmirrored device. */
  copiesOf(g: number): number[] {
    const out = [g];
    for (let k = 2; k <= MAX_MIRRORS; k++) {
      const m = this.mirrorLocation(g, k);
      if (m === NO_TRACK) break;
      out.push(m);
    }
    return out;
  }

  /** Whether M1 location g has a mirror (a copy beside itself). */
  mirrored(g: number): boolean {
    return this.mirrorLocation(g, 2) !== NO_TRACK;
  }

  /** The WPk bits a write of M1 location g sets: WP1 and one per mirror. */
  mirrorBits(g: number): number {
    let bits = wpOfMirror(1);
    for (let k = 2; k <= MAX_MIRRORS && this.mirrorLocation(g, k) !== NO_TRACK; k++) bits |= wpOfMirror(k);
    return bits;
  }

  /** The WPBk bits a mirror write to BCV location b sets: WPB and one per mirror of the BCV. */
  bcvBits(b: number): number {
    let bits = SLOT.WPB;
    for (let k = 2; k <= MAX_MIRRORS && this.mirrorLocation(b, k) !== NO_TRACK; k++) bits |= wpbOfMirror(k);
    return bits;
  }

  /** The device named `id`, or undefined (`device` throws instead). */
  findDevice(id: string): DeviceEntry | undefined {
    return this.byId.get(id);
  }

  device(id: string): DeviceEntry {
    const d = this.byId.get(id);
    if (!d)
      throw new ArrayError(
        'UNKNOWN_DEVICE',
        `unknown device "${id}" (devices: ${this.devices.map((x) => x.id).join(', ')})`,
      );
    return d;
  }

  /** The layout of generation `gen` of a device (the generation its header holds is the active one). */
  layoutAt(dev: DeviceEntry, gen: number): DeviceLayout {
    const l = dev.layouts.get(gen);
    if (!l)
      throw new ArrayError(
        'INVARIANT',
        `${dev.id}: no layout known for configuration generation ${gen} (known: ${[...dev.layouts.keys()].join(', ')})`,
      );
    return l;
  }

  /** Learn generation `gen` of device `deviceId`, laid out as in `target` (BCVs against `running`). */
  addGeneration(deviceId: string, gen: number, layout: DeviceLayout): void {
    const dev = this.device(deviceId);
    dev.layouts.set(gen, layout);
    // The same generation learnt again replaces it: a replacement adapter adopts a switched device's
    // generation from the running configuration (still the original layout) before its open session
    // tells it the new one.
    if (gen >= dev.gen) {
      dev.gen = gen;
      dev.layout = layout;
      dev.bytes = layout.tracks * this.trackBytes;
      this.learnMirrors();
    }
  }

  /**
   * A replacement adapter learns the array as it stands: each device's active generation (`genOf`,
   * from its header) laid out as the running configuration says. Open sessions add their new
   * generations when the adapter opens them.
   */
  adoptRunning(running: ArrayConfig, genOf: (deviceIndex: number) => number): void {
    for (const dev of this.devices) {
      const gen = genOf(dev.index);
      if (gen > 1) this.addGeneration(dev.id, gen, deviceLayout(running, dev.id, running));
    }
    this.config = running;
  }

  /** Devices a host workload may use: every device but the BCVs. */
  hostDevices(): DeviceEntry[] {
    return this.devices.filter((d) => d.bcvOf === undefined);
  }

  /** Index of the disk adapter owning the drive that holds global track `g`. */
  adapterOfTrack(g: number, driveOwner: Int32Array): number {
    return driveOwner[this.drives.driveOf(g)]!;
  }
}
