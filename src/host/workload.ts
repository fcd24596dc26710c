// A host processor's workload: queueDepth concurrent request loops over the target devices,
// every write stamped and every read checked by the verifier.
import * as hdr from 'hdr-histogram-js';
import type { HostClient } from './client.ts';
import { Verifier, type VerifyDevice } from './verifier.ts';
import { SECTOR_BYTES } from '../shared/config/constants.ts';
import { assert } from '../shared/errors/assert.ts';
import { errorCode, errorMessage } from '../shared/errors/errors.ts';
import { mulberry32, sched, waitWord } from '../shared/sched/sched.ts';
import { addWord, loadWord } from '../shared/tables/words.ts';
import { blankPick, unverifiedLoops, type LoopTally, type PickedRequest } from './unverified-loops.ts';

export interface WorkloadSpec {
  devices: VerifyDevice[];
  /** Operations this processor issues (or run for `seconds`). */
  ops?: number;
  seconds?: number;
  queueDepth: number;
  readPct: number; // 0..100
  blockBytes: number; // multiple of 512
  pattern: 'random' | 'sequential';
  seed: number;
  /** false: no stamping or checking (benchmarks measure the array, not the verifier). Default true. */
  verify?: boolean;
  /**
   * Hot spots: byte ranges that `hotPct` percent of the requests aim at (e.g. the logical tracks
   * whose location both layouts of a restripe share). A spot past the device's current end is
   * skipped for that request (the device has not grown yet).
   */
  hotSpots?: HotSpot[];
  hotPct?: number; // 0..100
  /** Stop early once the CONTROL.STOP word is non-zero (set by whoever runs the workload). */
  control?: SharedArrayBuffer;
  /** Processors sharing `control`: each waits at the start line until all have arrived. */
  processors?: number;
}

/**
 * Wait until `processors` processors have reached the start line (bounded): a processor whose
 * thread loaded first would otherwise run alone, beside the others' loading, and count that.
 */
async function startLine(control: Int32Array, processors: number): Promise<void> {
  addWord(control, CONTROL.READY, 1);
  sched().notify(control, CONTROL.READY);
  const deadline = sched().now() + START_LINE_WAIT_MS;
  for (let seen = loadWord(control, CONTROL.READY); seen < processors; seen = loadWord(control, CONTROL.READY)) {
    if (sched().now() > deadline)
      throw new Error(
        `workload: ${seen} of ${processors} host processors at the start line after ${START_LINE_WAIT_MS} ms`,
      );
    await waitWord(control, CONTROL.READY, seen, 50);
  }
}

/** Words of a workload's control buffer (Int32, shared by every processor of one run). */
export const CONTROL = {
  STOP: 0, // non-zero: every processor stops after its requests in flight
  OPS_DONE: 1, // operations completed by every processor
  READY: 2, // processors loaded and waiting at the start line: none starts its clock before all are
  UNIT_BYTES: 3, // the unit of the device sizes below: the array's track (a device is whole tracks)
  // + device index: the device's current size in UNIT_BYTES (a reconfiguration may grow it); in
  // sectors it would overflow an Int32 past 1 TiB, which full-size drives reach at two adapters
  DEVICE_UNITS: 4,
} as const;
/** Longest a processor waits at the start line for the others (their threads still loading). */
const START_LINE_WAIT_MS = 60_000;
export const controlWords = (devices: number): number => CONTROL.DEVICE_UNITS + devices;

export interface HotSpot {
  device: string;
  offsetBytes: number;
  lengthBytes: number;
}

export interface ProcessorResult {
  reads: number;
  writes: number;
  bytes: number;
  ioErrors: number;
  /** Requests failed because their host adapter went away (HOST_ADAPTER_LOST): a fault, not a bug. */
  lostWithAdapter: number;
  verifyErrors: number;
  described: string[]; // first verify or I/O errors, in words
  latencyUs: string; // HDR histogram, compressed base64
  elapsedMs: number;
  /** A host processor on a thread of its own: how busy that thread was (0-1, its event loop's active share). */
  threadBusy?: number;
}

