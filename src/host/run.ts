// Runs a verifying workload against a running array: host processors in a piscina pool (threads
// mode) or in this thread (inline mode), one shared verifier, one merged summary.
import { Piscina } from 'piscina';
import { poolModule } from '../runtime/worker-code.ts';
import * as hdr from 'hdr-histogram-js';
import type { ArrayEmulator } from '../runtime/emulator.ts';
import { HostClient } from './client.ts';
import { createVerifierBuffers, Verifier, type VerifierBuffers, type VerifyDevice } from './verifier.ts';
import {
  CONTROL,
  controlWords,
  newLatencyHistogram,
  runHostProcessor,
  type HotSpot,
  type ProcessorResult,
  type WorkloadSpec,
} from './workload.ts';
import type { HostProcessorTask } from './host-processor.ts';
import { loadWord, storeWord } from '../shared/tables/words.ts';

export interface RunOptions {
  hostProcessors: number;
  /**
   * Threads mode: run the host processors in this thread (host clients over links to the host
   * adapters' workers, reconnecting to a replacement) rather than on a pool of their own.
   */
  hostProcessorsHere?: boolean;
  /**
   * Inline too, processor i talks to host adapter i mod hostAdapters, as threads always do (a sweep's
   * host-adapter counts). Off, inline processors all talk to HA0, as stress seeds always have.
   */
  spreadOverHostAdapters?: boolean;
  ops?: number; // in all, shared out between processors
  seconds?: number;
  queueDepth: number;
  readPct: number;
  blockBytes: number;
  pattern: 'random' | 'sequential';
  seed: number;
  devices?: string[]; // default: every non-BCV device
  verify?: boolean; // default true
  /** Byte ranges that `hotPct` percent of the requests aim at (see WorkloadSpec). */
  hotSpots?: HotSpot[];
  hotPct?: number;
  /** Largest size each device may reach during the run (a reconfiguration may grow it). */
  maxBytes?: Record<string, number>;
  /**
   * The verifier's shared state, to continue checking across several workloads on the same array
   * (a fresh verifier would not know what an earlier workload wrote).
   */
  verifier?: VerifierBuffers;
}

export interface HostSummary {
  reads: number;
  writes: number;
  bytes: number;
  ioErrors: number;
  /** Requests failed because their host adapter went away (a fault). */
  lostWithAdapter: number;
  verifyErrors: number;
  iops: number;
  mbPerSec: number;
  elapsedMs: number;
  latencyMs: { p50: number; p99: number; max: number };
  described: string[];
  /**
   * Host processors on threads of their own (a pool): how busy their threads were, the mean (0-1).
   * Near 1, the load generator, not the array, bounds the figures.
   */
  hostProcessorsBusy?: number;
}

const HOST_PROCESSOR = new URL('./host-processor.ts', import.meta.url).href;

export function verifyDevices(emu: ArrayEmulator, ids?: string[]): VerifyDevice[] {
  const devs = ids ? ids.map((id) => emu.model.device(id)) : emu.model.hostDevices();
  return devs.map((d) => ({ id: d.id, index: d.index, bytes: d.bytes }));
}

export interface RunningWorkload {
  /** Resolves with the merged summary once every processor has finished. */
  done: Promise<HostSummary>;
  /** Ask every processor to stop after its requests in flight. */
  stop(): void;
  /** Operations completed so far by every processor. */
  opsDone(): number;
  /** The device grew (or shrank back): requests may address `bytes` from now on. */
  setDeviceBytes(deviceId: string, bytes: number): void;
}

