// arrayemu's command line: one file per command (src/cli/commands), this file puts them together.
// Every refusal is one clear message and exit code 2; a run that loses data or breaks an invariant
// exits 1.
import { Command, CommanderError } from 'commander';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';
import { EXIT_FAILED, EXIT_USAGE } from './args.ts';
import { addLayoutCommand, addValidateCommand } from './commands/layout.ts';
import { addRunCommand } from './commands/run.ts';
import { addStressCommand } from './commands/stress.ts';
import { addCrashCommand } from './commands/crash.ts';
import { addReplayCommand } from './commands/replay.ts';
import { addSweepCommand } from './commands/sweep.ts';
import { addPlanCommand } from './commands/plan.ts';
import { addMergeCommand } from './commands/merge.ts';
import { addServeCommand } from './commands/serve.ts';
import { addControlCommands } from './commands/control.ts';
import { addDemoCommand } from './commands/demo.ts';
import { addBenchCommand, type LoadBench } from './commands/bench.ts';

/** What the entry point gives the CLI: how to load the benchmarks (bench/ is above src). */
export interface CliHooks {
  loadBench?: LoadBench;
}

export function buildProgram(hooks: CliHooks = {}): Command {
  const program = new Command('arrayemu')
    .description('Emulator of a multi-adapter disk array that restripes logical devices online (WO 02/29807)')
    .showHelpAfterError()
    .exitOverride();
  for (const add of [
    addLayoutCommand,
    addValidateCommand,
    addRunCommand,
    addStressCommand,
    addCrashCommand,
    addReplayCommand,
    addSweepCommand,
    addPlanCommand,
    addMergeCommand,
    addServeCommand,
    addControlCommands,
    addDemoCommand,
  ])
    add(program);
  addBenchCommand(program, hooks.loadBench);
  return program;
}

export async function main(argv: string[], hooks: CliHooks = {}): Promise<number> {
  const program = buildProgram(hooks);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (err instanceof ArrayError && err.code !== 'INVARIANT') {
      process.stderr.write(`arrayemu: ${err.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`arrayemu: internal error: ${errorMessage(err)}\n`);
    if (process.env.ARRAYEMU_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return EXIT_FAILED;
  }
}
