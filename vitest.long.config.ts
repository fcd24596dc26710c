import { configDefaults, defineConfig } from 'vitest/config';
import { COMMON_TEST, LONG_TESTS, QUICK_E2E } from './vitest.config.ts';

// `npm run test:long`: the tests too long for `npm test` (LONG_TESTS in vitest.config.ts: real
// clients and processes, a browser, crash everywhere, the sweeps), about five minutes on 2 cores.
export default defineConfig({
  test: {
    ...COMMON_TEST,
    include: LONG_TESTS,
    exclude: [...configDefaults.exclude, QUICK_E2E],
  },
});
