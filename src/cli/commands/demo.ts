// `demo` (npm start): the embedded FIG. 2 → FIG. 2 new → FIG. 9 demonstration.
import { Command } from 'commander';

export function addDemoCommand(program: Command): void {
  program
    .command('demo')
    .description("the embedded demo: the patent's FIG. 2 array under a verifying load")
    .option('--json', 'print one JSON object')
    .option(
      '--ui <host:port>',
      'serve the live view on this loopback address, start once a page opens it, and copy at 2 MB/s so each restripe takes seconds to watch',
    )
    .action(async (o: { json?: boolean; ui?: string }) => {
      const { demoCommand } = await import('../demo.ts');
      process.exitCode = await demoCommand(o);
    });
}
