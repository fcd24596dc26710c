// The restripe's direct copy (DESIGN §11 "Direct copies"): with `restripe.copy: direct` a track no
// host holds in cache goes drive to drive (ESTABLISH: o → BCV, fill: BCV → n); a cached one, or
// every track with `cache`, goes through a slot. The counts are exact: in a quiet inline array the
// tracks cached when the session starts are the only ones ESTABLISH stages, and every fill copies
// (the switch held until their mirror destages have landed).
import { afterEach, describe, expect, it } from 'vitest';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { parseConfig } from '../../src/shared/config/config.ts';
import { deviceLayout } from '../../src/shared/layout/layout.ts';
import { DEVICE, NO_SLOT, PHASE } from '../../src/shared/tables/memory.ts';
import { deviceWordOf, slotOf } from '../../src/shared/tables/tables.ts';
import { smallRaw, trackData, until } from '../support/helpers.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

/** Sum of one disk adapter counter over every disk adapter. */
async function daCounter(emu: ArrayEmulator, name: string): Promise<number> {
  const status = await emu.status();
  return Object.entries(status)
    .filter(([actor]) => actor.startsWith('DA'))
    .reduce((n, [, c]) => n + (c[name] ?? 0), 0);
}

/**
 * With the switch held: wait until `tracks` mirror destages (WPB) have landed on the BCV, then let
 * the switch go. Step 113 waits for ESTABLISH, not for them: one still pending at the switch is
 * moved to the BCV track by the split, and its fill then goes through the cache.
 */
async function mirroredBeforeSwitch(emu: ArrayEmulator, tracks: number): Promise<void> {
  for (let i = 0; (await daCounter(emu, 'mirrored')) < tracks; i++) {
    expect(i, 'mirror destages before the switch').toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 2));
  }
  emu.hold('switch', false);
}

describe('restripe copies', () => {
  for (const copy of ['direct', 'cache'] as const) {
    for (const store of ['dense', 'sparse'] as const) {
      it(`${copy} copy, ${store} drives: exact counts of direct and cached copies, every byte where it belongs`, async () => {
        const raw = { ...smallRaw('fig2', 8), restripe: { copy } };
        raw.drives = raw.drives.map((d: object) => ({ ...d, store }));
        const running = parseConfig(raw);
        const target = { ...smallRaw('fig2-new', 8), restripe: { copy } };
        target.drives = raw.drives;
        const emu = await ArrayEmulator.start(running, { mode: 'inline' });
        emus.push(emu);
        const host = new HostClient(emu.hostLink(0));
        const tb = emu.model.trackBytes;
        const O = deviceLayout(running, 'LD1');
        const N = deviceLayout(parseConfig(target, { running }), 'LD1', running);
        await Promise.all(Array.from({ length: O.tracks }, (_, t) => host.write('LD1', t * tb, trackData(tb, t, 1))));
        await host.flush();
        let cached = 0;
        for (let t = 0; t < O.tracks; t++) if (slotOf(emu.state, O.locate(t)) !== NO_SLOT) cached++;
        expect(cached).toBeGreaterThan(0); // some tracks take the cache path even when direct
        expect(cached).toBeLessThan(O.tracks); // and some could go direct

        // Held at the switch until the cached tracks' mirror destages have landed: the counts are exact.
        emu.hold('switch', true);
        const reconfiguring = emu.reconfigure(target);
        await mirroredBeforeSwitch(emu, copy === 'direct' ? cached : O.tracks);
        const report = await reconfiguring;
        expect(report.tracksMoved).toBe(O.tracks);

        const direct = await daCounter(emu, 'directCopies');
        const mirrored = await daCounter(emu, 'mirrored');
        if (copy === 'direct') {
          expect(direct).toBe(O.tracks - cached + O.tracks); // ESTABLISH of every uncached track, then every fill
          expect(mirrored).toBe(cached); // the cached ones were destaged to the BCV from their slots
        } else {
          expect(direct).toBe(0);
          expect(mirrored).toBe(O.tracks);
        }
        for (let t = 0; t < N.tracks; t++) {
          const want = t < O.tracks ? trackData(tb, t, 1) : new Uint8Array(tb);
          expect(await host.read('LD1', t * tb, tb), `track ${t}`).toEqual(want);
        }
      });
    }
  }

  it('a track a host writes during ESTABLISH is mirrored through its slot, the rest copied drive to drive', async () => {
    const running = parseConfig(smallRaw('fig2', 8));
    const emu = await ArrayEmulator.start(running, { mode: 'inline' });
    emus.push(emu);
    const host = new HostClient(emu.hostLink(0));
    const tb = emu.model.trackBytes;
    const O = deviceLayout(running, 'LD1');
    await Promise.all(Array.from({ length: O.tracks }, (_, t) => host.write('LD1', t * tb, trackData(tb, t, 1))));
    await host.flush();
    emu.hold('establish', true);
    const report = emu.reconfigure(smallRaw('fig2-new', 8));
    const ld1 = emu.model.device('LD1').index;
    await until(() => deviceWordOf(emu.state, ld1, DEVICE.PHASE) === PHASE.ESTABLISHING, 'ESTABLISH');
    // ESTABLISH is held before its first track: this write is mirrored (WPB), its track goes through its slot.
    const late = O.tracks - 1;
    await host.write('LD1', late * tb, trackData(tb, late, 2));
    // Destaged (to its location and, mirrored, to the BCV) before the split: its fill finds no slot
    // to move to the BCV, so it too goes drive to drive (a slot moved there would be handed to n).
    await host.flush();
    let cached = 0;
    for (let t = 0; t < O.tracks; t++) if (slotOf(emu.state, O.locate(t)) !== NO_SLOT) cached++;
    expect(slotOf(emu.state, O.locate(late))).not.toBe(NO_SLOT);
    // As above: held at the switch until the cached tracks' mirror destages have landed.
    // ESTABLISH marks each cached track WPB (the late one again: its first mirror write is counted already).
    const mirroredBefore = await daCounter(emu, 'mirrored');
    emu.hold('switch', true);
    emu.hold('establish', false);
    await mirroredBeforeSwitch(emu, mirroredBefore + cached);
    await report;
    expect(await daCounter(emu, 'directCopies')).toBe(O.tracks - cached + O.tracks);
    expect(await host.read('LD1', late * tb, tb)).toEqual(trackData(tb, late, 2));
    for (let t = 0; t < late; t++)
      expect(await host.read('LD1', t * tb, tb), `track ${t}`).toEqual(trackData(tb, t, 1));
  });
});
