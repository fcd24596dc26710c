// The host path's rings (src/shared/links/ring.ts, ring-link.ts): the arena never hands out overlapping
// or out-of-bounds regions and gets all its space back; the ring keeps order across its wrap and
// refuses to overfill; and a host link on rings carries reads, writes, failures, leases and
// requests too large for the ring (over the port), every byte checked against a model.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MessageChannel } from 'node:worker_threads';
import { Arena, ENTRY_WORDS, Ring, ringBuffers } from '../../src/shared/links/ring.ts';
import { RING_REQUEST_MAX_BYTES, RingAdapterLink, RingHostLink } from '../../src/shared/links/ring-link.ts';
import type { IoReply, Message } from '../../src/shared/links/messages.ts';
import { HostClient } from '../../src/host/client.ts';
import { RegionTable } from '../../src/shared/links/region-table.ts';
import { IdTable } from '../../src/shared/links/id-table.ts';
import { InvariantError } from '../../src/shared/errors/errors.ts';

describe('arena', () => {
  it('hands out disjoint regions inside the arena, and gets all its space back', () => {
    const BYTES = 64 * 1024;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 20_000 }), fc.nat()), { maxLength: 300 }),
        (steps) => {
          const arena = new Arena(BYTES);
          const held: Array<{ at: number; n: number }> = [];
          for (const [alloc, n, pick] of steps) {
            if (alloc || held.length === 0) {
              const at = arena.alloc(n);
              if (at < 0) continue;
              expect(at + n).toBeLessThanOrEqual(BYTES);
              for (const h of held) expect(at + n <= h.at || h.at + h.n <= at).toBe(true);
              held.push({ at, n });
            } else {
              const [h] = held.splice(pick % held.length, 1);
              arena.free(h!.at);
            }
          }
          for (const h of held) arena.free(h.at);
          expect(arena.held()).toBe(0);
          expect(arena.alloc(BYTES)).toBe(0); // all of it, in one piece
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses to free what it did not hand out', () => {
    const arena = new Arena(4096);
    const at = arena.alloc(100);
    arena.free(at);
    expect(() => arena.free(at)).toThrow(InvariantError);
  });
});

describe('ring', () => {
  it('keeps order across many wraps and never holds more than its entries', () => {
    const b = ringBuffers(8);
    const producer = new Ring(b);
    const consumer = new Ring(b);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      const n = (round * 7) % 9;
      for (let i = 0; i < n && producer.room() > 0; i++) {
        producer.words[producer.nextEntry()] = next++;
        producer.put();
      }
      producer.publish();
      consumer.take((at) => expect(consumer.words[at]).toBe(expected++));
      expect(at0(consumer)).toBe(0);
    }
    expect(expected).toBe(next);
    for (let i = 0; i < 8; i++) {
      producer.nextEntry();
      producer.put();
    }
    expect(producer.room()).toBe(0);
    expect(() => producer.nextEntry()).toThrow(InvariantError);
  });

  it("carries a request's six numbers exactly, byte offsets past 4 GiB included", () => {
    const b = ringBuffers(2);
    const producer = new Ring(b);
    const consumer = new Ring(b);
    const entry = [2 ** 40 + 7, 1, 3, 2 ** 45 + 4096, 65536, 12_345_678];
    expect(entry.length).toBe(ENTRY_WORDS);
    const at = producer.nextEntry();
    entry.forEach((v, i) => (producer.words[at + i] = v));
    producer.put();
    producer.publish();
    const got: number[] = [];
    consumer.take((e) => got.push(...consumer.words.subarray(e, e + ENTRY_WORDS)));
    expect(got).toEqual(entry);
  });
});

/** Entries a consumer could still take (0 after a take). */
function at0(r: Ring): number {
  return r.take(() => {});
}

