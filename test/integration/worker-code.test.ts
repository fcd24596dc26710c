// The actors' threads run their code bundled (src/runtime/worker-code.ts): built once per process
// for each set of modules, kept where its name is its content's hash, and the sources through tsx
// when asked (ARRAYEMU_WORKER_CODE=tsx). A TypeScript module from outside the bundle still loads
// into a bundled thread; a module bundled with the actors shares their code (the NBD server: its
// own tests run through serve, which bundles it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { poolModule, workerCode, WORKER_CODE_ENV } from '../../src/runtime/worker-code.ts';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { loadConfig } from '../../src/shared/config/config.ts';
import { HostClient } from '../../src/host/client.ts';
import { NBD_IN_HOST_ADAPTER } from '../../src/serve/nbd/in-host-adapters.ts';

const HELLO = new URL('../support/hello-extension.ts', import.meta.url).href;

// Each test sets the variable as it needs (a run with it set in the environment tests the same).
const given = process.env[WORKER_CODE_ENV];
beforeEach(() => {
  delete process.env[WORKER_CODE_ENV];
});
afterEach(() => {
  if (given === undefined) delete process.env[WORKER_CODE_ENV];
  else process.env[WORKER_CODE_ENV] = given;
});

/** An array in threads mode: a block written and read back through its actors. */
async function roundTrip(): Promise<void> {
  const emu = await ArrayEmulator.start(loadConfig('examples/fig2.json'));
  try {
    const host = new HostClient(emu.hostLink(0));
    const block = new Uint8Array(4096).fill(0x5a);
    await host.write('LD1', 65536 * 3, block);
    expect(Buffer.from(await host.read('LD1', 65536 * 3, 4096)).equals(Buffer.from(block))).toBe(true);
    host.close();
  } finally {
    await emu.stop();
  }
}

describe('the actors’ worker code', () => {
  it('is a bundle named by its content, built once per set of modules, each extra module bundled beside the actors', async () => {
    const a = await workerCode();
    expect(a.how).toBe('bundle');
    expect(existsSync(a.bootstrap)).toBe(true);
    expect(existsSync(fileURLToPath(a.entry))).toBe(true);
    expect(a.bootstrap).toMatch(/arrayemu-workers\/[0-9a-f]{16}\/bootstrap\.mjs$/);
    expect(await workerCode()).toBe(a); // the same promise's value: built once
    const b = await workerCode([NBD_IN_HOST_ADAPTER]);
    expect(b.modules.get(NBD_IN_HOST_ADAPTER)).toMatch(/\.js$/);
    expect(existsSync(fileURLToPath(b.modules.get(NBD_IN_HOST_ADAPTER)!))).toBe(true);
    expect(b.bootstrap).not.toBe(a.bootstrap); // another set of modules, another bundle
  });

  it('bundles a pool’s module too: its threads need no TypeScript loader, unless the sources are asked for', async () => {
    const source = new URL('../../src/host/host-processor.ts', import.meta.url).href;
    const bundled = await poolModule(source);
    expect(bundled.filename).toMatch(/arrayemu-workers\/[0-9a-f]{16}\/entry-0\.js$/);
    expect(bundled.execArgv).toEqual([]);
    process.env[WORKER_CODE_ENV] = 'tsx';
    expect(await poolModule(source)).toEqual({ filename: source, execArgv: ['--import', 'tsx'] });
  });

  it('runs the actors bundled, and through tsx when asked', async () => {
    await roundTrip();
    process.env[WORKER_CODE_ENV] = 'tsx';
    const t = await workerCode();
    expect(t.how).toContain(`${WORKER_CODE_ENV}=tsx`);
    expect(t.bootstrap).toMatch(/src\/runtime\/worker-bootstrap\.mjs$/);
    await roundTrip();
  });

  it('loads a TypeScript module from outside the bundle into a bundled host adapter thread', async () => {
    const emu = await ArrayEmulator.start(loadConfig('examples/fig2.json'));
    try {
      const told = await new Promise<{ t: string; name: string; data: unknown; made: string }>((resolve) =>
        emu.extendHostAdapter(0, HELLO, { x: 1 }, (port) => port.once('message', resolve)),
      );
      expect(told).toEqual({ t: 'hello', name: 'HA0', data: { x: 1 }, made: 'USAGE' });
    } finally {
      await emu.stop();
    }
  });
});
