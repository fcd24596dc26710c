import { defineConfig } from 'vitest/config';

// `npm run test:campaigns`: the stress campaigns, each once (`.ci/run` runs them after `npm test`).
export default defineConfig({
  test: {
    // And the long kill of test/e2e/durable-kill.test.ts (its other tests are npm test's).
    include: ['test/campaigns/**/*.test.ts', 'test/e2e/durable-kill.test.ts'],
    env: { ARRAYEMU_CAMPAIGNS: '1' },
    testTimeout: 300_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
