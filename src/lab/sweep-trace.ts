// A sweep point driven by a block trace (`sweep --trace FILE`) instead of a synthetic workload: the
// trace replayed on the point's striped device (lab/replay.ts), open loop at its timestamps or
// closed loop with its think times, in virtual time. Its addresses are laid onto the device by a
// stated rule, the same at every point, so each point sees the same requests over its own drives:
//
//   region scaling: the trace's span is cut into REGION_BYTES regions; region r of the R_t the
//   trace spans is placed at region floor(r × R_d / R_t) of the R_d the device holds, and a request
//   keeps its offset within its region (sequential runs inside a region stay sequential). A
//   request that would cross the device's end is cut there.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';
import { runVirtual, sched } from '../shared/sched/sched.ts';
import { ArrayEmulator } from '../runtime/emulator.ts';
import { SECTOR_BYTES, type ArrayConfig } from '../shared/config/config.ts';
import { detectFormat, parseTrace, TRACE_FORMATS, type TraceFormat, type TraceRecord } from './trace.ts';
import { replayOnArray, type ReplayResult } from './replay.ts';

/** The unit the trace's addresses are laid onto the device by (see the header). */
export const REGION_BYTES = 1 << 20;
const REGION_BLOCKS = REGION_BYTES / SECTOR_BYTES;

/** A sweep's trace as its options carry it (JSON: a shard's options name the same file and content). */
export interface SweepTrace {
  file: string;
  format: TraceFormat;
  closedLoop: boolean;
  /** The file's SHA-256: every slice of a sharded sweep replays the same trace. */
  sha256: string;
  requests: number;
}

/** Read and check the trace once, before any point runs; a bad line is refused with its number. */
export function loadSweepTrace(
  file: string,
  format: string | undefined,
  closedLoop: boolean,
): { trace: SweepTrace; records: TraceRecord[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ArrayError('USAGE', `--trace ${file}: cannot be read (${errorMessage(err)})`);
  }
  if (format !== undefined && !(TRACE_FORMATS as readonly string[]).includes(format))
    throw new ArrayError('USAGE', `--format ${format}: must be one of ${TRACE_FORMATS.join(', ')}`);
  const f = (format as TraceFormat | undefined) ?? detectFormat(text);
  const records = parseTrace(text, f);
  const sha256 = createHash('sha256').update(text).digest('hex');
  return { trace: { file, format: f, closedLoop, sha256, requests: records.length }, records };
}

/** The trace laid onto a device of `deviceBytes` by region scaling (the header's rule). */
export function layTrace(records: TraceRecord[], deviceBytes: number): TraceRecord[] {
  const deviceBlocks = Math.floor(deviceBytes / SECTOR_BYTES);
  const deviceRegions = Math.max(1, Math.floor(deviceBlocks / REGION_BLOCKS));
  const spanBlocks = records.reduce((m, r) => Math.max(m, r.lbn + r.blocks), 0);
  const traceRegions = Math.max(1, Math.ceil(spanBlocks / REGION_BLOCKS));
  return records.map((r) => {
    const region = Math.floor(r.lbn / REGION_BLOCKS);
    const placed = Math.floor((region * deviceRegions) / traceRegions);
    const lbn = Math.min(placed * REGION_BLOCKS + (r.lbn % REGION_BLOCKS), deviceBlocks - 1);
    return { ...r, lbn, blocks: Math.max(1, Math.min(r.blocks, deviceBlocks - lbn)) };
  });
}

/** Replay the trace on LD1 of `config` in virtual time: the replay's figures and the simulated time it took. */
export async function tracePoint(
  config: ArrayConfig,
  trace: SweepTrace,
  records: TraceRecord[],
  seed: number,
): Promise<{ result: ReplayResult; simulatedMs: number; bytes: number }> {
  const { value } = await runVirtual(seed, async () => {
    const emu = await ArrayEmulator.start(config, { mode: 'inline' });
    try {
      const laid = layTrace(records, emu.model.device('LD1').bytes);
      const t0 = sched().now();
      const result = await replayOnArray(emu, 'LD1', laid, { closedLoop: trace.closedLoop });
      return { result, simulatedMs: sched().now() - t0, bytes: laid.reduce((n, r) => n + r.blocks * SECTOR_BYTES, 0) };
    } finally {
      await emu.stop();
    }
  });
  return value;
}
