// A verifying workload with online reconfigurations in the middle of it: the workload starts, the
// array is reconfigured to each target in turn once the run is `atFraction` done, and the workload
// keeps running until after the last reconfiguration completed (and its own budget is spent).
import type { ArrayEmulator } from '../runtime/emulator.ts';
import type { ReconfReport, Progress } from '../shared/restripe/report.ts';
import { planRounds } from '../shared/restripe/reconf-plan.ts';
import { startWorkload, type HostSummary, type RunOptions } from './run.ts';
import { sched, sleep } from '../shared/sched/sched.ts';

export interface ReconfigureRunOptions extends RunOptions {
  targets: unknown[]; // raw target configurations, applied in order
  atFraction: number; // 0..1 of the run (operations or seconds) before the first reconfiguration
  onProgress?: (p: Progress) => void;
  onReport?: (r: ReconfReport) => void;
}

export interface ReconfigureRunResult {
  host: HostSummary;
  reconfigurations: ReconfReport[];
  error?: string;
}

const POLL_MS = 20;

export async function runWithReconfigurations(
  emu: ArrayEmulator,
  opts: ReconfigureRunOptions,
): Promise<ReconfigureRunResult> {
  const { maxBytes } = planRounds(
    emu.model.config,
    opts.targets.map((t) => [t]),
  );
  const budgetOps = opts.seconds === undefined ? (opts.ops ?? 20000) : undefined;
  const workload = startWorkload(emu, { ...opts, ops: undefined, seconds: undefined, maxBytes });
  const onSwitched = (e: { device: string; bytes: number }) => workload.setDeviceBytes(e.device, e.bytes);
  const onProgress = (p: Progress) => opts.onProgress?.(p);
  emu.on('switched', onSwitched);
  emu.on('progress', onProgress);
  // The scheduler's clock and sleeps: real time, or virtual time in a virtual run.
  const t0 = sched().now();
  const fraction = () =>
    budgetOps !== undefined ? workload.opsDone() / budgetOps : (sched().now() - t0) / 1000 / opts.seconds!;
  let finished = false;
  const until = async (cond: () => boolean) => {
    while (!cond() && !finished) await sleep(POLL_MS);
  };
  const reports: ReconfReport[] = [];
  let error: string | undefined;
  try {
    await Promise.race([until(() => fraction() >= opts.atFraction), workload.done]);
    for (const target of opts.targets) {
      const r = await emu.reconfigure(target);
      reports.push(r);
      opts.onReport?.(r);
    }
    await Promise.race([until(() => fraction() >= 1), workload.done]);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    finished = true;
    workload.stop();
    emu.off('switched', onSwitched);
    emu.off('progress', onProgress);
  }
  return { host: await workload.done, reconfigurations: reports, error };
}
