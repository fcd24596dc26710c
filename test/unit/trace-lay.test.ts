// The rule that lays a trace onto a sweep point's device (src/lab/sweep-trace.ts): 1 MiB regions
// placed at floor(r × R_d / R_t), offsets within a region kept, nothing past the device's end.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { layTrace, REGION_BYTES } from '../../src/lab/sweep-trace.ts';

const R = REGION_BYTES / 512;

describe('a trace laid onto a device', () => {
  it('keeps each request in its region at the scaled place, at the same offset, inside the device', () => {
    const rec = fc.record({ lbn: fc.nat(50 * R), blocks: fc.integer({ min: 1, max: 256 }), write: fc.boolean() });
    fc.assert(
      fc.property(fc.array(rec, { minLength: 1, maxLength: 50 }), fc.integer({ min: 1, max: 400 }), (rs, regions) => {
        const recs = rs.map((r, i) => ({ ...r, line: i + 1, timeMs: i }));
        const deviceBytes = regions * REGION_BYTES;
        const span = Math.ceil(Math.max(...recs.map((r) => r.lbn + r.blocks)) / R);
        const laid = layTrace(recs, deviceBytes);
        laid.forEach((l, i) => {
          const r = recs[i]!;
          expect(l.lbn + l.blocks).toBeLessThanOrEqual(deviceBytes / 512);
          const want = Math.floor((Math.floor(r.lbn / R) * regions) / span) * R + (r.lbn % R);
          expect(l.lbn).toBe(Math.min(want, deviceBytes / 512 - 1));
          expect([l.write, l.timeMs, l.line]).toEqual([r.write, r.timeMs, r.line]);
        });
      }),
      { numRuns: 200, seed: 3 },
    );
  });

  it('two requests in one region stay as far apart as they were', () => {
    const recs = [
      { line: 1, timeMs: 0, lbn: 5 * R + 8, blocks: 8, write: false },
      { line: 2, timeMs: 1, lbn: 5 * R + 16, blocks: 8, write: false },
      { line: 3, timeMs: 2, lbn: 9 * R, blocks: 8, write: true },
    ];
    const [a, b] = layTrace(recs, 100 * REGION_BYTES);
    expect(b!.lbn - a!.lbn).toBe(8); // a sequential run stays sequential
    expect(Math.floor(a!.lbn / R)).toBe(50); // region 5 of 10 → region 50 of 100
  });
});
