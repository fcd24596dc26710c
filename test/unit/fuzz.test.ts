// Fuzzing the two parsers that take outside input: the configuration file and the RECONF message
// decoder. Never a crash, always a clear error (or a valid result).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../../src/shared/config/config.ts';
import { ConfigError } from '../../src/shared/errors/errors.ts';
import { decodeBatch } from '../../src/shared/links/messages.ts';

const fig2 = JSON.parse(readFileSync('examples/fig2.json', 'utf8'));

/** Replace the value at a random path of `obj` with `value`. */
function mutateAt(obj: any, path: number[], value: unknown): any {
  const copy = JSON.parse(JSON.stringify(obj));
  let node = copy;
  for (let i = 0; i < path.length; i++) {
    const keys = node !== null && typeof node === 'object' ? Object.keys(node) : [];
    if (keys.length === 0) break;
    const key = keys[path[i]! % keys.length]!;
    if (i === path.length - 1 || node[key] === null || typeof node[key] !== 'object') {
      node[key] = value;
      break;
    }
    node = node[key];
  }
  return copy;
}

describe('config parser fuzz', () => {
  it('any JSON value: a config or a ConfigError whose every problem names a field', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parseConfig(v);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          for (const p of (err as ConfigError).problems) expect(p).toMatch(/^[^:]+: ./);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the FIG. 2 file with one value replaced anywhere: never a crash', () => {
    const value = fc.oneof(
      fc.integer({ min: -5, max: 40 }),
      fc.string({ maxLength: 4 }),
      fc.constant(null),
      fc.boolean(),
      fc.constant([]),
      fc.constant({}),
    );
    fc.assert(
      fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 5 }), value, (path, v) => {
        try {
          const cfg = parseConfig(mutateAt(fig2, path, v)); // accepted: it must be whole
          expect(cfg.drives.length).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as ConfigError).problems.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

describe('RECONF message decoder fuzz', () => {
  const packr = new Packr({ useRecords: false });
  it('random bytes: dropped with a reason, never thrown', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(
          fc.uint8Array({ maxLength: 8 }).map((u) => u.buffer as ArrayBuffer),
          { maxLength: 3 },
        ),
        (bytes, blobs) => {
          const d = decodeBatch({ packed: bytes, blobs });
          if (!d.ok) expect(d.error.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('random message-shaped values: the good kept, the bad dropped with a reason', () => {
    const msg = fc
      .record(
        {
          t: fc.oneof(
            fc.constantFrom('io', 'stage', 'staged', 'flush', 'fill', 'done', 'reconf-open', 'destage-hint'),
            fc.string(),
          ),
        },
        { requiredKeys: [] },
      )
      .chain((base) =>
        fc
          .dictionary(
            fc.constantFrom('id', 'sid', 'reqs', 'slots', 'track', 'step', 'actor', 'spec', 'ha'),
            fc.jsonValue(),
            { maxKeys: 5 },
          )
          .map((extra) => ({ ...extra, ...base })),
      );
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 6 }), (msgs) => {
        const d = decodeBatch({ packed: new Uint8Array(packr.pack(msgs)), blobs: [] });
        expect(d.msgs.length).toBeLessThanOrEqual(msgs.length);
        if (d.msgs.length < msgs.length) expect(d.ok).toBe(false);
      }),
      { numRuns: 1500 },
    );
  });
});
