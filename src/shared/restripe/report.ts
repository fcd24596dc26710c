// What a reconfiguration session reports: to the CLI, the stress harness, the benchmarks and
// progress displays. Plain data, importable from every layer.
import type { ReconfKind } from './session.ts';

/** How many host requests met each of the patent's four scenarios (FIG. 7). */
export interface ScenarioCounts {
  '1': number;
  '2': number;
  '3': number;
  '4': number;
}

export const noScenarios = (): ScenarioCounts => ({ '1': 0, '2': 0, '3': 0, '4': 0 });

/** Bits of a session still set, counted at completion (step 122): all zero when it completes. */
export interface BitsLeft {
  pb: number;
  ps: number;
  ind: number;
}

export interface ReconfReport {
  device: string;
  kind: ReconfKind;
  session: number; // PB column, -1 for a meta expansion
  /** Old tracks whose PB the session cleared (counted in the table at completion). */
  tracksMoved: number;
  tracksTotal: number;
  hostBlockedMs: number;
  durationMs: number;
  scenarios: ScenarioCounts;
  bitsLeft: BitsLeft;
  steps: Array<{ step: string; ms: number }>;
}

/** Progress of a session: its phase when it enters ESTABLISH and the switch, then its data transfer every PROGRESS_EVERY_MS. */
export interface Progress {
  device: string;
  phase: 'establish' | 'switch' | 'transfer' | 'completion';
  tracksMoved: number;
  tracksTotal: number;
}
