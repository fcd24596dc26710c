// Online reconfiguration, forced deterministically through the test hooks (DESIGN §3, FIGS. 4-7).
import { afterEach, describe, expect, it } from 'vitest';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import {
  DEVICE,
  PHASE,
  SLOT,
  TRACK,
  NO_SLOT,
  splitCursorWord,
  SPLIT_CURSOR_DONE,
} from '../../src/shared/tables/memory.ts';
import type { ReconfReport } from '../../src/shared/restripe/report.ts';
import { lockTrack, unlockTrack } from '../../src/shared/tables/track-lock.ts';
import { fig2Array as startFig2, smallRaw, trackData, until } from '../support/helpers.ts';
import { deviceWordOf, slotOf } from '../../src/shared/tables/tables.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

const H = 2; // heads per cylinder in the small arrays
const CYL = { G: 6, I: 8, M: 12, O: 14 } as const;

const fig2Array = (mode: 'inline' | 'threads' = 'inline', slots = 64) => startFig2(emus, mode, slots);

type Fig2 = Awaited<ReturnType<typeof fig2Array>>;

/** Start the reconfiguration with `holds` set; resolves after the switch (the report comes later). */
async function startHeld(
  a: Fig2,
  holds: Array<'split' | 'transfer' | 'completion'>,
): Promise<{ report: Promise<ReconfReport> }> {
  for (const h of holds) a.emu.hold(h, true);
  const report = a.emu.reconfigure(a.target);
  await until(() => switched(a), 'the switch');
  return { report }; // wrapped: an async function returning a promise would wait for it
}

/** The new layout is active (generation 2): monotonic, unlike the phase. */
function switched(a: Fig2): boolean {
  return deviceWordOf(a.emu.state, a.ld1, DEVICE.GENERATION) === 2;
}

function splitDone(a: Fig2): boolean {
  return a.emu.model.config.diskAdapters.every(
    (_, i) => Atomics.load(a.emu.state.splitCursors, splitCursorWord(0, i)) === SPLIT_CURSOR_DONE,
  );
}

function transferDone(a: Fig2): boolean {
  for (let t = 0; t < a.O.tracks; t++) if (a.pb(a.B.locate(t))) return false;
  return true;
}

/**
 * Host requests on cylinders I, G, M, O: a read of head 0 and a write of head 1 of each — eight
 * requests, each to a track no earlier request touched, so each meets the scenario under test.
 */
async function requestsOnPatentCylinders(a: Fig2, version: number): Promise<void> {
  const { host, tb, has, pb, O, N, B } = a;
  for (const [name, c] of Object.entries(CYL)) {
    const rt = c * H; // head 0: read
    const wt = c * H + 1; // head 1: write
    const old = c < 12;
    const got = await host.read('LD1', rt * tb, tb);
    expect(got, `read ${name}`).toEqual(old ? trackData(tb, rt, 1) : new Uint8Array(tb));
    await host.write('LD1', wt * tb, trackData(tb, wt, version)); // read back at completion
    for (const t of [rt, wt]) {
      const n = N.locate(t);
      expect(has(n, TRACK.PS), `${name} PS[n]`).toBe(false);
      expect(has(n, TRACK.IND), `${name} IND[n]`).toBe(false);
      if (old) {
        expect(pb(B.locate(t)), `${name} PB[b]`).toBe(false);
        expect(has(O.locate(t), TRACK.PS), `${name} PS[o]`).toBe(false);
      }
    }
  }
}

