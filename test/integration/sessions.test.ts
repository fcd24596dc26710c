// Sessions (PB columns), kinds of reconfiguration and refusals.
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/shared/config/config.ts';
import { planReconfiguration } from '../../src/shared/restripe/reconf-plan.ts';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { DEVICE, PHASE } from '../../src/shared/tables/memory.ts';
import { small, smallRaw, trackData, until } from '../support/helpers.ts';
import { deviceWordOf } from '../../src/shared/tables/tables.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

describe('kinds and refusals (planReconfiguration)', () => {
  const running = small('fig2');
  const kindOf = (example: string) => planReconfiguration(running, smallRaw(example)).kind;
  const refusal = (mutate: (raw: any) => void) => {
    const raw = smallRaw('fig2');
    mutate(raw);
    try {
      planReconfiguration(running, raw);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('classifies the patent’s changes and the others', () => {
    expect(kindOf('fig2-new')).toBe('expansion');
    expect(kindOf('fig8')).toBe('stripe-change');
    expect(kindOf('fig9')).toBe('expansion+stripe-change');
    expect(kindOf('fig2-ld2-rows')).toBe('more-rows');
    expect(kindOf('fig2-meta')).toBe('meta-expansion');
  });

  it('refuses shrinking, overlaps, a missing or too small BCV, and the rest, saying why', () => {
    expect(refusal((c) => (c.devices[0].cylinders = 6))).toMatch(/"LD1" would shrink from 12 to 6 cylinders/);
    expect(
      refusal((c) => c.devices[0].members.push({ drive: '37', startCylinder: 3 }) && (c.devices[0].cylinders = 16)),
    ).toMatch(/overlaps .* on drive "37"/);
    expect(
      refusal((c) => (c.devices = c.devices.filter((d: any) => d.id !== 'BCV1')) && (c.devices[0].stripeCylinders = 1)),
    ).toMatch(/target's devices .* are not the running ones/);
    const noBcv = parseConfig({
      ...smallRaw('fig2'),
      devices: smallRaw('fig2').devices.filter((d: any) => d.id !== 'BCV1'),
    });
    const noBcvTarget = { ...smallRaw('fig8'), devices: smallRaw('fig8').devices.filter((d: any) => d.id !== 'BCV1') };
    expect(() => planReconfiguration(noBcv, noBcvTarget)).toThrow(/"LD1" has no BCV to copy it through/);
    expect(
      refusal((c) => {
        c.devices[3].members[2].startCylinder = 6;
        c.devices[0].stripeCylinders = 1;
      }),
    ).toMatch(
      /devices\[3\]\.members\[2\]: extent cylinders 6\.\.9 runs past the end of drive "48"/, // BCV1 too small
    );
    expect(
      refusal((c) => {
        c.devices[0].stripeCylinders = 1;
        c.devices[1].stripeCylinders = 2;
      }),
    ).toMatch(/2 devices changed \(LD1, LD2\)/);
    expect(refusal((c) => (c.cache.slots = 99))).toMatch(/changes "cache"; only device definitions may change/);
    expect(refusal(() => {})).toMatch(/no device definition changed/);
    expect(refusal((c) => (c.devices[2].members = [{ drive: '37', startCylinder: 6, cylinders: 2 }]))).toMatch(
      /can only grow by appending members/,
    );
  });
});

/** An array of `n` one-cylinder devices, each with its own BCV, on tiny tracks. */
function manyDevices(n: number): any {
  const drives: any[] = [];
  const devices: any[] = [];
  for (let i = 0; i < n; i++) {
    drives.push({ id: `m${i}`, cylinders: 2 }, { id: `b${i}`, cylinders: 1 });
    devices.push({
      id: `D${i}`,
      layout: 'striped',
      cylinders: 1,
      stripeCylinders: 1,
      members: [{ drive: `m${i}`, startCylinder: 0 }],
    });
    devices.push({ id: `BCV${i}`, layout: 'bcv', of: `D${i}`, members: [{ drive: `b${i}`, startCylinder: 0 }] });
  }
  return {
    geometry: { trackBytes: 512, headsPerCylinder: 2 },
    cache: { slots: 64 },
    drives,
    diskAdapters: [
      { id: 'DA0', drives: drives.filter((_, i) => i % 2 === 0).map((d) => d.id) },
      { id: 'DA1', drives: drives.filter((_, i) => i % 2 === 1).map((d) => d.id) },
    ],
    devices,
  };
}

describe('sessions', () => {
  it('16 concurrent reconfigurations of different devices; a 17th, or a second on one device, is refused', async () => {
    const raw = manyDevices(17);
    const emu = await ArrayEmulator.start(parseConfig(raw), { mode: 'inline' });
    emus.push(emu);
    const host = new HostClient(emu.hostLink(0));
    for (let i = 0; i < 17; i++) await host.write(`D${i}`, 0, trackData(512, i, 1));
    const grow = (i: number) => {
      const t = JSON.parse(JSON.stringify(raw));
      t.devices[2 * i].cylinders = 2;
      return t;
    };
    emu.hold('switch', true);
    const reports = Array.from({ length: 16 }, (_, i) => emu.reconfigure(grow(i)));
    const phase = (i: number) => deviceWordOf(emu.state, emu.model.device(`D${i}`).index, DEVICE.PHASE);
    await until(
      () => Array.from({ length: 16 }, (_, i) => phase(i)).every((p) => p === PHASE.SYNCHRONISED),
      '16 sessions synchronised',
    );
    await expect(emu.reconfigure(grow(16))).rejects.toThrow(/all 16 sessions \(PB columns\) are in use/);
    await expect(emu.reconfigure(grow(3))).rejects.toThrow(/"D3" is already being reconfigured/);
    emu.hold('switch', false);
    const done = await Promise.all(reports);
    expect(new Set(done.map((r) => r.session)).size).toBe(16); // one PB column each
    expect(done.every((r) => r.kind === 'more-rows' && r.bitsLeft.pb + r.bitsLeft.ps + r.bitsLeft.ind === 0)).toBe(
      true,
    );
    // Columns are free again: the 17th now goes through (a target is the running configuration
    // with one device changed: the restriped devices' BCVs are detached, with their own extents).
    const current = JSON.parse(JSON.stringify(emu.model.config));
    current.devices[32].cylinders = 2;
    const r17 = await emu.reconfigure(current);
    expect(r17.kind).toBe('more-rows');
    for (let i = 0; i < 17; i++) {
      expect(await host.read(`D${i}`, 0, 512)).toEqual(trackData(512, i, 1));
      expect(await host.read(`D${i}`, 2 * 512, 512)).toEqual(new Uint8Array(512)); // the new row reads zeros
    }
  });

  it('a meta expansion moves no data and keeps every byte', async () => {
    const emu = await ArrayEmulator.start(small('fig2'), { mode: 'inline' });
    emus.push(emu);
    const host = new HostClient(emu.hostLink(0));
    const tb = emu.model.trackBytes;
    const before = emu.model.device('META1').layout.tracks;
    for (let t = 0; t < before; t++) await host.write('META1', t * tb, trackData(tb, t, 3));
    const r = await emu.reconfigure(smallRaw('fig2-meta'));
    expect(r).toMatchObject({ kind: 'meta-expansion', tracksMoved: 0, bitsLeft: { pb: 0, ps: 0, ind: 0 } });
    expect(emu.model.device('META1').layout.tracks).toBe(2 * before);
    for (let t = 0; t < before; t++) expect(await host.read('META1', t * tb, tb)).toEqual(trackData(tb, t, 3));
    for (let t = before; t < 2 * before; t++) expect(await host.read('META1', t * tb, tb)).toEqual(new Uint8Array(tb));
    await expect(host.read('META1', 2 * before * tb, 1)).rejects.toThrow(/outside the device/);
  });
});
