// Mirrored devices and drive faults (DESIGN §14): a write reaches every mirror, reads spread over
// them, a failed drive or a media error is served from another copy (and a media error rewritten
// from it), and a track with no copy left fails loudly, naming it.
import { afterEach, describe, expect, it } from 'vitest';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { parseConfig } from '../../src/shared/config/config.ts';
import { TRACK } from '../../src/shared/tables/memory.ts';
import { hasFlag } from '../../src/shared/tables/tables.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

const TRACK_BYTES = 4096;

/** LD1 striped over d0-d2, mirror 2 on d3-d5, LD2 unmirrored on d0-d2 too; spares s0 and s1. */
function mirroredRaw(slots = 8): any {
  const drives = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 's0', 's1'].map((id) => ({ id, cylinders: 8 }));
  return {
    geometry: { trackBytes: TRACK_BYTES, headsPerCylinder: 2 },
    cache: { slots },
    drives,
    diskAdapters: [
      { id: 'DA0', drives: ['d0', 'd3', 's0'] },
      { id: 'DA1', drives: ['d1', 'd4', 's1'] },
      { id: 'DA2', drives: ['d2', 'd5'] },
    ],
    devices: [
      {
        id: 'LD1',
        layout: 'striped',
        cylinders: 12,
        stripeCylinders: 2,
        members: ['d0', 'd1', 'd2'].map((drive) => ({ drive, startCylinder: 0 })),
        mirrors: [{ members: ['d3', 'd4', 'd5'].map((drive) => ({ drive, startCylinder: 0 })) }],
      },
      {
        id: 'LD2',
        layout: 'striped',
        cylinders: 3,
        stripeCylinders: 1,
        members: ['d0', 'd1', 'd2'].map((drive) => ({ drive, startCylinder: 5 })),
      },
    ],
    spares: ['s0', 's1'],
  };
}

/** Track t's bytes, version v: different at every offset. */
function pattern(t: number, v = 1): Uint8Array {
  const out = new Uint8Array(TRACK_BYTES);
  for (let i = 0; i < TRACK_BYTES; i++) out[i] = (t * 131 + v * 29 + i * 7 + (i >> 8)) & 0xff;
  return out;
}

async function mirroredArray(slots = 8, mode: 'inline' | 'threads' = 'inline') {
  const emu = await ArrayEmulator.start(parseConfig(mirroredRaw(slots)), { mode });
  emus.push(emu);
  const host = new HostClient(emu.hostLink(0));
  const dev = emu.model.device('LD1');
  for (let t = 0; t < dev.layout.tracks; t++) await host.write('LD1', t * TRACK_BYTES, pattern(t));
  await host.flush();
  return { emu, host, dev, tracks: dev.layout.tracks };
}

/** The bytes location g holds on its (dense, memory) drive. */
function onDrive(emu: ArrayEmulator, g: number): Uint8Array {
  const d = emu.model.drives.driveOf(g);
  const at = (g - emu.model.drives.baseTrack[d]!) * TRACK_BYTES;
  return new Uint8Array(emu.state.buffers.driveData[d]!, at, TRACK_BYTES);
}

async function haCounter(emu: ArrayEmulator, name: string): Promise<number> {
  return (await emu.status()).HA0![name] ?? 0;
}

async function readAll(host: HostClient, tracks: number, v: (t: number) => number): Promise<void> {
  for (let t = 0; t < tracks; t++) {
    const got = await host.read('LD1', t * TRACK_BYTES, TRACK_BYTES);
    expect(Buffer.from(got).equals(Buffer.from(pattern(t, v(t)))), `LD1 track ${t}`).toBe(true);
  }
}

