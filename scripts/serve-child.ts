// `arrayemu serve … --json` as a child process, the way a user runs it, for the kill campaign, the
// end-to-end tests and the benchmarks: started and waited for (its first JSON line says it serves),
// each later JSON line kept for `line()`, stopped with SIGTERM by `stop()`.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

/** How long startServe waits for an expected line of serve's output (ms). */
const SERVE_LINE_WAIT_MS = 60_000;

export interface Serving {
  child: ChildProcess;
  /** The control API's base URL, if --http was given. */
  http?: string;
  /** The URIs it serves (one per export). */
  uris: string[];
  exited: Promise<number | null>;
  err: () => string;
  line: (match: (l: Record<string, unknown>) => boolean, ms?: number) => Promise<Record<string, unknown>>;
  /** SIGTERM, and wait for the exit (at once if it has exited). */
  stop: () => Promise<number | null>;
}

/** `arrayemu serve … --json` as a child process; resolves once it serves, with its control API's base URL. */
export async function startServe(
  args: string[],
  cwd = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
  /** Options for node itself (the profiler's, say). */
  nodeArgs: string[] = [],
): Promise<Serving> {
  const child = spawn(process.execPath, [...nodeArgs, 'bin/arrayemu.mjs', 'serve', ...args, '--json'], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Killed by a signal: its number plus 128, as a shell says it (SIGINT 130, SIGKILL 137).
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code, signal) => r(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : null))),
  );
  let text = '';
  let err = '';
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    text += d.toString();
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
      lines.push(JSON.parse(text.slice(0, nl)) as Record<string, unknown>);
      text = text.slice(nl + 1);
    }
    for (const w of waiters) w();
  });
  /** The first line printed that `match` accepts (rejects if the server exits first or after `ms`). */
  const line = (match: (l: Record<string, unknown>) => boolean, ms = SERVE_LINE_WAIT_MS) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => done(new Error(`serve printed no such line within ${ms} ms: ${err.slice(-500)}`)),
        ms,
      );
      const look = () => {
        const l = lines.find(match);
        if (l) done(undefined, l);
      };
      const done = (e?: Error, l?: Record<string, unknown>) => {
        clearTimeout(timer);
        waiters.delete(look);
        if (e) reject(e);
        else resolve(l!);
      };
      waiters.add(look);
      void exited.then((code) => done(new Error(`serve exited ${code}: ${err.slice(-2000)}`)));
      look();
    });
  // Its first line says it serves ({ok: true, …}), or why it could not start (a refusal is a line too).
  const first = (await line(() => true)) as { ok?: boolean; http?: string[]; uris?: string[] };
  if (first.ok !== true) {
    await exited;
    throw new Error(`serve did not start: ${JSON.stringify(first)} ${err.slice(-2000)}`);
  }
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return {
    child,
    http: first.http?.[0]?.replace('/v1/status', ''),
    uris: first.uris ?? [],
    exited,
    err: () => err,
    line,
    stop,
  };
}
