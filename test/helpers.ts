// Shared test helpers: small arrays from the examples, deterministic waits on shared state.
import { readFileSync } from 'node:fs';
import { parseConfig, type ArrayConfig } from '../src/shared/config.ts';

/** An example config with small tracks (fast tests): 4 KiB tracks, 2 heads, `slots` cache slots. */
export function smallRaw(example: string, slots = 64): any {
  const raw = JSON.parse(readFileSync(`examples/${example}.json`, 'utf8'));
  raw.geometry = { trackBytes: 4096, headsPerCylinder: 2 };
  raw.cache = { slots };
  return raw;
}

export function small(example: string, slots = 64): ArrayConfig {
  return parseConfig(smallRaw(example, slots));
}

/**
 * Wait until `cond()` holds: it polls shared state that another actor is changing, so the wait
 * ends on a definite state, not on a guess of how long something takes. Bounded.
 */
export async function until(cond: () => boolean, what: string, waitMs = 30_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${waitMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A whole track filled with a value derived from (track, version). */
export function trackData(trackBytes: number, t: number, version: number): Uint8Array {
  const out = new Uint8Array(trackBytes);
  const v = (t * 31 + version * 7 + 1) & 0xff;
  out.fill(v);
  out[0] = t & 0xff;
  out[1] = version & 0xff;
  return out;
}
