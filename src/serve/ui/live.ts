// The live view's updates (DESIGN §13): Server-Sent Events at GET /v1/events. A page that connects
// gets `hello` (the geometry, every track's owner and cell byte); then every UPDATE_MS one `tick`
// for all pages: the cells that changed since the last tick (or all of them), the owners when a
// layout changed, and the figures of the moment (host I/O, FIG. 7 scenarios, reconfigurations,
// switch windows, throttle). One reading of the tables a tick, whatever the number of pages.
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { ArrayEmulator } from '../../runtime/emulator.ts';
import type { ArrayConfig } from '../../shared/config/config.ts';
import type { DeviceCounters } from '../nbd/backend.ts';
import { latencyDelta, latencyQuantileMs, newLatencyBuckets } from '../histogram.ts';
import { errorMessage } from '../../shared/errors/errors.ts';
import { cellChanges, layoutSignature, readCells, readOwners, viewGeometry } from './track-view.ts';

/** Time between two updates (ms): four a second. */
export const UPDATE_MS = 250;
/** Pages served updates at once; one more is refused (503). */
export const LIVE_PAGES_MAX = 16;
/** Waits of UPDATE_MS/10 for a running update before the last one is sent at close (bounded: 1 s). */
const CLOSE_WAIT_TURNS = 40;
/** Bytes of updates one page may leave unread before it is cut off (it reconnects). */
const PAGE_BUFFER_MAX_BYTES = 8 << 20;
/** Jobs whose ESTABLISH baseline is remembered (the oldest forgotten past this). */
const ESTABLISH_BASES_KEPT = 64;
/** Rebuilds whose last progress is kept for their rate (one per drive being rebuilt; cleared past this). */
const REBUILDS_KEPT = 64;
/** Switch windows listed (the most recent). */
const SWITCHES_SHOWN = 20;

/** Where the view's figures come from: `serve`'s array and its NBD exports, or an embedded run. */
export interface LiveSource {
  emu: ArrayEmulator;
  /**
   * Host I/O so far, counted where it enters (NBD requests: with bytes and a latency histogram), or
   * from the host adapters' status (`status`: embedded runs, ops only). Fetched fresh by `refresh`.
   */
  hostTotals(status: Record<string, Record<string, number>>): HostTotals;
  refresh(): Promise<void>;
  /** The reconfigurations shown: running and ended, newest last. */
  jobs(): Array<Record<string, unknown>>;
  /** The configuration the array runs now. */
  config(): ArrayConfig;
}

/** Host requests done so far; bytes and latencies where they are counted (null: not there). */
export interface HostTotals {
  ops: number;
  bytes: number | null;
  latency: number[] | null;
}

interface IoMark extends HostTotals {
  atMs: number;
}

/** Host totals over every NBD export's counters. */
export function nbdHostTotals(devices: Iterable<DeviceCounters>): HostTotals {
  const t: HostTotals = { ops: 0, bytes: 0, latency: newLatencyBuckets() };
  for (const c of devices) {
    t.ops += c.reads + c.writes;
    t.bytes! += c.readBytes + c.writtenBytes;
    c.latency.forEach((n, i) => (t.latency![i]! += n));
  }
  return t;
}

