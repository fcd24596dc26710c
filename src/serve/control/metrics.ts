// GET /metrics: Prometheus text through prom-client. Per logical device the node_exporter-style
// counters (counted where host I/O enters: the NBD backend), per disk adapter its drives' queue
// and back-end link, cache slots by state, NBD connections and requests, and per session its
// tracks done and the PB, PS and IND bits still set (counted in the shared tables).
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Registry } from 'prom-client';
import { SLOT, NO_TRACK } from '../../shared/tables/memory.ts';
import { Session } from '../../shared/restripe/session.ts';
import { sessionBitCounts } from '../../shared/restripe/bits.ts';
import type { ArrayEmulator } from '../../runtime/emulator.ts';
import type { NbdCounters } from '../nbd/server.ts';
import type { DeviceCounters, DeviceIo } from '../nbd/backend.ts';
import type { Jobs } from './jobs.ts';
import { slotOwnerOf, slotStateOf } from '../../shared/tables/tables.ts';
import { trackFaultCounts } from '../../shared/drive-states/drive-state.ts';

export function arrayMetrics(emu: ArrayEmulator, io: DeviceIo, nbd: { counters: NbdCounters }, jobs: Jobs): Registry {
  const registry = new Registry();
  type Pick = (d: DeviceCounters) => number;
  const ld = (name: string, help: string, pick: Pick, kind: 'counter' | 'gauge' = 'counter') => {
    if (kind === 'gauge') {
      new Gauge({
        name: `arrayemu_ld_${name}`,
        help,
        labelNames: ['device'],
        registers: [registry],
        collect() {
          for (const [device, c] of io.devices) this.set({ device }, pick(c));
        },
      });
      return;
    }
    new Counter({
      name: `arrayemu_ld_${name}`,
      help,
      labelNames: ['device'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [device, c] of io.devices) this.inc({ device }, pick(c));
      },
    });
  };
  ld('reads_completed_total', 'Reads completed', (c) => c.reads);
  ld('read_bytes_total', 'Bytes read', (c) => c.readBytes);
  ld('read_time_seconds_total', 'Seconds spent by reads', (c) => c.readMs / 1000);
  ld('writes_completed_total', 'Writes completed', (c) => c.writes);
  ld('written_bytes_total', 'Bytes written', (c) => c.writtenBytes);
  ld('write_time_seconds_total', 'Seconds spent by writes', (c) => c.writeMs / 1000);
  ld('io_now', 'I/Os in progress', (c) => c.inFlight, 'gauge');
  adapterMetrics(registry, emu);
  cacheMetrics(registry, emu);
  nbdMetrics(registry, nbd);
  sessionMetrics(registry, emu, jobs);
  driveMetrics(registry, emu);
  return registry;
}

type RebuildFigures = NonNullable<ReturnType<ArrayEmulator['driveStatus']>['drives'][number]['rebuild']>;

/** One figure of each rebuild onto a spare under way (none where it has no value yet). */
function rebuildGauge(
  registry: Registry,
  drives: () => ReturnType<ArrayEmulator['driveStatus']>,
  name: string,
  what: string,
  value: (r: RebuildFigures) => number | null | undefined,
): void {
  new Gauge({
    name,
    help: `A rebuild onto a spare: ${what}`,
    labelNames: ['spare', 'in_place_of'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of drives().drives) {
        const v = d.rebuild && d.inPlaceOf && d.state === 'rebuilding' ? value(d.rebuild) : undefined;
        if (typeof v === 'number') this.set({ spare: d.id, in_place_of: d.inPlaceOf! }, v);
      }
    },
  });
}

