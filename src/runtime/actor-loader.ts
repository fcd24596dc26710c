// A worker thread's actor builder, imported for its role alone (actors.ts imports every role's).
import type { Role } from '../shared/links/actor.ts';
import type { ActorBuilder } from './actors.ts';

export async function loadActorBuilder(role: Role): Promise<ActorBuilder> {
  if (role === 'ha') return (await import('./actor-ha.ts')).buildHostAdapterActor;
  if (role === 'da') return (await import('./actor-da.ts')).buildDiskAdapterActor;
  return (await import('./actor-sp.ts')).buildServiceProcessorActor;
}
