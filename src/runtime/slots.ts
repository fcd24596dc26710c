// The actors as the main thread holds them (DESIGN §1): an inline slot runs an actor in this thread
// under its own scheduler owner; a worker slot runs it in a worker thread, talking over postMessage
// (start, status, calls, links' ports). The emulator wires and restarts them through this one shape.
import { Worker, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { EventLoopUtilization } from 'node:perf_hooks';
import {
  actorId,
  type ActorHandle,
  type ActorInit,
  type Control,
  type Emit,
  type PeerKind,
  type Role,
} from '../shared/links/actor.ts';
import { sched, type Owner } from '../shared/sched/sched.ts';
import { PendingRequests } from '../shared/links/pending.ts';
import type { Link, Log } from '../shared/links/link.ts';
import { ArrayError, type ErrorCode } from '../shared/errors/errors.ts';
import { buildActor, type SpCalls, type SpMethod } from './actors.ts';
import type { WorkerCode } from './worker-code.ts';
import type { ArrayConfig } from '../shared/config/config.ts';

/** The file a thread that is not an actor starts from (it loads workerData.entry with TypeScript registered); actors: worker-code.ts. */
export const WORKER_BOOTSTRAP = fileURLToPath(new URL('./worker-bootstrap.mjs', import.meta.url));
/** Longest a worker may take to say it is ready, started or what its status is (ms). */
const START_WAIT_MS = 30_000;

/** One actor as the main thread sees it. */
export interface ActorSlot {
  role: Role;
  index: number;
  name: string;
  /** This incarnation of the actor ("DA30#2" after one restart). */
  owner: Owner;
  start(): Promise<void>;
  status(): Promise<Record<string, number>>;
  /**
   * Its thread's event-loop use since it started (active and idle ms: Node's
   * eventLoopUtilization), or undefined for an actor that shares the main thread (inline).
   */
  threadUse(): EventLoopUtilization | undefined;
  call(method: string, args: unknown[]): Promise<unknown>;
  stop(): Promise<void>;
}

/** Ask the service processor's slot `method` (the one place its answer's type is asserted). */
export function spCall<M extends SpMethod>(
  sp: ActorSlot,
  method: M,
  ...args: Parameters<SpCalls[M]>
): Promise<Awaited<ReturnType<SpCalls[M]>>> {
  return sp.call(method, args) as Promise<Awaited<ReturnType<SpCalls[M]>>>;
}

export function noteFailure(failures: string[], text: string): void {
  failures.push(text);
}

export interface InlineSlot extends ActorSlot {
  attach(kind: PeerKind, index: number, link: Link): void;
  /** The links whose far end is this actor's (closed when it fails). */
  ends: Link[];
}

export function inlineActor(init: ActorInit, name: string, log: Log, emit: Emit, incarnation = 1): InlineSlot {
  const owner: Owner = { tag: `${name}#${incarnation}`, id: actorId(init.role, init.index, init.config.hostAdapters) };
  const actor: ActorHandle = sched().runAs(owner, () => buildActor(init, log, emit));
  const as = <T>(fn: () => T): T => sched().runAs(owner, fn);
  return {
    role: init.role,
    index: init.index,
    name,
    owner,
    ends: [],
    attach: (kind, index, link) => as(() => actor.wire(kind, index, link)),
    start: async () => as(() => actor.start()),
    status: () => backToCaller(async () => as(() => actor.status())),
    threadUse: () => undefined,
    call: (method, args) => backToCaller(() => as(() => actor.call(method, args))),
    stop: async () => as(() => actor.stop()),
  };
}

/**
 * Call into an actor, and go on as the caller once it answers. Without the hop, what the caller does
 * next would run as the actor's (it resolved the promise), its timers too, and die with the actor:
 * a rebuild round's caller stopped for good when the adapter that answered it was replaced.
 */
function backToCaller<T>(fn: () => Promise<T>): Promise<T> {
  const caller = sched().current();
  return new Promise<T>((resolve, reject) =>
    fn().then(
      (v) => sched().defer(() => resolve(v), caller),
      (e: unknown) => sched().defer(() => reject(e), caller),
    ),
  );
}

/** A port on its way to an actor: (peer kind, peer index, peer name, port). */
export type QueuedPort = [PeerKind, number, string, MessagePort];

export interface WorkerSlot extends ActorSlot {
  sendPort(kind: PeerKind, index: number, peer: string, port: MessagePort): void;
  /** Load module `entry` into this actor's thread, talking to the main thread over `port` (Control 'extend'). */
  extend(entry: string, port: MessagePort, data: unknown): void;
}

/** A worker's message to the main thread: a log line, an event, a call's answer, or what a waiter expects. */
function routeControl(
  c: Control,
  to: {
    log: Log;
    emit: Emit;
    calls: PendingRequests<unknown, undefined>;
    waiters: PendingRequests<Control, undefined>;
  },
): void {
  if (c.t === 'log') return to.log(c.level, c.text);
  if (c.t === 'event') return to.emit(c.name, c.data);
  if (c.t === 'call-reply') {
    const failed = () => new ArrayError((c.code as ErrorCode) ?? 'INVARIANT', c.error ?? 'call failed');
    to.calls.settle(c.id, c.ok ? c.value : failed());
    return;
  }
  to.waiters.settle(c.t === 'status-reply' ? `status:${c.id}` : c.t, c);
}

/** What every worker slot of one array shares: where it logs and tells failures and events, and the code its threads run. */
export interface WorkerContext {
  log: Log;
  failures: string[];
  emit: Emit;
  code: WorkerCode;
}

export async function startWorker(
  init: ActorInit,
  name: string,
  { log, failures, emit, code }: WorkerContext,
  incarnation = 1,
): Promise<WorkerSlot> {
  const owner: Owner = { tag: `${name}#${incarnation}`, id: actorId(init.role, init.index, init.config.hostAdapters) };
  const bundled = code.how === 'bundle';
  const worker = new Worker(code.bootstrap, { workerData: { ...init, entry: code.entry, owner, bundled }, name });
  let terminating = false;
  const waiters = new PendingRequests<Control, undefined>(); // "ready", "started", "status:<id>"
  let nextId = 1;
  let exited = false;
  const calls = new PendingRequests<unknown, undefined>(); // by call id: no bound (a reconfiguration may take long)
  worker.on('message', (c: Control) => routeControl(c, { log, emit, calls, waiters }));
  worker.on('error', (err) => {
    if (terminating) return;
    const text = `${name} stopped: ${err.message}`;
    noteFailure(failures, text);
    log('error', text);
  });
  worker.on('exit', () => {
    exited = true;
    for (const [id] of calls.waiting()) calls.settle(id, new ArrayError('ADAPTER_GONE', `${name} exited`));
    for (const [key] of waiters.waiting()) waiters.settle(key, { t: 'status-reply', id: -1, info: { exited: 1 } });
  });
  const expect = (key: string, what: string) =>
    waiters.wait(
      key,
      START_WAIT_MS,
      () => new ArrayError('TIMEOUT', `${name}: no "${what}" within ${START_WAIT_MS} ms`),
      undefined,
    );
  await expect('ready', 'ready');
  return {
    role: init.role,
    index: init.index,
    name,
    owner,
    sendPort: (peerKind, peerIndex, peer, port) =>
      worker.postMessage({ t: 'wire', peerKind, peerIndex, peer, port } satisfies Control, [port]),
    extend: (source, port, data) => {
      const entry = code.modules.get(source) ?? source; // its bundled copy, which shares the actor's modules
      worker.postMessage({ t: 'extend', entry, name, port, data } satisfies Control, [port]);
    },
    start: async () => {
      const p = expect('started', 'started');
      worker.postMessage({ t: 'start' } satisfies Control);
      await p;
    },
    status: async () => {
      if (exited) return { exited: 1 };
      const id = nextId++;
      const p = expect(`status:${id}`, 'status-reply');
      worker.postMessage({ t: 'status', id } satisfies Control);
      const c = await p;
      return c.t === 'status-reply' ? c.info : {};
    },
    threadUse: () => (exited ? undefined : worker.performance.eventLoopUtilization()),
    call: (method, args) => {
      if (exited) return Promise.reject(new ArrayError('ADAPTER_GONE', `${name} exited`));
      const id = nextId++;
      const answer = calls.add(id, undefined);
      worker.postMessage({ t: 'call', id, method, args } satisfies Control);
      return answer;
    },
    stop: async () => {
      terminating = true;
      await worker.terminate();
    },
  };
}

/** Every actor of `config`: the service processor first, then the host adapters, then the disk adapters. */
export function actorRoles(config: ArrayConfig): Array<[Role, number, string]> {
  return [
    ['sp', 0, 'SP'],
    ...Array.from({ length: config.hostAdapters }, (_, i): [Role, number, string] => ['ha', i, `HA${i}`]),
    ...config.diskAdapters.map((a, i): [Role, number, string] => ['da', i, a.id]),
  ];
}
