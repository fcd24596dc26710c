// Trace replay on one bare drive (no array cache): the way drive models are validated. In virtual
// time: each request's response time is the model's, and where the trace carries measured ones
// the demerit (RMS horizontal distance between the two response-time distributions) says how
// close the model is.
import { ArrayError } from '../shared/errors/errors.ts';
import type { DriveTiming, Served } from '../drives/timing/hdd-model.ts';
import type { TraceRecord } from './trace.ts';
import type { ArrayEmulator } from '../runtime/emulator.ts';
import { HostClient } from '../host/client.ts';
import { SECTOR_BYTES } from '../shared/config/config.ts';
import { sched, sleep } from '../shared/sched/sched.ts';

export interface ReplayResult {
  requests: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  measuredMeanMs: number | null;
  demeritMs: number | null;
  /** (simulated mean − measured mean) / measured mean, in % (negative: the model is faster); null without measured times. */
  meanErrorPct: number | null;
  /** Simulated response time of each request, in trace order (ms). */
  responsesMs: number[];
  /** The simulated response-time CDF at every 5th percentile. */
  cdf: CdfPoint[];
  /** The measured one at the same percentiles (null: the trace carries no response times). */
  measuredCdf: CdfPoint[] | null;
  /** The trace's measured response times, sorted (ms; null: it carries none). */
  measuredSortedMs: number[] | null;
}

/** A fraction of the requests and the response time (ms) they finished within. */
export interface CdfPoint {
  fraction: number;
  ms: number;
}

/** Points of a CDF drawn from `sorted` response times. */
export const CDF_POINTS = 20;

/** The CDF of `sorted` (ascending) at `points` evenly spaced fractions. */
export function cdfOf(sorted: number[], points = CDF_POINTS): CdfPoint[] {
  return Array.from({ length: points }, (_, k) => ({
    fraction: (k + 1) / points,
    ms: round(pct(sorted, (k + 1) / points)),
  }));
}

/** Refuse a request past the end of the drive before anything runs, naming its line. */
export function checkTraceFits(recs: TraceRecord[], totalBlocks: number, what: string): void {
  for (const r of recs) {
    if (r.lbn + r.blocks > totalBlocks)
      throw new ArrayError(
        'USAGE',
        `trace line ${r.line}: blocks ${r.lbn}..${r.lbn + r.blocks - 1} lie past the end of ${what} (${totalBlocks} blocks)`,
      );
  }
}

const req = (r: TraceRecord, id: number) => ({ id, lbn: r.lbn, blocks: r.blocks, write: r.write });

/** Open loop: each request arrives at its own time, whatever the drive is doing. */
function openLoop(model: DriveTiming, recs: TraceRecord[]): number[] {
  const resp = new Array<number>(recs.length).fill(0);
  const queue: Array<{ id: number; lbn: number; blocks: number; write: boolean }> = [];
  let next = 0;
  let free = 0;
  while (next < recs.length || queue.length > 0) {
    if (queue.length === 0) {
      const arrival = recs[next]!.timeMs;
      // Idle until the next arrival: the write cache destages meanwhile.
      if (model.writeBehind.length > 0 && arrival > free) {
        free = model.destageOne(free)!.freeMs;
        continue;
      }
      free = Math.max(free, arrival);
    }
    while (next < recs.length && recs[next]!.timeMs <= free) queue.push(req(recs[next]!, next++));
    const [r] = queue.splice(model.pick(queue, free), 1);
    while (model.mustDestageFirst(r!)) free = model.destageOne(free)!.freeMs; // a full write cache makes room first
    const s: Served = model.serve(r!, Math.max(free, recs[r!.id]!.timeMs));
    free = s.freeMs;
    resp[r!.id] = s.doneMs - recs[r!.id]!.timeMs;
  }
  return resp;
}

/**
 * Closed loop: one request at a time, each issued a think time after the previous completed, the
 * think time taken from the trace: next timestamp − (this timestamp + this measured response).
 */
