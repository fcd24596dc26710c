// Builds any actor from its init record: used by the worker entries and by the inline emulator,
// so both run the very same classes.
import type { ActorHandle, ActorInit, Emit, Resume } from './actor.ts';
import { ArrayError } from './errors.ts';
import type { Log } from './link.ts';
import { ArrayModel } from './model.ts';
import { DEVICE, SharedState } from './memory.ts';
import { deviceLayout } from './layout.ts';
import { HostAdapter } from '../host-adapter/host-adapter.ts';
import { DiskAdapter } from '../disk-adapter/disk-adapter.ts';
import { ServiceProcessor } from '../service-processor/service-processor.ts';

const noCalls = (role: string) => async (method: string): Promise<unknown> => {
  throw new ArrayError('USAGE', `${role} has no method "${method}"`);
};

/**
 * A replacement adapter's model: the active generation of every device (from the device headers)
 * laid out as the running configuration says; open sessions add theirs when the actor opens them.
 */
function resumeModel(model: ArrayModel, state: SharedState, resume: Resume): void {
  for (const dev of model.devices) {
    const gen = state.deviceWord(dev.index, DEVICE.GENERATION);
    if (gen > 1) model.addGeneration(dev.id, gen, deviceLayout(resume.running, dev.id, resume.running));
  }
  model.config = resume.running;
}

export function buildActor(init: ActorInit, log: Log, emit: Emit = () => {}): ActorHandle {
  const model = new ArrayModel(init.config);
  const state = new SharedState(init.buffers);
  if (init.resume) resumeModel(model, state, init.resume);
  if (init.role === 'ha') {
    const ha = new HostAdapter({ model, state, index: init.index, log });
    for (const spec of init.resume?.sessions ?? []) ha.openSession(spec);
    return {
      wire: (kind, i, link) => (kind === 'da' ? ha.attachDiskAdapter(i, link) : kind === 'sp' ? ha.attachServiceProcessor(link) : ha.attachHost(link)),
      start: () => {},
      stop: () => {},
      status: () => ha.status(),
      call: noCalls('a host adapter'),
    };
  }
  if (init.role === 'da') {
    const da = new DiskAdapter({ model, state, index: init.index, log });
    for (const spec of init.resume?.sessions ?? []) da.openSession(spec);
    if (init.resume) da.closedBelow(init.resume.closedBelow);
    return {
      wire: (kind, i, link) => (kind === 'ha' ? da.attachHostAdapter(i, link) : kind === 'da' ? da.attachPeer(i, link) : da.attachServiceProcessor(link)),
      start: () => da.start(),
      stop: () => da.stop(),
      status: () => da.status(),
      call: noCalls('a disk adapter'),
    };
  }
  const sp = new ServiceProcessor({ model, state, log, emit });
  return {
    wire: (kind, i, link) => {
      if (kind === 'ha' || kind === 'da') sp.attachAdapter(kind, i, link);
    },
    start: () => sp.activateInitial(),
    stop: () => {},
    status: () => sp.status(),
    call: async (method, args) => {
      if (method === 'reconfigure') return sp.reconfigure(args[0]);
      if (method === 'configuration') return sp.configuration();
      if (method === 'resumeInfo') return sp.resumeInfo();
      throw new ArrayError('USAGE', `the service processor has no method "${method}"`);
    },
  };
}
