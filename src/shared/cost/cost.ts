// What an adapter's own work costs in time, when the array has timed drives: a host adapter's
// ports (a command cost and a transfer at the port's MB/s for every host request, a cache hit
// included) and a disk adapter's command cost per drive access (charged on its back-end link, see
// src/drives/timing/channel.ts). Arrays of instant drives cost nothing, as before.
import { assert } from '../errors/assert.ts';
import type { ArrayConfig } from '../config/config.ts';
import { modelPreset } from '../config/drive-models.ts';
import { RESOLVED, sched, sleep } from '../sched/sched.ts';

/**
 * Host adapter defaults: two 2 Gb/s Fibre Channel ports (about 200 MB/s of payload each), and
 * about 30 µs of director processor per command (front-end directors of the patent's era served
 * some tens of thousands of commands a second per processor).
 */
export const DEFAULT_HOST_PORTS = 2;
export const DEFAULT_PORT_MBPS = 200;
export const DEFAULT_HA_COMMAND_MS = 0.03;
/** A disk adapter's processor time per drive command (the same class of director processor). */
export const DEFAULT_DA_COMMAND_MS = 0.03;
/**
 * Below this a real-time wait is not taken (timers resolve to about 1 ms): the port's own clock
 * still advances, so a backlog beyond it is waited for and throughput stays bounded by the ports.
 */
export const REAL_WAIT_MIN_MS = 1;

/** Whether any drive of the array has a timing model (then adapters cost time too). */
export function arrayIsTimed(cfg: ArrayConfig): boolean {
  return cfg.drives.some((d) => modelPreset(d.model) !== 'instant');
}

/** What a random read miss stages (config `cache.stage`, `auto` resolved: partial on timed drives, the whole track on instant ones). */
export function stagePolicy(cfg: ArrayConfig): 'partial' | 'track' {
  const asked = cfg.cache.stage;
  if (asked !== 'auto') return asked;
  return arrayIsTimed(cfg) ? 'partial' : 'track';
}

/** A resource of `lanes` identical lanes (a host adapter's ports), each with the time it is next free. */
export class Lanes {
  private readonly freeMs: number[];
  busyMs = 0;
  commands = 0;

  constructor(lanes: number) {
    assert(Number.isInteger(lanes) && lanes >= 1, () => `${lanes} lanes`);
    this.freeMs = new Array<number>(lanes).fill(0);
  }

  /** Occupy the first free lane for `ms`, not before `readyMs`; returns when that work is done. */
  take(ms: number, readyMs: number): number {
    let lane = 0;
    for (let i = 1; i < this.freeMs.length; i++) if (this.freeMs[i]! < this.freeMs[lane]!) lane = i;
    const done = Math.max(readyMs, this.freeMs[lane]!) + ms;
    this.freeMs[lane] = done;
    this.busyMs += ms;
    this.commands++;
    return done;
  }
}

/** Wait until `doneMs` on the scheduler's clock: exactly in virtual time, and only a backlog of REAL_WAIT_MIN_MS or more in real time. */
export function until(doneMs: number): Promise<void> {
  const waitMs = doneMs - sched().now();
  if (waitMs <= 0 || (sched().kind === 'real' && waitMs < REAL_WAIT_MIN_MS)) return RESOLVED;
  return sleep(waitMs); // not an async function: no second promise around the sleep's
}

/** A host adapter's ports: what each request costs, and when it is through. */
export class HostPorts {
  private readonly lanes: Lanes;
  private readonly commandMs: number;
  private readonly bytesPerMs: number;

  constructor(cfg: ArrayConfig) {
    const h = cfg.hostAdapter ?? {};
    this.lanes = new Lanes(h.ports ?? DEFAULT_HOST_PORTS);
    this.commandMs = h.commandMs ?? DEFAULT_HA_COMMAND_MS;
    this.bytesPerMs = (h.portMBps ?? DEFAULT_PORT_MBPS) * 1000;
  }

  /** A command moving `bytes` through a port: its command cost and transfer, waited for. */
  pass(bytes: number): Promise<void> {
    return until(this.lanes.take(this.commandMs + bytes / this.bytesPerMs, sched().now()));
  }

  get busyMs(): number {
    return this.lanes.busyMs;
  }
}
