// Block I/O traces: MSR Cambridge CSV, SPC, DiskSim ASCII. Every line is checked before anything
// runs; a bad one is refused with its line number and the reason.
import { SECTOR_BYTES } from '../shared/config/config.ts';
import { ArrayError } from '../shared/errors/errors.ts';

export const TRACE_FORMATS = ['msr', 'spc', 'disksim'] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];

export interface TraceRecord {
  /** 1-based line of the trace file. */
  line: number;
  /** Arrival, ms from the first request. */
  timeMs: number;
  /** First 512 B block. */
  lbn: number;
  blocks: number;
  write: boolean;
  /** The response time measured when the trace was taken (ms), where the format carries it. */
  responseMs?: number;
}

/** Most requests one trace may hold (bounds memory and every loop over it). */
export const TRACE_REQUESTS_MAX = 20_000_000;
/** MSR Cambridge times are Windows file times: 100 ns ticks. */
const MSR_TICKS_PER_MS = 10_000;

const bad = (line: number, why: string): never => {
  throw new ArrayError('USAGE', `trace line ${line}: ${why}`);
};

function int(v: string | undefined, line: number, what: string, min = 0): number {
  const n = Number(v);
  if (v === undefined || v.trim() === '' || !Number.isFinite(n) || !Number.isInteger(n) || n < min)
    bad(line, `${what} "${v ?? ''}" is not a whole number ≥ ${min}`);
  return n;
}

function real(v: string | undefined, line: number, what: string): number {
  const n = Number(v);
  if (v === undefined || v.trim() === '' || !Number.isFinite(n) || n < 0)
    bad(line, `${what} "${v ?? ''}" is not a number ≥ 0`);
  return n;
}

function bytesToBlocks(offset: number, size: number, line: number): { lbn: number; blocks: number } {
  if (size === 0) bad(line, 'size 0');
  return {
    lbn: Math.floor(offset / SECTOR_BYTES),
    blocks: Math.ceil((offset + size) / SECTOR_BYTES) - Math.floor(offset / SECTOR_BYTES),
  };
}

/** `Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime`, times in 100 ns ticks. */
function msrLine(f: string[], line: number): Omit<TraceRecord, 'line'> {
  if (f.length !== 7)
    bad(line, `${f.length} fields, MSR has 7 (Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime)`);
  const type = f[3]!.trim().toLowerCase();
  if (type !== 'read' && type !== 'write') bad(line, `type "${f[3]}" is neither Read nor Write`);
  const { lbn, blocks } = bytesToBlocks(int(f[4], line, 'offset'), int(f[5], line, 'size'), line);
  return {
    timeMs: int(f[0], line, 'timestamp') / MSR_TICKS_PER_MS,
    lbn,
    blocks,
    write: type === 'write',
    responseMs: int(f[6], line, 'response time') / MSR_TICKS_PER_MS,
  };
}

/** `ASU,LBA,Size,Opcode,Timestamp`: LBA in 512 B blocks, size in bytes, timestamp in seconds. */
function spcLine(f: string[], line: number): Omit<TraceRecord, 'line'> {
  if (f.length < 5) bad(line, `${f.length} fields, SPC has 5 (ASU,LBA,Size,Opcode,Timestamp)`);
  const op = f[3]!.trim().toLowerCase();
  if (op !== 'r' && op !== 'w') bad(line, `opcode "${f[3]}" is neither r nor w`);
  const size = int(f[2], line, 'size');
  if (size === 0) bad(line, 'size 0');
  int(f[0], line, 'ASU');
  return {
    timeMs: real(f[4], line, 'timestamp') * 1000,
    lbn: int(f[1], line, 'LBA'),
    blocks: Math.ceil(size / SECTOR_BYTES),
    write: op === 'w',
  };
}

/** DiskSim ASCII: `time devno blkno bcount flags`, time in ms, flags bit 0 set for a read. */
function disksimLine(f: string[], line: number): Omit<TraceRecord, 'line'> {
  if (f.length !== 5) bad(line, `${f.length} fields, DiskSim ASCII has 5 (time devno blkno bcount flags)`);
  int(f[1], line, 'device number');
  const blocks = int(f[3], line, 'block count', 1);
  return {
    timeMs: real(f[0], line, 'time'),
    lbn: int(f[2], line, 'block number'),
    blocks,
    write: (int(f[4], line, 'flags') & 1) === 0,
  };
}

/** The format of a trace, from its first data line, when none is given. */
export function detectFormat(text: string): TraceFormat {
  const first = text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
  if (!first) throw new ArrayError('USAGE', 'trace: no request in it');
  const commas = first.split(',').length;
  if (commas === 7) return 'msr';
  if (commas === 5) return 'spc';
  if (first.trim().split(/\s+/).length === 5) return 'disksim';
  throw new ArrayError(
    'USAGE',
    `trace line 1: "${first.slice(0, 80)}" is none of the formats (msr: 7 comma fields, spc: 5 comma fields, disksim: 5 blank-separated fields); give --format`,
  );
}

/** Every request of a trace, times made relative to the first; refused whole at the first bad line. */
export function parseTrace(text: string, format: TraceFormat): TraceRecord[] {
  const out: TraceRecord[] = [];
  const lines = text.split('\n');
  const parse = format === 'msr' ? msrLine : format === 'spc' ? spcLine : disksimLine;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fields = format === 'disksim' ? raw.split(/\s+/) : raw.split(',');
    out.push({ line: i + 1, ...parse(fields, i + 1) });
    if (out.length > TRACE_REQUESTS_MAX) bad(i + 1, `more than ${TRACE_REQUESTS_MAX} requests`);
  }
  if (out.length === 0) throw new ArrayError('USAGE', 'trace: no request in it');
  for (let i = 1; i < out.length; i++)
    if (out[i]!.timeMs < out[i - 1]!.timeMs)
      bad(out[i]!.line, `time ${out[i]!.timeMs} ms goes back before the previous request's ${out[i - 1]!.timeMs} ms`);
  const t0 = out[0]!.timeMs;
  for (const r of out) r.timeMs -= t0;
  return out;
}
