// A commit stores only the pages of a track written since the last commit that held it
// (src/shared/tables/dirty.ts, durable.ts, drives/durable-store.ts): a 4 KiB write commits 4 KiB,
// not its 64 KiB track, and a restart reads the track back whole from the pages of every commit.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allPages, pageBytesOf, pagesTouched, storedBytes, withPages } from '../../src/shared/tables/dirty.ts';
import { MemoryDurableStore, type DurableCommit } from '../../src/shared/durable/durable.ts';
import { LmdbStore } from '../../src/drives/durable-store.ts';
import { parseConfig } from '../../src/shared/config/config.ts';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { fourDriveStripe } from '../../bench/arrays.ts';

const KiB = 1024;

describe('pages of a track', () => {
  it('are 4 KiB (larger past 32 a track, the track itself below 4 KiB); a write marks those it touches', () => {
    expect(pageBytesOf(64 * KiB)).toBe(4 * KiB);
    expect(pageBytesOf(512 * KiB)).toBe(16 * KiB);
    expect(pageBytesOf(512)).toBe(512);
    expect(allPages(64 * KiB)).toBe(0xffff);
    expect(allPages(512 * KiB)).toBe(-1);
    expect(pagesTouched(64 * KiB, 0, 64 * KiB)).toBe(0xffff);
    expect(pagesTouched(64 * KiB, 8 * KiB, 12 * KiB)).toBe(0b100);
    expect(pagesTouched(64 * KiB, 4095, 4097)).toBe(0b11);
    expect(pagesTouched(512 * KiB, 496 * KiB, 512 * KiB)).toBe(1 << 31);
    expect(storedBytes(64 * KiB, 0b101)).toBe(8 * KiB);
  });

  it('a commit of some pages changes only those of the stored track', () => {
    const before = new Uint8Array(16 * KiB).fill(1);
    const now = new Uint8Array(16 * KiB).fill(2);
    const got = withPages(before, now, 0b0010)!;
    expect([got[0], got[4 * KiB], got[8 * KiB - 1], got[8 * KiB]]).toEqual([1, 2, 2, 1]);
    expect(withPages(null, now, 0b0001)![4 * KiB]).toBe(0); // never stored: zeros
    expect(withPages(before, null, 0b0001)).toBeNull(); // the whole track is zeros now
  });
});

describe('the LMDB store keeps pages', () => {
  const commit = (n: number, tracks: DurableCommit['tracks']): DurableCommit => ({
    meta: {
      ...{ format: 2, nextSid: 0, nextGen: 0, sessions: [], commits: n },
      running: { geometry: { trackBytes: 16 * KiB } } as never,
    },
    ...{ tracks, flagChunks: [], sumChunks: [], driveWords: new Int32Array(1), reason: 'test' },
  });

  it('stores the pages a commit names over the track written whole, reads it back whole, drops a track gone to zeros', () => {
    const store = new LmdbStore(mkdtempSync(join(tmpdir(), 'arrayemu-pages-')));
    const track = (byte: number) => new Uint8Array(16 * KiB).fill(byte);
    const bytesAt = (g: number) => [0, 4, 8, 12].map((k) => store.track(g)![k * KiB]);
    try {
      store.commit(commit(1, [[7, track(1), allPages(16 * KiB)]]));
      // Commit 2 names page 2 only: the other pages of its data (all 9s) must not be stored.
      store.commit(commit(2, [[7, track(9), 0b0100]]));
      expect(bytesAt(7)).toEqual([1, 1, 9, 1]);
      // A page of zeros over the whole track's value reads as zeros.
      store.commit(commit(3, [[7, track(0), 0b0001]]));
      expect(bytesAt(7)).toEqual([0, 1, 9, 1]);
      // Pages of a track never written whole; a page of zeros there is simply absent.
      store.commit(
        commit(4, [
          [8, track(5), 0b1000],
          [9, track(0), 0b0001],
        ]),
      );
      expect(bytesAt(8)).toEqual([0, 0, 0, 5]);
      expect(store.track(9)).toBeNull();
      expect([...store.load()!.tracks()].map(([g]) => g)).toEqual([7, 8]);
      // Written whole again: the pages over it go.
      store.commit(commit(5, [[7, track(3), allPages(16 * KiB)]]));
      expect(bytesAt(7)).toEqual([3, 3, 3, 3]);
      store.commit(
        commit(6, [
          [7, null, 0b0001],
          [8, null, 0b1000],
        ]),
      );
      expect(store.track(7)).toBeNull();
      expect([...store.load()!.tracks()]).toEqual([]);
    } finally {
      store.close();
    }
  });
});

describe('a FLUSH after a 4 KiB write', () => {
  const emus: ArrayEmulator[] = [];
  afterEach(async () => {
    for (const e of emus.splice(0)) await e.stop();
  });

  it('commits the 4 KiB page written, not its 64 KiB track; a restart reads every write back', async () => {
    const cfg = parseConfig(
      fourDriveStripe({ trackBytes: 64 * KiB, headsPerCylinder: 2, driveCylinders: 4, slots: 64 }),
    );
    const store = new MemoryDurableStore();
    const start = async () => {
      const emu = await ArrayEmulator.start(cfg, { mode: 'inline', durable: { store, everyMs: 60_000 } });
      emus.push(emu);
      return { emu, host: new HostClient(emu.hostLink(0)) };
    };
    const { host } = await start();
    const writes: Array<[number, number]> = [
      [8 * KiB, 0xa1], // page 2 of track 0
      [64 * KiB + 60 * KiB, 0xb2], // page 15 of track 1
      [8 * KiB, 0xc3], // page 2 of track 0 again
      [130 * KiB, 0xd4], // straddles pages 0 and 1 of track 2 (2 KiB into it)
    ];
    for (const [at, byte] of writes) {
      const before = store.all().length;
      await host.write('LD1', at, new Uint8Array(4 * KiB).fill(byte));
      await host.flush(); // the host adapter destages, then the service processor commits
      const made = store.all().slice(before);
      const stored = made
        .flatMap((c) => c.tracks)
        .reduce((n, [, d, pages]) => n + (d ? storedBytes(d.length, pages) : 0), 0);
      expect(stored, `a FLUSH after the write at ${at}`).toBe(at === 130 * KiB ? 8 * KiB : 4 * KiB);
    }
    await emus[0]!.stop();
    emus.splice(0);
    const again = await start();
    const read = async (at: number) => (await again.host.read('LD1', at, 4 * KiB))[0];
    expect([await read(8 * KiB), await read(124 * KiB), await read(130 * KiB), await read(0)]).toEqual([
      0xc3, 0xb2, 0xd4, 0,
    ]);
    expect((await again.host.read('LD1', 128 * KiB, 2 * KiB)).every((b) => b === 0)).toBe(true);
  });
});
