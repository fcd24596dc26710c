// A host adapter as an actor: wiring, status and its fast path (DESIGN §1).
import type { ActorHandle, ActorInit } from '../shared/links/actor.ts';
import type { Log } from '../shared/links/link.ts';
import { HostAdapter } from '../host-adapter/host-adapter.ts';
import { actorBase, noCalls } from './actor-base.ts';

export function buildHostAdapterActor(init: ActorInit, log: Log): ActorHandle {
  const { model, state, replacement } = actorBase(init);
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
