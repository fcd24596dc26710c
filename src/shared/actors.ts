// Builds any actor from its init record: used by the worker entries and by the inline emulator,
// so both run the very same classes.
import type { ActorHandle, ActorInit } from './actor.ts';
import type { Log } from './link.ts';
import { ArrayModel } from './model.ts';
import { SharedState } from './memory.ts';
import { HostAdapter } from '../host-adapter/host-adapter.ts';
import { DiskAdapter } from '../disk-adapter/disk-adapter.ts';
import { ServiceProcessor } from '../service-processor/service-processor.ts';

export function buildActor(init: ActorInit, log: Log): ActorHandle {
  const model = new ArrayModel(init.config);
  const state = new SharedState(init.buffers);
  if (init.role === 'ha') {
    const ha = new HostAdapter({ model, state, index: init.index, log });
    return {
      wire: (kind, i, link) => (kind === 'da' ? ha.attachDiskAdapter(i, link) : ha.attachHost(link)),
      start: () => {},
      stop: () => {},
      status: () => ha.status(),
    };
  }
  if (init.role === 'da') {
    const da = new DiskAdapter({ model, state, index: init.index, log });
    return {
      wire: (_kind, _i, link) => da.attachHostAdapter(link),
      start: () => da.start(),
      stop: () => da.stop(),
      status: () => da.status(),
    };
  }
  const sp = new ServiceProcessor({ model, state, log });
  return {
    wire: () => {},
    start: () => sp.activateInitial(),
    stop: () => {},
    status: () => sp.status(),
  };
}