async function finish(a: Fig2, report: Promise<ReconfReport>, written: Map<number, number>): Promise<ReconfReport> {
  for (const h of ['split', 'transfer', 'completion', 'switch', 'destage-main', 'destage-mirror'] as const)
    a.emu.hold(h, false);
  const r = await report;
  expect(r.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
  for (let t = 0; t < a.N.tracks; t++) {
    const want = written.has(t)
      ? trackData(a.tb, t, written.get(t)!)
      : t < a.O.tracks
        ? trackData(a.tb, t, 1)
        : new Uint8Array(a.tb);
    expect(await a.host.read('LD1', t * a.tb, a.tb), `track ${t} after completion`).toEqual(want);
  }
  expect(a.emu.problems()).toEqual([]);
  return r;
}

const writtenOnPatentCylinders = (version: number) => new Map(Object.values(CYL).map((c) => [c * H + 1, version]));

describe('the four scenarios of FIG. 7, on cylinders I, G, M and O', () => {
  it('scenario 4: before either background process acted', async () => {
    const a = await fig2Array();
    const { report } = await startHeld(a, ['split', 'transfer', 'completion']);
    // The patent's description of the fourth scenario, bit by bit:
    const loc = (c: number) => ({ n: a.N.locate(c * H), o: a.O.locate(c * H) });
    expect(a.has(loc(CYL.I).n, TRACK.PS) && a.has(loc(CYL.I).o, TRACK.PS)).toBe(true); // I: both PS set
    expect(a.has(loc(CYL.G).n, TRACK.IND) && !a.has(loc(CYL.G).n, TRACK.PS)).toBe(true); // G: IND on new drive 37
    expect(a.has(loc(CYL.M).n, TRACK.PS)).toBe(true); // M sits on 35B, which held K: PS until split
    expect(a.has(loc(CYL.O).n, TRACK.PS) || a.has(loc(CYL.O).n, TRACK.IND)).toBe(false); // O on 37B: neither
    await requestsOnPatentCylinders(a, 2);
    expect(a.has(loc(CYL.M).n, TRACK.FMT)).toBe(true); // split formatted M: it read as zeros
    const r = await finish(a, report, writtenOnPatentCylinders(2));
    expect(r.scenarios).toEqual({ '1': 0, '2': 0, '3': 0, '4': 8 });
  });

  it('scenario 2: after the instant split, before the data transfer', async () => {
    const a = await fig2Array();
    const { report } = await startHeld(a, ['split', 'transfer', 'completion']);
    a.emu.hold('split', false);
    await until(() => splitDone(a), 'the instant split in every disk adapter');
    const i = a.N.locate(CYL.I * H);
    expect(a.has(i, TRACK.PS)).toBe(false);
    expect(a.has(i, TRACK.IND)).toBe(true); // split set IND: data must come from the BCV
    expect(a.pb(a.B.locate(CYL.I * H))).toBe(true);
    await requestsOnPatentCylinders(a, 3);
    const r = await finish(a, report, writtenOnPatentCylinders(3));
    expect(r.scenarios).toEqual({ '1': 0, '2': 8, '3': 0, '4': 0 });
  });

  it('scenario 3: after the data transfer, before the instant split', async () => {
    const a = await fig2Array();
    const { report } = await startHeld(a, ['split', 'transfer', 'completion']);
    a.emu.hold('transfer', false);
    await until(() => transferDone(a), 'the data transfer of every BCV track');
    const m = a.N.locate(CYL.M * H);
    expect(a.has(m, TRACK.PS)).toBe(false); // the fill of K (old location 35B) split it
    await requestsOnPatentCylinders(a, 4);
    const r = await finish(a, report, writtenOnPatentCylinders(4));
    // I and G meet scenario 3; M and O are new host tracks, which the data transfer never fills.
    expect(r.scenarios).toEqual({ '1': 0, '2': 0, '3': 4, '4': 4 });
  });

  it('scenario 1: after both background processes', async () => {
    const a = await fig2Array();
    const { report } = await startHeld(a, ['split', 'transfer', 'completion']);
    a.emu.hold('split', false);
    a.emu.hold('transfer', false);
    await until(() => splitDone(a) && transferDone(a), 'both background processes');
    await requestsOnPatentCylinders(a, 5);
    const r = await finish(a, report, writtenOnPatentCylinders(5));
    expect(r.scenarios).toEqual({ '1': 4, '2': 4, '3': 0, '4': 0 });
  });
});

describe('write pendings and races at the switch', () => {
  it('holds destage so that write-pending slots (every WPk mix) exist at the switch: none is lost', async () => {
    const a = await fig2Array('inline', 64);
    const { emu, host, tb } = a;
    emu.hold('switch', true);
    const report = emu.reconfigure(a.target);
    await until(() => deviceWordOf(emu.state, a.ld1, DEVICE.PHASE) === PHASE.SYNCHRONISED, 'BCV synchronised');
    const slotOf = (t: number) => Atomics.load(emu.state.trackSlot, a.O.locate(t));
    const stateOf = (t: number) => Atomics.load(emu.state.slotState, slotOf(t));
    const written = new Map<number, number>();
    const write = async (t: number, v: number) => {
      await host.write('LD1', t * tb, trackData(tb, t, v));
      written.set(t, v);
    };
    // WP1 only: the BCV has it, the main drive not.
    emu.hold('destage-main', true);
    await write(CYL.I * H, 7);
    await until(() => (stateOf(CYL.I * H) & SLOT.WPB) === 0, 'mirror destage of I');
    // WPB only: the main drive has it, the BCV not. While G's main destage runs, I's track lock is
    // held here, so the destager (which never waits for a lock) cannot take I's WP1 meanwhile, however
    // long the window lasts on a loaded machine (its periodic sweep would find I again).
    const iLocation = a.O.locate(CYL.I * H);
    await lockTrack(emu.state, iLocation);
    emu.hold('destage-main', false);
    emu.hold('destage-mirror', true);
    await write(CYL.G * H, 7);
    await until(() => (stateOf(CYL.G * H) & SLOT.WP1) === 0, 'main destage of G');
    emu.hold('destage-main', true);
    unlockTrack(emu.state, iLocation);
    // WP1 and WPB: nobody has it but the cache. Several, partial tracks too.
    for (const t of [0, 3, 11, 17, 23]) await write(t, 7);
    await host.write('LD1', 5 * tb + 100, new Uint8Array(200).fill(0xee));
    const mixes = [CYL.I * H, CYL.G * H, 0, 5].map((t) => stateOf(t) & (SLOT.WP1 | SLOT.WPB));
    expect(mixes).toEqual([SLOT.WP1, SLOT.WPB, SLOT.WP1 | SLOT.WPB, SLOT.WP1 | SLOT.WPB]);
    emu.hold('switch', false); // the switch happens with all of them pending, destage still held
    await until(() => switched(a), 'the switch'); // (the whole session may be over by now)
    // Reads right after the switch (still no destage) see every acknowledged write.
    for (const [t, v] of written) expect(await host.read('LD1', t * tb, tb), `track ${t}`).toEqual(trackData(tb, t, v));
    const five = trackData(tb, 5, 1);
    five.fill(0xee, 100, 300);
    expect(await host.read('LD1', 5 * tb, tb)).toEqual(five);
    emu.hold('destage-main', false);
    emu.hold('destage-mirror', false);
    const r = await report;
    expect(r.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    await host.flush();
    for (let t = 0; t < a.O.tracks; t++) {
      const want = t === 5 ? five : trackData(tb, t, written.get(t) ?? 1);
      expect(await host.read('LD1', t * tb, tb), `track ${t} after completion`).toEqual(want);
    }
  });

  it('a host write racing the data transfer of the same track is never overwritten by the older BCV copy', async () => {
    const a = await fig2Array();
    const { emu, host, tb } = a;
    const { report } = await startHeld(a, ['transfer', 'completion']);
    // The host writes I while the data transfer has not copied it: FIG. 7 fills first, then writes.
    const t = CYL.I * H;
    await host.write('LD1', t * tb + 512, new Uint8Array(512).fill(0x5a));
    expect(a.pb(a.B.locate(t))).toBe(false); // the fill cleared PB: the transfer will skip I
    emu.hold('transfer', false);
    await until(() => transferDone(a), 'the data transfer');
    const want = trackData(tb, t, 1);
    want.fill(0x5a, 512, 1024);
    expect(await host.read('LD1', t * tb, tb)).toEqual(want);
    emu.hold('completion', false);
    await report;
    await host.flush();
    // On the drive too, after destage: the BCV copy never landed on top.
    expect(await host.read('LD1', t * tb, tb)).toEqual(want);
    const n = a.N.locate(t);
    expect(
      Atomics.load(emu.state.trackSlot, n) === NO_SLOT ||
        (Atomics.load(emu.state.slotState, Atomics.load(emu.state.trackSlot, n)) & SLOT.WP) === 0,
    ).toBe(true);
  });
});

describe('a FIG. 7 fill that outlives its session', () => {
  it('does not act on the next session’s bits when it gets its locks after its session closed and the PB column was reused', async () => {
    // Found by `stress --faults` (seed 152): a host fill queued behind a request stalled on a full
    // cache got its locks only after its session had closed and the next session on the device had
    // set PB in the same column; it then split the next session's locations by the old layouts.
    const a = await fig2Array();
    const { emu, host, tb } = a;
    const t = CYL.G * H; // G moves to the new drive 37: IND there, data from the BCV
    emu.hold('host-fill', true);
    const { report } = await startHeld(a, ['split', 'transfer']);
    expect(a.has(a.N.locate(t), TRACK.IND)).toBe(true);
    const read = host.read('LD1', t * tb, tb); // FIG. 7: disconnects to the BCV's adapter
    const hostFills = async () => Object.values(await emu.status()).reduce((n, s) => n + (s.hostFills ?? 0), 0);
    for (let i = 0; (await hostFills()) === 0; i++) {
      expect(i, 'the host fill reaches the BCV’s adapter').toBeLessThan(5000);
      await new Promise((r) => setTimeout(r, 2));
    }
    // The data transfer fills every track, G too, and the session closes with the fill still held.
    emu.hold('split', false);
    emu.hold('transfer', false);
    expect((await report).bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    // The next session on LD1 takes the same PB column and sets PB again on the BCV, G's included.
    emu.hold('switch', true);
    const next = emu.reconfigure(smallRaw('fig9-after-fig2-new'));
    await until(
      () => deviceWordOf(emu.state, a.ld1, DEVICE.PHASE) === PHASE.SYNCHRONISED,
      'the next session synchronised',
    );
    expect(a.pb(a.B.locate(t)), 'PB of G’s old BCV location set again, by the next session').toBe(true);
    const psBefore = Array.from({ length: emu.state.totalTracks }, (_, g) => a.has(g, TRACK.PS));
    emu.hold('host-fill', false); // the old session's fill goes on now
    expect(await read).toEqual(trackData(tb, t, 1));
    // It left the next session's bits alone.
    expect(Array.from({ length: emu.state.totalTracks }, (_, g) => a.has(g, TRACK.PS))).toEqual(psBefore);
    emu.hold('switch', false);
    const r = await next;
    expect(r.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    for (let u = 0; u < a.N.tracks; u++) {
      const want = u < a.O.tracks ? trackData(tb, u, 1) : new Uint8Array(tb);
      expect(await host.read('LD1', u * tb, tb), `track ${u} after both sessions`).toEqual(want);
    }
    expect(emu.problems()).toEqual([]);
  });
});

describe('step 105: the BCV not ready and its cached tracks dropped before ESTABLISH', () => {
  it('a BCV track a host read into cache holds no slot once the session is open; the restripe moves every track', async () => {
    const a = await fig2Array();
    const { emu, host, tb, B } = a;
    const bcv = emu.model.device('BCV1').index;
    // Hosts may read the BCV while it is ready: its tracks come into cache (clean, VALID).
    for (let t = 0; t < B.tracks; t += 2) await host.read('BCV1', t * tb, tb);
    const cached = () =>
      Array.from({ length: B.tracks }, (_, t) => B.locate(t)).filter((g) => slotOf(emu.state, g) !== NO_SLOT);
    expect(cached().length).toBeGreaterThan(0);
    emu.hold('establish', true);
    const report = emu.reconfigure(a.target);
    // ESTABLISHING is set after the open's round, the purge's round and the session's bits.
    await until(() => deviceWordOf(emu.state, a.ld1, DEVICE.PHASE) === PHASE.ESTABLISHING, 'ESTABLISH');
    expect(deviceWordOf(emu.state, bcv, DEVICE.READY)).toBe(0);
    expect(cached(), 'BCV tracks still holding a slot at ESTABLISH').toEqual([]);
    emu.hold('establish', false);
    const r = await report;
    expect(r.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    for (let t = 0; t < a.O.tracks; t++)
      expect(await host.read('LD1', t * tb, tb), `track ${t}`).toEqual(trackData(tb, t, 1));
    expect(emu.problems()).toEqual([]);
  });
});