/** Each drive's state (1 for the state it is in), each device's failed mirrors, the tracks with a fault of their own. */
function driveMetrics(registry: Registry, emu: ArrayEmulator): void {
  const drives = fresh(() => emu.driveStatus()); // one reading serves every gauge of a scrape
  new Gauge({
    name: 'arrayemu_drive_state',
    help: 'Drive state: 1 for the state the drive is in (ok, failed, rebuilding, spare)',
    labelNames: ['drive', 'adapter', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of drives().drives) this.set({ drive: d.id, adapter: d.adapter, state: d.state }, 1);
    },
  });
  new Gauge({
    name: 'arrayemu_rebuild_copies',
    help: 'A rebuild onto a spare: its copies rewritten (done) and to rewrite (total)',
    labelNames: ['spare', 'in_place_of', 'of'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of drives().drives)
        if (d.rebuild && d.inPlaceOf && d.state === 'rebuilding') {
          this.set({ spare: d.id, in_place_of: d.inPlaceOf, of: 'done' }, d.rebuild.done);
          this.set({ spare: d.id, in_place_of: d.inPlaceOf, of: 'total' }, d.rebuild.total);
        }
    },
  });
  rebuildGauge(
    registry,
    drives,
    'arrayemu_rebuild_eta_seconds',
    'seconds left at its rate since it started',
    (r) => r.etaSec,
  );
  rebuildGauge(
    registry,
    drives,
    'arrayemu_rebuild_copies_per_second',
    'copies rewritten a second since it started',
    (r) => r.copiesPerSec,
  );
  new Gauge({
    name: 'arrayemu_device_mirrors',
    help: "A device's copies (mirror 1 its own members) by state: ok or failed",
    labelNames: ['device', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of drives().devices)
        for (const state of ['ok', 'failed'] as const)
          this.set({ device: d.id, state }, d.mirrors.filter((m) => m.state === state).length);
    },
  });
  new Gauge({
    name: 'arrayemu_track_faults',
    help: 'Physical tracks with a fault now: media (reads fail), rot (reads return other bytes), lost (no copy left)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const f = trackFaultCounts(emu.state);
      for (const kind of ['media', 'rot', 'lost'] as const) this.set({ kind }, f[kind]);
    },
  });
}

/** How long one read of every adapter's status serves the metrics of a scrape (they collect at once). */
const STATUS_FRESH_MS = 100;

/** `read`, read again only when its last reading is older than STATUS_FRESH_MS (a scrape's metrics collect at once). */
function fresh<T>(read: () => T): () => T {
  let last: { atMs: number; value: T } | undefined;
  return () => {
    if (!last || performance.now() - last.atMs > STATUS_FRESH_MS) last = { atMs: performance.now(), value: read() };
    return last.value;
  };
}

function adapterMetrics(registry: Registry, emu: ArrayEmulator): void {
  const status = fresh(() => emu.status());
  type Value = (s: Record<string, number>) => number;
  const each = async (onlyDa: boolean, put: (adapter: string, s: Record<string, number>) => void) => {
    for (const [adapter, s] of Object.entries(await status())) if (!onlyDa || adapter.startsWith('DA')) put(adapter, s);
  };
  const gauge = (name: string, help: string, value: Value, onlyDa = true) =>
    new Gauge({
      name,
      help,
      labelNames: ['adapter'],
      registers: [registry],
      async collect() {
        await each(onlyDa, (adapter, s) => this.set({ adapter }, value(s)));
      },
    });
  // Totals the adapters keep: counters (only ever grow, but a replaced adapter starts again from 0, a reset to Prometheus).
  const counter = (name: string, help: string, value: Value) =>
    new Counter({
      name,
      help,
      labelNames: ['adapter'],
      registers: [registry],
      async collect() {
        this.reset();
        await each(true, (adapter, s) => this.inc({ adapter }, value(s)));
      },
    });
  gauge('arrayemu_adapter_up', 'Adapters answering', (s) => (s.exited ? 0 : 1), false);
  gauge(
    'arrayemu_adapter_thread_nice',
    "The nice value of each actor's thread (the service processor's is raised: DESIGN §3)",
    (s) => s.threadNice ?? 0,
    false,
  );
  gauge(
    'arrayemu_adapter_drive_queue_depth',
    "Requests waiting at the adapter's timed drives",
    (s) => s.driveQueued ?? 0,
  );
  counter(
    'arrayemu_adapter_link_busy_seconds_total',
    "Seconds the adapter's back-end link was busy",
    (s) => (s.channelBusyMs ?? 0) / 1000,
  );
  counter('arrayemu_adapter_destaged_total', 'Slots destaged to main locations', (s) => s.destaged ?? 0);
  counter('arrayemu_adapter_staged_total', 'Tracks staged into the cache', (s) => s.staged ?? 0);
  counter(
    'arrayemu_adapter_mirror_destaged_total',
    "Slots destaged to a mirror's or a BCV's location",
    (s) => s.mirrored ?? 0,
  );
  counter(
    'arrayemu_adapter_copies_dropped_total',
    'Copies not written because their drive had failed (another mirror carries the track)',
    (s) => s.copiesDropped ?? 0,
  );
}