export function newLatencyHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

/** Errors a processor describes in words (the first ones). */
const DESCRIBED_MAX = 10;

/** One read or write, stamped and checked by the verifier; a read lands in `readBuf` (its loop's own). */
async function verifiedRequest(
  client: HostClient,
  verifier: Verifier,
  readBuf: Uint8Array,
  { dev, offsetBytes, lengthBytes, isRead }: PickedRequest,
): Promise<void> {
  if (isRead) {
    const into = lengthBytes !== readBuf.length ? readBuf.subarray(0, lengthBytes) : readBuf;
    const check = verifier.beginRead(dev, offsetBytes, lengthBytes);
    verifier.endRead(check, await client.readInto(dev.id, offsetBytes, into));
  } else {
    const { writeId, data } = verifier.beginWrite(dev, offsetBytes, lengthBytes);
    await client.write(dev.id, offsetBytes, data);
    verifier.ackWrite(dev, offsetBytes, lengthBytes, writeId);
  }
}

/**
 * One of a verifying workload's loops, one request in flight at a time (awaited: a seed's
 * interleavings are those of these awaits, and replay as they always have).
 */
async function verifyingLoop(
  client: HostClient,
  verifier: Verifier,
  tally: LoopTally,
  blockBytes: number,
): Promise<void> {
  let readBuf = new Uint8Array(blockBytes);
  while (tally.more()) {
    const req = tally.pick(blankPick()); // its own: awaited
    const began = sched().now();
    try {
      await verifiedRequest(client, verifier, readBuf, req);
      tally.ok(req.isRead, req.lengthBytes, began);
    } catch (err) {
      // A request that failed here may still be worked on where it went: its buffer is not reused.
      if (req.isRead) readBuf = new Uint8Array(blockBytes);
      tally.failed(err, req.isRead, req.dev, req.offsetBytes, req.lengthBytes);
    }
  }
}

/**
 * The workload's next request: a block of a device at random (or in sequence), or with `hotPct`
 * percent a sector range inside a hot spot. Draws from `rand` in a fixed order (a seed replays).
 */
function requestPicker(
  spec: WorkloadSpec,
  rand: () => number,
  sizeOf: (dev: VerifyDevice) => number,
): (out: PickedRequest) => PickedRequest {
  const cursors = spec.devices.map(() => Math.floor(rand() * 1e9));
  const hot =
    spec.hotSpots?.filter((h) => h.lengthBytes >= SECTOR_BYTES && spec.devices.some((d) => d.id === h.device)) ?? [];
  /** A request inside a hot spot, or undefined if the one drawn lies past its device's current end. */
  const pickHot = () => {
    const h = hot[Math.floor(rand() * hot.length)]!;
    const dev = spec.devices.find((d) => d.id === h.device)!;
    const sectors = Math.floor(h.lengthBytes / SECTOR_BYTES);
    const offsetBytes = h.offsetBytes + Math.floor(rand() * sectors) * SECTOR_BYTES;
    const end = Math.min(sizeOf(dev), h.offsetBytes + h.lengthBytes);
    if (offsetBytes >= end) return undefined;
    return { dev, offsetBytes, lengthBytes: Math.min(spec.blockBytes, end - offsetBytes) };
  };
  const set = (out: PickedRequest, dev: VerifyDevice, offsetBytes: number, lengthBytes: number) => {
    out.dev = dev;
    out.offsetBytes = offsetBytes;
    out.lengthBytes = lengthBytes;
    out.isRead = false;
    return out;
  };
  const pick = (out: PickedRequest) => {
    if (hot.length > 0 && rand() * 100 < (spec.hotPct ?? 0)) {
      const h = pickHot();
      if (h) return set(out, h.dev, h.offsetBytes, h.lengthBytes);
    }
    const d = Math.floor(rand() * spec.devices.length);
    const dev = spec.devices[d]!;
    const bytes = sizeOf(dev);
    const blocks = Math.max(1, Math.floor(bytes / spec.blockBytes));
    const cursor = cursors[d]!;
    if (spec.pattern !== 'random') cursors[d] = cursor + 1;
    const block = spec.pattern === 'random' ? Math.floor(rand() * blocks) : cursor % blocks;
    const offsetBytes = block * spec.blockBytes;
    const lengthBytes = Math.min(spec.blockBytes, bytes - offsetBytes);
    return set(out, dev, offsetBytes, lengthBytes);
  };
  return pick;
}

