// `crash`: the crash-everywhere campaign of the durable data dir (DESIGN §10), in simulation: each
// seed's restripe under stamped writes and FLUSHes, a restart from every commit of its store (and
// some recoveries crashed again at each of theirs), every flushed sector checked. `--break` breaks
// one ordering rule on purpose: the campaign must then fail; it reports every seed that caught it (--first: stops at the first).
import { Command, Option } from 'commander';
import type { TestFaultName } from '../../shared/hooks/hooks.ts';
import { intArg, print, EXIT_FAILED } from '../args.ts';

/** The ordering rules `--break` can break, by the name the CLI takes. */
const BREAKS: Record<string, TestFaultName> = {
  'early-ind-clear': 'EARLY_IND_CLEAR',
  'unsynced-switch': 'UNSYNCED_SWITCH',
  'late-switch-commit': 'LATE_SWITCH_COMMIT',
  'flush-without-commit': 'FLUSH_WITHOUT_COMMIT',
  'undurable-drives': 'UNDURABLE_DRIVES',
};

/** The rules of the switch and the transfer (R1, R3): a meta expansion has neither. */
const SWITCH_RULES = new Set(['early-ind-clear', 'unsynced-switch', 'late-switch-commit']);

interface CrashCliOptions {
  perKind: number;
  seed: number;
  maxPoints?: number;
  break?: string;
  driveFaults?: boolean;
  driveCacheTracks?: number;
  first?: boolean;
  json?: boolean;
}

export async function crashCommand(o: CrashCliOptions): Promise<number> {
  const { crashCampaign, CRASH_KINDS, DRIVE_FAULT_KINDS } = await import('../../stress/crash.ts');
  const fault = o.break ? BREAKS[o.break] : undefined;
  const total = o.perKind * (o.driveFaults ? DRIVE_FAULT_KINDS : CRASH_KINDS).length;
  const tty = process.stderr.isTTY === true;
  const c = await crashCampaign({
    perKind: o.perKind,
    firstSeed: o.seed,
    maxPoints: o.maxPoints,
    fault,
    driveFaults: o.driveFaults,
    driveCacheTracks: o.driveCacheTracks,
    stopAtFirst: o.first,
    onSeed: (r, so) => {
      if (!r.ok) process.stderr.write(`${tty ? '\n' : ''}seed ${r.seed} (${r.kind}) FAILED: ${r.reason}\n`);
      if (!o.json || tty) {
        const line = `crash: ${so.seeds}/${total} seeds (seed ${r.seed} ${r.kind}: ${r.crashPoints} crash points), ${so.restarts} restarts, ${so.sectorsChecked} sectors checked`;
        process.stderr.write(tty ? `\r${line}` : `${line}\n`); // a seed may take a minute: a line each
      }
    },
  });
  if (tty) process.stderr.write('\n');
  const failed = c.failed.map((f) => ({ seed: f.seed, kind: f.kind, reason: f.reason ?? 'failed' }));
  // A meta expansion has no switch and no transfer: the restripe's own ordering rules cannot apply there.
  const appliesTo =
    o.break && SWITCH_RULES.has(o.break) ? c.seeds - (c.kinds['meta-expansion'] ?? 0) : o.break ? c.seeds : null;
  const out = { ...c, failed, break: o.break ?? null, seedsTheBreakAppliesTo: appliesTo };
  print(!!o.json, out, () =>
    [
      `${c.failed.length === 0 ? 'OK' : 'FAILED'}: ${c.seeds} seeds (${Object.entries(c.kinds)
        .map(([k, n]) => `${k} ${n}`)
        .join(
          ', ',
        )}), ${c.commits} commits, ${c.crashPoints} crash points (each commit, and each step between two that changed anything durable), ${c.restarts} restarts (${c.recoveryRestarts} of them crashes of a recovery)`,
      `  ${c.flushes} FLUSHes, ${c.writes} writes, ${c.sectorsChecked} sectors checked in ${(c.ms / 1000).toFixed(1)} s`,
      ...(o.driveFaults
        ? [
            `  ${c.rebuildsResumed} restarts took up a rebuild under way, ${c.scrubsResumed} a scrub; ${c.copiesVerified} copies verified against their durable checksums`,
          ]
        : []),
      ...(o.break
        ? [
            `  with ${o.break} broken: ${c.failed.length > 0 ? `caught by ${c.failed.length} of the ${appliesTo} seeds it applies to (${c.failed.map((f) => f.seed).join(', ')})` : `NOT caught in ${appliesTo} seeds it applies to`}${appliesTo !== c.seeds ? ` (${c.seeds - appliesTo!} meta expansions left out: no switch, no transfer)` : ''}`,
          ]
        : []),
      ...failed.map(
        (f) =>
          `  seed ${f.seed} (${f.kind}): ${f.reason}\n    rerun (seed ${f.seed} first): arrayemu crash --per-kind 1 --seed ${f.seed}${o.driveFaults ? ' --drive-faults' : ''}${o.driveCacheTracks ? ` --drive-cache-tracks ${o.driveCacheTracks}` : ''}${o.break ? ` --break ${o.break}` : ''}`,
      ),
    ].join('\n'),
  );
  return c.failed.length === 0 ? 0 : EXIT_FAILED;
}

export function addCrashCommand(program: Command): void {
  program
    .command('crash')
    .description(
      'crash the durable data dir everywhere, in simulation: restripes of every kind under writes and FLUSHes, a restart from every commit, every flushed sector checked',
    )
    .option('--per-kind <n>', 'seeds per restripe kind', intArg('--per-kind', 1, 10_000), 3)
    .option('--seed <s>', 'the first seed looked at', intArg('--seed', 0), 1)
    .option('--max-points <n>', 'crash points per seed at most (default: every commit)', intArg('--max-points', 1))
    .addOption(
      new Option('--break <rule>', 'break one ordering rule on purpose (the campaign must fail)').choices(
        Object.keys(BREAKS),
      ),
    )
    .option(
      '--drive-faults',
      'crash MX’s own restripe (a two-way mirrored device with a mirrored BCV) while one of its drives fails and is rebuilt onto a spare',
    )
    .option(
      '--drive-cache-tracks <n>',
      'bound the drive cache to n tracks (far fewer than the drives hold): durable tracks are evicted and read back from the store',
      intArg('--drive-cache-tracks', 4),
    )
    .option(
      '--first',
      'with --break: stop at the first seed that catches it (default: run every seed, to count how many do)',
    )
    .option('--json', 'print one JSON object')
    .action(async (o: CrashCliOptions) => {
      process.exitCode = await crashCommand(o);
    });
}
