// The switch's check under host load (issue: "IND and PS both set" at the switch) and what a
// session that fails after the switch leaves: a stalled session, hosts served under the new layout
// (FIG. 7 on demand), finished by resume.
import { afterEach, describe, expect, it } from 'vitest';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { DEVICE, NO_SLOT, PHASE, TRACK } from '../../src/shared/tables/memory.ts';
import { Session } from '../../src/shared/restripe/session.ts';
import { setSplitProbe } from '../../src/shared/restripe/split.ts';
import { sessionBitProblems } from '../../src/shared/restripe/bits.ts';
import { fig2Array as startFig2, smallRaw, trackData, until } from '../support/helpers.ts';
import { deviceWordOf } from '../../src/shared/tables/tables.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  setSplitProbe(undefined);
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

async function fig2Array(slots = 64) {
  const a = await startFig2(emus, 'inline', slots);
  const { O, N } = a;
  // Locations of both layouts: old track t's new location n held another old track under O.
  const shared: number[] = [];
  for (let t = 0; t < O.tracks; t++) {
    const n = N.locate(t);
    for (let u = 0; u < O.tracks; u++) if (O.locate(u) === n && u !== t) shared.push(t);
  }
  expect(shared.length, 'FIG. 2 → FIG. 2 new has locations both layouts share').toBeGreaterThan(0);
  return { ...a, shared };
}

type Fig2 = Awaited<ReturnType<typeof fig2Array>>;

async function readAll(a: Fig2, written: Map<number, number>): Promise<void> {
  for (let t = 0; t < a.N.tracks; t++) {
    const want = written.has(t)
      ? trackData(a.tb, t, written.get(t)!)
      : t < a.O.tracks
        ? trackData(a.tb, t, 1)
        : new Uint8Array(a.tb);
    expect(await a.host.read('LD1', t * a.tb, a.tb), `track ${t}`).toEqual(want);
  }
}

