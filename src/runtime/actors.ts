// Builds any actor from its init record: used by the worker entries and by the inline emulator,
// so both run the very same classes.
import type { ActorHandle, ActorInit, Emit } from '../shared/links/actor.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { assert } from '../shared/errors/assert.ts';
import type { Log } from '../shared/links/link.ts';
import { ArrayModel } from '../shared/model/model.ts';
import { SharedState } from '../shared/tables/memory.ts';
import { HostAdapter } from '../host-adapter/host-adapter.ts';
import { DiskAdapter } from '../disk-adapter/disk-adapter.ts';
import { ServiceProcessor } from '../service-processor/service-processor.ts';
import { LmdbStore } from '../drives/durable-store.ts';
import { setTrackSource, trackSourceOf } from '../drives/track-source.ts';
import { join } from 'node:path';

/** What the main thread may ask of the service processor (ArrayEmulator.sp), by name, and its answer. */
export type SpCalls = Pick<
  ServiceProcessor,
  | 'reconfigure'
  | 'configuration'
  | 'resumeInfo'
  | 'resume'
  | 'stalledSessions'
  | 'commit'
  | 'recoverSessions'
  | 'closeStore'
>;
export type SpMethod = keyof SpCalls;
const SP_METHODS: readonly SpMethod[] = [
  'reconfigure',
  'configuration',
  'resumeInfo',
  'resume',
  'stalledSessions',
  'commit',
  'recoverSessions',
  'closeStore',
];

const noCalls =
  (role: string) =>
  async (method: string): Promise<unknown> => {
    throw new ArrayError('USAGE', `${role} has no method "${method}"`);
  };

export function buildActor(init: ActorInit, log: Log, emit: Emit = () => {}): ActorHandle {
  const model = new ArrayModel(init.config);
  const state = new SharedState(init.buffers);
  const replacement = init.replacement === true;
  // The init record crossed a thread: its adapter must be one the configuration has.
  const adapters = init.role === 'ha' ? init.config.hostAdapters : init.role === 'da' ? model.diskAdapterIds.length : 1;
  assert(
    Number.isInteger(init.index) && init.index >= 0 && init.index < adapters,
    () => `buildActor: ${init.role} #${init.index}, but the configuration has ${adapters}`,
  );
  if (init.role === 'ha') {
    const ha = new HostAdapter({ model, state, index: init.index, log, replacement });
    return {
      wire: (kind, i, link) =>
        kind === 'da'
          ? ha.attachDiskAdapter(i, link)
          : kind === 'sp'
            ? ha.attachServiceProcessor(link)
            : ha.attachHost(link),
      start: () => {},
      stop: () => {},
      status: () => ha.status(),
      call: noCalls('a host adapter'),
      serveNow: (req) => ha.serveNow(req),
    };
  }
  if (init.role === 'da') {
    // Its own handle on the store (an LMDB environment per thread), opened before its drives are.
    if (init.trackStore && !trackSourceOf(init.buffers)) {
      const reader = new LmdbStore(init.trackStore);
      setTrackSource(init.buffers, (g, atLeast) => reader.track(g, atLeast));
    }
    const da = new DiskAdapter({ model, state, index: init.index, log, replacement });
    return {
      wire: (kind, i, link) =>
        kind === 'ha'
          ? da.attachHostAdapter(i, link)
          : kind === 'da'
            ? da.attachPeer(i, link)
            : da.attachServiceProcessor(link),
      start: () => da.start(),
      stop: () => da.stop(),
      status: () => da.status(),
      call: async (method, args) =>
        method === 'rebuild'
          ? da.rebuild(args[0] as number)
          : method === 'flush'
            ? da.flush()
            : method === 'scrub'
              ? da.scrub(args[0] as number, args[1] as string | undefined)
              : noCalls('a disk adapter')(method),
    };
  }
  const d = init.durable;
  const store = d?.store ?? (d?.dir ? new LmdbStore(join(d.dir, 'store')) : undefined);
  const sp = new ServiceProcessor({
    model,
    state,
    log,
    emit,
    configDir: d?.dir ? join(d.dir, 'config') : undefined,
    durable: store
      ? { store, recovered: d?.recovered, everyMs: d?.everyMs, peekEveryStep: d?.peekEveryStep }
      : undefined,
  });
  return {
    wire: (kind, i, link) => {
      if (kind === 'ha' || kind === 'da') sp.attachAdapter(kind, i, link);
    },
    start: () => sp.activateInitial(),
    stop: () => {},
    status: () => sp.status(),
    call: async (method, args) => {
      const m = method as SpMethod;
      if (!SP_METHODS.includes(m)) throw new ArrayError('USAGE', `the service processor has no method "${method}"`);
      return (sp[m] as (...a: unknown[]) => unknown).apply(sp, args);
    },
  };
}
