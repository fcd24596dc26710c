// The live view's updates (DESIGN §13): Server-Sent Events at GET /v1/events. A page that connects
// gets `hello` (the geometry, every track's owner and cell byte); then every UPDATE_MS one `tick`
// for all pages: the cells that changed since the last tick (or all of them), the owners when a
// layout changed, and the figures of the moment (host I/O, FIG. 7 scenarios, reconfigurations,
// switch windows, throttle). One reading of the tables a tick, whatever the number of pages.
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { ArrayEmulator } from '../../runtime/emulator.ts';
import type { ArrayConfig } from '../../shared/config.ts';
import type { DeviceCounters } from '../nbd/backend.ts';
import { latencyDelta, latencyQuantileMs } from '../../shared/histogram.ts';
import { errorMessage } from '../../shared/errors.ts';
import { cellChanges, layoutSignature, readCells, readOwners, viewGeometry } from './track-view.ts';

/** Time between two updates (ms): four a second. */
export const UPDATE_MS = 250;
/** Pages served updates at once; one more is refused (503). */
export const LIVE_PAGES_MAX = 16;
/** Switch windows listed (the most recent). */
const SWITCHES_SHOWN = 20;

/** Where the view's figures come from: `serve`'s array and its NBD exports, or an embedded run. */
export interface LiveSource {
  emu: ArrayEmulator;
  /** Host I/O per device, counted where it enters (fetched fresh by `refresh`). */
  hostIo(): Map<string, DeviceCounters>;
  refresh(): Promise<void>;
  /** The reconfigurations shown: running and ended, newest last. */
  jobs(): Array<Record<string, unknown>>;
  /** The configuration the array runs now. */
  config(): ArrayConfig;
}

interface IoMark {
  atMs: number;
  ops: number;
  bytes: number;
  latency: number[];
}

export class LiveView {
  private readonly pages = new Set<ServerResponse>();
  private cells: Uint8Array;
  private readonly next: Uint8Array;
  private signature = '';
  private owners: { owners: Uint8Array; roles: Uint8Array };
  private seq = 0;
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private lastIo?: IoMark;
  /** Ticks sent, and the last tick's time to read and send (ms): the view's own cost. */
  readonly counters = { ticks: 0, lastTickMs: 0, pagesServed: 0 };

  constructor(private readonly src: LiveSource) {
    const { emu } = src;
    this.cells = readCells(emu.state);
    this.next = new Uint8Array(this.cells.length);
    this.owners = readOwners(emu.model, emu.state);
    this.signature = layoutSignature(emu.model, emu.state);
  }

  /** Serve updates to one page until it goes. */
  attach(res: ServerResponse): void {
    if (this.pages.size >= LIVE_PAGES_MAX) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ error: `${LIVE_PAGES_MAX} pages are watching already` })}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const { emu } = this.src;
    send(res, 'hello', {
      seq: this.seq,
      updateMs: UPDATE_MS,
      geometry: viewGeometry(emu.model, emu.state),
      owners: base64(this.owners.owners),
      roles: base64(this.owners.roles),
      cells: base64(this.cells),
    });
    this.pages.add(res);
    this.counters.pagesServed++;
    res.on('close', () => {
      this.pages.delete(res);
      if (this.pages.size === 0) this.stop();
    });
    this.timer ??= setInterval(() => void this.tick(), UPDATE_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.stop();
    for (const p of this.pages) p.end();
    this.pages.clear();
  }

  /** One update for every page (skipped while the last one is still being made: bounded to one at a time). */
  private async tick(): Promise<void> {
    if (this.ticking || this.pages.size === 0) return;
    this.ticking = true;
    const t0 = performance.now();
    try {
      const { emu } = this.src;
      readCells(emu.state, this.next);
      const changes = cellChanges(this.cells, this.next);
      this.cells.set(this.next);
      const signature = layoutSignature(emu.model, emu.state);
      const layoutChanged = signature !== this.signature;
      if (layoutChanged) {
        this.signature = signature;
        this.owners = readOwners(emu.model, emu.state);
      }
      const stats = await this.stats();
      this.seq++;
      const update = {
        seq: this.seq,
        changes: changes ?? undefined,
        cells: changes === null ? base64(this.cells) : undefined,
        owners: layoutChanged ? base64(this.owners.owners) : undefined,
        roles: layoutChanged ? base64(this.owners.roles) : undefined,
        ...stats,
      };
      for (const p of this.pages) send(p, 'tick', update);
      this.counters.ticks++;
    } catch (err) {
      for (const p of this.pages) send(p, 'problem', { error: errorMessage(err) });
    } finally {
      this.counters.lastTickMs = Math.round((performance.now() - t0) * 10) / 10;
      this.ticking = false;
    }
  }

  /** The figures of the moment. */
  private async stats(): Promise<Record<string, unknown>> {
    const { emu } = this.src;
    await this.src.refresh();
    const status = await emu.status();
    const scenarios = [1, 2, 3, 4].map((k) =>
      Object.entries(status).reduce((n, [actor, c]) => n + (actor.startsWith('HA') ? (c[`scenario${k}`] ?? 0) : 0), 0),
    );
    const jobs = this.src.jobs();
    const switches = jobs
      .filter((j) => j.report !== null && j.report !== undefined)
      .slice(-SWITCHES_SHOWN)
      .map((j) => ({
        id: j.id,
        device: j.device,
        hostBlockedMs: (j.report as { hostBlockedMs: number }).hostBlockedMs,
      }));
    return {
      atMs: Date.now(),
      host: this.hostFigures(),
      scenarios,
      jobs: jobs.filter((j) => j.state === 'running'),
      switches,
      background: emu.background(),
      devices: deviceViews(emu, this.src.config()),
    };
  }

  /** Host ops/s, MB/s and the latency quantiles since the last tick, over every device. */
  private hostFigures(): Record<string, number | null> {
    const now: IoMark = { atMs: performance.now(), ops: 0, bytes: 0, latency: [] };
    for (const c of this.src.hostIo().values()) {
      now.ops += c.reads + c.writes;
      now.bytes += c.readBytes + c.writtenBytes;
      now.latency = c.latency.map((n, i) => n + (now.latency[i] ?? 0));
    }
    const before = this.lastIo;
    this.lastIo = now;
    if (!before) return { opsPerSec: 0, mbPerSec: 0, p50Ms: null, p99Ms: null };
    const sec = Math.max(1e-3, (now.atMs - before.atMs) / 1000);
    const hist = latencyDelta(now.latency, before.latency);
    return {
      opsPerSec: Math.round((now.ops - before.ops) / sec),
      mbPerSec: Math.round(((now.bytes - before.bytes) / sec / 1e6) * 10) / 10,
      p50Ms: latencyQuantileMs(hist, 0.5),
      p99Ms: latencyQuantileMs(hist, 0.99),
    };
  }
}

/** Each device as configured now: its layout and the generation hosts use. */
function deviceViews(emu: ArrayEmulator, config: ArrayConfig): Array<Record<string, unknown>> {
  return emu.model.devices.map((d) => {
    const def = config.devices.find((x) => x.id === d.id);
    return {
      id: d.id,
      bcvOf: d.bcvOf ?? null,
      bytes: d.bytes,
      generation: d.gen,
      layout: def?.layout ?? null,
      members: def && 'members' in def ? def.members.map((m) => m.drive) : [],
      stripeCylinders: def && 'stripeCylinders' in def ? def.stripeCylinders : null,
      cylinders: d.layout.cylinders,
    };
  });
}

function send(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
