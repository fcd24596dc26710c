// The drives a disk adapter owns, over the shared backing stores: each a memory store (dense or
// sparse), behind a timing model when its configuration gives one, the adapter's timed drives
// sharing one back-end link (diskAdapters[i].channelMBps); and the direct copier the adapter's
// restripe moves tracks between untimed memory drives with.
import type { ArrayModel } from '../shared/model/model.ts';
import type { SharedState } from '../shared/tables/memory.ts';
import { driveStore, type Drive } from './store.ts';
import { adapterChannel, TimedDrive, timingModel } from './timing/timed-drive.ts';
import type { Channel } from './timing/channel.ts';
import { DirectCopier } from './direct-copy.ts';

export type { DirectCopier };

export function adapterDrives(
  model: ArrayModel,
  state: SharedState,
  index: number,
): { drives: Map<number, Drive>; channel?: Channel; direct: DirectCopier } {
  const drives = new Map<number, Drive>();
  const channel = adapterChannel(model.config, index);
  model.drives.ids.forEach((id, d) => {
    if (state.driveOwner[d] !== index) return;
    const store = driveStore(state, id, d, index, model.drives.baseTrack[d]!);
    // A timing model (drives[i].model) decides when each access completes; `instant` has none.
    const timing = timingModel(model.config.drives.find((x) => x.id === id)?.model);
    drives.set(d, timing ? new TimedDrive(store, timing, channel) : store);
  });
  return { drives, channel, direct: new DirectCopier(model, state, index) };
}
