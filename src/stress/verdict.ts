// A stress seed's verdict: the first reason it failed, in order of what matters most, or none.
import type { HostSummary } from '../host/run.ts';
import type { ReconfReport } from '../shared/restripe/report.ts';

export interface SeedOutcome {
  /** A reconfiguration or a wait of the seed that failed. */
  error?: string;
  host: HostSummary;
  reports: ReconfReport[];
  hostAdapterRestarts: number;
  /** Error lines logged by any actor, and actors that stopped. */
  problems: string[];
}

export function verdict(o: SeedOutcome): string | undefined {
  const { host } = o;
  const bits = o.reports.find((rep) => rep.bitsLeft.pb + rep.bitsLeft.ps + rep.bitsLeft.ind > 0);
  if (o.error !== undefined) return o.error;
  if (host.verifyErrors > 0) return `${host.verifyErrors} verify errors: ${host.described[0]}`;
  if (host.ioErrors > 0) return `${host.ioErrors} I/O errors: ${host.described[0]}`;
  if (host.lostWithAdapter > 0 && o.hostAdapterRestarts === 0)
    return `${host.lostWithAdapter} requests lost with a host adapter that was never restarted`;
  if (bits) return `bits left set: ${JSON.stringify(bits.bitsLeft)}`;
  return o.problems[0];
}
