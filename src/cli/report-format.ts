// How a reconfiguration report is shown: one JSON shape (`run --json`, the demo) and text lines.
import type { ReconfReport } from '../shared/restripe/report.ts';

/** The JSON shape of one reconfiguration in `run --json`. */
export function reconfJson(r: ReconfReport) {
  const { device, kind, tracksMoved, tracksTotal, hostBlockedMs, durationMs, scenarios, bitsLeft } = r;
  return { device, kind, tracksMoved, tracksTotal, hostBlockedMs, durationMs, scenarios, bitsLeft };
}

export function reconfText(r: ReconfReport): string[] {
  const s = r.scenarios;
  return [
    `  ${r.device}: ${r.kind}, ${r.tracksMoved}/${r.tracksTotal} tracks moved in ${r.durationMs} ms, host blocked ${r.hostBlockedMs} ms`,
    `    scenarios met by host requests: 1:${s['1']} 2:${s['2']} 3:${s['3']} 4:${s['4']}; bits left PB ${r.bitsLeft.pb} PS ${r.bitsLeft.ps} IND ${r.bitsLeft.ind}`,
  ];
}
