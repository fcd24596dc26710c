// What every actor derives from the configuration file: drives, devices and their layouts.
import type { ArrayConfig } from './config.ts';
import { deviceLayout, DriveMap, type DeviceLayout } from './layout.ts';
import { ArrayError } from './errors.ts';

export interface DeviceEntry {
  id: string;
  index: number; // row in the logical device headers
  layout: DeviceLayout;
  bcvOf?: string; // set for a BCV device
  bytes: number;
}

export class ArrayModel {
  readonly config: ArrayConfig;
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
        bcvOf: d.layout === 'bcv' ? d.of : undefined,
        bytes: layout.tracks * config.geometry.trackBytes,
      };
    });
    for (const d of this.devices) this.byId.set(d.id, d);
  }

  device(id: string): DeviceEntry {
    const d = this.byId.get(id);
    if (!d) throw new ArrayError('UNKNOWN_DEVICE', `unknown device "${id}" (devices: ${this.devices.map((x) => x.id).join(', ')})`);
    return d;
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
