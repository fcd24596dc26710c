// The sparse drive store: full-size drives in little memory, tracks taking memory when first
// written, unwritten ones reading as zeros, data that outlives a disk adapter's replacement.
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/shared/config.ts';
import { createSharedBuffers, isSparse, SPARSE } from '../../src/shared/memory.ts';
import { SparseDrive } from '../../src/drives/store.ts';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { smallRaw, trackData } from '../support/helpers.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

describe('sparse drive store', () => {
  it('reads zeros where never written, keeps what was written, takes one chunk per track written', () => {
    const raw = smallRaw('fig2');
    for (const d of raw.drives) d.store = 'sparse';
    const cfg = parseConfig(raw);
    const b = createSharedBuffers(cfg);
    expect(b.driveData[0]!.byteLength).toBe(8); // no dense store
    const drive = new SparseDrive({
      id: '31',
      index: b.sparseIndex[0]!,
      pool: b.sparsePool,
      words: b.sparseWords,
      trackBytes: 4096,
      driveOwner: new Int32Array(b.driveOwner),
      driveIndex: 0,
      adapterIndex: 0,
    });
    const buf = new Uint8Array(4096).fill(7);
    void drive.readTrack(3, buf);
    expect(buf.every((x) => x === 0)).toBe(true);
    void drive.writeTrack(3, trackData(4096, 3, 1));
    void drive.writeTrack(5, trackData(4096, 5, 1));
    void drive.writeTrack(3, trackData(4096, 3, 2)); // a rewrite takes no new chunk
    expect(Atomics.load(new Int32Array(b.sparseWords), SPARSE.NEXT_CHUNK)).toBe(2);
    void drive.readTrack(3, buf);
    expect(buf).toEqual(trackData(4096, 3, 2));
    void drive.readTrack(5, buf);
    expect(buf).toEqual(trackData(4096, 5, 1));
  });

  it('drives larger than DENSE_DRIVE_MAX_BYTES are sparse by default; store: dense keeps one dense', () => {
    const raw = smallRaw('fig2');
    raw.geometry = { trackBytes: 65536, headsPerCylinder: 15 };
    raw.drives[0].cylinders = 9000; // 8.8 GB
    raw.drives[1].cylinders = 9000;
    raw.drives[1].store = 'dense';
    const cfg = parseConfig(raw);
    expect(isSparse(cfg, cfg.drives[0]!)).toBe(true);
    expect(isSparse(cfg, cfg.drives[1]!)).toBe(false);
    expect(isSparse(cfg, cfg.drives[2]!)).toBe(false);
    expect(() =>
      parseConfig({ ...raw, drives: raw.drives.map((d: any, i: number) => (i === 0 ? { ...d, store: 'tape' } : d)) }),
    ).toThrow(/drives\[0\]\.store: must be dense or sparse/);
  });

  it('an array on sparse drives keeps its data through destage and a disk adapter’s replacement', async () => {
    const raw = smallRaw('fig2', 16);
    for (const d of raw.drives) d.store = 'sparse';
    const emu = await ArrayEmulator.start(parseConfig(raw), { mode: 'inline' });
    emus.push(emu);
    const host = new HostClient(emu.hostLink(0));
    const tb = emu.model.trackBytes;
    const tracks = emu.model.device('LD1').bytes / tb;
    for (let t = 0; t < tracks; t++) await host.write('LD1', t * tb, trackData(tb, t, 3));
    await host.flush();
    await emu.restart('DA30');
    await emu.restart('DA34');
    for (let t = 0; t < tracks; t++)
      expect(await host.read('LD1', t * tb, tb), `track ${t}`).toEqual(trackData(tb, t, 3));
    expect(await host.read('LD2', 0, tb)).toEqual(new Uint8Array(tb)); // never written: zeros
  });
});