/** Host totals from the host adapters' status: requests only. */
export function adapterHostTotals(status: Record<string, Record<string, number>>): HostTotals {
  let ops = 0;
  for (const [actor, c] of Object.entries(status)) if (actor.startsWith('HA')) ops += (c.reads ?? 0) + (c.writes ?? 0);
  return { ops, bytes: null, latency: null };
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
  private readonly watchers = new Set<() => void>();
  /** Per job id: the disk adapters' ESTABLISH count when the job was first seen establishing. */
  private readonly establishBase = new Map<number, number>();
  /** Each rebuild's progress at the last tick (its rate is the change since). */
  private readonly lastRebuild = new Map<string, { done: number; atMs: number }>();

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
    for (const w of this.watchers) w();
    this.watchers.clear();
    res.on('close', () => {
      this.pages.delete(res);
      if (this.pages.size === 0) this.stop();
    });
    this.timer ??= setInterval(() => void this.tick(), UPDATE_MS);
  }

  /** Resolves once a page watches (at once if one does), or after `waitMs` (bounded): true if one does. */
  watched(waitMs: number): Promise<boolean> {
    if (this.pages.size > 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.watchers.delete(done);
        resolve(false);
      }, waitMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.watchers.add(done);
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stop, after one last update (what the run ended with reaches the pages), then end every stream. */
  async close(): Promise<void> {
    this.stop();
    for (let i = 0; this.ticking && i < CLOSE_WAIT_TURNS; i++) await new Promise((r) => setTimeout(r, UPDATE_MS / 10));
    await this.tick();
    for (const p of this.pages) p.end();
    this.pages.clear();
  }

  /** One update for every page (skipped while the last one is still being made: bounded to one at a time). */
  private async tick(): Promise<void> {
    if (this.ticking || this.pages.size === 0) return;
    this.ticking = true;
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
      for (const p of this.pages) {
        // A page that does not read its stream is cut off (its EventSource reconnects and starts
        // from a fresh hello) rather than buffered without bound.
        if (p.writableLength > PAGE_BUFFER_MAX_BYTES) {
          this.pages.delete(p);
          p.end();
          continue;
        }
        send(p, 'tick', update);
      }
    } catch (err) {
      for (const p of this.pages) send(p, 'problem', { error: errorMessage(err) });
    } finally {
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
    const copies = emu.driveStatus(); // one reading for the devices' copies and the drives
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
      host: this.hostFigures(this.src.hostTotals(status)),
      scenarios,
      jobs: this.withEstablished(
        jobs.filter((j) => j.state === 'running'),
        status,
      ),
      switches,
      background: emu.background(),
      devices: deviceViews(emu, this.src.config(), copies),
      drives: this.driveFigures(copies),
    };
  }

  /** The drives that are not simply ok, each rebuild with its rate and ETA since the last tick. */
  private driveFigures(status: DriveStatus): Array<Record<string, unknown>> {
    const atMs = performance.now();
    const out = status.drives
      .filter((d) => d.state !== 'ok' || d.inPlaceOf)
      .map((d) => {
        if (!d.rebuild || d.state !== 'rebuilding') return { ...d };
        const before = this.lastRebuild.get(d.id);
        const copiesPerSec =
          before && atMs > before.atMs
            ? Math.round(((d.rebuild.done - before.done) * 1000) / (atMs - before.atMs))
            : null;
        this.lastRebuild.set(d.id, { done: d.rebuild.done, atMs });
        const left = d.rebuild.total - d.rebuild.done;
        const etaSec = copiesPerSec ? Math.round((left / copiesPerSec) * 10) / 10 : null;
        return { ...d, copiesPerSec, etaSec };
      });
    if (this.lastRebuild.size > REBUILDS_KEPT) this.lastRebuild.clear();
    return out;
  }

  /**
   * ESTABLISH's own progress beside a job in that phase (its tracks done count only the transfer):
   * the tracks the disk adapters established since the job was first seen establishing.
   */
  private withEstablished(
    running: Array<Record<string, unknown>>,
    status: Record<string, Record<string, number>>,
  ): Array<Record<string, unknown>> {
    let total = 0;
    for (const [actor, c] of Object.entries(status)) if (actor.startsWith('DA')) total += c.established ?? 0;
    return running.map((j) => {
      if (j.phase !== 'establish') return j;
      const key = Number(j.id);
      const base = this.establishBase.get(key) ?? total;
      this.establishBase.set(key, base);
      if (this.establishBase.size > ESTABLISH_BASES_KEPT)
        this.establishBase.delete(this.establishBase.keys().next().value!);
      return { ...j, established: Math.max(0, total - base) };
    });
  }

  /** Host ops/s, MB/s and the latency quantiles since the last tick (null where not counted). */
  private hostFigures(totals: HostTotals): Record<string, number | null> {
    const now: IoMark = { ...totals, atMs: performance.now() };
    const before = this.lastIo;
    this.lastIo = now;
    if (!before) return { opsPerSec: 0, mbPerSec: totals.bytes === null ? null : 0, p50Ms: null, p99Ms: null };
    const sec = Math.max(1e-3, (now.atMs - before.atMs) / 1000);
    const hist = now.latency && before.latency ? latencyDelta(now.latency, before.latency) : undefined;
    return {
      opsPerSec: Math.round((now.ops - before.ops) / sec),
      mbPerSec:
        now.bytes === null || before.bytes === null
          ? null
          : Math.round(((now.bytes - before.bytes) / sec / 1e6) * 10) / 10,
      p50Ms: hist ? latencyQuantileMs(hist, 0.5) : null,
      p99Ms: hist ? latencyQuantileMs(hist, 0.99) : null,
    };
  }
}

/** Each device as configured now: its layout and the generation hosts use. */
type DriveStatus = ReturnType<ArrayEmulator['driveStatus']>;

function deviceViews(emu: ArrayEmulator, config: ArrayConfig, status: DriveStatus): Array<Record<string, unknown>> {
  const copies = new Map(status.devices.map((v) => [v.id, v]));
  return emu.model.devices.map((d) => {
    const def = config.devices.find((x) => x.id === d.id);
    const c = copies.get(d.id);
    return {
      state: c?.state ?? 'ok',
      mirrors: c?.mirrors ?? [],
      lostTracks: c?.lostTracks ?? 0,
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
