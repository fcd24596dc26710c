// The thin host around an actor in a worker thread: wiring, start, status and logs over the
// parent port; all behaviour lives in the actor classes.
import { parentPort, workerData } from 'node:worker_threads';
import type { ActorInit, Control, ExtensionContext } from '../shared/links/actor.ts';
import { loadActorBuilder } from './actor-loader.ts';
import { PortLink, type Log } from '../shared/links/link.ts';
import { RingAdapterLink } from '../shared/links/ring-link.ts';
import { errorCode, errorMessage } from '../shared/errors/errors.ts';
import { RealScheduler, sched, type Owner } from '../shared/sched/sched.ts';
import { setThisThreadNice, spNiceWanted, threadId } from './thread-priority.ts';
import { getPriority } from 'node:os';

/** Build this thread's actor (its role's code alone is imported) and serve the main thread's control messages. */
export async function hostWorker(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('worker-host: not running in a worker thread');
  const init = workerData as ActorInit & { entry: string; owner: Owner; bundled?: boolean };
  const scheduler = sched();
  if (scheduler instanceof RealScheduler) scheduler.adopt(init.owner);
  const send = (c: Control) => port.postMessage(c);
  const log: Log = (level, text) => send({ t: 'log', level, text });
  // Messages from main wait on the port until the listener below is attached.
  const build = await loadActorBuilder(init.role);
  const actor = build(init, log, (name, data) => send({ t: 'event', name, data }));
  if (init.role === 'sp') raiseServiceProcessor(log);
  const tid = threadId();
  port.on('message', (c: Control) => {
    switch (c.t) {
      case 'wire':
        // Hosts come on rings (their requests' descriptors and data in shared memory); adapters talk in messages.
        actor.wire(
          c.peerKind,
          c.peerIndex,
          c.peerKind === 'host' ? new RingAdapterLink(c.port, c.peer, log) : new PortLink(c.port, c.peer, log),
        );
        return;
      case 'start':
        actor.start();
        send({ t: 'started' });
        return;
      case 'status':
        send({ t: 'status-reply', id: c.id, info: { ...actor.status(), threadNice: tid ? getPriority(tid) : 0 } });
        return;
      case 'call':
        actor.call(c.method, c.args).then(
          (value) => send({ t: 'call-reply', id: c.id, ok: true, value }),
          (err) => send({ t: 'call-reply', id: c.id, ok: false, error: errorMessage(err), code: errorCode(err) }),
        );
        return;
      case 'extend':
        return extend(c, !!init.bundled, {
          port: c.port,
          data: c.data,
          name: c.name,
          owner: init.owner,
          attachHost: (link) => {
            if (init.role !== 'ha') throw new Error(`${c.name} is not a host adapter: it takes no host link`);
            actor.wire('host', 0, link);
          },
          serveNow: (req) => {
            if (!actor.serveNow) throw new Error(`${c.name} is not a host adapter: it serves no host`);
            return actor.serveNow(req);
          },
          log,
        });
      default:
        log(
          'warn',
          `${init.role}${init.index}: dropped unknown control message ${JSON.stringify((c as { t?: unknown }).t)} from main`,
        );
    }
  });
  send({ t: 'ready' });
}

/** The service processor's thread ahead of the others for a core (thread-priority.ts), said in the log either way. */
function raiseServiceProcessor(log: Log): void {
  const wanted = spNiceWanted();
  if (wanted.problem) log('warn', `SP: ${wanted.problem}`);
  const got = setThisThreadNice(wanted.nice);
  log(
    'info',
    got.refused
      ? `SP: thread${got.tid ? ` ${got.tid}` : ''} stays at nice ${got.nice} (asked ${wanted.nice}: ${got.refused}); a switch that finds it preempted blocks hosts while it waits for a core`
      : `SP: thread ${got.tid} at nice ${got.nice}, ahead of the adapters and the load for a core (the switch window)`,
  );
}

let loader: Promise<void> | undefined;

/** Register tsx in this thread, once (a bundled thread loading a TypeScript module from outside its bundle). */
function typeScriptLoader(): Promise<void> {
  loader ??= import('tsx/esm/api').then((m) => void m.register());
  return loader;
}

/**
 * Load an extension module into this thread (Control 'extend'). A failure to load or to start is
 * logged and told on the extension's own port (`{ t: 'extension-failed', message }`), so whoever
 * waits on that port hears of it at once; it is never thrown into the actor.
 */
function extend(c: Extract<Control, { t: 'extend' }>, bundled: boolean, ctx: ExtensionContext): void {
  const failed = (what: string, err: unknown) => {
    const message = `${ctx.name}: ${what} ${c.entry}: ${errorMessage(err)}`;
    ctx.log('error', message);
    ctx.port.postMessage({ t: 'extension-failed', message });
  };
  // A thread of bundled code has no TypeScript loader: a source module not in the bundle gets one first.
  (bundled && c.entry.endsWith('.ts') ? typeScriptLoader() : Promise.resolve())
    .then(() => import(c.entry))
    .then(
      (m: { extend?: (ctx: ExtensionContext) => void }) => {
        try {
          if (typeof m.extend !== 'function') throw new Error('it exports no extend()');
          m.extend(ctx);
        } catch (err) {
          failed('extension failed to start:', err);
        }
      },
      (err) => failed('cannot load', err),
    );
}
