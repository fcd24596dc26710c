// Adapter failures, one at a time and forced through the test hooks, in both modes: a disk
// adapter's worker terminated part-way through the data transfer, a host adapter's with requests
// in flight. The replacement resumes from the shared tables; the reconfiguration completes; every
// acknowledged write reads back.
import { afterEach, describe, expect, it } from 'vitest';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { DEVICE, PHASE, TRACK } from '../../src/shared/tables/memory.ts';
import { deviceLayout } from '../../src/shared/layout/layout.ts';
import { errorCode } from '../../src/shared/errors/errors.ts';
import { small, smallRaw, trackData, until } from '../support/helpers.ts';
import { deviceWordOf, hasFlag, setDeviceWord } from '../../src/shared/tables/tables.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

async function fig2(mode: 'inline' | 'threads') {
  const running = small('fig2');
  const emu = await ArrayEmulator.start(running, { mode });
  emus.push(emu);
  const host = new HostClient(emu.hostLink(0), () => emu.hostLink(0));
  const tb = emu.model.trackBytes;
  const O = deviceLayout(running, 'LD1');
  await Promise.all(Array.from({ length: O.tracks }, (_, t) => host.write('LD1', t * tb, trackData(tb, t, 1))));
  await host.flush();
  return { emu, host, tb, O, ld1: emu.model.device('LD1').index };
}

describe.each(['inline', 'threads'] as const)('adapter failures (%s)', (mode) => {
  it('a disk adapter fails part-way through the data transfer: its replacement finishes it, nothing is lost', async () => {
    const { emu, host, tb, O, ld1 } = await fig2(mode);
    for (const h of ['split', 'transfer', 'destage-main'] as const) emu.hold(h, true);
    const report = emu.reconfigure(smallRaw('fig2-new'));
    report.catch(() => {});
    await until(() => deviceWordOf(emu.state, ld1, DEVICE.PHASE) === PHASE.TRANSFERRING, 'the transfer');
    // Write pendings on the new layout, then a few transfer steps, then DA30 (main drive 31 and
    // BCV drive 46) fails with the rest of its transfer and its destage still to do.
    const written = new Map<number, number>();
    for (const t of [0, 5, 9, 17]) {
      await host.write('LD1', t * tb, trackData(tb, t, 2));
      written.set(t, 2);
    }
    emu.step('transfer', 3);
    await until(() => emu.state.hooks.holdStepsLeft('transfer') === 0, 'three transfer steps');
    const pbBefore = countPb(emu);
    expect(pbBefore).toBeGreaterThan(0);
    const taken = await emu.restart('DA30');
    expect(taken.inflight).toBe(0);
    for (const h of ['split', 'transfer', 'destage-main'] as const) emu.hold(h, false);
    const r = await report;
    expect(r.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    const N = deviceLayout(emu.model.config, 'LD1');
    for (let t = 0; t < N.tracks; t++) {
      const want = written.has(t) ? trackData(tb, t, 2) : t < O.tracks ? trackData(tb, t, 1) : new Uint8Array(tb);
      expect(await host.read('LD1', t * tb, tb), `track ${t}`).toEqual(want);
    }
    // And on the drives too, once destaged (the replacement found its predecessor's write pendings).
    await host.flush();
    expect(emu.problems()).toEqual([]);
    expect(emu.restarts).toBe(1);
  });

  it('a host adapter fails with requests in flight: those fail clearly, acknowledged writes survive, a new one serves', async () => {
    const { emu, host, tb, O } = await fig2(mode);
    // Half the tracks written and acknowledged; then writes to the other half in flight when HA0
    // fails (held inside it: the device is blocked, as at a switch).
    const half = O.tracks / 2;
    for (let t = 0; t < half; t++) await host.write('LD1', t * tb, trackData(tb, t, 3));
    const ld1 = emu.model.device('LD1').index;
    setDeviceWord(emu.state, ld1, DEVICE.BLOCKED, 1);
    const outcomes = Array.from({ length: O.tracks - half }, (_, i) =>
      host.write('LD1', (half + i) * tb, trackData(tb, half + i, 3)).then(
        () => 'acked' as const,
        (err: unknown) => errorCode(err),
      ),
    );
    await emu.restart('HA0');
    setDeviceWord(emu.state, ld1, DEVICE.BLOCKED, 0);
    const results = [...Array.from({ length: half }, () => 'acked' as const), ...(await Promise.all(outcomes))];
    for (const r of results) expect(['acked', 'HOST_ADAPTER_LOST']).toContain(r);
    expect(results.filter((r) => r === 'HOST_ADAPTER_LOST').length).toBeGreaterThan(0);
    // The client reconnects to the new host adapter; the array's tables are whole again.
    for (let t = 0; t < O.tracks; t++) {
      const got = await host.read('LD1', t * tb, tb);
      if (results[t] === 'acked') expect(got, `track ${t} (acknowledged)`).toEqual(trackData(tb, t, 3));
      else
        expect(
          [trackData(tb, t, 1), trackData(tb, t, 3)],
          `track ${t} (failed: old or new, nothing else)`,
        ).toContainEqual(got);
    }
    for (let g = 0; g < emu.state.totalTracks; g++)
      expect(hasFlag(emu.state, g, TRACK.LOCK), `track ${g} unlocked`).toBe(false);
    expect(emu.state.inflight(emu.model.device('LD1').index)).toBe(0);
    // And a reconfiguration still runs to completion with the new host adapter.
    const r = await emu.reconfigure(smallRaw('fig2-new'));
    expect(r.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    expect(emu.problems()).toEqual([]);
  });
});

function countPb(emu: ArrayEmulator): number {
  let n = 0;
  for (let g = 0; g < emu.state.totalTracks; g++) if (Atomics.load(emu.state.trackPb, g) !== 0) n++;
  return n;
}

describe('adapter failures (threads only)', () => {
  it('a host that connects while its host adapter is being replaced is served by the replacement', async () => {
    // Found by `stress --threads --faults`: a reconnecting client's port went to the terminated
    // worker (the replacement was still starting), and its requests waited for a reply forever.
    const { emu, host, tb, O } = await fig2('threads');
    const restarting = emu.restart('HA0');
    const late = new HostClient(emu.hostLink(0)); // asked for before the replacement is up
    await restarting;
    await late.write('LD1', 0, trackData(tb, 0, 9));
    expect(await late.read('LD1', 0, tb)).toEqual(trackData(tb, 0, 9));
    expect(await host.read('LD1', (O.tracks - 1) * tb, tb)).toEqual(trackData(tb, O.tracks - 1, 1));
    late.close();
    expect(emu.problems()).toEqual([]);
  });
});
