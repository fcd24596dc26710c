// The live view for embedded runs (`run --ui`, `demo --ui`): the same page and events stream as
// `serve --http`, on a loopback address, with pause, resume and the throttle; the run itself
// starts the reconfigurations and tells this view of each (started, progress, report).
import { createServer, type Server } from 'node:http';
import type { ArrayEmulator } from '../../runtime/emulator.ts';
import type { ArrayConfig } from '../../shared/config/config.ts';
import type { Progress, ReconfReport } from '../../shared/restripe/report.ts';
import { ArrayError, errorMessage } from '../../shared/errors/errors.ts';
import { parseListen } from '../serve.ts';
import { HttpError, jsonBody, listenHttp, LOOPBACK, reply, statusOf, throttleBody } from '../control/http.ts';
import { adapterHostTotals, LiveView } from './live.ts';
import { jobView, type Job } from '../control/jobs.ts';
import { serveAsset } from './assets.ts';

/** Jobs remembered (the oldest ended one is forgotten past this). */
const JOBS_KEPT = 64;

/** The reconfigurations of an embedded run, as the run reports them. */
export class EmbeddedJobs {
  private readonly jobs: Job[] = [];
  private nextId = 1;

  /** A progress event: the device's running job moves on (one starts at its first event). */
  progress(p: Progress): void {
    let j = this.jobs.find((x) => x.device === p.device && x.state === 'running');
    if (!j) {
      j = { id: this.nextId++, device: p.device, state: 'running', startedMs: Date.now() } satisfies Job;
      this.jobs.push(j);
      if (this.jobs.length > JOBS_KEPT) this.jobs.shift();
    }
    j.progress = p;
  }

  /** The device's running job ended with `report` (or failed with `error`). */
  ended(device: string, report?: ReconfReport, error?: string): void {
    const j = this.jobs.find((x) => x.device === device && x.state === 'running');
    if (!j) return;
    j.state = report ? 'done' : 'failed';
    j.report = report;
    j.error = error;
    j.endedMs = Date.now();
  }

  running(id: number): Job | undefined {
    return this.jobs.find((j) => j.id === id && j.state === 'running');
  }

  /** Each job as the control API shows one. */
  views(): Array<Record<string, unknown>> {
    return this.jobs.map(jobView);
  }
}

export interface EmbeddedView {
  url: string;
  jobs: EmbeddedJobs;
  /** Resolves once a page watches, or after `waitMs`: true if one does. */
  watched(waitMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Serve the live view of `emu` on loopback address `listen` (host:port; port 0: any free one). */
export async function startEmbeddedView(
  emu: ArrayEmulator,
  listen: string,
  config: () => ArrayConfig,
  flag = '--ui',
): Promise<EmbeddedView> {
  const { host, port } = parseListen(listen);
  if (!LOOPBACK.test(host))
    throw new ArrayError(
      'USAGE',
      `${flag} ${listen}: an embedded run serves its view on loopback only (serve --http --token-file serves other addresses)`,
    );
  const jobs = new EmbeddedJobs();
  const live = new LiveView({
    emu,
    hostTotals: adapterHostTotals,
    refresh: async () => {},
    jobs: () => jobs.views(),
    config,
  });
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (serveAsset(req, res, path)) return;
    void route(req.method ?? 'GET', path, req)
      .then((r) => (r === 'events' ? live.attach(res) : reply(res, 200, r)))
      .catch((err: unknown) => reply(res, statusOf(err), { error: errorMessage(err) }));
  });
  const route = async (method: string, path: string, req: Parameters<typeof jsonBody>[0]): Promise<unknown> => {
    if (method === 'GET' && path === '/v1/events') return 'events';
    if (method === 'PUT' && path === '/v1/throttle') {
      emu.setBackground(throttleBody(await jsonBody(req)));
      return emu.background();
    }
    const m = /^\/v1\/reconfigurations\/(\d+)\/(pause|resume)$/.exec(path);
    if (method === 'POST' && m) {
      if (!jobs.running(Number(m[1]))) throw new HttpError(409, `reconfiguration ${m[1]} is not running`);
      emu.setBackground({ paused: m[2] === 'pause' });
      return emu.background();
    }
    throw new HttpError(404, `no such endpoint: ${method} ${path}`);
  };
  return {
    url: `${await listenHttp(server, host, port)}/`,
    jobs,
    watched: (waitMs) => live.watched(waitMs),
    close: async () => {
      await live.close();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
