// What every actor derives from the configuration file: drives, devices and their layouts.
import type { ArrayConfig } from './config.ts';
import { deviceLayout, DriveMap, type DeviceLayout } from './layout.ts';
import { ArrayError } from './errors.ts';

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
    if (gen > dev.gen) {
      dev.gen = gen;
      dev.layout = layout;
      dev.bytes = layout.tracks * this.trackBytes;
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