function closedLoop(model: DriveTiming, recs: TraceRecord[]): number[] {
  const resp: number[] = [];
  let arrival = 0;
  let free = 0;
  for (let i = 0; i < recs.length; i++) {
    while (model.writeBehind.length > 0 && free < arrival) free = model.destageOne(free)!.freeMs;
    while (model.mustDestageFirst(req(recs[i]!, i))) free = model.destageOne(free)!.freeMs;
    const s = model.serve(req(recs[i]!, i), Math.max(free, arrival));
    free = s.freeMs;
    resp.push(s.doneMs - arrival);
    const r = recs[i]!;
    const nextTs = recs[i + 1]?.timeMs;
    const think = nextTs === undefined ? 0 : Math.max(0, nextTs - (r.timeMs + (r.responseMs ?? 0)));
    arrival = s.doneMs + think;
  }
  return resp;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
const round = (x: number) => Math.round(x * 1000) / 1000;

export function replayOnDrive(model: DriveTiming, recs: TraceRecord[], opts: { closedLoop: boolean }): ReplayResult {
  checkTraceFits(recs, model.totalBlocks, `the ${model.name}`);
  return summarize(recs, opts.closedLoop ? closedLoop(model, recs) : openLoop(model, recs));
}

/**
 * Replay through a whole array, on logical device `device` (its bytes from 0), in virtual time:
 * the caller runs this under the discrete-event scheduler. Open loop issues each request at its
 * timestamp; closed loop one at a time with the trace's think times. Writes carry zeros.
 */
export async function replayOnArray(
  emu: ArrayEmulator,
  device: string,
  recs: TraceRecord[],
  opts: { closedLoop: boolean },
): Promise<ReplayResult> {
  const dev = emu.model.device(device);
  checkTraceFits(recs, Math.floor(dev.bytes / SECTOR_BYTES), `device ${device}`);
  const client = new HostClient(emu.hostLink(0));
  const resp = new Array<number>(recs.length).fill(0);
  const one = async (r: TraceRecord, i: number) => {
    const t0 = sched().now();
    if (r.write) await client.write(device, r.lbn * SECTOR_BYTES, new Uint8Array(r.blocks * SECTOR_BYTES));
    else await client.read(device, r.lbn * SECTOR_BYTES, r.blocks * SECTOR_BYTES);
    resp[i] = sched().now() - t0;
  };
  try {
    if (opts.closedLoop) {
      for (let i = 0; i < recs.length; i++) {
        await one(recs[i]!, i);
        const r = recs[i]!;
        const nextTs = recs[i + 1]?.timeMs;
        if (nextTs !== undefined) await sleep(Math.max(0, nextTs - (r.timeMs + (r.responseMs ?? 0))));
      }
    } else {
      const t0 = sched().now();
      await Promise.all(recs.map((r, i) => sleep(Math.max(0, t0 + r.timeMs - sched().now())).then(() => one(r, i))));
    }
  } finally {
    client.close();
  }
  return summarize(recs, resp);
}

function summarize(recs: TraceRecord[], responsesMs: number[]): ReplayResult {
  const sorted = [...responsesMs].sort((a, b) => a - b);
  const measured = recs.every((r) => r.responseMs !== undefined)
    ? recs.map((r) => r.responseMs!).sort((a, b) => a - b)
    : undefined;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Both distributions at the same n quantiles: the horizontal distance is the gap of the sorted values.
  const demerit = measured ? Math.sqrt(mean(sorted.map((x, i) => (x - measured[i]!) ** 2))) : null;
  return {
    requests: recs.length,
    meanMs: round(mean(sorted)),
    p50Ms: round(pct(sorted, 0.5)),
    p90Ms: round(pct(sorted, 0.9)),
    p99Ms: round(pct(sorted, 0.99)),
    measuredMeanMs: measured ? round(mean(measured)) : null,
    demeritMs: demerit === null ? null : round(demerit),
    meanErrorPct: measured ? Math.round((1000 * (mean(sorted) - mean(measured))) / mean(measured)) / 10 : null,
    responsesMs,
    cdf: cdfOf(sorted),
    measuredCdf: measured ? cdfOf(measured) : null,
    measuredSortedMs: measured ?? null,
  };
}
