// How much shared memory an array takes, and whether a drive keeps its tracks densely or sparsely:
// checked before anything is allocated, so an array too large for this machine is refused naming
// what it needs (never an allocation failure later).
import { totalmem } from 'node:os';
import type { ArrayConfig } from './config.ts';
import { ArrayError } from '../errors/errors.ts';

/** A drive larger than this keeps its tracks in the sparse store unless its `store` says otherwise. */
export const DENSE_DRIVE_MAX_BYTES = 256 * 2 ** 20;
/** The largest growable SharedArrayBuffer Node 20 makes (address space reserved, memory taken as it grows). */
export const GROWABLE_MAX_BYTES = 4 * 2 ** 30;
/** Most bytes the sparse store may grow to. */
export const SPARSE_POOL_MAX_BYTES = GROWABLE_MAX_BYTES;
/** Tries to grow a shared pool while other threads grow it too. */
const GROW_TRIES = 16;

/**
 * Grow the growable shared `pool` to at least `need` bytes (doubling, by `minGrowBytes` at least),
 * while other threads may grow it too. 'full': its maxByteLength is less than `need` (nothing done).
 */
export function growShared(pool: SharedArrayBuffer, need: number, minGrowBytes: number): 'ok' | 'full' {
  for (let i = 0; i < GROW_TRIES && pool.byteLength < need; i++) {
    const want = Math.min(pool.maxByteLength, Math.max(need, pool.byteLength * 2, minGrowBytes));
    if (want < need) return 'full';
    try {
      pool.grow(want);
    } catch {
      // another thread grew it meanwhile (to less than `want`): look again
    }
  }
  if (pool.byteLength < need)
    throw new ArrayError('INVARIANT', `a shared pool did not grow to ${need} bytes in ${GROW_TRIES} tries`);
  return 'ok';
}
export const NO_CHUNK = -1;
/** A sparse index entry: the track's bytes are in the data dir's store (or nowhere: zeros), not read yet (a restart's). */
export const IN_STORE = -2;
/**
 * A committedSeq entry before any commit: 0, the seqlock of a track never written, so the buffer
 * needs no fill (a fill would touch every page of a full-size array's table). A track holding a
 * chunk at seqlock 0 was read in from the store: durable, so it may be evicted.
 */
export const NEVER_COMMITTED = 0;
/**
 * Words of the sparse store's control buffer: the next chunk never used, the number of the last
 * durable commit (a drive reading back an evicted track needs at least that one), then (from
 * RESIDENT) each drive's chunks in use.
 */
export const SPARSE = { NEXT_CHUNK: 0, COMMITTED: 1, RESIDENT: 2 } as const;
export const SPARSE_WORDS = 2;

/**
 * Whether drive `d` keeps its tracks sparsely (a track takes memory when first written; unwritten
 * ones read as zeros): `store` "sparse", or no `store` and more than DENSE_DRIVE_MAX_BYTES.
 */
export function isSparse(cfg: ArrayConfig, d: ArrayConfig['drives'][number]): boolean {
  if (d.store) return d.store === 'sparse';
  return d.cylinders * cfg.geometry.headsPerCylinder * cfg.geometry.trackBytes > DENSE_DRIVE_MAX_BYTES;
}

/**
 * Most bytes the sparse drives' pool may hold: every sparse track, up to SPARSE_POOL_MAX_BYTES, or
 * `driveCacheBytes` (an array kept in a data dir: its drives are the store's, memory their cache).
 */
export function sparsePoolMaxBytes(cfg: ArrayConfig, driveCacheBytes?: number): number {
  const bytes = cfg.drives
    .filter((d) => isSparse(cfg, d))
    .reduce((n, d) => n + d.cylinders * cfg.geometry.headsPerCylinder * cfg.geometry.trackBytes, 0);
  return Math.min(bytes, SPARSE_POOL_MAX_BYTES, driveCacheBytes ?? Infinity);
}

/** Most shared memory an array may take: half this machine's memory (the rest is Node's, the workers' and the host side's). */
export const SHARED_MEMORY_MAX_BYTES = Math.floor(totalmem() / 2);

/** Bytes of shared memory an array takes before any sparse track is written: its track tables, sparse indexes, cache and dense drives. */
export function sharedMemoryBytes(cfg: ArrayConfig): { bytes: number; tracks: number } {
  const tracksPerCylinder = cfg.geometry.headsPerCylinder;
  let tracks = 0;
  let bytes = cfg.cache.slots * cfg.geometry.trackBytes;
  for (const d of cfg.drives) {
    const t = d.cylinders * tracksPerCylinder;
    tracks += t;
    bytes += 24 * t + (isSparse(cfg, d) ? 4 * t : t * cfg.geometry.trackBytes);
  }
  return { bytes, tracks };
}

export const GiB = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;

/** Refuse an array whose tables cannot be made here, naming what it needs (never an allocation failure later). */
export function checkSharedMemory(cfg: ArrayConfig): void {
  const { bytes, tracks } = sharedMemoryBytes(cfg);
  if (bytes > SHARED_MEMORY_MAX_BYTES)
    throw new ArrayError(
      'CONFIG',
      `the array needs ${GiB(bytes)} of shared memory (track tables for ${tracks} tracks, the cache, dense drives), more than the ${GiB(SHARED_MEMORY_MAX_BYTES)} this machine allows: use fewer or smaller drives (fewer cylinders), or a larger trackBytes`,
    );
}
