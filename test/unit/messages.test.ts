import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { decodeBatch, encodeBatch } from '../../src/shared/links/messages.ts';
import { localLinkPair } from '../../src/shared/links/link.ts';
import type { Message } from '../../src/shared/links/messages.ts';

const packr = new Packr({ useRecords: false });
const wire = (v: unknown, blobs: ArrayBuffer[] = []) => ({ packed: new Uint8Array(packr.pack(v)), blobs });

describe('RECONF message codec', () => {
  it('round-trips a batch, moving io data beside the packed messages', () => {
    const data = new Uint8Array([1, 2, 3]);
    const msgs: Message[] = [
      { t: 'io', reqs: [{ id: 1, op: 'write', device: 'LD1', offsetBytes: 0, lengthBytes: 3, data }] },
      { t: 'stage', ha: 0, reqs: [{ track: 5, slot: 2 }] },
    ];
    const w = encodeBatch(msgs);
    expect(w.blobs).toHaveLength(1);
    const d = decodeBatch(w);
    expect(d.ok).toBe(true);
    expect(d.msgs[1]).toEqual(msgs[1]);
    expect((d.msgs[0] as any).reqs[0].data).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('drops malformed and unknown messages, keeps the good ones of the batch, never throws', () => {
    const d = decodeBatch(
      wire([
        { t: 'flush', id: 3, slots: [4] },
        { t: 'flush', id: 'x' },
        { t: 'flush', id: 4, slots: [1.5] },
        { t: 'warp' },
        null,
        7,
      ]),
    );
    expect(d.ok).toBe(false);
    expect(d.msgs).toEqual([{ t: 'flush', id: 3, slots: [4] }]);
    if (!d.ok) expect(d.error).toMatch(/malformed "flush".*unknown message type "warp"/);
    for (const junk of [
      undefined,
      null,
      5,
      'x',
      { packed: new Uint8Array([0xc1]), blobs: [] },
      wire({ t: 'flush', id: 1, slots: [] }),
      wire([{ t: 'io', reqs: [{ id: 1, op: 'write', device: 'A', offsetBytes: 0, lengthBytes: 1, data: 9 }] }]),
    ]) {
      const r = decodeBatch(junk);
      expect(r.ok).toBe(false);
      expect(r.msgs).toEqual([]);
    }
  });

  it('a link logs a malformed message with its sender and keeps running', async () => {
    const logged: string[] = [];
    const [a, b] = localLinkPair('DA30', 'HA0', (_l, t) => logged.push(t));
    const got: Message[] = [];
    b.onMessages((m) => got.push(...m));
    (a as any).transmit(wire([{ t: 'bogus' }]));
    a.send({ t: 'flush', id: 9, slots: [] });
    await new Promise<void>((r) => {
      const check = () => (got.length > 0 ? r() : setImmediate(check));
      check();
    });
    expect(logged[0]).toMatch(/dropped a message from HA0: unknown message type "bogus"/);
    expect(got).toEqual([{ t: 'flush', id: 9, slots: [] }]);
  });
});
