// What a read miss stages (config `cache.stage`, DESIGN §4): with `partial`, a random miss reads
// only the sectors asked for (rounded out to the drive's block) into a PARTIAL slot, a sequential
// stream whole tracks; with `track`, every miss reads its whole track. Counted on the link itself
// (timed drives: the back-end channel's bytes and the drive's), and checked byte for byte: a
// partial slot then written, or restriped, leaves every track as the hosts wrote it.
import { afterEach, describe, expect, it } from 'vitest';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { parseConfig } from '../../src/shared/config/config.ts';
import { deviceLayout } from '../../src/shared/layout/layout.ts';
import { DEVICE, NO_SLOT, PHASE, SLOT, TRACK } from '../../src/shared/tables/memory.ts';
import { deviceWordOf, hasFlag, slotOf, slotStateOf, slotValidOf } from '../../src/shared/tables/tables.ts';
import { smallRaw, until } from '../support/helpers.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

const KiB = 1024;

/** Byte i of logical track t, version v: different at every offset, so a misplaced range shows. */
function pattern(trackBytes: number, t: number, v = 1): Uint8Array {
  const out = new Uint8Array(trackBytes);
  for (let i = 0; i < trackBytes; i++) out[i] = (t * 131 + v * 29 + i * 7 + (i >> 8)) & 0xff;
  return out;
}

/** Sum of one disk adapter counter over every disk adapter. */
async function daCounter(emu: ArrayEmulator, name: string): Promise<number> {
  const status = await emu.status();
  return Object.entries(status)
    .filter(([actor]) => actor.startsWith('DA'))
    .reduce((n, [, c]) => n + (c[name] ?? 0), 0);
}

/**
 * fig2 (by default with 64 KiB tracks on SSDs: timed, the link counts its bytes), written whole and
 * destaged, then a cold cache of `slots`.
 */
async function writtenArray(
  stage: 'partial' | 'track',
  model: string | null = 'ssd',
  o: { trackBytes?: number; slots?: number; copy?: 'direct' | 'cache' } = {},
) {
  const raw = smallRaw('fig2', 8);
  raw.geometry = { trackBytes: o.trackBytes ?? 64 * KiB, headsPerCylinder: 2 };
  raw.cache = { slots: o.slots ?? 8, stage };
  if (o.copy) raw.restripe = { copy: o.copy };
  if (model) raw.drives = raw.drives.map((d: object) => ({ ...d, model }));
  const config = parseConfig(raw);
  const emu = await ArrayEmulator.start(config, { mode: 'inline' });
  emus.push(emu);
  const host = new HostClient(emu.hostLink(0));
  const tb = emu.model.trackBytes;
  const O = deviceLayout(config, 'LD1');
  for (let t = 0; t < O.tracks; t++) await host.write('LD1', t * tb, pattern(tb, t));
  await host.flush();
  return { emu, host, tb, O, raw };
}

/** A track of LD1 with no slot attached now (the cache holds 8 slots of many more tracks). */
function uncachedTrack(emu: ArrayEmulator, O: { tracks: number; locate(t: number): number }, from = 0): number {
  for (let t = from; t < O.tracks; t++) if (slotOf(emu.state, O.locate(t)) === NO_SLOT) return t;
  throw new Error('every track is cached');
}