describe('mirrored devices: configuration', () => {
  it('refuses two mirrors of one device on one drive, naming the drive; a short mirror; a spare in use', () => {
    const twoOnOne = mirroredRaw();
    twoOnOne.devices[0].mirrors[0].members[1].drive = 'd1';
    expect(() => parseConfig(twoOnOne)).toThrow(
      'devices[0].mirrors[0].members[1].drive: drive "d1" already holds mirror 1 of "LD1": two mirrors of one device on one drive',
    );
    const short = mirroredRaw();
    short.devices[0].mirrors[0].members.pop();
    expect(() => parseConfig(short)).toThrow('mirror 2 of "LD1" has 2 members but the device has 3');
    const busySpare = mirroredRaw();
    busySpare.spares = ['d4'];
    expect(() => parseConfig(busySpare)).toThrow('spares[0]: drive "d4" is not free: LD1 mirror 2 uses it');
    const overlap = mirroredRaw();
    overlap.devices[0].mirrors[0].members[0] = { drive: 's0', startCylinder: 0 };
    overlap.devices[1].members[0] = { drive: 's0', startCylinder: 2 };
    overlap.spares = [];
    expect(() => parseConfig(overlap)).toThrow('overlaps');
  });
});

describe('mirrored devices: data', () => {
  it('a write reaches every mirror; cold reads spread over both and read back what was written', async () => {
    const { emu, host, dev, tracks } = await mirroredArray();
    const m2 = dev.layout.mirrors[0]!;
    for (let t = 0; t < tracks; t++) {
      expect(Buffer.from(onDrive(emu, dev.layout.locate(t))).equals(Buffer.from(pattern(t))), `M1 of ${t}`).toBe(true);
      expect(Buffer.from(onDrive(emu, m2.locate(t))).equals(Buffer.from(pattern(t))), `M2 of ${t}`).toBe(true);
    }
    const before = await haCounter(emu, 'mirrorReads');
    await readAll(host, tracks, () => 1); // 8 slots for 48 tracks: nearly every read misses
    const fromMirror = (await haCounter(emu, 'mirrorReads')) - before;
    expect(fromMirror).toBeGreaterThan(tracks / 4);
    expect(fromMirror).toBeLessThan((tracks * 3) / 4);
  });

  it.each(['inline'] as const)(
    'a whole drive fails (%s): the device is degraded, reads and writes go on, every byte reads back',
    async (mode) => {
      const { emu, host, tracks } = await mirroredArray(8, mode);
      emu.rebuilds.auto = false; // degraded, as without a spare
      emu.failDrive({ drive: 'd1', kind: 'whole' });
      expect(emu.driveStatus().drives.find((d) => d.id === 'd1')!.state).toBe('failed');
      expect(emu.driveStatus().drives.find((d) => d.id === 's0')!.state).toBe('spare');
      const ld1 = emu.driveStatus().devices.find((d) => d.id === 'LD1')!;
      expect(ld1.state).toBe('degraded');
      expect(ld1.mirrors.map((m) => m.state)).toEqual(['failed', 'ok']);
      await readAll(host, tracks, () => 1);
      for (let t = 0; t < tracks; t += 2) await host.write('LD1', t * TRACK_BYTES, pattern(t, 2));
      await host.flush();
      await readAll(host, tracks, (t) => (t % 2 === 0 ? 2 : 1));
      const dropped = Object.values(await emu.status()).reduce((n, c) => n + (c.copiesDropped ?? 0), 0);
      expect(dropped).toBeGreaterThan(0);
      expect(emu.problems()).toEqual([]);
    },
  );

  it('media errors on M1 are served from mirror 2 and the bad tracks rewritten from it', async () => {
    const { emu, host, dev, tracks } = await mirroredArray();
    const hit = emu.failDrive({ drive: 'd0', kind: 'media', tracks: 6, seed: 7 });
    expect(hit.tracks).toHaveLength(6);
    const bad = [...Array(emu.model.drives.totalTracks).keys()].filter((g) => hasFlag(emu.state, g, TRACK.MEDIA));
    expect(bad).toHaveLength(6);
    await readAll(host, tracks, () => 1);
    await host.flush();
    const ld1Bad = bad.filter((g) => [...Array(tracks).keys()].some((t) => dev.layout.locate(t) === g));
    // Each bad LD1 track read from M1 first gave a media error, was served from M2, and rewritten.
    expect(await haCounter(emu, 'mediaRepairs')).toBeGreaterThan(0);
    const repaired = ld1Bad.filter((g) => !hasFlag(emu.state, g, TRACK.MEDIA));
    expect(repaired.length).toBe(await haCounter(emu, 'mediaRepairs'));
    for (const g of repaired) {
      const t = [...Array(tracks).keys()].find((x) => dev.layout.locate(x) === g)!;
      expect(Buffer.from(onDrive(emu, g)).equals(Buffer.from(pattern(t))), `rewritten ${emu.model.drives.dch(g)}`).toBe(
        true,
      );
    }
  });

  it('both copies of a track failed: its read fails naming the track, never garbage; other devices go on', async () => {
    const { emu, host, dev } = await mirroredArray(4);
    emu.failDrive({ drive: 'd0', kind: 'whole' });
    emu.failDrive({ drive: 'd3', kind: 'whole' });
    expect(emu.driveStatus().devices.find((d) => d.id === 'LD1')!.state).toBe('failed');
    const t = [...Array(dev.layout.tracks).keys()].find((x) => emu.model.drives.driveOf(dev.layout.locate(x)) === 0)!;
    // Four slots: reading other tracks first evicts t's.
    for (let x = 0; x < 8; x++) if (x !== t) await host.read('LD1', x * TRACK_BYTES, TRACK_BYTES).catch(() => {});
    await expect(host.read('LD1', t * TRACK_BYTES, TRACK_BYTES)).rejects.toThrow(/no copy could be read/);
    const onD1 = [...Array(dev.layout.tracks).keys()].find(
      (x) => emu.model.drives.driveOf(dev.layout.locate(x)) === 1,
    )!;
    const got = await host.read('LD1', onD1 * TRACK_BYTES, TRACK_BYTES);
    expect(Buffer.from(got).equals(Buffer.from(pattern(onD1)))).toBe(true);
    expect(emu.problems()).toEqual([]);
  });
});

