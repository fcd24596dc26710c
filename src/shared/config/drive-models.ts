// The names a configuration may give a drive's timing model (`drives[i].model`). The models
// themselves live with the disk adapter (src/drives/timing); the configuration checks names.

/** `instant`: no time at all (memory speed, the default). The others: see src/drives/timing/drive-spec.ts. */
export const DRIVE_MODEL_PRESETS = [
  'instant',
  'atlas10k',
  'cheetah9LP',
  'barracuda',
  'hdd-15k',
  'hdd-7200',
  'ssd',
] as const;
export type DriveModelPreset = (typeof DRIVE_MODEL_PRESETS)[number];

export const DRIVE_SCHEDULERS = ['fcfs', 'clook', 'sptf'] as const;
export type DriveScheduler = (typeof DRIVE_SCHEDULERS)[number];

/**
 * A disk adapter's back-end channel, shared by its drives (MB/s), when it has timed drives and
 * gives no `channelMBps`: a 2 Gb/s Fibre Channel loop, the back end of arrays of the patent's era,
 * carries about 200 MB/s of payload (2.125 Gbaud, 8b/10b) across its 15-45 drives.
 */
export const DEFAULT_CHANNEL_MBPS = 200;

/** A drive's timing model as configured: a preset's name, or a preset with its queue policy and cache switched. */
/** `cache: false` turns the drive's buffer off (no read-ahead, no write cache); `writeCache: false` only its immediate-report write cache, as arrays run their drives. */
export type DriveModelConfig =
  DriveModelPreset | { preset: DriveModelPreset; scheduler?: DriveScheduler; cache?: boolean; writeCache?: boolean };

export function modelPreset(m: DriveModelConfig | undefined): DriveModelPreset {
  return m === undefined ? 'instant' : typeof m === 'string' ? m : m.preset;
}
