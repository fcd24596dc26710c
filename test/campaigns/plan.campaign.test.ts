// `plan` (src/lab/plan.ts): the restripe predicted in virtual time against the same restripe run in
// real time (every actor a worker thread, timed drives), for every kind of reconfiguration; and the
// prediction reproducible for its seed. A campaign (`npm run test:campaigns`, in .ci/run): the
// real-time restripes take 1-2 s each.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../src/shared/config/config.ts';
import { RECONF_KINDS } from '../../src/shared/restripe/session.ts';
import { ArrayEmulator } from '../../src/runtime/emulator.ts';
import { planRestripe, withDriveModel } from '../../src/lab/plan.ts';

/**
 * FIG. 2 and a target of each kind (the examples), every drive an Atlas 10K: restripes of 1-2 s,
 * long beside the ~50 ms of CPU the actors spend on a session's steps in real time, which virtual
 * time does not charge (a 0.1 s restripe of hdd-15k drives runs ~1.5× its prediction here).
 */
const TARGETS = ['fig2-new', 'fig8', 'fig9', 'fig2-ld2-rows', 'fig2-meta'];
const MODEL = 'atlas10k';
/** How far the real-time restripe may be from the prediction (the 25%). */
const REAL_TOLERANCE = 0.25;

async function realRestripeMs(target: unknown): Promise<number> {
  const [config, timedTarget] = withDriveModel(loadConfig('examples/fig2.json'), target, MODEL);
  const emu = await ArrayEmulator.start(config, { mode: 'threads' });
  try {
    return (await emu.reconfigure(timedTarget)).durationMs;
  } finally {
    await emu.stop();
  }
}

describe('plan', () => {
  it('predicts every kind of restripe within 25% of the same restripe in real time, reproducibly', async () => {
    const kinds = new Set<string>();
    for (const name of TARGETS) {
      const target = JSON.parse(readFileSync(`examples/${name}.json`, 'utf8'));
      const running = loadConfig('examples/fig2.json');
      const plan = await planRestripe({ running, target, driveModel: MODEL, seed: 1 });
      kinds.add(plan.kind);
      if (name === TARGETS[0]) {
        const again = await planRestripe({ running, target, driveModel: MODEL, seed: 1 });
        expect(again).toEqual(plan); // the same seed, the same prediction
      }
      if (plan.kind === 'meta-expansion') {
        expect(plan.tracks).toBe(0); // no data moves: only the session's steps, in either clock
        expect(plan.durationMs).toBeLessThan(50);
        continue;
      }
      expect(plan.tracks).toBeGreaterThan(0);
      const realMs = await realRestripeMs(target);
      const off = Math.abs(realMs - plan.durationMs) / plan.durationMs;
      expect(off, `${name}: predicted ${plan.durationMs} ms, real ${realMs} ms`).toBeLessThanOrEqual(REAL_TOLERANCE);
      const moved = Object.values(plan.drives).reduce((n, d) => n + d.readBytes, 0);
      expect(moved).toBeGreaterThanOrEqual(plan.tracks * 65536); // every old track read at least once
    }
    expect([...kinds].sort()).toEqual([...RECONF_KINDS].sort());
  }, 120_000);
});
