// The sparse drive store: full-size drives in little memory, tracks taking memory when first
// written, unwritten ones reading as zeros, data that outlives a disk adapter's replacement.
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/shared/config/config.ts';
import { createSharedBuffers, IN_STORE, isSparse, SPARSE } from '../../src/shared/tables/memory.ts';
import { SparseDrive } from '../../src/drives/store.ts';
import { NoRoom, type SparseOptions } from '../../src/drives/sparse-drive.ts';
import { MemoryDurableStore } from '../../src/shared/durable/durable.ts';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { smallRaw, trackData } from '../support/helpers.ts';

/** Drive 0 of buffers `b` as a sparse drive owned by adapter 0; with `extra`, behind a store. */
function sparseDrive0(
  b: ReturnType<typeof createSharedBuffers>,
  trackBytes: number,
  extra: Partial<SparseOptions> = {},
): SparseDrive {
  return new SparseDrive({
    id: '31',
    index: b.sparseIndex[0]!,
    pool: b.sparsePool,
    words: b.sparseWords,
    trackBytes,
    driveOwner: new Int32Array(b.driveOwner),
    driveIndex: 0,
    adapterIndex: 0,
    ...extra,
  });
}

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
    const drive = sparseDrive0(b, 4096);
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

  it('with a store behind it, keeps at most its cache: durable tracks are evicted and read back, tracks not yet durable never', async () => {
    const raw = smallRaw('fig2');
    const tb = 4096;
    const cacheChunks = 6;
    const b = createSharedBuffers(parseConfig(raw), { allSparse: true, driveCacheBytes: cacheChunks * tb });
    const seq = new Int32Array(b.driveWriteSeq);
    const committed = new Int32Array(b.committedSeq);
    const stored = new Map<number, Uint8Array>();
    const reads: number[] = [];
    const drive = sparseDrive0(b, tb, {
      writeSeq: { seq, baseTrack: 0 },
      committedSeq: committed,
      source: (g) => (reads.push(g), stored.get(g)?.slice() ?? null),
      residentMax: 4,
    });
    const index = new Int32Array(b.sparseIndex[0]!);
    const commit = (tracks: number[]) => {
      for (const t of tracks) {
        const buf = new Uint8Array(tb);
        void drive.readTrack(t, buf);
        stored.set(t, buf);
        committed[t] = seq[t]!;
      }
    };
    // Six tracks written, none durable: the cache is full of them, a seventh has no room.
    for (let t = 0; t < cacheChunks; t++) await drive.writeTrack(t, trackData(tb, t, 1));
    await expect(drive.writeTrack(6, trackData(tb, 6, 1))).rejects.toThrow(NoRoom);
    // A read needs no room: track 9 of the store is served straight from it, not kept.
    stored.set(9, trackData(tb, 9, 1));
    const buf = new Uint8Array(tb);
    index[9] = IN_STORE;
    await drive.readTrack(9, buf);
    expect(buf).toEqual(trackData(tb, 9, 1));
    expect(index[9]).toBe(IN_STORE);
    // Tracks 0-2 made durable; track 3 rewritten after its commit (not durable as it stands).
    commit([0, 1, 2, 3]);
    await drive.writeTrack(3, trackData(tb, 3, 2));
    for (let t = 6; t < 9; t++) await drive.writeTrack(t, trackData(tb, t, 1));
    expect([0, 1, 2].map((t) => index[t])).toEqual([IN_STORE, IN_STORE, IN_STORE]); // evicted
    expect(index[3]).toBeGreaterThanOrEqual(0); // kept: its last write is not durable
    expect(Atomics.load(new Int32Array(b.sparseWords), SPARSE.NEXT_CHUNK)).toBe(cacheChunks); // no chunk past the cache
    expect(drive.resident).toBe(cacheChunks);
    // Evicted tracks read back from the store; a part written over one reads the rest in first.
    commit([3, 4, 5, 6, 7, 8]);
    reads.length = 0;
    await drive.readTrack(1, buf);
    expect(buf).toEqual(trackData(tb, 1, 1));
    expect(reads).toEqual([1]);
    const part = trackData(tb, 2, 5);
    await drive.writeRange(2, part, 512, 1024);
    await drive.readTrack(2, buf);
    expect(buf).toEqual(Uint8Array.from(trackData(tb, 2, 1), (x, i) => (i >= 512 && i < 1024 ? part[i]! : x)));
    // A part written onto a never-written track, in a chunk reused from an evicted one: zeros around it.
    await drive.writeRange(12, part, 0, 512);
    await drive.readTrack(12, buf);
    expect(buf).toEqual(Uint8Array.from(new Uint8Array(tb), (x, i) => (i < 512 ? part[i]! : 0)));
    for (const t of [0, 3, 4, 5, 6, 7, 8]) {
      await drive.readTrack(t, buf);
      expect(buf, `track ${t}`).toEqual(trackData(tb, t, t === 3 ? 2 : 1));
    }
    expect(drive.resident).toBeLessThanOrEqual(cacheChunks);
  });

  it('a drive far over its share, its tracks then made durable, keeps a bounded number of freed chunks at hand', async () => {
    const raw = smallRaw('fig2');
    for (const d of raw.drives) d.cylinders = 256; // 512 tracks a drive
    const tb = 4096;
    const b = createSharedBuffers(parseConfig(raw), { allSparse: true, driveCacheBytes: 256 * tb });
    const seq = new Int32Array(b.driveWriteSeq);
    const committed = new Int32Array(b.committedSeq);
    const drive = sparseDrive0(b, tb, {
      writeSeq: { seq, baseTrack: 0 },
      committedSeq: committed,
      source: () => null,
      residentMax: 8,
    });
    // 200 tracks written before any is durable: the drive goes far over its share (the pool has room).
    for (let t = 0; t < 200; t++) await drive.writeTrack(t, trackData(tb, t, 1));
    expect(drive.resident).toBe(200);
    for (let t = 0; t < 200; t++) committed[t] = seq[t]!; // then all durable at once
    // Each later write takes a chunk the drive let go (a batch evicted only when none is at hand): it holds no more than it did.
    for (let t = 200; t < 400; t++) await drive.writeTrack(t, trackData(tb, t, 1));
    expect(drive.resident).toBeLessThanOrEqual(200);
  });

  it('an array in a store larger than its drive cache keeps every write through eviction, restart and a restripe', async () => {
    const raw = smallRaw('fig2', 16);
    const cfg = parseConfig(raw);
    const store = new MemoryDurableStore();
    const cacheBytes = 8 * 4096; // a track or two per drive: far less than LD1
    const start = () =>
      ArrayEmulator.start(cfg, { mode: 'inline', durable: { store, everyMs: 5, driveCacheBytes: cacheBytes } });
    const emu = await start();
    emus.push(emu);
    const host = new HostClient(emu.hostLink(0));
    const tb = emu.model.trackBytes;
    const tracks = emu.model.device('LD1').bytes / tb;
    expect(tracks * tb).toBeGreaterThanOrEqual(3 * cacheBytes);
    for (let t = 0; t < tracks; t++) await host.write('LD1', t * tb, trackData(tb, t, 1));
    for (let t = 0; t < tracks; t += 3) await host.write('LD1', t * tb + 100, new Uint8Array(50).fill(t & 0xff));
    await host.flush();
    const expected = (t: number) => {
      const x = trackData(tb, t, 1);
      if (t % 3 === 0) x.fill(t & 0xff, 100, 150);
      return x;
    };
    const check = async (h: HostClient, when: string) => {
      for (let t = 0; t < tracks; t++)
        expect(await h.read('LD1', t * tb, tb), `${when}: track ${t}`).toEqual(expected(t));
    };
    await check(host, 'before the restart');
    const pool = emu.state.buffers.sparsePool;
    expect(pool.byteLength).toBeLessThanOrEqual(cacheBytes);
    await emu.stop();
    emus.splice(emus.indexOf(emu), 1);
    const again = await start();
    emus.push(again);
    const host2 = new HostClient(again.hostLink(0));
    await check(host2, 'after the restart');
    // A restripe moves every track through the bounded cache.
    const report = await again.reconfigure(smallRaw('fig2-new', 16));
    expect(report.tracksMoved).toBe(tracks);
    await check(host2, 'after a restripe');
    expect(again.state.buffers.sparsePool.byteLength).toBeLessThanOrEqual(cacheBytes);
  });
});
