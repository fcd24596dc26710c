// Which of the system tools a test or benchmark drives (fio, nbdkit, qemu-img, chromium, …) are not
// installed: the caller skips, loudly, naming them (`bash .ci/run` installs them). Under `CI=true` a
// missing tool fails instead (the test file that asks fails at once, naming it): a CI run whose
// end-to-end tests were all skipped must not pass.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The tools of `tools` not on PATH (absolute paths: not there); throws under CI=true if any is missing. */
export function missingTools(tools: readonly string[]): string[] {
  const missing = tools.filter((t) =>
    t.startsWith('/') ? !existsSync(t) : spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0,
  );
  if (missing.length > 0 && process.env.CI === 'true')
    throw new Error(
      `CI=true and ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not installed: the tests that drive ${missing.length > 1 ? 'them' : 'it'} would be skipped (bash .ci/run installs them with apt-get)`,
    );
  return missing;
}