/** Most operations one processor may be asked for (bounds every loop). */
export const MAX_OPS = 1e9;

export async function runHostProcessor(
  client: HostClient,
  verifier: Verifier,
  spec: WorkloadSpec,
): Promise<ProcessorResult> {
  if (spec.blockBytes % SECTOR_BYTES !== 0 || spec.blockBytes <= 0)
    throw new Error(`blockBytes ${spec.blockBytes} is not a positive multiple of ${SECTOR_BYTES}`);
  if (spec.devices.length === 0) throw new Error('workload: no target devices');
  const rand = mulberry32(spec.seed);
  const hist = newLatencyHistogram();
  const control = spec.control ? new Int32Array(spec.control) : undefined;
  if (control && spec.processors !== undefined) await startLine(control, spec.processors);
  const opsLimit = Math.min(spec.ops ?? MAX_OPS, MAX_OPS);
  const deadline = spec.seconds !== undefined ? sched().now() + spec.seconds * 1000 : Infinity;
  const result: ProcessorResult = {
    reads: 0,
    writes: 0,
    bytes: 0,
    ioErrors: 0,
    lostWithAdapter: 0,
    verifyErrors: 0,
    described: [],
    latencyUs: '',
    elapsedMs: 0,
  };
  let issued = 0;
  const verify = spec.verify !== false;
  const filler = verify ? undefined : new Uint8Array(spec.blockBytes).fill(0xa5);
  const t0 = sched().now();

  const unitBytes = control ? loadWord(control, CONTROL.UNIT_BYTES) : 0; // set before any processor starts
  const sizeOf = (dev: VerifyDevice) =>
    control ? loadWord(control, CONTROL.DEVICE_UNITS + dev.index) * unitBytes : dev.bytes;
  const pick = requestPicker(spec, rand, sizeOf);

  const tally: LoopTally = {
    more: () => issued < opsLimit && sched().now() < deadline && !(control && loadWord(control, CONTROL.STOP)),
    pick: (out) => {
      issued++;
      const p = pick(out); // whether it reads is drawn after its place, as always
      p.isRead = rand() * 100 < spec.readPct;
      return p;
    },
    ok: (isRead, lengthBytes, began) => {
      if (isRead) result.reads++;
      else result.writes++;
      result.bytes += lengthBytes;
      if (control) addWord(control, CONTROL.OPS_DONE, 1);
      hist.recordValue(Math.max(1, Math.round((sched().now() - began) * 1000)));
    },
    failed: (err, isRead, dev, offsetBytes, lengthBytes) => {
      if (errorCode(err) === 'HOST_ADAPTER_LOST') {
        result.lostWithAdapter++;
        return;
      }
      result.ioErrors++;
      if (result.described.length < DESCRIBED_MAX)
        result.described.push(
          `${isRead ? 'read' : 'write'} ${dev.id}@${offsetBytes}+${lengthBytes}: ${errorMessage(err)}`,
        );
    },
  };
  const loops = Math.max(1, spec.queueDepth);
  if (verify)
    await Promise.all(Array.from({ length: loops }, () => verifyingLoop(client, verifier, tally, spec.blockBytes)));
  else await unverifiedLoops(client, tally, filler!, loops);
  const counted = result.reads + result.writes + result.ioErrors + result.lostWithAdapter;
  assert(
    counted === issued,
    () => `host processor: ${issued} requests issued, ${counted} counted (done, failed or lost)`,
  );
  result.elapsedMs = sched().now() - t0;
  result.verifyErrors = verifier.errors;
  result.described.push(...verifier.described.slice(0, DESCRIBED_MAX - result.described.length));
  result.latencyUs = hdr.encodeIntoCompressedBase64(hist);
  return result;
}
