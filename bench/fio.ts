// One fio job against an NBD URI, the way every benchmark runs it: its JSON output parsed, an error
// (fio's own, or the job's) naming what ran and against what.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** fio's JSON for the one job of `fio --name=<name> --ioengine=nbd --uri=<uri> <args>` (bounded by `timeoutMs` if given). */
export async function fioJob<J extends { error: number }>(
  uri: string,
  name: string,
  args: string[],
  timeoutMs?: number,
): Promise<J> {
  const all = [`--name=${name}`, '--ioengine=nbd', `--uri=${uri}`, ...args, '--output-format=json'];
  const r = await run('fio', all, { maxBuffer: 1 << 26, ...(timeoutMs ? { timeout: timeoutMs } : {}) }).catch(
    (e: unknown) => {
      const out = e as { stderr?: string; message?: string };
      throw new Error(`fio ${name} against ${uri}: ${out.stderr || out.message}`);
    },
  );
  const job = (JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { jobs: J[] }).jobs[0]!;
  if (job.error) throw new Error(`fio ${name} against ${uri}: error ${job.error}`);
  return job;
}
