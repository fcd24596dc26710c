// Builds any actor from its init record: the inline emulator builds every role in its thread with
// buildActor; a worker thread loads only its own role's builder (loadActorBuilder), so a disk
// adapter's thread never imports the service processor's code and the configuration schema with it.
import type { ActorHandle, ActorInit, Emit, Role } from '../shared/links/actor.ts';
import type { Log } from '../shared/links/link.ts';
import { buildHostAdapterActor } from './actor-ha.ts';
import { buildDiskAdapterActor } from './actor-da.ts';
import { buildServiceProcessorActor } from './actor-sp.ts';

export type { SpCalls, SpMethod } from './actor-sp.ts';

export type ActorBuilder = (init: ActorInit, log: Log, emit: Emit) => ActorHandle;

export function buildActor(init: ActorInit, log: Log, emit: Emit = () => {}): ActorHandle {
  return builderOf(init.role)(init, log, emit);
}

function builderOf(role: Role): ActorBuilder {
  return role === 'ha' ? buildHostAdapterActor : role === 'da' ? buildDiskAdapterActor : buildServiceProcessorActor;
}
