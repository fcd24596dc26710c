import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECONF_KINDS } from '../../src/shared/restripe/session.ts';

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/arrayemu.mjs', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** `cli` without blocking this thread: several run at once. */
function cliAsync(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['bin/arrayemu.mjs', ...args]);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((r) => child.on('close', (code) => r({ code, out, err })));
}

describe('arrayemu CLI', () => {
  it('run --json on the FIG. 2 array verifies clean', () => {
    const r = cli('run', '--config', 'examples/fig2.json', '--ops', '3000', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out);
    expect(out.ok).toBe(true);
    expect(out.host).toMatchObject({ verifyErrors: 0 });
    expect(out.host.reads + out.host.writes).toBe(3000);
    expect(Object.keys(out.host.latencyMs)).toEqual(['p50', 'p99', 'max']);
  });

  it('npm start (the demo) restripes FIG. 2 twice under load and says nothing was lost', () => {
    const r = cli('demo');
    expect(r.err).not.toMatch(/error|Error/); // stderr carries the progress lines
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/verification: 0 errors, 0 I\/O errors — nothing lost, no bit left set/);
  });

  it('layout --json prints the FIG. 2 table', () => {
    const r = cli('layout', '--config', 'examples/fig2.json', '--device', 'LD1', '--json');
    expect(JSON.parse(r.out)).toMatchObject({
      device: 'LD1',
      stripeCylinders: 2,
      cylinders: 12,
      drives: { '31': ['A', 'B', 'G', 'H'], '33': ['C', 'D', 'I', 'J'], '35': ['E', 'F', 'K', 'L'] },
    });
  });

  it('refuses a bad config with one clear message and exit code 2, no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-'));
    const cfg = JSON.parse(readFileSync('examples/fig2.json', 'utf8'));
    cfg.devices[1].cylinders = 13;
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify(cfg));
    const [r, pct, nonsense] = await Promise.all([
      cliAsync('run', '--config', file, '--ops', '10'),
      cliAsync('run', '--config', 'examples/fig2.json', '--read-pct', '101'),
      cliAsync('nonsense'),
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('devices[1].cylinders: 13 is not a multiple of stripeCylinders × members (3)');
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(pct.code).toBe(2);
    expect(nonsense.code).toBe(2);
  });

  it('serve refuses a drive cache out of range, or without a data dir, naming the option; nothing is created', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'arrayemu-')), 'dd');
    const serve = (...args: string[]) =>
      cliAsync('serve', '--config', 'examples/fig2.json', '--socket', `${dir}.sock`, ...args);
    const [small, nonsense, alone] = await Promise.all([
      serve('--data-dir', dir, '--drive-cache-mib', '8'),
      serve('--data-dir', dir, '--drive-cache-mib', 'lots'),
      serve('--drive-cache-mib', '64'),
    ]);
    for (const r of [small, nonsense, alone]) {
      expect(r.code).toBe(2);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
    expect(small.err).toContain('--drive-cache-mib 8: expected a whole number of MiB from 16 to 4096');
    expect(nonsense.err).toContain('--drive-cache-mib lots: expected a whole number of MiB');
    expect(alone.err).toContain('give --data-dir too');
    expect(existsSync(dir)).toBe(false);
  });

  it('plan --json predicts a restripe; without timed drives it says which and how to give them, exit 2', () => {
    const args = ['plan', '--config', 'examples/fig2.json', '--to', 'examples/fig2-new.json'];
    const r = cli(...args, '--drive-model', 'hdd-15k', '--load', 'randread', '--seconds', '0.2', '--json');
    expect(r.code, r.err).toBe(0);
    const p = JSON.parse(r.out);
    expect(p).toMatchObject({ device: 'LD1', kind: 'expansion', tracks: 180 });
    expect(p.durationMs).toBeGreaterThan(0);
    expect(p.boundBy).toMatch(/^(drive|link) /);
    expect(Object.keys(p.drives).sort()).toEqual(['31', '33', '35', '37', '46', '47', '48', '49']);
    expect(p.drives['37'].writeBytes).toBeGreaterThan(0); // the new member receives its share
    expect(p.host.opsRatio).toBeGreaterThan(0);
    const bad = cli(...args);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/have no model \(give --drive-model/);
    expect(bad.err).not.toMatch(/\n\s+at /);
  });

  it('--help on every command the top-level help lists', async () => {
    const top = cli('--help');
    expect(top.code).toBe(0);
    const commands = [...top.out.slice(top.out.indexOf('Commands:')).matchAll(/^ {2}([a-z]+) /gm)]
      .map((m) => m[1]!)
      .filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['run', 'serve', 'sweep', 'plan', 'merge', 'stress', 'demo']));
    // One process each, as a user runs them, all at once (each only starts and prints).
    const helps = await Promise.all(commands.map((c) => cliAsync(c, '--help')));
    helps.forEach((r, i) => {
      expect(r.code, commands[i]).toBe(0);
      expect(r.out).toMatch(new RegExp(`^Usage: arrayemu ${commands[i]} `));
    });
  });
});

