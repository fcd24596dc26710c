// A restripe of a mirrored device (DESIGN §14): every mirror moves with it, each mirror of N on its
// own members; a target whose mirrors cannot move with it is refused, naming the clash; a drive that
// fails in the middle of the restripe leaves nothing lost, its spare is rebuilt, and every copy
// ends equal to M1.
import { afterEach, describe, expect, it } from 'vitest';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { HostClient } from '../../src/host/client.ts';
import { parseConfig, type ArrayConfig } from '../../src/shared/config/config.ts';
import { DEVICE, NO_SLOT, PHASE, SLOT, TRACK, WPK_ALL } from '../../src/shared/tables/memory.ts';
import { planReconfiguration } from '../../src/shared/restripe/reconf-plan.ts';
import { deviceLayout } from '../../src/shared/layout/layout.ts';
import { until } from '../support/helpers.ts';
import { deviceWordOf, hasFlag, slotOf, slotStateOf } from '../../src/shared/tables/tables.ts';

const emus: ArrayEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.splice(0).map((e) => e.stop()));
});

const TRACK_BYTES = 4096;
const members = (drives: string[], startCylinder = 0) => drives.map((drive) => ({ drive, startCylinder }));

/** LD1 and LD2 striped over d0-d2 with mirror 2 on d3-d5, LD1's BCV on b0-b2; d6/d7 free for the target; spares s0, s1. */
function runningRaw(slots = 8): any {
  const ids = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7', 'b0', 'b1', 'b2', 's0', 's1'];
  return {
    geometry: { trackBytes: TRACK_BYTES, headsPerCylinder: 2 },
    cache: { slots },
    drives: ids.map((id) => ({ id, cylinders: 8 })),
    diskAdapters: [
      { id: 'DA0', drives: ['d0', 'd3', 'b0', 's0', 'd6'] },
      { id: 'DA1', drives: ['d1', 'd4', 'b1', 's1', 'd7'] },
      { id: 'DA2', drives: ['d2', 'd5', 'b2'] },
    ],
    devices: [
      {
        id: 'LD1',
        layout: 'striped',
        cylinders: 12,
        stripeCylinders: 2,
        members: members(['d0', 'd1', 'd2']),
        mirrors: [{ members: members(['d3', 'd4', 'd5']) }],
      },
      {
        id: 'LD2',
        layout: 'striped',
        cylinders: 3,
        stripeCylinders: 1,
        members: members(['d0', 'd1', 'd2'], 5),
        mirrors: [{ members: members(['d3', 'd4', 'd5'], 5) }],
      },
      { id: 'BCV1', layout: 'bcv', of: 'LD1', members: members(['b0', 'b1', 'b2']) },
    ],
    spares: ['s0', 's1'],
  };
}

/** LD1 onto d0-d2 and d6 with a one-cylinder stripe (an expansion and a stripe change), mirror 2 on d3-d5 and d7. */
function targetRaw(slots = 8): any {
  const t = runningRaw(slots);
  Object.assign(t.devices[0], {
    cylinders: 16,
    stripeCylinders: 1,
    members: members(['d0', 'd1', 'd2', 'd6']),
    mirrors: [{ members: members(['d3', 'd4', 'd5', 'd7']) }],
  });
  return t;
}

/** Track t's bytes, version v: different at every offset. */
function pattern(t: number, v = 1): Uint8Array {
  const out = new Uint8Array(TRACK_BYTES);
  for (let i = 0; i < TRACK_BYTES; i++) out[i] = (t * 131 + v * 29 + i * 7 + (i >> 8)) & 0xff;
  return out;
}

/** The bytes location g holds on its drive position's media (a spare's, once it took the place). */
function onDrive(emu: ArrayEmulator, g: number): Buffer {
  const d = emu.model.drives.driveOf(g);
  const media = emu.driveStatus().drives.find((x) => x.id === emu.model.drives.ids[d])!.replacedBy;
  const m = media ? emu.model.drives.index(media) : d;
  const at = (g - emu.model.drives.baseTrack[d]!) * TRACK_BYTES;
  return Buffer.from(new Uint8Array(emu.state.buffers.driveData[m]!, at, TRACK_BYTES));
}