describe('read misses stage what was asked (cache.stage)', () => {
  for (const [stage, want] of [
    ['partial', 4 * KiB],
    ['track', 64 * KiB],
  ] as const) {
    it(`${stage}: a random 4 KiB miss moves ${want / KiB} KiB on the link, and reads the right bytes`, async () => {
      const { emu, host, tb, O } = await writtenArray(stage);
      const t = uncachedTrack(emu, O, 3);
      const before = { link: await daCounter(emu, 'channelBytes'), staged: await daCounter(emu, 'stagedBytes') };
      const at = 20 * KiB + 512; // not aligned to the 4 KiB page: the SSD reads the pages holding it
      const got = await host.read('LD1', t * tb + at, 3 * KiB);
      expect(got).toEqual(pattern(tb, t).subarray(at, at + 3 * KiB));
      expect((await daCounter(emu, 'channelBytes')) - before.link).toBe(want);
      expect((await daCounter(emu, 'stagedBytes')) - before.staged).toBe(want);
      const s = slotOf(emu.state, O.locate(t));
      expect(s).not.toBe(NO_SLOT);
      if (stage === 'partial') {
        expect(slotStateOf(emu.state, s) & (SLOT.PARTIAL | SLOT.VALID)).toBe(SLOT.PARTIAL);
        expect(slotValidOf(emu.state, s)).toEqual([20 * KiB, 24 * KiB]); // 4 KiB pages
      } else {
        expect(slotStateOf(emu.state, s) & (SLOT.PARTIAL | SLOT.VALID)).toBe(SLOT.VALID);
      }
    });
  }

  it('a hard drive reads the sectors asked for: 1 KiB miss, 1 KiB on the link', async () => {
    const { emu, host, tb, O } = await writtenArray('partial', 'hdd-15k');
    const t = uncachedTrack(emu, O, 2);
    const link = await daCounter(emu, 'channelBytes');
    expect(await host.read('LD1', t * tb + 1536, 1024)).toEqual(pattern(tb, t).subarray(1536, 2560));
    expect((await daCounter(emu, 'channelBytes')) - link).toBe(1024);
  });

  it('partial: a sequential stream stages whole tracks; a read inside a partial slot hits', async () => {
    const { emu, host, tb, O } = await writtenArray('partial');
    const t = uncachedTrack(emu, O, 4);
    const staged = await daCounter(emu, 'stagedBytes');
    const hits = (await emu.status()).HA0!.hits!;
    const base = t * tb + 8 * KiB;
    expect(await host.read('LD1', base, 4 * KiB)).toEqual(pattern(tb, t).subarray(8 * KiB, 12 * KiB));
    expect(await host.read('LD1', base + KiB, KiB)).toEqual(pattern(tb, t).subarray(9 * KiB, 10 * KiB)); // inside: a hit
    expect((await daCounter(emu, 'stagedBytes')) - staged).toBe(4 * KiB);
    expect((await emu.status()).HA0!.hits! - hits).toBe(1);
    // The next read starts where the first ended: a stream, so its track comes whole.
    expect(await host.read('LD1', base + 4 * KiB, 4 * KiB)).toEqual(pattern(tb, t).subarray(12 * KiB, 16 * KiB));
    expect((await daCounter(emu, 'stagedBytes')) - staged).toBe(4 * KiB + tb);
    expect(slotStateOf(emu.state, slotOf(emu.state, O.locate(t))) & (SLOT.PARTIAL | SLOT.VALID)).toBe(SLOT.VALID);
  });

  it('partial: a write into a partially cached track stages the rest first; every byte is right after', async () => {
    const { emu, host, tb, O } = await writtenArray('partial');
    const t = uncachedTrack(emu, O, 5);
    await host.read('LD1', t * tb + 40 * KiB, 512);
    const update = new Uint8Array(2 * KiB).fill(0xa5);
    await host.write('LD1', t * tb + 10 * KiB, update);
    const want = pattern(tb, t);
    want.set(update, 10 * KiB);
    expect(await host.read('LD1', t * tb, tb)).toEqual(want);
    await host.flush();
    const s = slotOf(emu.state, O.locate(t));
    expect(slotStateOf(emu.state, s) & (SLOT.PARTIAL | SLOT.VALID)).toBe(SLOT.VALID);
  });

  for (const copy of ['direct', 'cache'] as const) {
    it(`partial slots cached when a restripe (${copy} copy) starts: the copies move whole tracks`, async () => {
      const { emu, host, tb, O, raw } = await writtenArray('partial', null, {
        trackBytes: 16 * KiB,
        slots: 16,
        copy,
      });
      // Random sectors of every other track: most slots end partial.
      for (let t = 0; t < O.tracks; t += 2) await host.read('LD1', t * tb + ((t * 3) % 16) * 1024, 1024);
      let partial = 0;
      for (let t = 0; t < O.tracks; t++) {
        const s = slotOf(emu.state, O.locate(t));
        if (s !== NO_SLOT && slotStateOf(emu.state, s) & SLOT.PARTIAL) partial++;
      }
      expect(partial).toBeGreaterThan(4);
      // Partial slots on established tracks at the switch: ESTABLISH done (the switch held), random
      // sectors read again, then the switch lets go and the instant split (held) finds them on PS locations.
      emu.hold('switch', true);
      emu.hold('split', true);
      const target = { ...smallRaw('fig2-new', 16), geometry: raw.geometry, cache: raw.cache, restripe: raw.restripe };
      const report = emu.reconfigure(target);
      const ld1 = emu.model.device('LD1').index;
      await until(() => deviceWordOf(emu.state, ld1, DEVICE.PHASE) === PHASE.SYNCHRONISED, 'ESTABLISH done');
      for (let t = 1; t < O.tracks; t += 2) {
        const at = ((t * 5) % 16) * 1024;
        expect(await host.read('LD1', t * tb + at, 1024)).toEqual(pattern(tb, t).subarray(at, at + 1024));
      }
      emu.hold('switch', false);
      await until(() => deviceWordOf(emu.state, ld1, DEVICE.PHASE) === PHASE.TRANSFERRING, 'the switch');
      let partialAtSplit = 0;
      for (let g = 0; g < emu.state.totalTracks; g++) {
        const s = slotOf(emu.state, g);
        if (s !== NO_SLOT && slotStateOf(emu.state, s) & SLOT.PARTIAL && hasFlag(emu.state, g, TRACK.PS))
          partialAtSplit++;
      }
      expect(partialAtSplit).toBeGreaterThan(0);
      emu.hold('split', false);
      expect((await report).tracksMoved).toBe(O.tracks);
      for (let t = 0; t < O.tracks; t++)
        expect(await host.read('LD1', t * tb, tb), `track ${t}`).toEqual(pattern(tb, t));
    });
  }
});
