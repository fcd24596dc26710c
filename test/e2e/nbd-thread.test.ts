// NBD off the main thread (DESIGN §9: the host adapters terminate NBD in their own threads): with
// the array in threads, NBD clients are served while the thread that started `serve` (and keeps the
// control API) is blocked outright — here by a synchronous spawn of the client itself. With the
// server in that thread (inline) the same client cannot be served until it is free again: the check
// fails there, as it must.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type Serving } from '../../src/serve/serve.ts';
import { twoDriveLd1 } from '../support/helpers.ts';
import { missingTools } from '../../scripts/tools.ts';

const run = promisify(execFile);
const missing = missingTools(['nbdcopy', 'qemu-img']);
if (missing.length > 0)
  console.warn(`\n*** NBD-off-the-main-thread test SKIPPED: ${missing.join(', ')} not installed ***\n`);

const TRACK = 65536;
const SIZE = 16 * 4 * TRACK; // 4 MiB
const config = twoDriveLd1(32);
/** Longest the blocked thread waits for the client (ms): ample for 4 MiB, short where it cannot be served. */
const CLIENT_WAIT_MS = 20_000;
const BLOCKED_WAIT_MS = 3_000;

describe.skipIf(missing.length > 0)('NBD off the main thread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arrayemu-nbd-thread-'));
  const image = join(dir, 'image.img');
  writeFileSync(image, Buffer.from(Array.from({ length: SIZE }, (_, i) => (i * 13 + (i >> 12)) & 0xff)));
  let s: Serving | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  /** Write the image in (this thread free), then copy it out with this thread blocked until the copy ends. */
  async function copyOutBlocked(mode: 'threads' | 'inline', waitMs: number) {
    const sock = join(dir, `${mode}.sock`);
    s = await serve(config, { socket: sock, mode });
    const uri = `nbd+unix:///LD1?socket=${sock}`;
    await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', image, uri]);
    const out = join(dir, `${mode}.out`);
    const r = spawnSync('nbdcopy', [uri, out], { timeout: waitMs }); // blocks this thread throughout
    return { r, out };
  }

  it('serves a client while the thread that started serve is blocked', async () => {
    const { r, out } = await copyOutBlocked('threads', CLIENT_WAIT_MS);
    expect(r.error, String(r.stderr)).toBeUndefined();
    expect(r.status, String(r.stderr)).toBe(0);
    expect(readFileSync(out).equals(readFileSync(image))).toBe(true);
  });

  it('inline, the same client waits for that thread (so the check above can fail)', async () => {
    const { r } = await copyOutBlocked('inline', BLOCKED_WAIT_MS);
    expect((r.error as NodeJS.ErrnoException | undefined)?.code).toBe('ETIMEDOUT');
  });
});
