// The live view's pure parts: the cell deltas it sends, the owners it reads from the layouts, and
// the latency histogram its p50/p99 come from.
import { describe, expect, it } from 'vitest';
import { cellChanges, NO_OWNER, readOwners, ROLE } from '../../src/serve/ui/track-view.ts';
import { latencyDelta, latencyQuantileMs, newLatencyBuckets, recordLatency } from '../../src/serve/histogram.ts';
import { ArrayModel } from '../../src/shared/model/model.ts';
import { createSharedBuffers, DEVICE, SharedState } from '../../src/shared/tables/memory.ts';
import { deviceLayout } from '../../src/shared/layout/layout.ts';
import { small } from '../support/helpers.ts';
import { setDeviceWord } from '../../src/shared/tables/tables.ts';

describe('live view', () => {
  it('sends the cells that changed as pairs, and all of them past a quarter changed', () => {
    const before = new Uint8Array(100);
    const now = before.slice();
    now[3] = 7;
    now[99] = 1;
    expect(cellChanges(before, now)).toEqual([3, 7, 99, 1]);
    for (let g = 0; g < 30; g++) now[g] = 2;
    expect(cellChanges(before, now)).toBeNull();
    expect(cellChanges(now, now)).toEqual([]);
  });

  it("reads each location's device and role from the layouts: LD1's tracks are LD1's, its BCV's are BCV", () => {
    const config = small('fig2');
    const model = new ArrayModel(config);
    const state = new SharedState(createSharedBuffers(config));
    for (const d of model.devices) setDeviceWord(state, d.index, DEVICE.GENERATION, 1); // as the service processor starts them
    const { owners, roles } = readOwners(model, state);
    const ld1 = model.device('LD1');
    const O = deviceLayout(config, 'LD1');
    for (let t = 0; t < O.tracks; t++) {
      expect(owners[O.locate(t)]).toBe(ld1.index);
      expect(roles[O.locate(t)]).toBe(ROLE.ACTIVE);
    }
    const bcv = deviceLayout(config, 'BCV1');
    expect(roles[bcv.locate(0)]).toBe(ROLE.BCV);
    const used = new Set<number>();
    for (const d of model.devices) for (let t = 0; t < d.layout.tracks; t++) used.add(d.layout.locate(t));
    for (let g = 0; g < state.totalTracks; g++) expect(owners[g] === NO_OWNER).toBe(!used.has(g));
  });

  it('latency quantiles: the bound of the bucket holding them, from the difference of two snapshots', () => {
    const h = newLatencyBuckets();
    for (let i = 0; i < 98; i++) recordLatency(h, 0.1); // 100 µs: bucket [64, 128) µs
    recordLatency(h, 3); // 3 ms: [2048, 4096) µs
    recordLatency(h, 3);
    expect(latencyQuantileMs(h, 0.5)).toBe(0.128);
    expect(latencyQuantileMs(h, 0.99)).toBe(4.096);
    const before = h.slice();
    recordLatency(h, 0.01);
    expect(latencyQuantileMs(latencyDelta(h, before), 0.99)).toBe(0.016);
    expect(latencyQuantileMs(newLatencyBuckets(), 0.5)).toBeNull();
  });
});
