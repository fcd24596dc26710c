// The embedded demo (npm start): the patent's FIG. 2 array under a verifying host load, restriped
// online to FIG. 2 new (a fourth drive) and then to FIG. 9 (stripe size halved), with the layouts
// before and after, the transfer table, the four scenario counts, the host-blocked window and the
// verification result. Exits non-zero if anything was lost or any bit is left set.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig, type ArrayConfig } from '../shared/config/config.ts';
import { cylinderName, deviceLayout, transferPlan } from '../shared/layout/layout.ts';
import { ArrayEmulator } from '../runtime/emulator.ts';
import { runWithReconfigurations } from '../host/reconfigure-run.ts';
import { progressReporter } from './progress.ts';
import { reconfJson, reconfText } from './report-format.ts';
import { maybeView, toProgressAndView } from './ui.ts';

const example = (name: string) => fileURLToPath(new URL(`../../examples/${name}.json`, import.meta.url));
export const FIG2 = example('fig2');
const STEPS = [
  { file: example('fig2-new'), title: 'FIG. 2 new: LD1 expanded onto drive 37 (stripe 2 cylinders)' },
  { file: example('fig9-after-fig2-new'), title: 'FIG. 9: stripe size halved on the four drives' },
];

function table(cfg: ArrayConfig, running: ArrayConfig): string[] {
  const l = deviceLayout(cfg, 'LD1', running);
  return [...l.cylindersByDrive()].map(([d, cs]) => `    ${d}: ${cs.map(cylinderName).join(' ')}`);
}

/** What the demo will show: the array, LD1's layout and the transfer plan to FIG. 2 new. */
function intro(config: ArrayConfig, first: ArrayConfig, say: (s: string) => void): void {
  say("arrayemu demo: the patent's FIG. 2 array — LD1 on drives 31 33 35 (stripe 2 cylinders), spare drive 37,");
  say('BCV1 on 46 47 48, neighbour LD2 on the same drives, META1 on 37; 4 disk adapters, 1 host adapter.');
  say('  LD1 before:');
  table(config, config).forEach(say);
  say('  transfer plan to FIG. 2 new (original → BCV → new):');
  for (const r of transferPlan(
    deviceLayout(config, 'LD1'),
    deviceLayout(config, 'BCV1'),
    deviceLayout(first, 'LD1', config),
  )) {
    say(`    ${r.cylinder}  ${r.from} → ${r.bcv} → ${r.to}${r.moves ? '' : '  (stays)'}`);
  }
  say('running a verifying load (2 host processors × queue depth 16, 50% reads, 4 KiB) and restriping at 30% …');
}

/** The copy rate with --ui (MB/s): each restripe of LD1 (11.25 MiB, copied twice) takes about 10 s to watch. */
const DEMO_UI_MBPS = 2;

export async function demoCommand(opts: { json?: boolean; ui?: string }): Promise<number> {
  const config = loadConfig(FIG2);
  const say = (s: string) => {
    if (!opts.json) process.stdout.write(`${s}\n`);
  };
  const targets = STEPS.map((s) => JSON.parse(readFileSync(s.file, 'utf8')));
  const first = loadConfig(STEPS[0]!.file, { running: config });
  intro(config, first, say);
  const emu = await ArrayEmulator.start(config);
  const view = await maybeView(emu, opts.ui);
  if (view) emu.setBackground({ minMBps: DEMO_UI_MBPS, maxMBps: DEMO_UI_MBPS });
  const progress = progressReporter(!!opts.json);
  const feed = toProgressAndView(progress, view);
  try {
    let before = config;
    let step = 0;
    const result = await runWithReconfigurations(emu, {
      hostProcessors: 2,
      ops: 30000,
      queueDepth: 16,
      readPct: 50,
      blockBytes: 4096,
      pattern: 'random',
      seed: 1,
      targets,
      atFraction: 0.3,
      onProgress: feed.onProgress,
      onReport: (r) => {
        feed.onReport(r);
        const after = loadConfig(STEPS[step]!.file, { running: before });
        say(`  ${STEPS[step]!.title}:`);
        reconfText(r).forEach(say);
        say('  LD1 after:');
        table(after, before).forEach(say);
        before = emu.model.config;
        step++;
      },
    }).finally(() => progress.stop());
    const { host, reconfigurations, error } = result;
    const bitsLeft = reconfigurations.some((r) => r.bitsLeft.pb + r.bitsLeft.ps + r.bitsLeft.ind > 0);
    const ok =
      host.verifyErrors === 0 &&
      host.ioErrors === 0 &&
      !error &&
      !bitsLeft &&
      reconfigurations.length === STEPS.length &&
      emu.problems().length === 0;
    say(
      `host: ${host.reads} reads, ${host.writes} writes, ${host.iops} ops/s, p99 ${host.latencyMs.p99} ms, on LD1, LD2 and META1 throughout`,
    );
    say(
      `verification: ${host.verifyErrors} errors, ${host.ioErrors} I/O errors${ok ? ' — nothing lost, no bit left set' : ''}`,
    );
    for (const d of host.described) say(`  - ${d}`);
    if (error) say(`reconfiguration failed: ${error}`);
    if (opts.json) {
      const { described, ...hostOut } = host;
      process.stdout.write(
        `${JSON.stringify({ ok, host: hostOut, errors: described, reconfigurations: reconfigurations.map(reconfJson) })}\n`,
      );
    }
    return ok ? 0 : 1;
  } finally {
    await view?.close();
    await emu.stop();
  }
}
