// `plan`: how long a restripe will take and what it will cost the hosts, before running it (the
// restripe run in virtual time by the same actors: src/lab/plan.ts).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { ArrayError, errorMessage } from '../../shared/errors/errors.ts';
import { intArg, numArg, print } from '../args.ts';

interface PlanCliOptions {
  config: string;
  to: string;
  driveModel?: string;
  load?: string;
  blockBytes: number;
  queueDepth: number;
  seconds: number;
  seed: number;
  json?: boolean;
}

export async function planCommand(o: PlanCliOptions): Promise<number> {
  const { planRestripe } = await import('../../lab/plan.ts');
  const { SWEEP_WORKLOADS } = await import('../../lab/sweep-types.ts');
  const { loadConfig } = await import('../../shared/config/config.ts');
  const running = loadConfig(o.config);
  let target: unknown;
  try {
    target = JSON.parse(readFileSync(o.to, 'utf8'));
  } catch (err) {
    throw new ArrayError('USAGE', `--to ${o.to}: cannot be read as JSON (${errorMessage(err)})`);
  }
  if (o.load !== undefined && o.load !== 'none' && !(SWEEP_WORKLOADS as readonly string[]).includes(o.load))
    throw new ArrayError('USAGE', `--load ${o.load}: must be none or one of ${SWEEP_WORKLOADS.join(', ')}`);
  if (o.blockBytes % 512 !== 0) throw new ArrayError('USAGE', `--block-bytes ${o.blockBytes} is not a multiple of 512`);
  const load =
    o.load === undefined || o.load === 'none'
      ? undefined
      : {
          workload: o.load as (typeof SWEEP_WORKLOADS)[number],
          blockBytes: o.blockBytes,
          queueDepth: o.queueDepth,
          seconds: o.seconds,
        };
  const r = await planRestripe({ running, target, driveModel: o.driveModel, load, seed: o.seed });
  print(!!o.json, r, () => {
    const mib = (b: number) => (b / 1048576).toFixed(1);
    const lines = [
      `${r.device}: ${r.kind} of ${r.tracks} tracks, predicted ${(r.durationMs / 1000).toFixed(3)} s (virtual time, seed ${o.seed})`,
      `  bound by: ${r.boundBy} (${r.busiestPct}% busy during it)`,
      '  drive   read MiB  written MiB  mechanism  interface',
      ...Object.entries(r.drives)
        .filter(([, d]) => d.readBytes + d.writeBytes > 0)
        .map(
          ([id, d]) =>
            `  ${id.padEnd(7)} ${mib(d.readBytes).padStart(8)} ${mib(d.writeBytes).padStart(12)}  ${`${d.busyPct}%`.padStart(9)}  ${`${d.interfacePct}%`.padStart(9)}`,
        ),
      `  links: ${Object.entries(r.links)
        .map(([da, l]) => `${da} ${l.busyPct}%`)
        .join(', ')}`,
    ];
    if (r.host)
      lines.push(
        `  hosts (${o.load}, ${o.blockBytes} B, QD ${o.queueDepth}): ${r.host.opsPerSecBefore} → ${r.host.opsPerSecDuring} ops/s (${r.host.opsRatio}×), p99 ${r.host.p99MsBefore} → ${r.host.p99MsDuring} ms (${r.host.p99Ratio}×)`,
      );
    return lines.join('\n');
  });
  return 0;
}

export function addPlanCommand(program: Command): void {
  program
    .command('plan')
    .description(
      'predict a restripe before running it: the same actors and throttle run it in virtual time, every drive behind its timing model; prints its duration, what each drive reads and writes, the busiest resource, and what hosts lose meanwhile',
    )
    .requiredOption('--config <file>', 'the running configuration')
    .requiredOption('--to <file>', 'the target configuration (one device changed)')
    .option(
      '--drive-model <preset>',
      'every drive behind this timing model (atlas10k, cheetah9LP, barracuda, hdd-15k, hdd-7200, ssd); default: each drive’s own model',
    )
    .option(
      '--load <w>',
      'host load during the restripe: none | randread | randwrite | randrw | seqread | seqwrite',
      'none',
    )
    .option('--block-bytes <b>', 'bytes per host request', intArg('--block-bytes', 512, 64 << 20), 4096)
    .option('--queue-depth <q>', 'host requests in flight', intArg('--queue-depth', 1, 4096), 16)
    .option('--seconds <s>', 'simulated seconds of load measured before the restripe', numArg('--seconds', 0.01), 1)
    .option('--seed <n>', 'seed of the virtual run', intArg('--seed', 0), 1)
    .option('--json', 'print the prediction as JSON')
    .action(async (o: PlanCliOptions) => {
      process.exitCode = await planCommand(o);
    });
}
