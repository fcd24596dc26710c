// Session bit scans (src/shared/restripe/bits.ts) with two sessions open on two devices at once: each counts
// its own PB, PS and IND only (a scan over every track gave each device both sessions' bits).
import { afterEach, describe, expect, it } from 'vitest';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { Session } from '../../src/shared/restripe/session.ts';
import { pbLeft, sessionBitCounts, sessionBitProblems } from '../../src/shared/restripe/bits.ts';
import { DEVICE, PHASE } from '../../src/shared/tables/memory.ts';
import { small, smallRaw, until } from '../support/helpers.ts';
import { deviceWordOf } from '../../src/shared/tables/tables.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

describe('session bits, two sessions open', () => {
  it('each session counts only its own bits, and both pass the invariants', async () => {
    const emu = await ArrayEmulator.start(small('fig2'), { mode: 'inline' });
    emus.push(emu);
    for (const h of ['split', 'transfer'] as const) emu.hold(h, true);
    const done = Promise.all([emu.reconfigure(smallRaw('fig2-new')), emu.reconfigure(smallRaw('fig2-ld2-rows'))]);
    const phase = (id: string) => deviceWordOf(emu.state, emu.model.device(id).index, DEVICE.PHASE);
    await until(
      () => phase('LD1') === PHASE.TRANSFERRING && phase('LD2') === PHASE.TRANSFERRING,
      'both sessions switched',
    );
    const specs = await emu.openSessions();
    expect(specs.map((s) => s.deviceId).sort()).toEqual(['LD1', 'LD2']);
    for (const spec of specs) {
      const s = new Session(spec);
      const n = sessionBitCounts(emu.state, s);
      // Nothing split or moved yet: PS on every location of its own O, PB on every track of its own BCV.
      expect(n.ps, spec.deviceId).toBe(s.O.tracks);
      expect(n.pb, spec.deviceId).toBe(s.oldTracks);
      expect(pbLeft(emu.state, s)).toBe(s.oldTracks);
      expect(sessionBitProblems(emu.state, s)).toEqual([]);
    }
    for (const h of ['split', 'transfer'] as const) emu.hold(h, false);
    const reports = await done;
    expect(reports.map((r) => r.bitsLeft)).toEqual([
      { pb: 0, ps: 0, ind: 0 },
      { pb: 0, ps: 0, ind: 0 },
    ]);
  });
});
