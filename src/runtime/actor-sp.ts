// The service processor as an actor: wiring, the initial activation, status, and the calls the
// main thread makes of it by name (SpCalls).
import type { ActorHandle, ActorInit, Emit } from '../shared/links/actor.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import type { Log } from '../shared/links/link.ts';
import { ServiceProcessor } from '../service-processor/service-processor.ts';
import { LmdbStore } from '../drives/durable-store.ts';
import { join } from 'node:path';
import { actorBase } from './actor-base.ts';

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

export function buildServiceProcessorActor(init: ActorInit, log: Log, emit: Emit): ActorHandle {
  const { model, state } = actorBase(init);
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
