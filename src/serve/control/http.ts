// The HTTP plumbing the control API and the embedded live view share: errors with their status,
// JSON bodies (bounded) and replies, the throttle's body. A refusal changes nothing.
import { z } from 'zod';
import { DRIVE_FAULT_KINDS } from '../../shared/drive-states/drive-state.ts';
import { MAX_FAULT_TRACKS, type DriveFaultRequest } from '../../runtime/drives-status.ts';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ArrayError, ConfigError, errorMessage } from '../../shared/errors/errors.ts';

/** Largest request body (a target configuration) the API reads; more is refused with 413. */
const BODY_MAX_BYTES = 1 << 20;

/** Addresses served without a bearer token. */
export const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Most MB/s a throttle may name. */
const THROTTLE_MAX_MBPS = 1e6;

/** `{"minMBps","maxMBps"}`: each a number from 0 (no limit) up, min not above max; 400 naming the field otherwise. */
export function throttleBody(b: unknown): { minMBps: number; maxMBps: number } {
  if (b === null || typeof b !== 'object' || Array.isArray(b))
    throw new HttpError(400, 'body: expected {"minMBps": N, "maxMBps": N}');
  const o = b as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'minMBps' && k !== 'maxMBps') throw new HttpError(400, `${k}: unknown field (expected minMBps, maxMBps)`);
  const num = (k: 'minMBps' | 'maxMBps') => {
    const v = o[k] ?? 0;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > THROTTLE_MAX_MBPS)
      throw new HttpError(400, `${k}: must be a number from 0 (no limit) to ${THROTTLE_MAX_MBPS}`);
    return v;
  };
  const t = { minMBps: num('minMBps'), maxMBps: num('maxMBps') };
  if (t.maxMBps > 0 && t.minMBps > t.maxMBps)
    throw new HttpError(400, `minMBps: ${t.minMBps} is above maxMBps ${t.maxMBps}`);
  return t;
}

const DriveFaultBody = z.strictObject({
  kind: z.enum(DRIVE_FAULT_KINDS, { error: `must be one of ${DRIVE_FAULT_KINDS.join(', ')}` }).default('whole'),
  tracks: z
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(MAX_FAULT_TRACKS, `must be at most ${MAX_FAULT_TRACKS}`)
    .optional(),
  seed: z.number({ error: 'must be a number' }).int('must be an integer').optional(),
});

/** `{"kind": "whole" | "media" | "rot", "tracks": n, "seed": n}` for drive `drive`; 400 naming the field otherwise. */
export function driveFaultBody(drive: string, b: unknown): DriveFaultRequest {
  const parsed = DriveFaultBody.safeParse(b ?? {});
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new HttpError(400, `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`);
  }
  return { drive, ...parsed.data };
}

const ScrubBody = z.strictObject({ device: z.string({ error: 'must be a device id (a string)' }).min(1).optional() });

/** POST /v1/scrub's body: `{}` (every device) or `{"device": ID}`. */
export function scrubBody(b: unknown): { device?: string } {
  const parsed = ScrubBody.safeParse(b ?? {});
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new HttpError(400, `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`);
  }
  return parsed.data;
}

export async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > BODY_MAX_BYTES) throw new HttpError(413, `body: more than ${BODY_MAX_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `body: not JSON (${errorMessage(err)})`);
  }
}

export function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof ConfigError || (err instanceof ArrayError && (err.code === 'CONFIG' || err.code === 'USAGE')))
    return 400;
  if (err instanceof ArrayError && err.code === 'BUSY') return 409;
  if (err instanceof ArrayError && err.code === 'UNKNOWN_DEVICE') return 404;
  return 500;
}

export function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

/** Listen on host:port (port 0: any free one); the base URL it serves at, without a trailing slash. */
export async function listenHttp(server: Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ host, port }, resolve));
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  return `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
}
