// The sweep's shapes: its options, its points and their restripe figures (results.json).
import type { DriveModelPreset } from '../shared/config/drive-models.ts';

export const SWEEP_RESTRIPES = ['expand', 'stripe-change', 'both'] as const;
export type SweepRestripe = (typeof SWEEP_RESTRIPES)[number];

import type { SweepTrace } from './sweep-trace.ts';

export const SWEEP_WORKLOADS = ['randread', 'randwrite', 'randrw', 'seqread', 'seqwrite'] as const;
export type SweepWorkload = (typeof SWEEP_WORKLOADS)[number];

/** What a named workload asks of the host processors: its share of reads and its access pattern. */
export function workloadShape(w: SweepWorkload): { readPct: number; pattern: 'random' | 'sequential' } {
  return {
    readPct: w.endsWith('read') ? 100 : w.endsWith('write') ? 0 : 50,
    pattern: w.startsWith('seq') ? 'sequential' : 'random',
  };
}

export interface SweepOptions {
  diskAdapters: number[];
  hostAdapters: number[];
  drivesPerAdapter: number;
  driveModel: DriveModelPreset;
  workload: SweepWorkload;
  blockBytes: number;
  /** Requests in flight per main drive. */
  queueDepth: number;
  /** Seconds of load per point (simulated, or real with clock 'real'). */
  seconds: number;
  seed: number;
  /** 'virtual' (default): the discrete-event clock; 'real': worker threads in real time (drives wait for real). */
  clock?: 'virtual' | 'real';
  /** Restripe under the load at each point (expansion onto the last adapter's drives, and/or the stripe halved). */
  restripe?: SweepRestripe;
  /** Cylinders of each member of the device a restripe moves (a small device: every track is copied twice). */
  restripeCylinders?: number;
  /** Cylinders of each drive, at most the preset's (short-stroked: the outer cylinders only); default the preset's full size. */
  driveCylinders?: number;
  /** Each disk adapter's back-end link (MB/s); default DEFAULT_CHANNEL_MBPS. */
  channelMBps?: number;
  /** Check every read of the load against what was written (default); false for pure timing runs. */
  verify?: boolean;
  /** What a read miss stages (the array's `cache.stage`); default partial. */
  stage?: 'partial' | 'track';
  /** Replay this block trace at each point instead of the synthetic workload (sweep-trace.ts). */
  trace?: SweepTrace;
}

export interface RestripeFigures {
  kind: SweepRestripe;
  tracks: number;
  /** The restripe under the point's host load (virtual ms). */
  durationMs: number;
  /** The same restripe with no host load. */
  idleDurationMs: number;
  /** The least time the restripe can take: the larger of the drive bound and the channel bound. */
  lowerBoundMs: number;
  /** Drive bound: bytes the busiest drive reads and writes ÷ its outer-zone media rate. */
  driveBoundMs: number;
  /** Channel bound: bytes the busiest disk adapter's back-end link carries ÷ its MB/s. */
  channelBoundMs: number;
  boundBy: 'drive' | 'channel';
  idleOverBound: number;
  /** Host throughput and p99 during the restripe, each against before it. */
  hostOpsDuringRatio: number;
  hostP99DuringRatio: number;
}

export interface SweepPoint {
  diskAdapters: number;
  hostAdapters: number;
  drives: number;
  iops: number;
  mbps: number;
  latencyMs: { p50: number; p99: number };
  restripe: RestripeFigures | null;
  store: 'sparse' | 'dense';
  clock: 'virtual' | 'real';
  /** Time the load ran: simulated ms (virtual) or ms of real time. */
  simulatedMs: number;
  requests: number;
  /** The point could not run (its figures are zeros): why. The sweep goes on to the next. */
  error?: string;
  /**
   * How fast the simulator ran the point's load (virtual time only; wall-clock figures, so printed
   * and in `--json`, never in results.json, which stays the same run to run).
   */
  simulator?: SimulatorSpeed;
}

/** The discrete-event clock's own speed over a point's load, as OMNeT++ reports ev/s and simsec/sec. */
export interface SimulatorSpeed {
  /** Wall-clock ms the load took (the array's start and stop left out). */
  wallMs: number;
  /** Scheduler steps (events: a task run, a timer fired) in it. */
  steps: number;
  eventsPerSec: number;
  /** Simulated seconds per wall second. */
  simSecPerSec: number;
  /** Host requests completed per wall second. */
  requestsPerSec: number;
  stepsPerRequest: number;
}