function cacheMetrics(registry: Registry, emu: ArrayEmulator): void {
  new Gauge({
    name: 'arrayemu_cache_slots',
    help: 'Cache slots by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const st = emu.state;
      const n = { free: 0, clean: 0, write_pending: 0 };
      for (let s = 0; s < st.slots; s++) {
        if (slotOwnerOf(st, s) === NO_TRACK) n.free++;
        else if (slotStateOf(st, s) & SLOT.WP) n.write_pending++;
        else n.clean++;
      }
      for (const [state, v] of Object.entries(n)) this.set({ state }, v);
    },
  });
}

function nbdMetrics(registry: Registry, nbd: { counters: NbdCounters }): void {
  new Gauge({
    name: 'arrayemu_nbd_connections',
    help: 'NBD connections open',
    registers: [registry],
    collect() {
      this.set(nbd.counters.connectionsOpen);
    },
  });
  new Counter({
    name: 'arrayemu_nbd_connections_total',
    help: 'NBD connections accepted',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(nbd.counters.connections);
    },
  });
  new Counter({
    name: 'arrayemu_nbd_requests_total',
    help: 'NBD requests by command and result',
    labelNames: ['command', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, v] of nbd.counters.requests) {
        const [command, result] = key.split(' ');
        this.inc({ command, result }, v);
      }
    },
  });
}

function sessionMetrics(registry: Registry, emu: ArrayEmulator, jobs: Jobs): void {
  const progress = (name: string, help: string, value: (p: { tracksMoved: number; tracksTotal: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['device'],
      registers: [registry],
      collect() {
        this.reset();
        for (const j of jobs.running()) this.set({ device: j.device }, j.progress ? value(j.progress) : 0);
      },
    });
  resumedMetrics(registry, emu, jobs);
  progress('arrayemu_session_tracks_done', 'Tracks the session has moved', (p) => p.tracksMoved);
  progress('arrayemu_session_tracks_total', 'Tracks the session moves', (p) => p.tracksTotal);
  const sessions = new Map<number, Session>(); // built once per session from its spec (layouts and inverses)
  new Gauge({
    name: 'arrayemu_session_bits',
    help: "PB, PS and IND bits of each open session still set, over that session's own locations",
    labelNames: ['device', 'bit'],
    registers: [registry],
    async collect() {
      this.reset();
      const open = await emu.openSessions();
      for (const sid of sessions.keys()) if (!open.some((s) => s.sid === sid)) sessions.delete(sid);
      for (const spec of open) {
        if (!sessions.has(spec.sid)) sessions.set(spec.sid, new Session(spec));
        const n = sessionBitCounts(emu.state, sessions.get(spec.sid)!);
        for (const bit of ['pb', 'ps', 'ind'] as const) this.set({ device: spec.deviceId, bit }, n[bit]);
      }
    },
  });
}

/** What the last start took up from the data dir: the commit it came from, and each restripe it resumed and from where. */
function resumedMetrics(registry: Registry, emu: ArrayEmulator, jobs: Jobs): void {
  new Gauge({
    name: 'arrayemu_restart_commit',
    help: 'The data dir commit this start came back from (0: started from a configuration, nothing recovered)',
    registers: [registry],
    collect() {
      this.set(emu.recovery?.commit ?? 0);
    },
  });
  new Gauge({
    name: 'arrayemu_session_resumed_tracks_left',
    help: 'Tracks a restripe interrupted by a crash still had to move when this start resumed it (stage: opened = before the switch, started again; switched = after it, resumed from its bits)',
    labelNames: ['device', 'stage', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const id of jobs.ids()) {
        const j = jobs.get(id)!;
        if (j.resumed) this.set({ device: j.device, stage: j.resumed.stage, state: j.state }, j.resumed.tracksLeft);
      }
    },
  });
}
