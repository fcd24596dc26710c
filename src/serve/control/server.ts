// The control API (`serve --http`): status, reconfigurations, metrics. Loopback by default; any
// other address needs a bearer token (`--token-file`), and then every request without it is 401.
// A refusal changes nothing: bodies are checked whole before anything starts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { ArrayError, errorMessage } from '../../shared/errors/errors.ts';
import {
  driveFaultBody,
  HttpError,
  jsonBody,
  listenHttp,
  LOOPBACK,
  reply,
  scrubBody,
  statusOf,
  throttleBody,
} from './http.ts';
import type { Serving } from '../serve.ts';
import { parseListen } from '../serve.ts';
import { Jobs } from './jobs.ts';
import { arrayMetrics } from './metrics.ts';
import { planFromBody } from './plans.ts';
import { LiveView, nbdHostTotals } from '../ui/live.ts';
import { serveAsset } from '../ui/assets.ts';
import type { ArrayConfig } from '../../shared/config/config.ts';

export const DEFAULT_HTTP = '127.0.0.1:9180';

export interface Control {
  url: string;
  jobs: Jobs;
  close(): Promise<void>;
}

export async function startControl(
  s: Serving,
  config: ArrayConfig,
  listen: string,
  tokenFile?: string,
): Promise<Control> {
  const { host, port } = parseListen(listen);
  if (!LOOPBACK.test(host) && !tokenFile)
    throw new ArrayError(
      'USAGE',
      `--http ${listen}: an address other than loopback needs --token-file (every request must then carry its bearer token)`,
    );
  const token = tokenFile ? readToken(tokenFile) : undefined;
  const jobs = new Jobs(s.emu, config, (c) => (s.running = c));
  for (const r of s.emu.recovery?.sessions ?? []) jobs.adopt(r);
  const registry = arrayMetrics(s.emu, s.io, s.nbd, jobs);
  const live = new LiveView({
    emu: s.emu,
    hostTotals: () => nbdHostTotals(s.io.devices.values()),
    refresh: () => s.nbd.refresh(),
    jobs: () => jobs.all().map((j) => jobs.view(j)),
    config: () => s.running,
  });
  const server: Server = createServer((req, res) => {
    // The NBD servers' counters (in the host adapters) are fetched before they are read (status and /metrics alike).
    const metrics = async () => {
      await s.nbd.refresh();
      return registry.metrics();
    };
    handle(req, res, { s, jobs, live, token, metrics, contentType: registry.contentType }).catch((err: unknown) =>
      reply(res, statusOf(err), { error: errorMessage(err) }),
    );
  });
  const url = await listenHttp(server, host, port);
  return {
    url,
    jobs,
    close: async () => {
      await live.close();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function readToken(file: string): string {
  let t: string;
  try {
    t = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ArrayError('USAGE', `--token-file ${file}: ${errorMessage(err)}`);
  }
  if (t.length < 16) throw new ArrayError('USAGE', `--token-file ${file}: the token must be at least 16 characters`);
  return t;
}

interface Ctx {
  s: Serving;
  jobs: Jobs;
  live: LiveView;
  token?: string;
  metrics: () => Promise<string>;
  contentType: string;
}

async function handle(req: IncomingMessage, res: ServerResponse, c: Ctx): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname;
  // The live view's page and scripts hold no data: served to anyone who may reach the port.
  if (serveAsset(req, res, path)) return;
  // An EventSource cannot send headers: the events stream takes the token as ?token= too.
  const given = req.headers.authorization ?? (path === '/v1/events' ? `Bearer ${url.searchParams.get('token')}` : '');
  if (c.token !== undefined && given !== `Bearer ${c.token}`)
    throw new HttpError(401, 'a bearer token is required (Authorization: Bearer <token>)');
  const drive = /^\/v1\/drives\/([^/]+)\/fail$/.exec(path);
  if (drive && req.method === 'POST')
    return reply(res, 200, c.s.emu.failDrive(driveFaultBody(decodeURIComponent(drive[1]!), await jsonBody(req))));
  const route = `${req.method} ${path.replace(/\/\d+(?=\/|$)/, '/:id')}`;
  const id = Number(/\/(\d+)(?:\/|$)/.exec(path)?.[1]);
  switch (route) {
    case 'GET /v1/drives':
      return reply(res, 200, { drives: c.s.emu.driveStatus().drives });
    case 'GET /v1/status':
      await c.s.nbd.refresh();
      return reply(res, 200, status(c));
    case 'POST /v1/reconfigurations':
      return reply(res, 202, c.jobs.view(c.jobs.start(await jsonBody(req))));
    case 'GET /v1/reconfigurations/:id': {
      const j = c.jobs.get(id);
      if (!j) throw new HttpError(404, `no reconfiguration ${id}`);
      return reply(res, 200, { ...c.jobs.view(j), paused: j.state === 'running' && c.s.emu.background().paused });
    }
    case 'POST /v1/reconfigurations/:id/pause':
    case 'POST /v1/reconfigurations/:id/resume': {
      const j = c.jobs.get(id);
      if (!j) throw new HttpError(404, `no reconfiguration ${id}`);
      if (j.state !== 'running') throw new HttpError(409, `reconfiguration ${id} is ${j.state}`);
      c.s.emu.setBackground({ paused: route.endsWith('pause') });
      return reply(res, 200, { ...c.jobs.view(j), paused: c.s.emu.background().paused });
    }
    case 'POST /v1/plans':
      return reply(res, 200, await planFromBody(c.s.running, await jsonBody(req), (m) => new HttpError(400, m)));
    case 'PUT /v1/throttle': {
      const t = throttleBody(await jsonBody(req));
      c.s.emu.setBackground(t);
      return reply(res, 200, c.s.emu.background());
    }
    case 'POST /v1/scrub':
      return reply(res, 202, c.s.emu.scrubs.start(scrubBody(await jsonBody(req)).device));
    case 'GET /v1/scrubs':
      return reply(res, 200, { scrubs: c.s.emu.scrubs.list() });
    case 'GET /v1/scrubs/:id':
      return reply(res, 200, scrubOf(c, id));
    case 'POST /v1/scrubs/:id/pause':
    case 'POST /v1/scrubs/:id/resume':
      scrubOf(c, id);
      return reply(res, 200, route.endsWith('pause') ? c.s.emu.scrubs.pause(id) : c.s.emu.scrubs.resume(id));
    case 'GET /v1/events':
      return c.live.attach(res);
    case 'GET /metrics': {
      const text = await c.metrics();
      res.writeHead(200, { 'content-type': c.contentType });
      res.end(text);
      return;
    }
    default:
      throw new HttpError(404, `no such endpoint: ${req.method} ${path}`);
  }
}

/** Scrub `id`, or a 404 naming it. */
function scrubOf(c: Ctx, id: number) {
  const v = c.s.emu.scrubs.get(id);
  if (!v) throw new HttpError(404, `no scrub ${id}`);
  return v;
}

function status(c: Ctx): Record<string, unknown> {
  const { paused, minMBps, maxMBps } = c.s.emu.background();
  const mirrors = new Map(c.s.emu.driveStatus().devices.map((m) => [m.id, m]));
  return {
    devices: c.s.emu.model.devices.map((d) => ({
      id: d.id,
      bytes: d.bytes,
      generation: d.gen,
      bcvOf: d.bcvOf ?? null,
      state: mirrors.get(d.id)!.state,
      mirrors: mirrors.get(d.id)!.mirrors,
      lostTracks: mirrors.get(d.id)!.lostTracks,
    })),
    drives: c.s.emu.driveStatus().drives,
    reconfigurations: c.jobs.running().map((j) => c.jobs.view(j)),
    nbd: { uris: c.s.uris, connections: c.s.nbd.counters.connectionsOpen },
    throttle: { minMBps, maxMBps },
    paused,
    dataDir: c.s.emu.durable
      ? {
          restartedFromCommit: c.s.emu.recovery?.commit ?? null,
          tracksRead: c.s.emu.recovery?.tracks ?? 0,
          loadMs: c.s.emu.recovery?.loadMs ?? null,
          rebuildsTakenUp: c.s.emu.recovery?.rebuilds ?? [],
          bcvsLeftOut: c.s.emu.recovery?.bcvsLeftOut ?? [],
          driveCache: c.s.emu.driveCache(),
        }
      : null,
  };
}
