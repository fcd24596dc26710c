// `run --fail-drive ID@PHASE`: fail a drive whole when a reconfiguration reaches a phase (establish,
// switch, transfer, completion), as a storage engineer asks "what does a failure there do".
import type { ArrayEmulator } from '../runtime/emulator.ts';
import { DEVICE, PHASE } from '../shared/tables/memory.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { sched, type Timer } from '../shared/sched/sched.ts';
import type { RebuildReport } from '../runtime/rebuild-run.ts';
import { deviceWordOf } from '../shared/tables/tables.ts';

export const FAIL_PHASES = ['establish', 'switch', 'transfer', 'completion'] as const;
export type FailPhase = (typeof FAIL_PHASES)[number];
const PHASE_WORD: Record<Exclude<FailPhase, 'switch'>, number> = {
  establish: PHASE.ESTABLISHING,
  transfer: PHASE.TRANSFERRING,
  completion: PHASE.COMPLETING,
};
/** How often the phase words are looked at (ms): establish, transfer and completion last far longer. */
const PHASE_POLL_MS = 0.5;

export interface DriveFailAt {
  drive: string;
  phase: FailPhase;
}

export interface DriveFailDone extends DriveFailAt {
  /** The device whose reconfiguration was in that phase. */
  device?: string;
  /** Undefined: the phase never came. */
  atMs?: number;
  rebuild?: RebuildReport;
}

/** "ID@PHASE" → its parts, or a refusal naming the option and the choices. */
export function parseFailDrive(v: string, drives: string[]): DriveFailAt {
  const at = v.lastIndexOf('@');
  const drive = v.slice(0, at);
  const phase = v.slice(at + 1) as FailPhase;
  if (at <= 0 || !FAIL_PHASES.includes(phase))
    throw new ArrayError('USAGE', `--fail-drive ${v}: expected DRIVE@PHASE, PHASE one of ${FAIL_PHASES.join(', ')}`);
  if (!drives.includes(drive))
    throw new ArrayError('USAGE', `--fail-drive ${v}: no drive "${drive}" (drives: ${drives.join(', ')})`);
  return { drive, phase };
}

/** Watch for each phase and fail its drive once it comes; `done()` stops watching and says what happened. */
export function failDrivesAt(emu: ArrayEmulator, asked: DriveFailAt[]): { done(): Promise<DriveFailDone[]> } {
  const t0 = sched().now();
  const out: DriveFailDone[] = asked.map((a) => ({ ...a }));
  const fire = (f: DriveFailDone, device: string) => {
    if (f.atMs !== undefined) return;
    f.device = device;
    f.atMs = Math.round(sched().now() - t0);
    emu.failDrive({ drive: f.drive, kind: 'whole' });
  };
  const onSwitched = (e: { device: string }) =>
    out.filter((f) => f.phase === 'switch').forEach((f) => fire(f, e.device));
  emu.on('switched', onSwitched);
  const timer: Timer = sched().every(PHASE_POLL_MS, () => {
    for (const dev of emu.model.devices) {
      const phase = deviceWordOf(emu.state, dev.index, DEVICE.PHASE);
      for (const f of out) if (f.phase !== 'switch' && PHASE_WORD[f.phase] === phase) fire(f, dev.id);
    }
    if (out.every((f) => f.atMs !== undefined)) timer.cancel();
  });
  return {
    async done() {
      timer.cancel();
      emu.off('switched', onSwitched);
      for (const f of out) if (f.atMs !== undefined) f.rebuild = await emu.rebuilds.get(f.drive);
      return out;
    },
  };
}