describe('the switch’s check while host requests split', () => {
  it('passes at every step of a host request’s split of a location both layouts share, and data and bits come out right', async () => {
    const a = await fig2Array();
    const { emu } = a;
    for (const h of ['split', 'transfer', 'completion'] as const) emu.hold(h, true);
    const report = emu.reconfigure(a.target);
    await until(() => deviceWordOf(emu.state, a.ld1, DEVICE.GENERATION) === 2, 'the switch');
    const [spec] = await emu.openSessions();
    const session = new Session(spec!);
    // The switch's check, run from inside split (the host adapter's, under its lock) at each step
    // another actor can observe.
    const seen: Array<{ p: number; step: string; problems: string[] }> = [];
    setSplitProbe((p, step) => seen.push({ p, step, problems: sessionBitProblems(emu.state, session) }));
    for (const t of a.shared) {
      const n = a.N.locate(t);
      // PS here unless an earlier request's fill split it already (n is the old location of another track).
      expect(a.flags(n) & (TRACK.PS | TRACK.IND), `shared location of track ${t}: PS or split (IND)`).toBeTruthy();
      expect(await a.host.read('LD1', t * a.tb, a.tb), `track ${t} under N`).toEqual(trackData(a.tb, t, 1));
      expect(a.flags(n) & (TRACK.PS | TRACK.IND), `track ${t}: PS and IND clear after its FIG. 7 fill`).toBe(0);
      expect(Atomics.load(emu.state.trackPb, a.B.locate(t)), `track ${t}: PB clear`).toBe(0);
    }
    setSplitProbe(undefined);
    const shared = new Set(a.shared.map((t) => a.N.locate(t)));
    const steps = seen.filter((s) => shared.has(s.p)).map((s) => s.step);
    // Every shared location was split by a host request (FIG. 7: its own split, or the fill it asked for).
    expect(
      steps.filter((s) => s === 'flags-swapped').length,
      'the check ran inside the split of every shared location',
    ).toBe(a.shared.length);
    expect(steps, 'and between moving its slot and swapping its flags').toContain('slot-moved');
    expect(seen.flatMap((s) => s.problems)).toEqual([]);
    for (const h of ['split', 'transfer', 'completion'] as const) emu.hold(h, false);
    expect((await report).bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    await readAll(a, new Map());
    expect(emu.problems()).toEqual([]);
  });
});

describe('a session whose check fails after the switch', () => {
  it('stalls on the new layout with hosts served on demand, refuses another session on the device, and resume finishes it', async () => {
    const a = await fig2Array();
    const { emu, host, tb } = a;
    emu.hold('switch', true);
    const report = emu.reconfigure(a.target);
    await until(() => deviceWordOf(emu.state, a.ld1, DEVICE.PHASE) === PHASE.SYNCHRONISED, 'BCV synchronised');
    // Break the prepared bits: IND on a location still pending split (a state no process makes).
    const p = a.N.locate(a.shared[0]!);
    Atomics.or(emu.state.trackFlags, p, TRACK.IND);
    emu.hold('switch', false);
    await expect(report).rejects.toThrow(/at the switch: IND and PS both set/);
    expect(deviceWordOf(emu.state, a.ld1, DEVICE.GENERATION), 'the new layout stays active').toBe(2);
    const stalled = await emu.stalledSessions();
    expect(stalled).toMatchObject([{ device: 'LD1', session: 0, stage: 'switched' }]);
    await expect(emu.reconfigure(smallRaw('fig9'))).rejects.toThrow(
      /already being reconfigured .*stalled.*resume it first/,
    );
    // Hosts carry on under N: every track read (each moved on demand), some written.
    const written = new Map<number, number>();
    for (const t of [0, a.shared[0]!, a.N.tracks - 1]) {
      await host.write('LD1', t * tb, trackData(tb, t, 9));
      written.set(t, 9);
    }
    await readAll(a, written);
    // Resume: the instant split and the data transfer finish what the hosts did not touch.
    const r = await emu.resumeReconfiguration('LD1');
    expect(r.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    expect(await emu.stalledSessions()).toEqual([]);
    await host.flush();
    await readAll(a, written);
    expect(emu.problems()).toEqual([]);
  });
});

describe('bits left at completion', () => {
  it('are counted and reported before the session stops: a stalled session names them, and resume clears them', async () => {
    const a = await fig2Array();
    const { emu } = a;
    emu.test.hold('completion', true);
    const report = emu.reconfigure(a.target);
    const b = a.B.locate(0);
    const allFilled = () =>
      Array.from({ length: a.O.tracks }, (_, t) => Atomics.load(emu.state.trackPb, a.B.locate(t))).every(
        (w) => w === 0,
      );
    await until(
      () => deviceWordOf(emu.state, a.ld1, DEVICE.PHASE) === PHASE.TRANSFERRING && allFilled(),
      'the data transfer of every track',
    );
    // Every process has finished; a PB bit set again now is one the completion must find.
    Atomics.or(emu.state.trackPb, b, 1 << 0);
    emu.test.hold('completion', false);
    await expect(report).rejects.toThrow(/bits left set at completion: \{"pb":1,"ps":0,"ind":0\}/);
    const [stalled] = await emu.stalledSessions();
    expect(stalled).toMatchObject({
      device: 'LD1',
      stage: 'switched',
      bitsLeft: { pb: 1, ps: 0, ind: 0 },
      tracksTotal: a.O.tracks,
      tracksMoved: a.O.tracks - 1,
    });
    // Resume runs the data transfer again (it fills track 0 once more and clears its PB), then the count.
    const r = await emu.resumeReconfiguration('LD1');
    expect(r).toMatchObject({ bitsLeft: { pb: 0, ps: 0, ind: 0 }, tracksMoved: a.O.tracks, tracksTotal: a.O.tracks });
    await readAll(a, new Map());
  });
});

describe('no drain at the switch', () => {
  it('a request queued behind the block is not waited for: it is served under the new layout with the right data', async () => {
    const a = await fig2Array();
    const { emu, host, tb } = a;
    expect(a.shared.length, 'two tracks whose new location another old track held').toBeGreaterThanOrEqual(2);
    const [t, u] = a.shared as [number, number];
    for (const h of ['split', 'transfer', 'switch-window'] as const) emu.hold(h, true);
    const report = emu.reconfigure(a.target);
    await until(
      () => deviceWordOf(emu.state, a.ld1, DEVICE.BLOCKED) === 1,
      'the switch blocks LD1 (held inside its window)',
    );
    const read = host.read('LD1', t * tb, tb);
    const write = host.write('LD1', u * tb, trackData(tb, u, 5));
    await until(() => emu.state.inflight(a.ld1) === 2, 'both requests at the host adapter');
    expect(emu.state.critical(a.ld1), 'neither holds the switch').toBe(0);
    expect(deviceWordOf(emu.state, a.ld1, DEVICE.GENERATION), 'the old layout is still active').toBe(1);
    emu.hold('switch-window', false);
    expect(await read, `track ${t}, read under the new layout`).toEqual(trackData(tb, t, 1));
    await write;
    // Served under N: each request ran FIG. 7 at its track's new location (its own fill), while
    // the instant split and the data transfer were still held.
    for (const x of [t, u]) {
      expect(a.flags(a.N.locate(x)) & (TRACK.PS | TRACK.IND), `track ${x}: PS and IND clear at its new location`).toBe(
        0,
      );
      expect(a.pb(a.B.locate(x)), `track ${x}: PB clear (filled on demand)`).toBe(false);
    }
    for (const h of ['split', 'transfer'] as const) emu.hold(h, false);
    const r = await report;
    expect(r.scenarios['4'], 'both requests met FIG. 7 scenario 4 (neither process had acted)').toBeGreaterThanOrEqual(
      2,
    );
    expect(r.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    await readAll(a, new Map([[u, 5]]));
    expect(emu.problems()).toEqual([]);
  });

  it('does not wait for a request staging from its drive: the switch completes first, and the request is served under the new layout', async () => {
    const a = await fig2Array(8); // a small cache: most tracks are on the drives only
    const { emu, host, tb } = a;
    const t = Array.from({ length: a.O.tracks }, (_, x) => x).find(
      (x) => a.N.locate(x) !== a.O.locate(x) && Atomics.load(emu.state.trackSlot, a.O.locate(x)) === NO_SLOT,
    );
    expect(t, 'a track that moves and is not in cache').toBeDefined();
    for (const h of ['split', 'transfer', 'switch'] as const) emu.hold(h, true);
    const report = emu.reconfigure(a.target);
    await until(
      () => deviceWordOf(emu.state, a.ld1, DEVICE.PHASE) === PHASE.SYNCHRONISED,
      'BCV synchronised, the switch held',
    );
    emu.hold('stage', true);
    const read = host.read('LD1', t! * tb, tb);
    const o = a.O.locate(t!);
    await until(
      () => emu.state.inflight(a.ld1) === 1 && Atomics.load(emu.state.trackSlot, o) !== NO_SLOT,
      `track ${t} staging into a slot at its old location`,
    );
    expect(emu.state.critical(a.ld1), 'a staging request does not hold the switch').toBe(0);
    emu.hold('switch', false);
    await until(
      () => deviceWordOf(emu.state, a.ld1, DEVICE.GENERATION) === 2,
      'the switch done while the stage is held',
    );
    expect(deviceWordOf(emu.state, a.ld1, DEVICE.BLOCKED)).toBe(0);
    emu.hold('stage', false);
    expect(await read, `track ${t}, translated again after its stage`).toEqual(trackData(tb, t!, 1));
    expect(a.pb(a.B.locate(t!)), `track ${t}: filled on demand under the new layout`).toBe(false);
    for (const h of ['split', 'transfer'] as const) emu.hold(h, false);
    const r = await report;
    expect(r.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    await readAll(a, new Map());
    expect(emu.problems()).toEqual([]);
  });
});
