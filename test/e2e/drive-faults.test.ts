// Drive faults through the real surfaces (DESIGN §14): `serve` on the mirrored FIG. 2 example, qemu-io
// writing and flushing over NBD, `arrayemu drive fail` failing a drive of LD1 and then the drive of
// its other mirror once a spare is rebuilt: every flushed block reads back (qemu-io verifies the
// pattern), `status` and `/metrics` say what happened, and bad requests are refused naming the field.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServe } from '../../scripts/serve-child.ts';
import { missingTools } from '../../scripts/tools.ts';

const run = promisify(execFile);
const missing = missingTools(['qemu-io']);
if (missing.length > 0)
  console.warn(
    `\n*** drive fault e2e SKIPPED: ${missing.join(', ')} not installed (bash .ci/run installs qemu-utils) ***\n`,
  );

/** Three spans of LD1 (11.25 MiB), each its own pattern. */
const SPANS = [
  { pattern: 0xa1, offset: '0', length: '4M' },
  { pattern: 0xb2, offset: '4M', length: '4M' },
  { pattern: 0xc3, offset: '8M', length: '3M' },
];

const cli = async (...args: string[]) => {
  const r = await run(process.execPath, ['bin/arrayemu.mjs', ...args], { timeout: 60_000 }).catch(
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  return { code: 'code' in r ? r.code : 0, out: r.stdout, err: r.stderr };
};

/** Poll the status over HTTP (bounded; a CLI process per poll would cost a second of CPU each) until `ok(status)` holds. */
async function statusUntil(server: string, ok: (st: any) => boolean, what: string): Promise<any> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const st = (await (await fetch(`${server}/v1/status`)).json()) as any;
    if (ok(st)) return st;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(st.drives)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(missing.length > 0)('drive faults through serve, the CLI and NBD', () => {
  it('bad requests are refused naming the field; a drive of LD1 fails, a spare is rebuilt, its mirror fails too: every flushed block reads back', async () => {
    const root = mkdtempSync(join(tmpdir(), 'arrayemu-drive-faults-'));
    const sock = join(root, 'nbd.sock');
    const s = await startServe(['--config', 'examples/fig2-mirrored.json', '--socket', sock, '--http', '127.0.0.1:0']);
    try {
      // Refusals first: each names the field, and changes nothing (no drive has failed yet).

      const post = (path: string, body: unknown) =>
        fetch(`${s.http}${path}`, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => ({
          status: r.status,
          json: (await r.json()) as any,
        }));
      expect(await post('/v1/drives/99/fail', {})).toEqual({
        status: 400,
        json: { error: expect.stringMatching(/^drive "99": no such drive/) },
      });
      expect(await post('/v1/drives/31/fail', { kind: 'melt' })).toEqual({
        status: 400,
        json: { error: 'kind: must be one of whole, media, rot' },
      });
      expect(await post('/v1/drives/31/fail', { kind: 'media', tracks: 0 })).toEqual({
        status: 400,
        json: { error: 'tracks: must be at least 1' },
      });
      const bad = await cli('drive', 'fail', '--server', s.http!, '--drive', '31', '--kind', 'melt');
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/kind: must be one of whole, media, rot/);
      expect(bad.err).not.toMatch(/\n\s+at /);
      expect(
        JSON.parse((await cli('status', '--server', s.http!, '--json')).out).drives.every((d: any) =>
          ['ok', 'spare'].includes(d.state),
        ),
      ).toBe(true);
      const uri = `nbd+unix:///LD1?socket=${sock}`;
      const io = (cmds: string[]) => run('qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), uri]);
      await io([...SPANS.map((x) => `write -P ${x.pattern} ${x.offset} ${x.length}`), 'flush']);
      const failed = JSON.parse((await cli('drive', 'fail', '--server', s.http!, '--drive', '33', '--json')).out);
      expect(failed).toMatchObject({ drive: '33', kind: 'whole', state: 'failed' });
      const rebuilt = await statusUntil(
        s.http!,
        (st) => st.drives.some((d: any) => d.inPlaceOf === '33' && d.state === 'ok'),
        'a spare rebuilt in place of 33',
      );
      const spare = rebuilt.drives.find((d: any) => d.inPlaceOf === '33').id;
      expect(['71', '73']).toContain(spare);
      expect(rebuilt.drives.find((d: any) => d.id === '33')).toMatchObject({ state: 'failed', replacedBy: spare });
      expect(rebuilt.devices.find((d: any) => d.id === 'LD1')).toMatchObject({ state: 'ok' });
      // The other copy of 33's tracks: only the rebuilt spare holds them now.
      await cli('drive', 'fail', '--server', s.http!, '--drive', '63');
      const r = await io(SPANS.map((x) => `read -P ${x.pattern} ${x.offset} ${x.length}`));
      expect(r.stdout).not.toMatch(/Pattern verification failed|error/i);
      const text = (await cli('status', '--server', s.http!)).out;
      expect(text).toMatch(/LD1 .*2-way \[(UU|U_|UR)\]|LD1 .*2-way/);
      expect(text).toMatch(/Drives: .*33 failed/);
      // LD2 is not mirrored: its 2 cylinders on 33 (30 tracks) had no other copy.
      expect(text).toMatch(/LD2 .*failed, 30 track\(s\) lost/);
      const metrics = await (await fetch(`${s.http}/metrics`)).text();
      expect(metrics).toMatch(/arrayemu_drive_state\{drive="33",adapter="[^"]+",state="failed"\} 1/);
      expect(metrics).toMatch(new RegExp(`arrayemu_drive_state\\{drive="${spare}",adapter="DA3[02]",state="ok"\\} 1`));
      // Media errors on a drive of LD1: reads still verify.
      const media = JSON.parse(
        (await cli('drive', 'fail', '--server', s.http!, '--drive', '31', '--kind', 'media', '--tracks', '5', '--json'))
          .out,
      );
      expect(media.tracks).toHaveLength(5);
      const again = await io(SPANS.map((x) => `read -P ${x.pattern} ${x.offset} ${x.length}`));
      expect(again.stdout).not.toMatch(/Pattern verification failed|error/i);
    } finally {
      await s.stop();
    }
  }, 120_000);
});
