// The control API's client commands: status, pause/resume, throttle, reconfigure, drive fail, scrub.
import { Command } from 'commander';
import { intArg, numArg } from '../args.ts';

/** The options every client command takes: which server, and its token. */
const server = (c: Command) =>
  c
    .requiredOption('--server <url>', 'the control API of an arrayemu serve --http, e.g. http://127.0.0.1:9180')
    .option('--token-file <file>', 'its bearer token');

export function addControlCommands(program: Command): void {
  server(
    program
      .command('status')
      .description(
        "the array's devices and the reconfiguration in progress, from a running arrayemu serve (an mdstat-like view)",
      ),
  )
    .option('--watch', 'refresh every half second until interrupted')
    .option('--json', 'print the status as JSON')
    .action(async (o) => {
      const { statusCommand } = await import('../../serve/control/client.ts');
      process.exitCode = await statusCommand(o);
    });
  for (const verb of ['pause', 'resume'] as const)
    server(
      program
        .command(verb)
        .description(`${verb} the background copy of the reconfiguration in progress on a running arrayemu serve`),
    )
      .option('--id <n>', 'the reconfiguration (default: the one in progress)', intArg('--id', 1))
      .option('--json', 'print the reconfiguration as JSON')
      .action(async (o) => {
        const { pauseCommand } = await import('../../serve/control/client.ts');
        process.exitCode = await pauseCommand(o, verb === 'resume');
      });
  server(
    program
      .command('throttle')
      .description(
        "limit a running arrayemu serve's background copy (md's meaning: at most --max-mbps while hosts are idle, never below --min-mbps while they are busy; 0: no limit)",
      ),
  )
    .option('--min-mbps <n>', 'MB/s the copy keeps while hosts are busy', numArg('--min-mbps', 0), 0)
    .option('--max-mbps <n>', 'MB/s the copy may take while hosts are idle', numArg('--max-mbps', 0), 0)
    .option('--json', 'print the throttle as JSON')
    .action(async (o) => {
      const { throttleCommand } = await import('../../serve/control/client.ts');
      process.exitCode = await throttleCommand(o);
    });
  server(
    program.command('reconfigure').description('reconfigure a running arrayemu serve online to a target configuration'),
  )
    .requiredOption('--to <file>', 'the target configuration')
    .option('--wait', 'wait until it completes (a progress bar on a TTY); exit 1 if it fails')
    .option('--json', 'print the reconfiguration as JSON')
    .action(async (o) => {
      const { reconfigureCommand } = await import('../../serve/control/client.ts');
      process.exitCode = await reconfigureCommand(o);
    });
  addDriveCommands(program);
}

/** drive fail and scrub (DESIGN §14). */
function addDriveCommands(program: Command): void {
  const drive = program.command('drive').description('drive faults on a running arrayemu serve (DESIGN §14)');
  server(
    drive
      .command('fail')
      .description(
        'fail a drive: whole (every access fails, the drive is marked failed), media (some tracks return media errors) or rot (some tracks silently return other bytes)',
      ),
  )
    .requiredOption('--drive <id>', 'the drive, by its id in the configuration')
    .option('--kind <kind>', 'whole, media or rot', 'whole')
    .option('--tracks <n>', 'media and rot: how many tracks holding data get the fault', intArg('--tracks', 1), 1)
    .option('--seed <n>', 'media and rot: the seed that picks the tracks', intArg('--seed', 0))
    .option('--json', 'print the result as JSON')
    .action(async (o) => {
      const { driveFailCommand } = await import('../../serve/control/client.ts');
      process.exitCode = await driveFailCommand(o);
    });
  server(
    program
      .command('scrub')
      .description(
        'scrub a running arrayemu serve (DESIGN §14): read every copy, compare its checksum, rewrite each bad one from a good copy; waits and prints the counts (exit 1 if a track is unrecoverable)',
      ),
  )
    .option('--device <id>', 'only this device (default: every device)')
    .option(
      '--json',
      'print the scrub as JSON: {id, state, tracksChecked, skipped, mismatches, corrupt, differing, repaired, unrecoverable}',
    )
    .action(async (o) => {
      const { scrubCommand } = await import('../../serve/control/client.ts');
      process.exitCode = await scrubCommand(o);
    });
}
