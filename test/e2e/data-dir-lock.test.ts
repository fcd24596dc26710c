// One server per data dir (drives/dir-lock.ts): a second `serve` on a dir already served is refused,
// naming the dir and the holder's pid, whatever path it is given by; a server killed by kill -9 leaves
// no lock behind, so the restart serves at once.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServe } from '../../scripts/serve-child.ts';
import { lockDataDir } from '../../src/drives/dir-lock.ts';

const run = promisify(execFile);

describe('one server per data dir', () => {
  it('a second serve is refused naming the dir and the pid; after kill -9 of the holder a restart serves', async () => {
    const root = mkdtempSync(join(tmpdir(), 'arrayemu-lock-'));
    const dir = join(root, 'dd');
    const a = await startServe(['--config', 'examples/fig2.json', '--data-dir', dir, '--socket', join(root, 'a.sock')]);
    try {
      symlinkSync(dir, join(root, 'same-dir'));
      // By its path and by a symlink to it, at once.
      const tries = [dir, join(root, 'same-dir')].map(async (given, i) => {
        const second = await run(
          process.execPath,
          ['bin/arrayemu.mjs', 'serve', '--data-dir', given, '--socket', join(root, `b${i}.sock`)],
          { timeout: 60_000 },
        ).then(
          () => ({ code: 0, stderr: '' }),
          (e: { code: number; stderr: string }) => e,
        );
        expect(second.code).not.toBe(0);
        expect(second.stderr).toContain(`--data-dir ${given} is in use by arrayemu pid ${a.child.pid}`);
        expect(second.stderr).not.toMatch(/\n\s+at /); // no stack for a user's mistake
      });
      await Promise.all(tries);
    } finally {
      a.child.kill('SIGKILL');
      await a.exited;
    }
    const c = await startServe(['--data-dir', dir, '--socket', join(root, 'c.sock')]);
    expect(c.uris.length).toBeGreaterThan(0);
    expect(await c.stop()).toBe(0);
  }, 120_000);

  it('in one process: a second lock is refused until the first is released', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-lock-'));
    const first = await lockDataDir(dir);
    await expect(lockDataDir(dir)).rejects.toThrow(`is in use by arrayemu pid ${process.pid}`);
    await first.release();
    const again = await lockDataDir(dir);
    await again.release();
  });
});
