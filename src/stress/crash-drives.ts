// Crash everywhere with a drive that fails (DESIGN §10, §14; `crash --drive-faults`): the seed's
// array gets MX, a two-way mirrored device with a mirrored BCV and two spares (plan.ts
// withMirroredDevice), and the restripe crashed is MX's own. At a seeded instant of it one drive of
// MX or MXB fails whole and is rebuilt onto a spare while the host writes and FLUSHes. A restart
// from any commit must then serve every flushed sector (never a failed drive's older copy), take up
// the rebuild where its STALE bits left it, and end with no copy stale and no drive rebuilding.
import type { ArrayConfig } from '../shared/config/config.ts';
import { DRIVE_STATE, driveStateName, driveStateOf, mediaOf, staleOn } from '../shared/drive-states/drive-state.ts';
import { sched, sleep } from '../shared/sched/sched.ts';
import type { ArrayEmulator } from '../runtime/emulator.ts';
import { int, mirroredDeviceDrives, planSeed, pick, withMirroredDevice, type Rng } from './seed-plan.ts';

/** Longest a restarted array may take to end its resumed rebuild (virtual ms). */
const REBUILD_WAIT_MS = 120_000;
/** How often a restart looks whether its rebuild has ended (virtual ms). */
const REBUILD_POLL_MS = 5;
/** The background copy's rate once the drive has failed (MB/s, virtual time): its rebuild spans commits. */
const REBUILD_MBPS = 1;
/** Latest instant into the restripe at which the drive fails (virtual ms; a seed's restripe takes tens). */
const FAULT_LATEST_MS = 30;

/** A seed's array with MX, and MX's own restripe (onto one more drive and mirror drive) as the target. */
export function drivePlan(seed: number): { config: ArrayConfig; target: unknown } {
  const plan = withMirroredDevice(planSeed(seed));
  const last = plan.rounds[plan.rounds.length - 1]![0] as ArrayConfig;
  const mx = last.devices.find((d) => d.id === 'MX')!;
  // (Not parsed alone: its BCV has the old member count until the restripe gives it the new one.)
  const target = { ...plan.config, devices: plan.config.devices.map((d) => (d.id === 'MX' ? mx : d)) };
  return { config: plan.config, target };
}

/**
 * At a seeded instant of the restripe, fail one drive of MX or MXB whole (its rebuild onto a spare
 * starts at once). Resolves with the drive's id once its rebuild has ended.
 */
export async function failOneDrive(emu: ArrayEmulator, r: Rng): Promise<string> {
  const drive = pick(r, mirroredDeviceDrives(emu.model.config));
  await sleep(int(r, 0, FAULT_LATEST_MS));
  // Slowed so that the rebuild spans several commits: crash points land inside it.
  emu.setBackground({ minMBps: REBUILD_MBPS, maxMBps: REBUILD_MBPS });
  emu.failDrive({ drive, kind: 'whole' });
  await emu.rebuilds.get(drive);
  return drive;
}

/** Each drive position with a spare being rebuilt in its place or copies stale, described. */
export function rebuildsLeft(emu: ArrayEmulator): string[] {
  const { model, state } = emu;
  return model.drives.ids.flatMap((id, d) => {
    const media = mediaOf(state, d);
    const stale = staleOn(state, model.drives, d).length;
    const rebuilding = media !== d && driveStateOf(state, media) === DRIVE_STATE.REBUILDING;
    return rebuilding || stale > 0
      ? [`${id} (media ${model.drives.ids[media]} ${driveStateName(state, media)}, ${stale} copies stale)`]
      : [];
  });
}

/** Wait until no spare is being rebuilt and no copy is stale (a resumed rebuild ended); throws past REBUILD_WAIT_MS. */
export async function untilRebuilt(emu: ArrayEmulator, where: string): Promise<void> {
  const deadline = sched().now() + REBUILD_WAIT_MS;
  for (let left = rebuildsLeft(emu); left.length > 0; left = rebuildsLeft(emu)) {
    if (sched().now() > deadline)
      throw new Error(`${where}: the resumed rebuild did not end within ${REBUILD_WAIT_MS} ms: ${left.join(', ')}`);
    await sleep(REBUILD_POLL_MS);
  }
}

/**
 * A scrub of the restarted array: no copy may differ from its own checksum (each checksum is durable
 * with its copy's bytes) and no track may be lost. Copies that differ from each other may (a write
 * not flushed, on some copies only): the scrub rewrites them from the winning one. Returns the copies
 * whose checksum verified, and the scrubs taken up (a restart of a restart that was scrubbing).
 */
export async function scrubClean(emu: ArrayEmulator, where: string): Promise<{ verified: number; resumed: number }> {
  // A scrub the data dir left under way (an earlier restart's, crashed) is taken up: it ends first.
  let resumed = 0;
  for (const v of emu.scrubs.list().filter((x) => x.state === 'running')) {
    const ended = await emu.scrubs.whenEnded(v.id);
    if (ended?.state !== 'done' || ended.corrupt > 0)
      throw new Error(
        `${where}: the scrub taken up ended ${ended?.state}, ${ended?.corrupt} copies against their checksum`,
      );
    resumed++;
  }
  const view = await emu.scrubs.whenEnded(emu.scrubs.start().id);
  if (!view || view.state !== 'done' || view.corrupt > 0 || view.unrecoverable > 0)
    throw new Error(
      `${where}: the scrub after the restart: ${view ? `${view.state}, ${view.corrupt} copies against their own checksum, ${view.unrecoverable} tracks lost${view.error ? ` (${view.error})` : ''}` : 'gone'}`,
    );
  return { verified: view.verified, resumed };
}
