import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, type ArrayConfig } from '../../src/shared/config/config.ts';
import { ArrayEmulator, type Mode } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { ArrayError } from '../../src/shared/errors/errors.ts';
import { SLOT } from '../../src/shared/tables/memory.ts';
import { until } from '../support/helpers.ts';

const running: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
});

async function start(cfg: ArrayConfig, mode: Mode) {
  const emu = await ArrayEmulator.start(cfg, { mode });
  running.push(emu);
  return { emu, host: new HostClient(emu.hostLink(0)) };
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A small array: 4 KiB tracks, 2 heads, so a device has many tracks but little memory. */
function small(slots: number): ArrayConfig {
  const c = JSON.parse(JSON.stringify(loadConfig('examples/fig2.json')));
  c.geometry = { trackBytes: 4096, headsPerCylinder: 2 };
  c.cache = { slots };
  return parseConfig(c);
}

describe.each<Mode>(['inline', 'threads'])('host I/O through the actors (%s)', (mode) => {
  it('round-trips partial-track reads and writes at odd offsets', async () => {
    const { emu, host } = await start(small(64), mode);
    const tb = emu.model.trackBytes;
    const cases: Array<[number, number]> = [
      [0, 1],
      [7, 100],
      [tb - 3, 10], // crosses a track boundary
      [3 * tb + 5, 2 * tb + 17], // spans three tracks, partial at both ends
      [emu.model.device('LD1').bytes - 9, 9], // last bytes of the device
    ];
    for (const [i, [off, len]] of cases.entries()) {
      const data = pattern(len, i + 1);
      await host.write('LD1', off, data);
      expect(await host.read('LD1', off, len)).toEqual(data);
    }
    // Bytes around a partial write are untouched (zeros: never written).
    expect(await host.read('LD1', 2 * tb, 4)).toEqual(new Uint8Array(4));
    await host.flush();
    for (const [i, [off, len]] of cases.entries())
      expect(await host.read('LD1', off, len)).toEqual(pattern(len, i + 1));
  });

  it('fails out-of-range and unknown-device requests alone, with clear errors', async () => {
    const { emu, host } = await start(small(16), mode);
    const bytes = emu.model.device('LD2').bytes;
    await expect(host.read('LD2', bytes - 1, 2)).rejects.toThrow(/LD2: bytes \d+\.\.\d+ outside the device/);
    await expect(host.write('LD9', 0, new Uint8Array(1))).rejects.toThrow(/unknown device "LD9"/);
    await host.write('LD2', 0, pattern(10, 9));
    expect(await host.read('LD2', 0, 10)).toEqual(pattern(10, 9));
  });

  it('neighbour devices on the same drives do not see each other', async () => {
    const { emu, host } = await start(small(32), mode);
    const a = pattern(emu.model.device('LD2').bytes, 5);
    await host.write('LD2', 0, a);
    await host.write('LD1', 0, pattern(emu.model.device('LD1').bytes, 6));
    await host.flush();
    expect(await host.read('LD2', 0, a.length)).toEqual(a);
  });
});

describe('cache far smaller than the device', () => {
  it('8 slots under a device of hundreds of tracks: everything written reads back, after destage and eviction', async () => {
    const cfg = small(8);
    const { emu, host } = await start(cfg, 'threads');
    const dev = emu.model.device('LD1');
    expect(dev.layout.tracks).toBeGreaterThanOrEqual(24); // 12 cylinders × 2 heads
    const tb = emu.model.trackBytes;
    // Write every track (full and partial) with many requests in flight.
    const writes = [];
    for (let t = 0; t < dev.layout.tracks; t++)
      writes.push(host.write('LD1', t * tb + (t % 3), pattern(tb - (t % 3), t + 100)));
    await Promise.all(writes);
    const reads = [];
    for (let t = 0; t < dev.layout.tracks; t++) reads.push(host.read('LD1', t * tb + (t % 3), tb - (t % 3)));
    const got = await Promise.all(reads);
    got.forEach((d, t) => expect(d).toEqual(pattern(tb - (t % 3), t + 100)));
    const status = await emu.status();
    const staged = Object.values(status).reduce((n, s) => n + (s.staged ?? 0), 0);
    expect(staged).toBeGreaterThan(0); // reads had to come back from the drives
    expect(emu.problems()).toEqual([]);
  });

  it('a many-track device with 8 slots (hundreds of tracks)', async () => {
    const c = JSON.parse(JSON.stringify(loadConfig('examples/fig2.json')));
    c.geometry = { trackBytes: 4096, headsPerCylinder: 15 };
    c.cache = { slots: 8 };
    const { emu, host } = await start(parseConfig(c), 'inline');
    const dev = emu.model.device('LD1');
    expect(dev.layout.tracks).toBe(180);
    const tb = emu.model.trackBytes;
    for (let round = 0; round < 2; round++) {
      await Promise.all(
        Array.from({ length: dev.layout.tracks }, (_, t) => host.write('LD1', t * tb, pattern(tb, t * 7 + round))),
      );
    }
    const got = await Promise.all(Array.from({ length: dev.layout.tracks }, (_, t) => host.read('LD1', t * tb, tb)));
    got.forEach((d, t) => expect(d).toEqual(pattern(tb, t * 7 + 1)));
    // No slot is left write-pending after a flush.
    await host.flush();
    for (let s = 0; s < emu.state.slots; s++) expect(Atomics.load(emu.state.slotState, s) & SLOT.WP).toBe(0);
  });
});

describe('errors are ArrayErrors with codes', () => {
  it('OUT_OF_RANGE', async () => {
    const { host } = await start(small(8), 'inline');
    const err = await host.read('LD1', -1, 1).catch((e) => e);
    expect(err).toBeInstanceOf(ArrayError);
    expect(err.code).toBe('OUT_OF_RANGE');
  });
});

describe('invariants stop the actor loudly', () => {
  it('a slot attached without VALID stops the host adapter: the track and bits are named, the worker dies', async () => {
    const { emu, host } = await start(small(16), 'threads');
    const tb = emu.model.trackBytes;
    await host.write('LD1', 0, new Uint8Array(tb).fill(1));
    const g = emu.model.device('LD1').layout.locate(0);
    const s = Atomics.load(emu.state.trackSlot, g);
    Atomics.store(emu.state.slotState, s, SLOT.WP | SLOT.WP1); // the fault: VALID lost
    const err = await host.read('LD1', 0, 16).catch((e) => e);
    expect(err.code).toBe('INVARIANT');
    expect(err.message).toMatch(new RegExp(`track ${g}: attached slot ${s} state=WP\\|WP1 `));
    // The host adapter stops (a disk adapter destaging that slot may stop on it too: both are loud).
    await until(() => emu.problems().some((p) => p.startsWith('HA0 stopped')), 'the host adapter worker to stop');
    expect(emu.problems().find((p) => p.startsWith('HA0'))).toMatch(/HA0 stopped: .*track \d+: attached slot/);
    await expect(host.read('LD1', 0, 16)).rejects.toThrow(/HA0 stopped|is gone/);
  });
});
