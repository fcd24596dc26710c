// Scrub with checksums (DESIGN §14): rot and media errors injected on a mirror are found by a scrub,
// counted as mismatches, and rewritten from the copy whose checksum verifies; a second scrub finds
// nothing; every track reads back. Rot on a track's only copy is unrecoverable: the track is marked
// lost and its reads fail naming it, never serving the rotted bytes.
import { afterEach, describe, expect, it } from 'vitest';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { parseConfig } from '../../src/shared/config/config.ts';
import { TRACK } from '../../src/shared/tables/memory.ts';
import type { ScrubView } from '../../src/runtime/scrub-run.ts';
import { until } from '../support/helpers.ts';
import { hasFlag } from '../../src/shared/tables/tables.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

const TRACK_BYTES = 4096;
const members = (drives: string[], startCylinder = 0) => drives.map((drive) => ({ drive, startCylinder }));

/** LD1 striped over d0-d2, mirror 2 on d3-d5; LD2 (unmirrored) on d6. */
function raw(): any {
  const ids = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6'];
  return {
    geometry: { trackBytes: TRACK_BYTES, headsPerCylinder: 2 },
    cache: { slots: 16 },
    drives: ids.map((id) => ({ id, cylinders: 8 })),
    diskAdapters: [
      { id: 'DA0', drives: ['d0', 'd3', 'd6'] },
      { id: 'DA1', drives: ['d1', 'd4'] },
      { id: 'DA2', drives: ['d2', 'd5'] },
    ],
    devices: [
      {
        id: 'LD1',
        layout: 'striped',
        cylinders: 24,
        stripeCylinders: 2,
        members: members(['d0', 'd1', 'd2']),
        mirrors: [{ members: members(['d3', 'd4', 'd5']) }],
      },
      { id: 'LD2', layout: 'concatenated', members: [{ drive: 'd6', startCylinder: 0, cylinders: 8 }] },
    ],
  };
}

function pattern(t: number, v = 1): Uint8Array {
  const out = new Uint8Array(TRACK_BYTES);
  for (let i = 0; i < TRACK_BYTES; i++) out[i] = (t * 131 + v * 29 + i * 7 + (i >> 8)) & 0xff;
  return out;
}

async function written() {
  const emu = await ArrayEmulator.start(parseConfig(raw()), { mode: 'inline' });
  emus.push(emu);
  const host = new HostClient(emu.hostLink(0));
  for (const dev of ['LD2', 'LD1']) {
    // LD2 first: LD1's 72 tracks then evict it from the 16-slot cache (a cached clean slot would serve its reads).
    const tracks = emu.model.device(dev).layout.tracks;
    for (let t = 0; t < tracks; t++) await host.write(dev, t * TRACK_BYTES, pattern(t));
  }
  await host.flush();
  return { emu, host };
}

async function scrubbed(emu: ArrayEmulator, device?: string): Promise<ScrubView> {
  const view = emu.scrubs.start(device);
  await until(() => view.state === 'done' || view.state === 'failed', `scrub ${view.id}`);
  expect(view.error).toBeUndefined();
  return { ...view };
}

describe('scrub with checksums', () => {
  it('finds rot and media errors on a mirror, rewrites them from the good copy; a second scrub finds none', async () => {
    const { emu, host } = await written();
    const rot = emu.failDrive({ drive: 'd4', kind: 'rot', tracks: 5, seed: 7 }).tracks;
    const media = emu.failDrive({ drive: 'd0', kind: 'media', tracks: 3, seed: 9 }).tracks;
    expect(rot.length + media.length).toBe(8);
    const first = await scrubbed(emu, 'LD1');
    expect(first).toMatchObject({ state: 'done', mismatches: 8, repaired: 8, unrecoverable: 0 });
    expect(first.tracksChecked).toBeGreaterThan(0);
    let faults = 0;
    for (let g = 0; g < emu.state.totalTracks; g++) if (hasFlag(emu.state, g, TRACK.ROT | TRACK.MEDIA)) faults++;
    expect(faults).toBe(0); // each rewritten whole
    const second = await scrubbed(emu);
    expect(second).toMatchObject({ mismatches: 0, repaired: 0, unrecoverable: 0 });
    const tracks = emu.model.device('LD1').layout.tracks;
    for (let t = 0; t < tracks; t++)
      expect(Buffer.from(await host.read('LD1', t * TRACK_BYTES, TRACK_BYTES)).equals(Buffer.from(pattern(t)))).toBe(
        true,
      );
  });

  it('skips a track with a write pending in cache (its copies differ until destaged), checks it once destaged', async () => {
    const { emu, host } = await written();
    emu.hold('destage-main', true);
    await host.write('LD1', 0, pattern(0, 5));
    const held = await scrubbed(emu, 'LD1');
    expect(held.mismatches).toBe(0);
    expect(held.skipped).toBeGreaterThanOrEqual(2); // both copies of track 0
    emu.hold('destage-main', false);
    await host.flush();
    expect(await scrubbed(emu, 'LD1')).toMatchObject({ mismatches: 0, skipped: 0 });
  });

  it('rot on the only copy is unrecoverable: the track is marked lost and its reads fail, naming it', async () => {
    const { emu, host } = await written();
    const [hit] = emu.failDrive({ drive: 'd6', kind: 'rot', tracks: 1, seed: 3 }).tracks;
    const view = await scrubbed(emu, 'LD2');
    expect(view).toMatchObject({ mismatches: 1, repaired: 0, unrecoverable: 1 });
    await host.flush();
    const t = emu.model.device('LD2').layout.tracks;
    const lost: number[] = [];
    for (let i = 0; i < t; i++)
      if (hasFlag(emu.state, emu.model.device('LD2').layout.locate(i), TRACK.LOST)) lost.push(i);
    expect(lost).toHaveLength(1);
    await expect(host.read('LD2', lost[0]! * TRACK_BYTES, TRACK_BYTES)).rejects.toThrow(
      /track d6\/c\d+\/h\d+: no copy could be read|lost/,
    );
    expect(hit).toBeDefined();
  });

  it('refuses an unknown device and a second scrub while one runs', async () => {
    const { emu } = await written();
    expect(() => emu.scrubs.start('NOPE')).toThrow(/unknown device "NOPE"/);
    const view = emu.scrubs.start();
    expect(() => emu.scrubs.start()).toThrow(/one scrub at a time/);
    await until(() => view.state === 'done', 'the scrub');
  });
});
