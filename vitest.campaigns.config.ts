import { defineConfig } from 'vitest/config';

/** What every campaign project shares. */
const common = { env: { ARRAYEMU_CAMPAIGNS: '1' }, testTimeout: 300_000, hookTimeout: 60_000, pool: 'forks' } as const;

// `npm run test:campaigns`: the stress campaigns, each once (`.ci/run` runs them after `npm test`).
// Two groups, one after the other: the simulations (seeded, one core each, nothing timed against the
// wall clock) two files at a time on the 2 cores; then, alone, the files that run real processes or
// compare against real time (the kills, the plan's prediction), which another file's load would skew.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...common,
          name: 'simulation',
          include: ['test/campaigns/**/*.campaign.test.ts'],
          exclude: ['test/campaigns/kill.campaign.test.ts', 'test/campaigns/plan.campaign.test.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...common,
          name: 'real time',
          // And the long kill of test/e2e/durable-kill.test.ts (its other tests are npm test's).
          include: [
            'test/campaigns/kill.campaign.test.ts',
            'test/campaigns/plan.campaign.test.ts',
            'test/e2e/durable-kill.test.ts',
          ],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
