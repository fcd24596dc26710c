// Shared test helpers: small arrays from the examples, deterministic waits on shared state.
import { readFileSync } from 'node:fs';
import { parseConfig, type ArrayConfig } from '../../src/shared/config/config.ts';
import { deviceLayout } from '../../src/shared/layout/layout.ts';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';

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
 * The smallest array NBD tests serve: LD1 of 4 MiB (64 KiB tracks, 4 heads, 16 cylinders) striped a
 * cylinder at a time over two drives of one disk adapter, two host adapters, `slots` cache slots.
 */
export function twoDriveLd1(slots: number): ArrayConfig {
  return parseConfig({
    geometry: { trackBytes: 65536, headsPerCylinder: 4 },
    cache: { slots },
    hostAdapters: 2,
    drives: [0, 1].map((i) => ({ id: `d${i}`, cylinders: 8 })),
    diskAdapters: [{ id: 'DA0', drives: ['d0', 'd1'] }],
    devices: [
      {
        id: 'LD1',
        layout: 'striped',
        cylinders: 16,
        stripeCylinders: 1,
        members: ['d0', 'd1'].map((drive) => ({ drive, startCylinder: 0 })),
      },
    ],
  });
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

/**
 * The small FIG. 2 array (joined to `emus`, for the caller to stop), its restripe target FIG. 2
 * new, the layouts O, N and B of LD1, every old track written (version 1) and destaged.
 */
export async function fig2Array(emus: ArrayEmulator[], mode: 'inline' | 'threads' = 'inline', slots = 64) {
  const running = small('fig2', slots);
  const target = smallRaw('fig2-new', slots);
  const emu = await ArrayEmulator.start(running, { mode });
  emus.push(emu);
  const host = new HostClient(emu.hostLink(0));
  const tb = emu.model.trackBytes;
  const O = deviceLayout(running, 'LD1');
  const N = deviceLayout(parseConfig(target, { running }), 'LD1', running);
  const B = deviceLayout(running, 'BCV1');
  await Promise.all(Array.from({ length: O.tracks }, (_, t) => host.write('LD1', t * tb, trackData(tb, t, 1))));
  await host.flush();
  const ld1 = emu.model.device('LD1').index;
  const flags = (g: number) => Atomics.load(emu.state.trackFlags, g);
  const has = (g: number, bit: number) => (flags(g) & bit) !== 0;
  const pb = (g: number) => Atomics.load(emu.state.trackPb, g) !== 0;
  return { emu, host, tb, O, N, B, target, ld1, flags, has, pb };
}
