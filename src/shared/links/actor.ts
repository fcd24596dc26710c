// What an actor looks like to whoever hosts it: a worker thread (src/runtime/worker-host.ts) or the inline
// emulator. The actor classes themselves know nothing of worker_threads.
import type { ArrayConfig } from '../config/config.ts';
import type { Link } from './link.ts';
import type { IoReply, IoRequest } from './messages.ts';
import { ACTOR_IDS, type SharedBuffers } from '../tables/memory.ts';
import { assert } from '../errors/assert.ts';

export type { Resume } from '../restripe/session.ts';

export type Role = 'sp' | 'ha' | 'da';
export type PeerKind = 'ha' | 'da' | 'host' | 'sp';

export interface ActorHandle {
  wire(peerKind: PeerKind, peerIndex: number, link: Link): void;
  start(): void;
  stop(): void;
  status(): Record<string, number>;
  /** A request from the main thread (the service processor's `reconfigure`, …). */
  call(method: string, args: unknown[]): Promise<unknown>;
  /** A host adapter's fast path, for a host in its own thread (HostAdapter.serveNow). */
  serveNow?(req: IoRequest): IoReply | undefined;
}

/** Events an actor reports to the main thread (progress of a reconfiguration, …). */
export type Emit = (event: string, data: unknown) => void;

export interface ActorInit {
  role: Role;
  index: number;
  config: ArrayConfig;
  buffers: SharedBuffers;
  /**
   * A replacement adapter: it serves nothing until the service processor's reconf-sync tells it
   * where the array stands (the running configuration, the open sessions) — told when it is linked,
   * not when it was made, so nothing that opened or closed while it started is missed.
   */
  replacement?: boolean;
  /**
   * The service processor's durable store (DESIGN §10): a data dir (its LMDB store and its
   * configuration files live there), or a store object (inline only: the crash harness's memory
   * store), and the record the array was restarted from.
   */
  /** A disk adapter of an array restarted from a data dir: the store it reads the tracks the restart left there from (track-source.ts). */
  trackStore?: string;
  durable?: {
    dir?: string;
    store?: import('../durable/durable.ts').DurableStore;
    recovered?: import('../durable/durable.ts').DurableMeta;
    everyMs?: number;
    /** TEST ONLY (seeded scheduler): the commit a background commit after each step would make, not made (the crash harness). */
    peekEveryStep?: (peek: import('../durable/durable.ts').DurableCommit) => void;
  };
}

/** An actor's number in shared tables (the track-lock owner word): 0 is nobody. */
export function actorId(role: Role, index: number, hostAdapters: number): number {
  const id = role === 'sp' ? 1 : role === 'ha' ? 2 + index : 2 + hostAdapters + index;
  assert(
    id > 0 && id < ACTOR_IDS,
    () => `${role}${index}: actor id ${id} does not fit the lock owner bits (1..${ACTOR_IDS - 1})`,
  );
  return id;
}

/** Control messages between the main thread and a worker (structured clone: they carry ports). */
export type Control =
  | { t: 'ready' }
  | { t: 'log'; level: 'info' | 'warn' | 'error'; text: string }
  | { t: 'wire'; peerKind: PeerKind; peerIndex: number; peer: string; port: import('node:worker_threads').MessagePort }
  | { t: 'start' }
  | { t: 'started' }
  | { t: 'status'; id: number }
  | { t: 'status-reply'; id: number; info: Record<string, number> }
  | { t: 'call'; id: number; method: string; args: unknown[] }
  | { t: 'call-reply'; id: number; ok: boolean; value?: unknown; error?: string; code?: string }
  | { t: 'event'; name: string; data: unknown }
  /** Load module `entry` into this actor's thread, beside it (see Extension); `port` is its channel to the main thread. */
  | { t: 'extend'; entry: string; name: string; port: import('node:worker_threads').MessagePort; data: unknown };

/**
 * What a module loaded into a host adapter's thread (Control 'extend') is given: its channel to the
 * main thread, what the main thread sent it, and a way to attach a host link to the adapter in this
 * thread (the host then reaches the adapter without crossing a thread). Such a module exports
 * `extend(ctx: ExtensionContext): void`. The NBD server runs this way (DESIGN §9).
 */
export interface ExtensionContext {
  port: import('node:worker_threads').MessagePort;
  data: unknown;
  /** The adapter's name ("HA0"). */
  name: string;
  /** The actor incarnation whose thread this is (the owner of what runs at the host end). */
  owner: import('../sched/sched.ts').Owner;
  attachHost(link: Link): void;
  /**
   * The host adapter's fast path, called in this thread: the reply of a request it serves at once
   * (a cache hit within one track), counted as over the link; undefined: send it over the link.
   */
  serveNow(req: IoRequest): IoReply | undefined;
  log: import('./link.ts').Log;
}
