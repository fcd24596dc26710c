// The embedded demo (npm start): the patent's FIG. 2 array under a verifying load.
import { fileURLToPath } from 'node:url';
import { loadConfig } from './shared/config.ts';
import { cylinderName } from './shared/layout.ts';
import { ArrayEmulator } from './emulator.ts';
import { runWorkload } from './host/run.ts';

export const FIG2 = fileURLToPath(new URL('../examples/fig2.json', import.meta.url));

export async function demoCommand(opts: { json?: boolean }): Promise<number> {
  const config = loadConfig(FIG2);
  const emu = await ArrayEmulator.start(config);
  const say = (s: string) => !opts.json && process.stdout.write(`${s}\n`);
  try {
    say("arrayemu demo: the patent's FIG. 2 array (drives 31 33 35, spare 37, BCV 46 47 48)");
    const ld1 = emu.model.device('LD1').layout;
    for (const [d, cs] of ld1.cylindersByDrive()) say(`  ${d}: ${cs.map(cylinderName).join(' ')}`);
    say('running a verifying load: 2 host processors, queue depth 16, 50% reads, 4 KiB blocks …');
    const host = await runWorkload(emu, { hostProcessors: 2, ops: 20000, queueDepth: 16, readPct: 50, blockBytes: 4096, pattern: 'random', seed: 1 });
    const ok = host.verifyErrors === 0 && host.ioErrors === 0 && emu.problems().length === 0;
    say(`  ${host.reads} reads, ${host.writes} writes, ${host.iops} ops/s, p99 ${host.latencyMs.p99} ms`);
    say(`verification: ${host.verifyErrors} errors${ok ? ' — nothing lost' : ''}`);
    for (const d of host.described) say(`  - ${d}`);
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok, host })}\n`);
    return ok ? 0 : 1;
  } finally {
    await emu.stop();
  }
}
