// The data dir holds the drives (DESIGN §10): an array far larger than the server's drive cache
// (`--drive-cache-mib`) takes more data than the cache holds, every byte reads back (evicted tracks
// from the store), the cache never grows past its bound, and a restart reads it all back again.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServe } from '../../scripts/serve-child.ts';
import { missingTools } from '../../scripts/tools.ts';
import { fourDriveStripe } from '../../bench/arrays.ts';

const run = promisify(execFile);
const missing = missingTools(['qemu-img']);
if (missing.length > 0)
  console.warn(
    `\n*** drive cache tests SKIPPED: ${missing.join(', ')} not installed (bash .ci/run installs qemu-utils) ***\n`,
  );

/** Each qemu-img run is bounded. */
const QEMU = { timeout: 120_000 };
const TRACK_BYTES = 65536;
const CACHE_MIB = 16;
/** Written through NBD: four times the drive cache. */
const WRITTEN_MIB = 4 * CACHE_MIB;
/** A 32 GiB array: 4 drives of 8 GiB (2 ** 17 tracks each). */
const ARRAY = fourDriveStripe({ trackBytes: TRACK_BYTES, headsPerCylinder: 16, driveCylinders: 8192, slots: 128 });

interface DriveCache {
  bytes: number;
  maxBytes: number;
  tracksHeld: number;
}

async function driveCache(http: string): Promise<DriveCache> {
  const st = (await (await fetch(`${http}/v1/status`)).json()) as { dataDir: { driveCache: DriveCache } };
  return st.dataDir.driveCache;
}

describe.skipIf(missing.length > 0)('drives in the data dir, memory their cache', () => {
  it(`${WRITTEN_MIB} MiB written to a 32 GiB array through a ${CACHE_MIB} MiB drive cache reads back, before and after a restart`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'arrayemu-drive-cache-'));
    const config = join(root, 'array.json');
    writeFileSync(config, JSON.stringify(ARRAY));
    const image = join(root, 'image.raw');
    // Distinct bytes everywhere (no run of zeros for qemu-img to skip), at 1 GiB into the device too.
    const bytes = Buffer.alloc(WRITTEN_MIB * 2 ** 20);
    for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE((i * 2654435761) >>> 0, i);
    writeFileSync(image, bytes);
    const dir = join(root, 'dd');
    const sock = join(root, 'nbd.sock');
    // The part of LD1 written: WRITTEN_MIB at 1 GiB into it.
    const target = `json:${JSON.stringify({ driver: 'raw', offset: 2 ** 30, size: bytes.length, file: { driver: 'nbd', path: sock, export: 'LD1' } })}`;
    const args = ['--data-dir', dir, '--drive-cache-mib', String(CACHE_MIB), '--socket', sock, '--http', '127.0.0.1:0'];
    const a = await startServe(['--config', config, ...args]);
    try {
      // Into the device at 1 GiB, then read back whole (qemu-img compare reads every byte of both).
      await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', '-t', 'none', image, target], QEMU);
      await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', image, target], QEMU);
      const cache = await driveCache(a.http!);
      expect(cache.maxBytes).toBe(CACHE_MIB * 2 ** 20);
      expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
      expect(cache.tracksHeld * TRACK_BYTES).toBeLessThanOrEqual(cache.maxBytes);
    } finally {
      expect(await a.stop(), a.err()).toBe(0);
    }
    const b = await startServe(args);
    try {
      await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', image, target], QEMU);
      const cache = await driveCache(b.http!);
      expect(cache.bytes).toBeLessThanOrEqual(CACHE_MIB * 2 ** 20);
    } finally {
      expect(await b.stop(), b.err()).toBe(0);
    }
  }, 300_000);
});
