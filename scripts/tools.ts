// Which of the system tools a test or benchmark drives (fio, nbdkit, qemu-img, …) are not installed:
// the caller skips, loudly, naming them (`bash .ci/run` installs them).
import { spawnSync } from 'node:child_process';

export function missingTools(tools: readonly string[]): string[] {
  return tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
}
