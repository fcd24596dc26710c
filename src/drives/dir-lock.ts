// One server per data dir. Two servers on one dir each commit whole tracks from their own memory,
// so the later commit erases what the other had flushed: a data-loss defect, not a nuisance.
//
// The lock is a Linux abstract-namespace Unix socket named for the dir's device and inode. The
// kernel holds it for exactly as long as the process that bound it lives: a server killed by
// kill -9 leaves nothing behind to clean up, and a restart binds it again at once (no stale pid
// file, no timeout). Node has no flock(2); this gives the same kernel-held guarantee without a
// native addon. The holder answers a connection with its pid and start time, so a refused second
// server names who holds the dir. Limits: Linux only (refused elsewhere with a clear error), and
// two servers in different network namespaces sharing one dir would not see each other.
import { createConnection, createServer, type Server } from 'node:net';
import { statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';

/** How many times a start races a holder that died between our bind and our question. */
const LOCK_ATTEMPTS = 5;
/** How long the holder has to answer "who are you" before the refusal says it did not. */
const HOLDER_ANSWER_MS = 2000;
/** The most a holder's answer may be: a small JSON object. */
const HOLDER_ANSWER_MAX_BYTES = 4096;

export interface DirHolder {
  pid: number;
  sinceIso: string;
  dir: string;
}

export interface DirLock {
  readonly dir: string;
  /** Give the dir up (a stop). Idempotent. */
  release(): Promise<void>;
}

/** The abstract socket name of `dir`: its device and inode, so every path to one dir meets one lock. */
export function lockNameOf(dir: string): string {
  const s = statSync(dir, { bigint: true });
  const id = createHash('sha256').update(`${s.dev}:${s.ino}`).digest('hex').slice(0, 32);
  return `\0arrayemu-data-dir-${id}`;
}

/**
 * Take `dir` (which must exist) for this process, or refuse with a USAGE error naming the dir
 * and the pid holding it.
 */
export async function lockDataDir(dir: string): Promise<DirLock> {
  if (process.platform !== 'linux')
    throw new ArrayError('USAGE', `--data-dir ${dir}: the one-server lock needs Linux (abstract Unix sockets)`);
  const name = lockNameOf(dir);
  const me: DirHolder = { pid: process.pid, sinceIso: new Date().toISOString(), dir };
  for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
    const server = await tryBind(name, me);
    if (server) return heldLock(dir, server);
    const holder = await askHolder(name);
    if (holder === 'gone') continue; // it died between our bind and our question: try again
    const who =
      holder === 'silent'
        ? 'another process that did not say its pid'
        : `arrayemu pid ${holder.pid} (serving it since ${holder.sinceIso})`;
    throw new ArrayError('USAGE', `--data-dir ${dir} is in use by ${who}: one server per data dir`);
  }
  throw new ArrayError('USAGE', `--data-dir ${dir}: its lock changed hands ${LOCK_ATTEMPTS} times while starting`);
}

function heldLock(dir: string, server: Server): DirLock {
  let released: Promise<void> | undefined;
  return {
    dir,
    release: () => (released ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}

/** Bind the lock's name: the server holding it, or undefined when someone else holds it. */
function tryBind(name: string, me: DirHolder): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.end(JSON.stringify(me));
    });
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(new ArrayError('USAGE', `--data-dir ${me.dir}: cannot take its lock: ${errorMessage(err)}`));
    });
    server.listen({ path: name, exclusive: true }, () => {
      server.unref(); // the lock never keeps the process alive on its own
      resolve(server);
    });
  });
}

/** Ask the lock's holder who it is: its answer, 'gone' (nobody listens), or 'silent'. */
function askHolder(name: string): Promise<DirHolder | 'gone' | 'silent'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const socket = createConnection({ path: name });
    const done = (r: DirHolder | 'gone' | 'silent') => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('silent'), HOLDER_ANSWER_MS);
    socket.on('data', (b: Buffer) => {
      bytes += b.length;
      if (bytes > HOLDER_ANSWER_MAX_BYTES) return done('silent');
      chunks.push(b);
    });
    socket.on('end', () => done(parseHolder(Buffer.concat(chunks).toString('utf8'))));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'gone' : 'silent'),
    );
  });
}

function parseHolder(text: string): DirHolder | 'silent' {
  try {
    const h = JSON.parse(text) as Partial<DirHolder>;
    return typeof h.pid === 'number' && typeof h.sinceIso === 'string' && typeof h.dir === 'string'
      ? { pid: h.pid, sinceIso: h.sinceIso, dir: h.dir }
      : 'silent';
  } catch {
    return 'silent';
  }
}