/** A stand-in host adapter on the other end: a device of bytes, reads and writes on it, some failing. */
function fakeAdapter(link: RingAdapterLink, deviceBytes: number): Uint8Array {
  const disk = new Uint8Array(deviceBytes);
  link.onMessages((msgs: Message[]) => {
    const replies: IoReply[] = [];
    for (const m of msgs) {
      if (m.t !== 'io') continue;
      for (const r of m.reqs) {
        if (r.offsetBytes + r.lengthBytes > deviceBytes) {
          replies.push({ id: r.id, ok: false, code: 'OUT_OF_RANGE', error: `past the end: ${r.offsetBytes}` });
        } else if (r.op === 'read') {
          const src = disk.subarray(r.offsetBytes, r.offsetBytes + r.lengthBytes);
          const data = r.into ?? new Uint8Array(r.lengthBytes);
          data.set(src);
          replies.push({ id: r.id, ok: true, data });
        } else if (r.op === 'write') {
          disk.set(r.data!, r.offsetBytes);
          replies.push({ id: r.id, ok: true });
        } else replies.push({ id: r.id, ok: true });
      }
    }
    // Answer out of order, some a turn later.
    const later = replies.filter((_, i) => i % 3 === 1);
    link.send({ t: 'io-done', replies: replies.filter((_, i) => i % 3 !== 1).reverse() });
    if (later.length) setImmediate(() => link.send({ t: 'io-done', replies: later }));
  });
  return disk;
}

describe('id table', () => {
  it('behaves as a Map of integer keys, growing as it fills, entries in key order', () => {
    // Keys from a moving window (ids) and from anywhere (arena offsets), deleted in any order, so
    // probe runs wrap around the end, deletes shift entries back and the table doubles.
    const step = fc.record({
      op: fc.constantFrom('set', 'set', 'delete', 'get'),
      key: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 40 })),
      pick: fc.nat(),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 500 }), (steps) => {
        const table = new IdTable<number>();
        const model = new Map<number, number>();
        steps.forEach(({ op, key, pick }, i) => {
          const live = [...model.keys()];
          const k = op !== 'set' && live.length > 0 && pick % 2 === 0 ? live[pick % live.length]! : key;
          if (op === 'set') {
            table.set(k, i);
            model.set(k, i);
          } else if (op === 'delete') expect(table.delete(k)).toBe(model.delete(k));
          expect(table.get(k)).toBe(model.get(k));
          expect(table.has(k)).toBe(model.has(k));
          expect(table.size).toBe(model.size);
        });
        expect(table.entries()).toEqual([...model.entries()].sort((a, b) => a[0] - b[0]));
      }),
      { numRuns: 300, seed: 13 },
    );
  });
});

describe('id table probe runs', () => {
  // A lookup or a delete scans the run of occupied cells its key lies in: with keys as their own
  // home cells, a client's window of consecutive ids made one run as long as the window, and an
  // arena's offsets (multiples of 4 KiB) all started at cell 0.
  it.each([
    ['consecutive request ids', 1],
    ['arena offsets of 4 KiB requests', 4096],
    ['arena offsets of 64 KiB requests', 65536],
    ['ids past 2^32', 2 ** 32],
  ])('keeps runs short for %s', (_name, stride) => {
    const table = new IdTable<number>();
    const IN_FLIGHT = 128;
    let next = 1;
    for (let i = 0; i < IN_FLIGHT; i++) table.set(next++ * stride, i);
    let longest = 0;
    for (let i = 0; i < 10_000; i++) {
      // The oldest answered, a new one sent: the window moves on, as a client's does.
      expect(table.delete((next - IN_FLIGHT) * stride)).toBe(true);
      table.set(next++ * stride, i);
      longest = Math.max(longest, table.longestRun());
    }
    expect(table.size).toBe(IN_FLIGHT);
    expect(longest).toBeLessThanOrEqual(24);
  });
});

