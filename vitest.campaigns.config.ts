import { defineConfig } from 'vitest/config';

// `npm run test:campaigns`: the stress campaigns, each once (`.ci/run` runs them after `npm test`).
export default defineConfig({
  test: {
    include: ['test/campaigns/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
