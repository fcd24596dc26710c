// A disk adapter as an actor: wiring, start and stop, status, and the calls the main thread makes
// of it (rebuild, flush, scrub).
import type { ActorHandle, ActorInit } from '../shared/links/actor.ts';
import type { Log } from '../shared/links/link.ts';
import { DiskAdapter } from '../disk-adapter/disk-adapter.ts';
import { LmdbStore } from '../drives/durable-store.ts';
import { setTrackSource, trackSourceOf } from '../drives/track-source.ts';
import { actorBase, noCalls } from './actor-base.ts';

export function buildDiskAdapterActor(init: ActorInit, log: Log): ActorHandle {
  const { model, state, replacement } = actorBase(init);
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
