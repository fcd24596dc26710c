// The service processor's thread runs at its own nice value (src/runtime/thread-priority.ts): the
// others keep theirs, a bad ARRAYEMU_SP_NICE is named and ignored, and a refusal is logged, not thrown.
import { afterEach, describe, expect, it } from 'vitest';
import { getPriority } from 'node:os';
import { loadConfig } from '../../src/shared/config/config.ts';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { SP_NICE_ENV, SP_THREAD_NICE, spNiceWanted, threadId } from '../../src/runtime/thread-priority.ts';

const saved = process.env[SP_NICE_ENV];
afterEach(() => {
  if (saved === undefined) delete process.env[SP_NICE_ENV];
  else process.env[SP_NICE_ENV] = saved;
});

describe('the nice value asked for', () => {
  it('is SP_THREAD_NICE unless ARRAYEMU_SP_NICE names another from -20 to 19', () => {
    expect(spNiceWanted({})).toEqual({ nice: SP_THREAD_NICE });
    expect(spNiceWanted({ [SP_NICE_ENV]: '5' })).toEqual({ nice: 5 });
    expect(spNiceWanted({ [SP_NICE_ENV]: '-20' })).toEqual({ nice: -20 });
    for (const bad of ['x', '2.5', '-21', '20']) {
      const w = spNiceWanted({ [SP_NICE_ENV]: bad });
      expect(w.nice).toBe(SP_THREAD_NICE);
      expect(w.problem).toContain(`${SP_NICE_ENV}="${bad}" is not an integer from -20 to 19`);
    }
  });
});

describe.runIf(threadId() !== undefined)('the service processor thread (Linux)', () => {
  async function started(): Promise<{ emu: ArrayEmulator; logs: string[] }> {
    const logs: string[] = [];
    const emu = await ArrayEmulator.start(loadConfig('examples/fig2.json'), {
      mode: 'threads',
      log: (_level, text) => logs.push(text),
    });
    return { emu, logs };
  }

  it('runs at the nice value asked for; the adapters and the main thread keep theirs', async () => {
    const mine = getPriority(threadId()!);
    const wanted = Math.min(19, mine + 3); // a lowering: allowed without privileges
    process.env[SP_NICE_ENV] = String(wanted);
    const { emu, logs } = await started();
    try {
      const status = await emu.status();
      expect(status.SP!.threadNice).toBe(wanted);
      for (const name of ['HA0', 'DA30', 'DA36']) expect(status[name]!.threadNice).toBe(mine);
      expect(getPriority(threadId()!)).toBe(mine);
      expect(logs.some((l) => l.includes(`SP: thread`) && l.includes(`at nice ${wanted}`))).toBe(true);
    } finally {
      await emu.stop();
    }
  });

  it('by default asks for SP_THREAD_NICE, and says so whether the kernel allows it or not', async () => {
    delete process.env[SP_NICE_ENV];
    const { emu, logs } = await started();
    try {
      const nice = (await emu.status()).SP!.threadNice;
      const said = logs.find((l) => l.startsWith('SP: thread'));
      if (nice === SP_THREAD_NICE) expect(said).toContain(`at nice ${SP_THREAD_NICE}`);
      else expect(said).toMatch(new RegExp(`stays at nice ${nice} \\(asked ${SP_THREAD_NICE}: .+\\)`));
    } finally {
      await emu.stop();
    }
  });
});