/** The same with BCV1 mirrored too (mirror 2 on c0-c2, each on another adapter than its BCV member's). */
function withMirroredBcv(raw: any): any {
  raw.drives.push(...['c0', 'c1', 'c2'].map((id) => ({ id, cylinders: 8 })));
  raw.diskAdapters[1].drives.push('c0');
  raw.diskAdapters[2].drives.push('c1');
  raw.diskAdapters[0].drives.push('c2');
  raw.devices.find((d: any) => d.id === 'BCV1').mirrors = [{ members: members(['c0', 'c1', 'c2']) }];
  return raw;
}

async function filledArray(mode: 'inline' | 'threads' = 'inline', raw = runningRaw()) {
  const emu = await ArrayEmulator.start(parseConfig(raw), { mode });
  emus.push(emu);
  const host = new HostClient(emu.hostLink(0));
  const tracks = emu.model.device('LD1').layout.tracks;
  for (let t = 0; t < tracks; t++) await host.write('LD1', t * TRACK_BYTES, pattern(t));
  await host.flush();
  return { emu, host, tracks, ld1: emu.model.device('LD1').index };
}

/**
 * After the restripe: every track of N reads back `want`, and M1 and mirror 2 hold it on their
 * drives (or, a new track never written, is formatted there: FMT, read as zeros).
 */
async function everyCopy(emu: ArrayEmulator, host: HostClient, want: (t: number) => Uint8Array): Promise<void> {
  await host.flush();
  const N = deviceLayout(emu.model.config as ArrayConfig, 'LD1');
  for (let t = 0; t < N.tracks; t++) {
    const w = Buffer.from(want(t));
    expect(Buffer.from(await host.read('LD1', t * TRACK_BYTES, TRACK_BYTES)).equals(w), `read of track ${t}`).toBe(
      true,
    );
    for (const [k, l] of [N, N.mirrors[0]!].entries()) {
      const g = l.locate(t);
      if (hasFlag(emu.state, g, TRACK.FMT)) expect(w.every((x) => x === 0)).toBe(true);
      else expect(onDrive(emu, g).equals(w), `copy ${k + 1} of track ${t} (${emu.model.drives.dch(g)})`).toBe(true);
    }
  }
}

describe('a mirrored device restriped: the target', () => {
  const running = parseConfig(runningRaw());

  it('moves every mirror: an expansion with a stripe change is planned', () => {
    expect(planReconfiguration(running, targetRaw()).kind).toBe('expansion+stripe-change');
  });

  it('is refused where a mirror cannot move with its device, naming the locations', () => {
    const fewer = targetRaw();
    fewer.devices[0].mirrors = [];
    expect(() => planReconfiguration(running, fewer)).toThrow(
      '"LD1" has 2 copies now and 1 in the target: a restripe keeps the number of copies',
    );
    const moved = targetRaw();
    moved.devices[0].mirrors[0].members = members(['d4', 'd3', 'd5', 'd7']); // d0's and d1's mirrors swapped
    expect(() => planReconfiguration(running, moved)).toThrow(
      /mirror 2 of d0\/c0\/h0 is d3\/c0\/h0 now and d4\/c0\/h0 in the target .*; and \d+ more/,
    );
    // Off d2 onto d6 and d7: d6's mirror on d2 (an original location), d7's on d5 (mirror 2 of d2's tracks now).
    const vacated = targetRaw();
    vacated.devices[0].members = members(['d0', 'd1', 'd6', 'd7']);
    vacated.devices[0].mirrors[0].members = members(['d3', 'd4', 'd2', 'd5']);
    expect(() => planReconfiguration(running, vacated)).toThrow(
      /mirror 2 of d6\/c0\/h0 would be d2\/c0\/h0, a main location of the restripe/,
    );
    expect(() => planReconfiguration(running, vacated)).toThrow(
      /d5\/c0\/h0 would hold copies of both d2\/c0\/h0 and d7\/c0\/h0/,
    );
  });
});

