// Modules loaded into host adapters' threads beside them (ExtensionContext; the NBD server runs this
// way): kept so that a replacement host adapter gets them again, each time with a new channel.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { WorkerSlot } from './slots.ts';

interface Extension {
  ha: number;
  entry: string;
  data: unknown;
  onPort: (port: MessagePort) => void;
}

export class HostAdapterExtensions {
  private readonly list: Extension[] = [];

  /** Load `x` into host adapter slot `slot` (its thread), and keep it for a replacement. */
  add(slot: WorkerSlot, x: Extension): void {
    this.list.push(x);
    this.load(slot, x);
  }

  /** A replacement host adapter `slot` started: load into it what its predecessor had. */
  reload(slot: WorkerSlot): void {
    if (slot.role !== 'ha') return;
    for (const x of this.list) if (x.ha === slot.index) this.load(slot, x);
  }

  private load(slot: WorkerSlot, x: Extension): void {
    const { port1, port2 } = new MessageChannel();
    slot.extend(x.entry, port2, x.data);
    x.onPort(port1);
  }
}
