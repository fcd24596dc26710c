import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Tiers in the order they start: the end-to-end files mostly wait (child processes, paced clients), so they go first. */
const TIER_ORDER = ['e2e', 'integration', 'unit'];
const tierOf = (file: string) => TIER_ORDER.findIndex((t) => file.includes(`/test/${t}/`));

/** Longest tiers first, whatever vitest's cache holds (a fresh clone has none): the slowest files do not start last. */
class TiersFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return [...sorted].sort((a, b) => tierOf(a.moduleId) - tierOf(b.moduleId));
  }
}

// `npm test`: unit, integration and end-to-end tests (real NBD clients and processes), about eight
// minutes on 2 cores. The campaigns are `npm run test:campaigns` (vitest.campaigns.config.ts).
export default defineConfig({
  test: {
    include: ['test/{unit,integration,e2e}/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Four files at a time on 2 cores: many wait on child processes, sockets and paced clients
    // (191 tests: 202 s with four, 240 s with three).
    maxWorkers: 4,
    sequence: { sequencer: TiersFirst },
  },
});
