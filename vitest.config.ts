import { defineConfig } from 'vitest/config';

// `npm test`: unit, integration and end-to-end tests (real NBD clients and processes), about three
// minutes on 2 cores. The campaigns are `npm run test:campaigns` (vitest.campaigns.config.ts).
export default defineConfig({
  test: {
    include: ['test/{unit,integration,e2e}/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Three files at a time on 2 cores: many wait on child processes, sockets and paced clients.
    maxWorkers: 3,
  },
});
