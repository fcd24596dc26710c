// `plan` (src/lab/plan.ts): reproducible for its seed, its figures consistent, bad input refused by
// name. Its accuracy against real-time restripes of every kind is a campaign
// (test/campaigns/plan.campaign.test.ts).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../src/shared/config/config.ts';
import { planRestripe } from '../../src/lab/plan.ts';

const MODEL = 'atlas10k';

describe('plan', () => {
  it('the same seed gives the same prediction; the figures add up', async () => {
    const running = loadConfig('examples/fig2.json');
    const target = JSON.parse(readFileSync('examples/fig2-new.json', 'utf8'));
    const plan = await planRestripe({ running, target, driveModel: MODEL, seed: 1 });
    expect(await planRestripe({ running, target, driveModel: MODEL, seed: 1 })).toEqual(plan);
    expect(plan).toMatchObject({ device: 'LD1', kind: 'expansion', tracks: 180 });
    const read = Object.values(plan.drives).reduce((n, d) => n + d.readBytes, 0);
    expect(read).toBeGreaterThanOrEqual(2 * plan.tracks * 65536); // each old track read from O, then from the BCV
    expect(plan.drives['37']!.writeBytes).toBeGreaterThan(0); // the new member gets its share
    expect(plan.busiestPct).toBeGreaterThan(0);
  });

  it('refuses untimed drives and an unknown model, naming them', async () => {
    const running = loadConfig('examples/fig2.json');
    const target = JSON.parse(readFileSync('examples/fig2-new.json', 'utf8'));
    await expect(planRestripe({ running, target, seed: 1 })).rejects.toThrow(/drive\(s\) 31, .* have no model/);
    await expect(planRestripe({ running, target, driveModel: 'floppy', seed: 1 })).rejects.toThrow(
      /--drive-model floppy: must be one of/,
    );
  });

  it('a throttle of R MB/s copies at R: the array-wide rate is shared among the adapters copying, not all of them', async () => {
    // FIG. 2 has 4 disk adapters; LD1 and its BCV sit on 3 of them. ESTABLISH copies each of LD1's
    // 180 tracks once, the data transfer once more: 2 × 180 × 64 KiB at R, on SSDs (whose own time is
    // small beside it). Shared among all 4 adapters, the copy ran at 3/4 of R (1.33× as long).
    const rateMBps = 10;
    const raw = JSON.parse(readFileSync('examples/fig2.json', 'utf8'));
    raw.background = { minMBps: rateMBps, maxMBps: rateMBps };
    const running = loadConfig('examples/fig2.json');
    const target = JSON.parse(readFileSync('examples/fig2-new.json', 'utf8'));
    const plan = await planRestripe({
      running: { ...running, background: raw.background },
      target,
      driveModel: 'ssd',
      seed: 1,
    });
    const copyMs = (2 * plan.tracks * 65536) / (rateMBps * 1000);
    expect(plan.durationMs).toBeGreaterThanOrEqual(copyMs);
    expect(plan.durationMs).toBeLessThan(1.15 * copyMs);
  });
});