describe('rebuild onto a spare', () => {
  it.each(['inline', 'threads'] as const)(
    'a failed drive is rebuilt onto a spare while hosts write (%s); then the other mirror fails and every block still reads back from the spare',
    async (mode) => {
      const { emu, host, dev, tracks } = await mirroredArray(8, mode);
      emu.failDrive({ drive: 'd1', kind: 'whole' });
      const rebuilt = emu.rebuilds.get('d1')!;
      expect(rebuilt).toBeDefined();
      // Writes race the rebuild: each lands on the spare whether before or after its copy is rewritten.
      await Promise.all(
        Array.from({ length: tracks / 2 }, (_, i) => host.write('LD1', 2 * i * TRACK_BYTES, pattern(2 * i, 3))),
      );
      const report = (await rebuilt)!;
      const onD1 = [...Array(tracks).keys()].filter((t) => emu.model.drives.driveOf(dev.layout.locate(t)) === 1);
      expect(report).toMatchObject({ drive: 'd1', spare: 's0', copies: onD1.length + 2 - report.unrecoverable });
      // LD2 is not mirrored: its 2 tracks on d1 had no other copy, and are lost (their reads fail, naming them).
      expect(report.unrecoverable).toBe(2);
      await expect(host.read('LD2', 2 * TRACK_BYTES, TRACK_BYTES)).rejects.toThrow(/no copy could be read/);
      const views = emu.driveStatus().drives;
      expect(views.find((d) => d.id === 'd1')).toMatchObject({ state: 'failed', replacedBy: 's0' });
      expect(views.find((d) => d.id === 's0')).toMatchObject({ state: 'ok', inPlaceOf: 'd1' });
      expect(emu.driveStatus().devices.find((d) => d.id === 'LD1')!.state).toBe('ok');
      await host.flush();
      // Mirror 2's drive of those tracks fails now: only the rebuilt copies on s0 are left to read.
      emu.rebuilds.auto = false;
      emu.failDrive({ drive: 'd4', kind: 'whole' });
      await readAll(host, tracks, (t) => (t % 2 === 0 ? 3 : 1));
      expect(emu.problems()).toEqual([]);
    },
  );
});