export function startWorkload(emu: ArrayEmulator, opts: RunOptions): RunningWorkload {
  const devices = verifyDevices(emu, opts.devices);
  const verifierBuffers =
    opts.verifier ??
    createVerifierBuffers(devices.map((d) => ({ ...d, bytes: Math.max(d.bytes, opts.maxBytes?.[d.id] ?? 0) })));
  const controlBuffer = new SharedArrayBuffer(controlWords(emu.model.devices.length) * Int32Array.BYTES_PER_ELEMENT);
  const control = new Int32Array(controlBuffer);
  const unit = emu.model.trackBytes;
  control[CONTROL.UNIT_BYTES] = unit;
  for (const d of devices) control[CONTROL.DEVICE_UNITS + d.index] = Math.floor(d.bytes / unit);
  const n = Math.max(1, opts.hostProcessors);
  const specs: WorkloadSpec[] = Array.from({ length: n }, (_, i) => ({
    devices,
    ops: opts.ops === undefined ? undefined : Math.floor(opts.ops / n) + (i < opts.ops % n ? 1 : 0),
    seconds: opts.seconds,
    queueDepth: opts.queueDepth,
    readPct: opts.readPct,
    blockBytes: opts.blockBytes,
    pattern: opts.pattern,
    seed: opts.seed * 1000 + i,
    control: controlBuffer,
    processors: n,
    verify: opts.verify,
    hotSpots: opts.hotSpots,
    hotPct: opts.hotPct,
  }));
  let results: Promise<ProcessorResult[]>;
  if (emu.mode === 'inline' || opts.hostProcessorsHere) {
    // Inline, every processor talks to HA0 (as seeds have always run) unless asked to spread; threads spread them out.
    const spread = emu.mode !== 'inline' || opts.spreadOverHostAdapters === true;
    const ha = (i: number) => (spread ? i % emu.model.config.hostAdapters : 0);
    results = Promise.all(
      specs.map((spec, i) =>
        runHostProcessor(
          new HostClient(emu.hostLink(ha(i)), () => emu.hostLink(ha(i))),
          new Verifier(verifierBuffers),
          spec,
        ),
      ),
    );
  } else {
    const hostAdapters = emu.model.config.hostAdapters;
    const ports = specs.map((_, i) => emu.hostPort(i % hostAdapters));
    // The host processors' code bundled like the actors' (worker-code.ts): no loader hooks in their threads.
    results = poolModule(HOST_PROCESSOR).then(({ filename, execArgv }) => {
      const pool = new Piscina({
        filename,
        execArgv,
        minThreads: n,
        maxThreads: n,
        atomics: 'disabled',
        idleTimeout: 1000,
      });
      return Promise.all(
        specs.map((spec, i) => {
          const task: HostProcessorTask = { port: ports[i]!, verifier: verifierBuffers, spec };
          return pool.run(task, { transferList: [ports[i]!] }) as Promise<ProcessorResult>;
        }),
      ).finally(() => pool.destroy());
    });
  }
  return {
    stop: () => storeWord(control, CONTROL.STOP, 1),
    opsDone: () => loadWord(control, CONTROL.OPS_DONE),
    setDeviceBytes: (deviceId, bytes) => {
      const d = devices.find((x) => x.id === deviceId);
      if (d) storeWord(control, CONTROL.DEVICE_UNITS + d.index, Math.floor(bytes / unit));
    },
    // Throughput counts the I/O phase of the processors, not the start of the pool's threads.
    done: results.then((rs) => summarize(rs, Math.max(1, ...rs.map((r) => r.elapsedMs)))),
  };
}

export async function runWorkload(emu: ArrayEmulator, opts: RunOptions): Promise<HostSummary> {
  return startWorkload(emu, opts).done;
}

function summarize(rs: ProcessorResult[], elapsedMs: number): HostSummary {
  const hist = newLatencyHistogram();
  for (const r of rs) hist.add(hdr.decodeFromCompressedBase64(r.latencyUs));
  const sum = (f: (r: ProcessorResult) => number) => rs.reduce((n, r) => n + f(r), 0);
  const reads = sum((r) => r.reads);
  const writes = sum((r) => r.writes);
  const bytes = sum((r) => r.bytes);
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    reads,
    writes,
    bytes,
    ioErrors: sum((r) => r.ioErrors),
    lostWithAdapter: sum((r) => r.lostWithAdapter),
    verifyErrors: sum((r) => r.verifyErrors),
    iops: Math.round(((reads + writes) / elapsedMs) * 1000),
    mbPerSec: Math.round((bytes / 1048576 / (elapsedMs / 1000)) * 10) / 10,
    elapsedMs: Math.round(elapsedMs),
    latencyMs: {
      p50: ms(hist.getValueAtPercentile(50)),
      p99: ms(hist.getValueAtPercentile(99)),
      max: ms(hist.maxValue),
    },
    described: rs.flatMap((r) => r.described).slice(0, 10),
    ...busyOf(rs),
  };
}

/** The host processors' threads' mean busy share, where they ran on threads of their own. */
function busyOf(rs: ProcessorResult[]): Pick<HostSummary, 'hostProcessorsBusy'> {
  const busy = rs.flatMap((r) => (r.threadBusy === undefined ? [] : [r.threadBusy]));
  if (busy.length === 0) return {};
  return { hostProcessorsBusy: Math.round((busy.reduce((a, b) => a + b, 0) / busy.length) * 100) / 100 };
}

/** Hosts during something (a restripe) against before it. */
export interface HostsDuring {
  /** ops/s and p99 during ÷ before, two decimals. */
  opsRatio: number;
  p99Ratio: number;
  opsPerSecBefore: number;
  opsPerSecDuring: number;
  p99MsBefore: number;
  p99MsDuring: number;
}

/** Hosts during something (a restripe) against before it: ops/s and p99, and their ratios (two decimals). */
export function duringOverBefore(before: HostSummary, during: HostSummary): HostsDuring {
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    opsRatio: r2(during.iops / Math.max(1, before.iops)),
    p99Ratio: r2(during.latencyMs.p99 / Math.max(0.001, before.latencyMs.p99)),
    opsPerSecBefore: before.iops,
    opsPerSecDuring: during.iops,
    p99MsBefore: before.latencyMs.p99,
    p99MsDuring: during.latencyMs.p99,
  };
}