describe('arrayemu run --reconfigure-to', () => {
  // Three kinds through the CLI (the others run through the same command in the stress seeds, the
  // kill campaign and the integration tests): a data move, both changes at once, and no data move.
  const cases: Array<[string, string]> = [
    ['fig2-new', 'expansion'],
    ['fig9', 'expansion+stripe-change'],
    ['fig2-meta', 'meta-expansion'],
  ];
  it.each(cases)('FIG. 2 → %s under a verifying load on every device: 0 verify errors, no bit left', (target, kind) => {
    const r = cli(
      'run',
      '--config',
      'examples/fig2.json',
      '--reconfigure-to',
      `examples/${target}.json`,
      '--ops',
      '3000',
      '--json',
    );
    expect(r.code, `${r.err}\n${r.out}`).toBe(0);
    const out = JSON.parse(r.out);
    expect(out.ok).toBe(true);
    expect(out.host.verifyErrors).toBe(0);
    expect(out.host.ioErrors).toBe(0);
    expect(out.reconfigurations).toHaveLength(1);
    const rc = out.reconfigurations[0];
    expect(rc).toMatchObject({ kind, bitsLeft: { pb: 0, ps: 0, ind: 0 } });
    expect(rc.tracksMoved).toBe(rc.tracksTotal);
    expect(Object.keys(rc)).toEqual([
      'device',
      'kind',
      'tracksMoved',
      'tracksTotal',
      'hostBlockedMs',
      'durationMs',
      'scenarios',
      'bitsLeft',
    ]);
  });

  it('refuses a target that shrinks the device, before running anything', () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-'));
    const cfg = JSON.parse(readFileSync('examples/fig2.json', 'utf8'));
    cfg.devices[0].cylinders = 6;
    const file = join(dir, 'shrink.json');
    writeFileSync(file, JSON.stringify(cfg));
    const r = cli('run', '--config', 'examples/fig2.json', '--reconfigure-to', file, '--ops', '100');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/reconfiguration refused: "LD1" would shrink from 12 to 6 cylinders/);
  });

  it('stress --deterministic: a failing seed prints its rerun, and the rerun takes the same interleaving to the same failure', () => {
    // Which seeds meet the broken fill depends on the interleavings the code makes: take the first
    // that does among 30 (21 does on this code, 9 of seeds 0-199; the 200-seed campaign is in
    // test/campaigns).
    const first = cli(
      'stress',
      '--seeds',
      '30',
      '--seed',
      '10',
      '--jobs',
      '1',
      '--deterministic',
      '--break-fill',
      '--json',
    );
    expect(first.code).toBe(1);
    const a = JSON.parse(first.out);
    expect(a.failures).toBeGreaterThanOrEqual(1);
    const f = a.failed[0];
    expect(f.rerun).toBe(`npx arrayemu stress --seeds 1 --seed ${f.seed} --jobs 1 --deterministic --break-fill`);
    const again = cli(...f.rerun.split(' ').slice(2), '--json');
    const b = JSON.parse(again.out);
    expect(b.failed[0].trace).toBe(f.trace);
    expect(b.failed[0].steps).toBe(f.steps);
    expect(b.failed[0].reason).toBe(f.reason);
  });

  it('crash: one seed a kind crashed at 20 points verifies clean; with an ordering rule broken it fails, naming the sector', () => {
    const ok = cli('crash', '--per-kind', '1', '--max-points', '20', '--json');
    expect(ok.code, ok.err).toBe(0);
    const c = JSON.parse(ok.out);
    expect(Object.keys(c.kinds).sort()).toEqual([...RECONF_KINDS].sort());
    expect(c.crashPoints).toBeLessThanOrEqual(5 * 20);
    expect(c.restarts).toBeGreaterThanOrEqual(c.crashPoints);
    expect(c.failed).toEqual([]);
    const broken = cli('crash', '--per-kind', '2', '--break', 'flush-without-commit', '--first', '--json');
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.out).failed).toHaveLength(1);
    expect(JSON.parse(broken.out).failed[0].reason).toMatch(/had been flushed/);
    expect(cli('crash', '--break', 'nope').code).toBe(2);
  }, 240_000); // 15 s alone; 64 s in CI beside the other test files

  it('stress --schedules needs --deterministic, and says so', () => {
    const r = cli('stress', '--seeds', '1', '--schedules', '3');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--schedules and --schedule .* need --deterministic/);
  });

  it('stress --verbose prints every actor log line with the scheduler clock, for one thread only', () => {
    const r = cli('stress', '--seeds', '1', '--seed', '0', '--jobs', '1', '--deterministic', '--verbose');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/\[0\.00 ms\] info: SP: configuration generation 1 active/);
    expect(r.err).toMatch(/\[\d+\.\d\d ms\] info: SP: \w+: steps 123-124/);
    expect(cli('stress', '--seeds', '2', '--verbose').code).toBe(2);
  });

  it('stress --faults --json reports faults per kind', () => {
    const r = cli('stress', '--seeds', '4', '--seed', '0', '--jobs', '1', '--faults', '--deterministic', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(Object.keys(s)).toEqual(
      expect.arrayContaining(['seeds', 'failures', 'verifyErrors', 'faultsInjected', 'faults', 'scenarios', 'failed']),
    );
    expect(s.faults.diskAdapterRestarts + s.faults.hostAdapterRestarts).toBeGreaterThan(0);
    expect(s.faultsInjected).toBe(
      s.faults.delayedBatches + s.faults.diskAdapterRestarts + s.faults.hostAdapterRestarts,
    );
  });
});
