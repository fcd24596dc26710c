// The configuration's constants that the actors use at run time. They live apart from the schema
// (config.ts, zod): a worker builds its actor from a configuration already parsed, and importing
// the schema cost each worker thread ~100 modules at start.

/** A sector (bytes): the unit of addresses, of a track's size, and the least a drive reads. */
export const SECTOR_BYTES = 512;

/**
 * The background copy's default throttle (md's speed_limit_min/max, array-wide, MB/s of tracks
 * copied by ESTABLISH and by the data transfer): at least `minMBps` while hosts are busy, then
 * hosts first; at most `maxMBps` while they are idle (0: unlimited). Measured in docs/BENCHMARKS.md:
 * at 200 MB/s a restripe under a verifying host load keeps hosts at ~0.9 of their rate.
 */
export const DEFAULT_BACKGROUND = { minMBps: 200, maxMBps: 0 } as const;

/** Mirrors beyond a device's own members (M1): up to three more (WP2..WP4 of a cache slot). */
export const MAX_EXTRA_MIRRORS = 3;