describe.each(['inline', 'threads'] as const)('a mirrored device restriped (%s)', (mode) => {
  it('under host writes: every track reads back, and M1 and mirror 2 of N both hold it', async () => {
    const { emu, host, tracks } = await filledArray(mode);
    const version = new Map<number, number>();
    const restripe = emu.reconfigure(targetRaw());
    for (let i = 0; i < 40; i++) {
      const t = (i * 7) % tracks; // the old tracks: the new ones exist from the switch on
      version.set(t, 2 + i);
      await host.write('LD1', t * TRACK_BYTES, pattern(t, 2 + i));
    }
    const report = await restripe;
    expect(report.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    await everyCopy(emu, host, (t) =>
      version.has(t) ? pattern(t, version.get(t)!) : t < tracks ? pattern(t) : new Uint8Array(TRACK_BYTES),
    );
    expect(emu.problems()).toEqual([]);
  });
});

/** IND locations holding a slot a fill's copy made (SLOT.FILL): whether each is still pending. */
function fillCopies(emu: ArrayEmulator): Array<{ g: number; pending: boolean }> {
  const out: Array<{ g: number; pending: boolean }> = [];
  for (let g = 0; g < emu.state.totalTracks; g++) {
    const s = slotOf(emu.state, g);
    if (!hasFlag(emu.state, g, TRACK.IND) || s === NO_SLOT || !(slotStateOf(emu.state, s) & SLOT.FILL)) continue;
    out.push({ g, pending: (slotStateOf(emu.state, s) & WPK_ALL) !== 0 });
  }
  return out;
}

describe.each(['inline', 'threads'] as const)('a mirrored restripe whose disk adapters stop mid-fill (%s)', (mode) => {
  it("each stopped after its fill's copy, before clearing IND: the copies, destaged meanwhile, stand", async () => {
    const { emu, host, tracks, ld1 } = await filledArray(mode);
    emu.hold('fill-copied', true); // a mirrored n is filled through the cache: every fill stops there
    const restripe = emu.reconfigure(targetRaw());
    restripe.catch(() => {});
    await until(() => fillCopies(emu).length > 0, "a fill's copy in cache, IND still set");
    expect(deviceWordOf(emu.state, ld1, DEVICE.PHASE)).toBe(PHASE.TRANSFERRING);
    // Every disk adapter stops where it is (some at the hold, with a copy made); their replacements
    // do not fill until the copies are on every drive of n's copies (destaged by the adapters of n
    // and of its mirror).
    emu.hold('transfer', true);
    for (const da of ['DA0', 'DA1', 'DA2']) await emu.restart(da);
    // The caller goes on as itself, not as an adapter just killed (inline: status() never came back).
    expect(Object.keys(await emu.status())).toEqual(expect.arrayContaining(['DA0', 'DA1', 'DA2']));
    await until(() => fillCopies(emu).every((c) => !c.pending), "the fills' copies destaged");
    expect(fillCopies(emu).length).toBeGreaterThan(0);
    emu.hold('fill-copied', false);
    emu.hold('transfer', false);
    const report = await restripe;
    expect(report.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    expect(fillCopies(emu)).toEqual([]);
    await everyCopy(emu, host, (t) => (t < tracks ? pattern(t) : new Uint8Array(TRACK_BYTES)));
    expect(emu.problems()).toEqual([]);
    expect(emu.restarts).toBe(3);
  });
});

describe('a drive fails in the middle of a mirrored restripe', () => {
  it.each([
    ['d1', 'an M1 drive of both layouts'],
    ['d4', 'a mirror 2 drive of both layouts'],
    ['d6', 'the new M1 drive'],
    ['d7', 'the new mirror 2 drive'],
  ])('%s (%s) fails in the transfer: the restripe ends, a spare is rebuilt, nothing is lost', async (drive) => {
    const { emu, host, tracks, ld1 } = await filledArray();
    for (const h of ['split', 'transfer'] as const) emu.hold(h, true);
    const restripe = emu.reconfigure(targetRaw());
    restripe.catch(() => {});
    await until(() => deviceWordOf(emu.state, ld1, DEVICE.PHASE) === PHASE.TRANSFERRING, 'the transfer');
    emu.step('split', 6);
    emu.step('transfer', 5);
    await until(() => emu.state.hooks.holdStepsLeft('transfer') === 0, 'five transfer steps');
    await host.write('LD1', 3 * TRACK_BYTES, pattern(3, 9));
    emu.failDrive({ drive, kind: 'whole' });
    await host.write('LD1', 4 * TRACK_BYTES, pattern(4, 9));
    for (const h of ['split', 'transfer'] as const) emu.hold(h, false);
    const report = await restripe;
    expect(report.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    const rebuilt = (await emu.rebuilds.get(drive))!;
    expect(rebuilt).toMatchObject({ drive, unrecoverable: 0 });
    await everyCopy(emu, host, (t) =>
      t === 3 || t === 4 ? pattern(t, 9) : t < tracks ? pattern(t) : new Uint8Array(TRACK_BYTES),
    );
    expect(emu.driveStatus().devices.find((d) => d.id === 'LD1')!.state).toBe('ok');
    expect(emu.problems()).toEqual([]);
  });
});

describe('a drive fails while a mirrored device is ESTABLISHed', () => {
  it.each([
    ['d1', 'an M1 drive: ESTABLISH pauses until its spare is rebuilt, then goes on'],
    ['d4', 'a mirror 2 drive: ESTABLISH reads M1 and goes on'],
  ])('%s (%s): the restripe ends, nothing is lost', async (drive) => {
    const { emu, host, tracks, ld1 } = await filledArray();
    emu.hold('establish', true);
    const restripe = emu.reconfigure(targetRaw());
    restripe.catch(() => {});
    await until(() => deviceWordOf(emu.state, ld1, DEVICE.PHASE) === PHASE.ESTABLISHING, 'ESTABLISH');
    emu.step('establish', 4);
    await until(() => emu.state.hooks.holdStepsLeft('establish') === 0, 'four ESTABLISH steps');
    await host.write('LD1', 5 * TRACK_BYTES, pattern(5, 9));
    emu.failDrive({ drive, kind: 'whole' });
    await host.write('LD1', 6 * TRACK_BYTES, pattern(6, 9));
    emu.hold('establish', false);
    const report = await restripe;
    expect(report.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    // The failure came in the middle of ESTABLISH's first attempt, so it ran again: stopped by the drive
    // fault (and paused for the rebuild), or ended and was asked again because a spare took a place.
    const again = report.steps.some((s) => /ESTABLISH stopped by a drive fault|ESTABLISH again/.test(s.step));
    expect(again).toBe(true);
    expect((await emu.rebuilds.get(drive))!).toMatchObject({ drive, unrecoverable: 0 });
    await everyCopy(emu, host, (t) =>
      t === 5 || t === 6 ? pattern(t, 9) : t < tracks ? pattern(t) : new Uint8Array(TRACK_BYTES),
    );
    expect(emu.problems()).toEqual([]);
  });
});

describe('a mirrored BCV (DESIGN §14): the window between the switch and a fill is closed', () => {
  it('is refused on its own drives, and a restripe may not change its mirrors', () => {
    const raw = withMirroredBcv(runningRaw());
    raw.devices.find((d: any) => d.id === 'BCV1').mirrors[0].members[1].drive = 'b1';
    expect(() => parseConfig(raw)).toThrow(/drive "b1" already holds mirror 1 of "BCV1"/);
    const running = parseConfig(withMirroredBcv(runningRaw()));
    const target = withMirroredBcv(targetRaw());
    target.devices.find((d: any) => d.id === 'BCV1').mirrors[0].members[0].startCylinder = 4;
    expect(() => planReconfiguration(running, target)).toThrow(/a restripe keeps its BCV's mirrors/);
  });

  it.each([
    ['b1', 'a BCV drive: its tracks not filled yet are filled from the BCV mirror'],
    ['c1', "the BCV mirror's drive: the BCV itself fills"],
  ])('%s (%s) fails in the transfer: the restripe ends, a spare is rebuilt, nothing is lost', async (drive) => {
    const { emu, host, tracks, ld1 } = await filledArray('inline', withMirroredBcv(runningRaw()));
    for (const h of ['split', 'transfer'] as const) emu.hold(h, true);
    const restripe = emu.reconfigure(withMirroredBcv(targetRaw()));
    restripe.catch(() => {});
    await until(() => deviceWordOf(emu.state, ld1, DEVICE.PHASE) === PHASE.TRANSFERRING, 'the transfer');
    emu.step('split', 6);
    emu.step('transfer', 3);
    await until(() => emu.state.hooks.holdStepsLeft('transfer') === 0, 'three transfer steps');
    await host.write('LD1', 3 * TRACK_BYTES, pattern(3, 9));
    emu.failDrive({ drive, kind: 'whole' });
    // Host reads of tracks not filled yet: each fills from a readable BCV copy (FIG. 7).
    for (const t of [10, 15, 20])
      expect(Buffer.from(await host.read('LD1', t * TRACK_BYTES, TRACK_BYTES))).toEqual(Buffer.from(pattern(t)));
    for (const h of ['split', 'transfer'] as const) emu.hold(h, false);
    const report = await restripe;
    expect(report.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    // A BCV drive's failure stops the transfer's fills there: it waits for the rebuild (or reads the mirror) and goes on.
    const again = report.steps.some((s) =>
      /the data transfer (stopped by a drive fault|reads \d+ tracks from a mirror)/.test(s.step),
    );
    expect(again).toBe(drive === 'b1');
    expect((await emu.rebuilds.get(drive))!).toMatchObject({ drive, unrecoverable: 0 });
    await everyCopy(emu, host, (t) =>
      t === 3 ? pattern(t, 9) : t < tracks ? pattern(t) : new Uint8Array(TRACK_BYTES),
    );
    // The detached BCV holds the original image on both its copies (the failed one's on its spare).
    const B = deviceLayout(parseConfig(withMirroredBcv(runningRaw())), 'BCV1'); // as it was established
    for (let t = 0; t < tracks; t++) {
      const want = Buffer.from(pattern(t));
      for (const l of [B, B.mirrors[0]!])
        expect(
          onDrive(emu, l.locate(t)).equals(want),
          `BCV copy of track ${t} at ${emu.model.drives.dch(l.locate(t))} (${emu.state.describeTrack(l.locate(t))}): ${onDrive(emu, l.locate(t)).subarray(0, 4).join(',')} want ${want.subarray(0, 4).join(',')}`,
        ).toBe(true);
    }
    expect(emu.problems()).toEqual([]);
  });

  it.each([
    ['b1', 'a BCV drive'],
    ['c1', "the BCV mirror's drive"],
  ])('%s (%s) fails in ESTABLISH: the restripe ends, nothing is lost', async (drive) => {
    const { emu, host, tracks, ld1 } = await filledArray('inline', withMirroredBcv(runningRaw()));
    emu.hold('establish', true);
    const restripe = emu.reconfigure(withMirroredBcv(targetRaw()));
    restripe.catch(() => {});
    await until(() => deviceWordOf(emu.state, ld1, DEVICE.PHASE) === PHASE.ESTABLISHING, 'ESTABLISH');
    emu.step('establish', 4);
    await until(() => emu.state.hooks.holdStepsLeft('establish') === 0, 'four ESTABLISH steps');
    await host.write('LD1', 5 * TRACK_BYTES, pattern(5, 9));
    emu.failDrive({ drive, kind: 'whole' });
    await host.write('LD1', 6 * TRACK_BYTES, pattern(6, 9));
    emu.hold('establish', false);
    const report = await restripe;
    expect(report.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    expect((await emu.rebuilds.get(drive))!).toMatchObject({ drive, unrecoverable: 0 });
    await everyCopy(emu, host, (t) =>
      t === 5 || t === 6 ? pattern(t, 9) : t < tracks ? pattern(t) : new Uint8Array(TRACK_BYTES),
    );
    expect(emu.problems()).toEqual([]);
  });
});