describe('region table', () => {
  it('finds every request in flight and only those, whatever the order ids come and go in', () => {
    // A window of ids in flight that moves on (as a client's ids do), answered in any order, and
    // small tables, so probe runs wrap around the end and removals shift entries back.
    const ops = fc.array(fc.record({ add: fc.boolean(), pick: fc.nat(), gap: fc.integer({ min: 1, max: 40 }) }), {
      minLength: 1,
      maxLength: 400,
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 24 }), ops, (entries, steps) => {
        const table = new RegionTable(entries);
        const model = new Map<number, number>();
        let next = 1;
        for (const { add, pick, gap } of steps) {
          if (add && model.size < entries) {
            next += gap;
            table.add(next, next % 1000, next % 77, next % 4, undefined);
            model.set(next, next % 1000);
          } else if (model.size > 0) {
            const id = [...model.keys()][pick % model.size]!;
            const c = table.find(id);
            expect(c).toBeGreaterThanOrEqual(0);
            expect([table.at[c], table.len[c], table.flags[c]]).toEqual([id % 1000, id % 77, id % 4]);
            table.remove(id, c);
            model.delete(id);
            expect(table.find(id)).toBe(-1);
          }
          expect(table.size).toBe(model.size);
          for (const id of model.keys()) expect(table.at[table.find(id)]).toBe(model.get(id));
        }
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('refuses more requests in flight than it has room for, and an id twice', () => {
    const table = new RegionTable(2);
    table.add(5, 0, 1, 0, undefined);
    expect(() => table.add(5, 0, 1, 0, undefined)).toThrow(InvariantError);
    table.add(6, 0, 1, 0, undefined);
    expect(() => table.add(7, 0, 1, 0, undefined)).toThrow(InvariantError);
  });
});

describe('host link on rings', () => {
  it("carries reads (into the caller's buffer too), writes, failures, leases and oversized requests, data intact", async () => {
    const DEVICE_BYTES = RING_REQUEST_MAX_BYTES * 2;
    const { port1, port2 } = new MessageChannel();
    const adapterEnd = new RingAdapterLink(port2, 'host0', () => {});
    fakeAdapter(adapterEnd, DEVICE_BYTES);
    const link = new RingHostLink(port1, 'HA0', () => {});
    const host = new HostClient(link);
    const model = new Uint8Array(DEVICE_BYTES);
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              op: fc.constantFrom('read', 'write', 'lease', 'into', 'flush'),
              at: fc.integer({ min: 0, max: DEVICE_BYTES - 1 }),
              n: fc.oneof(fc.integer({ min: 1, max: 70_000 }), fc.constant(RING_REQUEST_MAX_BYTES + 4096)),
              fill: fc.integer({ min: 1, max: 255 }),
            }),
            { minLength: 1, maxLength: 24 },
          ),
          async (reqs) => {
            // Writes to disjoint places go together; reads check the model as it stands once they have landed.
            const writes = reqs.filter((r) => r.op === 'write');
            const taken: Array<[number, number]> = [];
            const ok = writes.filter((w) => {
              const end = Math.min(w.at + w.n, DEVICE_BYTES);
              if (taken.some(([a, b]) => w.at < b && a < end)) return false;
              taken.push([w.at, end]);
              return true;
            });
            await Promise.all(
              ok.map(async (w) => {
                const data = new Uint8Array(w.n).fill(w.fill);
                if (w.at + w.n > DEVICE_BYTES) {
                  await expect(host.write('LD1', w.at, data)).rejects.toThrow(/past the end/);
                } else {
                  await host.write('LD1', w.at, data);
                  model.fill(w.fill, w.at, w.at + w.n);
                }
              }),
            );
            await Promise.all(
              reqs
                .filter((r) => r.op !== 'write')
                .map(async (r) => {
                  if (r.op === 'flush') return host.flush();
                  const len = Math.min(r.n, DEVICE_BYTES - r.at);
                  if (r.op === 'read') {
                    expect(Buffer.compare(await host.read('LD1', r.at, len), model.subarray(r.at, r.at + len))).toBe(0);
                    return;
                  }
                  if (r.op === 'into') {
                    const into = new Uint8Array(len).fill(0xee);
                    expect(await host.readInto('LD1', r.at, into)).toBe(into); // the caller's own buffer, filled
                    expect(Buffer.compare(into, model.subarray(r.at, r.at + len))).toBe(0);
                    return;
                  }
                  const { data, release } = await host.readLeased('LD1', r.at, len);
                  expect(Buffer.compare(data, model.subarray(r.at, r.at + len))).toBe(0);
                  release();
                }),
            );
          },
        ),
        { numRuns: 40 },
      );
      expect(host.inflight).toBe(0);
      expect(link.arenaHeldBytes).toBe(0); // every region given back, lent ones included
    } finally {
      host.close();
      adapterEnd.close();
    }
  });
});
