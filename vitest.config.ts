import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Tiers in the order they start: the end-to-end files mostly wait (child processes, paced clients), so they go first. */
const TIER_ORDER = ['e2e', 'integration', 'unit'];
const tierOf = (file: string) => TIER_ORDER.findIndex((t) => file.includes(`/test/${t}/`));

/** Longest tiers first, whatever vitest's cache holds (a fresh clone has none): the slowest files do not start last. */
export class TiersFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return [...sorted].sort((a, b) => tierOf(a.moduleId) - tierOf(b.moduleId));
  }
}

/**
 * The long tests (`npm run test:long`, vitest.long.config.ts; CI runs them): real NBD clients, real
 * processes killed and restarted, a browser, the durable data dir crashed at every commit of a seed
 * of each restripe kind, and the sweeps. Together they were two thirds of a nine-minute `npm test`.
 */
export const LONG_TESTS = ['test/e2e/**/*.test.ts', 'test/integration/crash.test.ts', 'test/integration/sweep.test.ts'];
/** The one end-to-end file quick enough for `npm test`: NBD served from a thread of the test's own process. */
export const QUICK_E2E = 'test/e2e/nbd-thread.test.ts';

/** What both configurations share: forks, bounds, four files at a time, the longest tiers first. */
export const COMMON_TEST = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: 'forks',
  // Four files at a time on 2 cores: many wait on child processes, sockets and paced clients
  // (191 tests: 202 s with four, 240 s with three).
  maxWorkers: 4,
  sequence: { sequencer: TiersFirst },
} as const;

// `npm test`: the unit and integration tests and one end-to-end file, about three minutes on 2
// cores. The long tests are `npm run test:long`; the campaigns `npm run test:campaigns`
// (vitest.campaigns.config.ts); `bash .ci/run` runs all three.
export default defineConfig({
  test: {
    ...COMMON_TEST,
    include: ['test/{unit,integration}/**/*.test.ts', QUICK_E2E],
    // The long integration files (LONG_TESTS' e2e glob is not excluded: it would exclude QUICK_E2E too).
    exclude: [...configDefaults.exclude, ...LONG_TESTS.filter((p) => !p.startsWith('test/e2e/'))],
  },
});
