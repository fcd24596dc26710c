// A BCV that mirrored its device before the device's last reconfiguration cannot be laid out after
// a restart (it has the old member count): the restart leaves it out, says so in the log, and lists
// it in the recovery record that `status` shows, so a user can see where it went.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config/config.ts';
import { MemoryDurableStore } from '../../src/shared/durable/durable.ts';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { formatStatus } from '../../src/serve/control/client.ts';

describe('a BCV left out at a restart', () => {
  it('is in the recovery record and in status, and the array runs without it', async () => {
    const store = new MemoryDurableStore();
    const first = await ArrayEmulator.start(loadConfig('examples/fig2-mirrored.json'), {
      mode: 'inline',
      durable: { store },
    });
    try {
      await first.reconfigure(JSON.parse(readFileSync('examples/fig2-mirrored-new.json', 'utf8')));
    } finally {
      await first.stop();
    }
    const said: string[] = [];
    const again = await ArrayEmulator.start(undefined, {
      mode: 'inline',
      durable: { store: new MemoryDurableStore(store.all()) },
      log: (level, text) => said.push(`${level}: ${text}`),
    });
    try {
      expect(again.recovery?.bcvsLeftOut).toEqual([
        { id: 'BCV1', of: 'LD1', why: expect.stringContaining('give it again in the next target') },
      ]);
      expect(again.model.devices.map((d) => d.id)).not.toContain('BCV1');
      expect(again.model.devices.map((d) => d.id)).toContain('BCV2'); // its device kept its members
      expect(said).toContainEqual(expect.stringMatching(/^warn: BCV1 left out: it mirrored LD1/));
      const shown = formatStatus({
        devices: [],
        nbd: { connections: 0 },
        reconfigurations: [],
        dataDir: { bcvsLeftOut: again.recovery!.bcvsLeftOut },
      });
      expect(shown).toMatch(/BCV1\s+left out at the restart: it mirrored LD1/);
    } finally {
      await again.stop();
    }
  });
});
