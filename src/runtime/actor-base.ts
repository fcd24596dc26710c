// What every actor's builder starts from (DESIGN §1): the model and the shared tables of the
// configuration its init record carries, checked against it. The builders are one file per role
// (actor-ha.ts, actor-da.ts, actor-sp.ts) so that a worker thread imports only its own role's code.
import type { ActorInit } from '../shared/links/actor.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { assert } from '../shared/errors/assert.ts';
import { ArrayModel } from '../shared/model/model.ts';
import { SharedState } from '../shared/tables/memory.ts';

export interface ActorBase {
  model: ArrayModel;
  state: SharedState;
  replacement: boolean;
}

/** The model and shared tables of `init`'s configuration; its adapter must be one the configuration has. */
export function actorBase(init: ActorInit): ActorBase {
  const model = new ArrayModel(init.config);
  const state = new SharedState(init.buffers);
  // The init record crossed a thread: its adapter must be one the configuration has.
  const adapters = init.role === 'ha' ? init.config.hostAdapters : init.role === 'da' ? model.diskAdapterIds.length : 1;
  assert(
    Number.isInteger(init.index) && init.index >= 0 && init.index < adapters,
    () => `buildActor: ${init.role} #${init.index}, but the configuration has ${adapters}`,
  );
  return { model, state, replacement: init.replacement === true };
}

/** A call handler for an actor that takes no calls. */
export const noCalls =
  (role: string) =>
  async (method: string): Promise<unknown> => {
    throw new ArrayError('USAGE', `${role} has no method "${method}"`);
  };
