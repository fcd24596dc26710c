// The service processor: keeps the configuration files and activates configurations. Activation
// of a device's configuration is one atomic store of its generation in the device header (SPEC §3).
import type { Log } from '../shared/link.ts';
import type { ArrayModel } from '../shared/model.ts';
import { DEVICE, type SharedState } from '../shared/memory.ts';
import { assert } from '../shared/assert.ts';

export interface ServiceProcessorOptions {
  model: ArrayModel;
  state: SharedState;
  log: Log;
}

export class ServiceProcessor {
  readonly name = 'SP';
  private readonly model: ArrayModel;
  private readonly state: SharedState;
  private readonly log: Log;

  constructor(opts: ServiceProcessorOptions) {
    this.model = opts.model;
    this.state = opts.state;
    this.log = opts.log;
  }

  /** Activate generation 1 of every device and make it ready: the array comes up. */
  activateInitial(): void {
    for (const dev of this.model.devices) {
      assert(this.state.deviceWord(dev.index, DEVICE.GENERATION) === 0, () => `${dev.id}: activated twice`);
      this.state.setDeviceWord(dev.index, DEVICE.GENERATION, 1);
      this.state.setDeviceWord(dev.index, DEVICE.READY, 1);
    }
    this.log('info', `SP: configuration generation 1 active for ${this.model.devices.map((d) => d.id).join(', ')}`);
  }

  status(): Record<string, number> {
    return { devices: this.model.devices.length };
  }
}
