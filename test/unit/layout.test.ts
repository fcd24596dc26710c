import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadConfig, type ArrayConfig } from '../../src/shared/config/config.ts';
import {
  cylinderName,
  deviceLayout,
  DeviceLayout,
  DriveMap,
  transferPlan,
  type Extent,
} from '../../src/shared/layout/layout.ts';
import { TrackInverse } from '../../src/shared/restripe/session.ts';

const fig2 = loadConfig('examples/fig2.json');
const target = (f: string) => loadConfig(`examples/${f}.json`, { running: fig2 });

function names(l: DeviceLayout): Record<string, string> {
  return Object.fromEntries([...l.cylindersByDrive()].map(([d, cs]) => [d, cs.map(cylinderName).join(' ')]));
}

describe('layouts of the patent (DESIGN §8)', () => {
  it('names cylinders like the figures', () => {
    expect([0, 1, 25, 26, 27, 51, 52, 701, 702].map(cylinderName)).toEqual([
      'A',
      'B',
      'Z',
      'AA',
      'AB',
      'AZ',
      'BA',
      'ZZ',
      'AAA',
    ]);
  });

  it('FIG. 2 original: 3 drives, S=2', () => {
    expect(names(deviceLayout(fig2, 'LD1'))).toEqual({ '31': 'A B G H', '33': 'C D I J', '35': 'E F K L' });
  });

  it('FIG. 2 new: 4 drives, S=2 (I J on 31B, not 37B)', () => {
    expect(names(deviceLayout(target('fig2-new'), 'LD1'))).toEqual({
      '31': 'A B I J',
      '33': 'C D K L',
      '35': 'E F M N',
      '37': 'G H O P',
    });
  });

  it('FIG. 8: 3 drives (31, 33, 35), S=1', () => {
    expect(names(deviceLayout(target('fig8'), 'LD1'))).toEqual({ '31': 'A D G J', '33': 'B E H K', '35': 'C F I L' });
  });

  it('FIG. 9: 4 drives, S=1', () => {
    expect(names(deviceLayout(target('fig9'), 'LD1'))).toEqual({
      '31': 'A E I M',
      '33': 'B F J N',
      '35': 'C G K O',
      '37': 'D H L P',
    });
  });

  it('places a device that does not start at cylinder 0 beside its neighbour on the same drives', () => {
    const ld1 = deviceLayout(fig2, 'LD1');
    const ld2 = deviceLayout(fig2, 'LD2');
    expect(names(ld2)).toEqual({ '31': 'A D', '33': 'B E', '35': 'C F' });
    // LD2 cylinder A is drive 31 physical cylinder 4, right after LD1's four cylinders.
    expect(ld2.cylinderLocation(0)).toMatchObject({ driveId: '31', cylinder: 4 });
    expect(ld2.cylinderLocation(5)).toMatchObject({ driveId: '35', cylinder: 5 });
    const all = new Set<number>();
    for (const l of [ld1, ld2]) for (let t = 0; t < l.tracks; t++) all.add(l.locate(t));
    expect(all.size).toBe(ld1.tracks + ld2.tracks); // no track shared
  });

  it('locate() agrees with the cylinder map for every track and head', () => {
    const l = deviceLayout(target('fig9'), 'LD1');
    const seen = new Set<number>();
    for (let t = 0; t < l.tracks; t++) {
      const g = l.locate(t);
      const c = Math.floor(t / l.headsPerCylinder);
      const loc = l.cylinderLocation(c);
      const drives = ['31', '33', '35', '37', '46', '47', '48'];
      const base = drives.indexOf(loc.driveId) * 8 * 15;
      expect(g).toBe(base + loc.cylinder * 15 + (t % 15));
      seen.add(g);
    }
    expect(seen.size).toBe(l.tracks);
  });

  it('a BCV mirrors its device member for member', () => {
    expect(names(deviceLayout(fig2, 'BCV1'))).toEqual({ '46': 'A B G H', '47': 'C D I J', '48': 'E F K L' });
  });

  it('concatenated meta device fills members in order', () => {
    const meta = deviceLayout(target('fig2-meta'), 'META1');
    expect(names(meta)).toEqual({ '37': 'A B C D' });
    expect(meta.cylinderLocation(2)).toMatchObject({ driveId: '37', cylinder: 6 });
  });

  it('transfer plan of FIG. 2 matches the table after FIG. 6B', () => {
    const plan = transferPlan(
      deviceLayout(fig2, 'LD1'),
      deviceLayout(fig2, 'BCV1'),
      deviceLayout(target('fig2-new'), 'LD1'),
    );
    const byName = Object.fromEntries(plan.map((r) => [r.cylinder, `${r.from} ${r.bcv} ${r.to}`]));
    expect(byName).toMatchObject({
      A: '31:0 46:0 31:0',
      G: '31:2 46:2 37:0',
      H: '31:3 46:3 37:1',
      I: '33:2 47:2 31:2',
      K: '35:2 48:2 33:2',
      L: '35:3 48:3 33:3',
    });
    expect(plan.filter((r) => r.moves).map((r) => r.cylinder)).toEqual(['G', 'H', 'I', 'J', 'K', 'L']);
  });

  it("a layout's inverse, by arithmetic, undoes locate() on every track and finds nothing elsewhere", () => {
    // Any layout: 1-5 drives of random size, a striped or concatenated device with a member on any
    // of them (two on one drive, at different places, too), H heads, S cylinders a stripe.
    const layouts = fc
      .record({
        heads: fc.integer({ min: 1, max: 4 }),
        stripe: fc.integer({ min: 1, max: 3 }),
        striped: fc.boolean(),
        rows: fc.integer({ min: 1, max: 3 }),
        members: fc.array(fc.record({ drive: fc.integer({ min: 0, max: 4 }), gap: fc.integer({ min: 0, max: 2 }) }), {
          minLength: 1,
          maxLength: 5,
        }),
      })
      .map(({ heads, stripe, striped, rows, members }) => {
        const next = [0, 0, 0, 0, 0]; // each drive's first free cylinder
        const extents: Extent[] = members.map(({ drive, gap }, i) => {
          const cylinders = striped ? stripe * rows : 1 + ((i * 7 + gap) % 4);
          const e = { drive, driveId: `d${drive}`, startCylinder: next[drive]! + gap, cylinders };
          next[drive] = e.startCylinder + cylinders;
          return e;
        });
        const cfg = {
          geometry: { trackBytes: 512, headsPerCylinder: heads },
          drives: next.map((c, d) => ({ id: `d${d}`, cylinders: c + 1 })),
        } as unknown as ArrayConfig;
        const drives = new DriveMap(cfg);
        return {
          drives,
          layout: new DeviceLayout('LDX', striped ? 'striped' : 'concatenated', extents, stripe, drives),
        };
      });
    fc.assert(
      fc.property(layouts, ({ drives, layout }) => {
        const held = new Map<number, number>();
        for (let t = 0; t < layout.tracks; t++) held.set(layout.locate(t), t);
        expect(held.size).toBe(layout.tracks); // locate() is one to one
        const inv = new TrackInverse(layout, drives);
        for (let g = 0; g < drives.totalTracks; g++) expect(inv.get(g)).toBe(held.get(g) ?? -1);
        for (let d = 0; d < drives.ids.length; d++)
          expect([...inv.on(d)]).toEqual([...held.keys()].filter((g) => drives.driveOf(g) === d).sort((a, b) => a - b));
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
