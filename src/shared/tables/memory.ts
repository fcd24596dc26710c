// Shared memory of the array (DESIGN §2): created once by the main thread, visible to every actor.
// Every flag word is changed only with Atomics.
import {
  checkSharedMemory,
  GiB,
  isSparse,
  sharedMemoryBytes,
  sparsePoolMaxBytes,
  SPARSE_WORDS,
  NO_CHUNK,
  NEVER_COMMITTED,
} from '../config/memory-size.ts';
import type { ArrayConfig } from '../config/config.ts';
import { MAX_EXTRA_MIRRORS } from '../config/constants.ts';
import { DriveMap } from '../layout/layout.ts';
import { assert, bits } from '../errors/assert.ts';
import { ArrayError } from '../errors/errors.ts';
import { sched, waitWord } from '../sched/sched.ts';
import { dirtyWords, FLAG_CHUNK_TRACKS } from './dirty.ts';

/** Each wait on a shared word is bounded: a missed notify costs at most this much. */
const WAIT_SLICE_MS = 50;

/** Track ID table flag bits (one Int32 per physical track). */
export const TRACK = {
  LOCK: 1 << 0, // the per-track lock (track-lock.ts)
  WAITERS: 1 << 1, // someone awaits LOCK: the unlocker must notify
  PS: 1 << 2, // pending split: p was a location of O and is not split yet (third list)
  IND: 1 << 3, // p, read under N, does not hold valid data: fill from the BCV first (second list)
  FMT: 1 << 4, // formatted: p reads as zeros until a whole track is next written to it (split of a new host track)
  // p was filled (IND cleared) and its data is still only in cache: until every copy of p is
  // written, the durable store keeps IND[p] set (R3, durable.ts). Set with the clear of IND, cleared
  // by the write of the last copy that was FILLCOPY (fill-pending.ts).
  FILLPEND: 1 << 5,
  // Drive faults (drive-state.ts), cleared by a whole-track write (the drive remaps the track):
  MEDIA: 1 << 6, // a latent sector error: reads fail
  ROT: 1 << 7, // silent corruption: reads return other bytes
  LOST: 1 << 8, // on an M1 location: no copy survives (every mirror's drive failed)
  STALE: 1 << 9, // a copy on a drive being rebuilt, not rewritten yet: not read, cleared by a whole-track write
  SUMMED: 1 << 10, // a copy location's checksum (trackSums) is known (checksums.ts)
  FILLCOPY: 1 << 11, // a copy (M1 or a mirror's) of a filled track not written since its fill (fill-pending.ts)
} as const;
/** The bits a commit keeps (durable.ts DURABLE_FLAGS, and FILLPEND, kept as IND): a change marks its flag chunk dirty. */
export const KEPT_FLAGS =
  TRACK.PS | TRACK.IND | TRACK.FMT | TRACK.STALE | TRACK.LOST | TRACK.MEDIA | TRACK.ROT | TRACK.FILLPEND;
/**
 * The actor holding a track's LOCK lives in the same word (bits 24-30), set and cleared in the one
 * atomic step that takes or frees the lock: an adapter stopped anywhere never leaves a lock without
 * an owner, and its replacement frees exactly the locks it held.
 */
export const LOCK_OWNER_SHIFT = 24;
export const LOCK_OWNER_MASK = 0x7f << LOCK_OWNER_SHIFT;
export const lockOwnerOf = (flags: number): number => (flags & LOCK_OWNER_MASK) >>> LOCK_OWNER_SHIFT;
/** Actor ids that fit the lock owner bits (0 is nobody: the main thread, tests). */
export const ACTOR_IDS = (LOCK_OWNER_MASK >>> LOCK_OWNER_SHIFT) + 1;
/** Words of one actor's intent record (intent.ts). */
export const INTENT_WORDS = 8;

/** Cache slot state bits. WPk: pending for mirror k = 1..4 of the owner (1: itself); WPB: for its established BCV. */
export const SLOT = {
  WP: 1 << 0,
  WP1: 1 << 1,
  WP2: 1 << 2,
  WP3: 1 << 3,
  WP4: 1 << 4,
  VALID: 1 << 5, // the slot holds the whole track's current data
  REF: 1 << 6, // referenced since the clock hand last passed (LRU approximation)
  PARTIAL: 1 << 7, // without VALID: the slot holds only bytes [lo, hi) of its track (slotValid), clean (DESIGN §2)
  WPB: 1 << 8,
  WPB2: 1 << 9, // WPBk: pending for mirror k of the owner's established BCV track (a mirrored BCV)
  WPB3: 1 << 10,
  WPB4: 1 << 11,
  // Made by a restripe's fill (copyBcvToMain) on its IND location n: the copy of b it holds stands
  // even if the adapter stopped before clearing IND[n] (cleared with IND; DESIGN §11).
  FILL: 1 << 12,
} as const;
export const MAX_MIRRORS = MAX_EXTRA_MIRRORS + 1; // a device's own members and its `mirrors`: WP1..WP4
/** WPk of mirror k (1-based). */
export const wpOfMirror = (k: number): number => 1 << k;

/** WPBk of the BCV's mirror k (1-based; 1: the BCV's own members, WPB). */
export const wpbOfMirror = (k: number): number => (k === 1 ? SLOT.WPB : SLOT.WPB2 << (k - 2));
/** Every WPB bit: pending for some copy of the owner's BCV track. */
export const WPB_ALL = SLOT.WPB | SLOT.WPB2 | SLOT.WPB3 | SLOT.WPB4;

export const WPK_ALL = SLOT.WP1 | SLOT.WP2 | SLOT.WP3 | SLOT.WP4 | WPB_ALL;
export const MAX_SESSIONS = 16; // PB columns

/** Logical device header words (one row of DEVICE_WORDS Int32 per device). */
export const DEVICE = {
  GENERATION: 0, // active configuration generation; activating one is this single atomic store
  READY: 1, // 1 ready, 0 not ready
  // word 2: unused (host requests in flight are counted per host adapter: SharedState.inflight)
  BLOCKED: 3, // 1 while the switch holds host access (step 114)
  MIRROR: 4, // BCV device index + 1 while that BCV is established on this device (host writes set WPB)
  SESSION: 5, // PB column + 1 while a reconfiguration session runs on this device
  PHASE: 6, // Phase of that session (for observers and tests)
} as const;
export const DEVICE_WORDS = 8;

/** Where a device's reconfiguration stands (DEVICE.PHASE). */
export const PHASE = {
  IDLE: 0,
  PREPARING: 1, // steps 101-112
  ESTABLISHING: 2, // the BCV copies the device
  SYNCHRONISED: 3, // step 113 satisfied; the switch comes next
  SWITCHING: 4, // steps 114-120: host access blocked
  TRANSFERRING: 5, // instant split and data transfer running
  COMPLETING: 6, // steps 121-124
} as const;

import { HOOK_WORDS, TestHooks } from '../hooks/hooks.ts';
/** Per session y, per disk adapter a: the instant split cursor (next global track it will visit). */
export const MAX_DISK_ADAPTERS = 64;
/** SharedBuffers.driveWriting, per disk adapter: the first global track of its open writes, the span they lie in, and how many are open. */
export const WRITING = { FIRST: 0, SPAN: 1, OPEN: 2 } as const;
export const WRITING_WORDS = 3;
export const splitCursorWord = (y: number, da: number): number => y * MAX_DISK_ADAPTERS + da;
/** A split cursor past every track: that adapter's instant split is done. */
export const SPLIT_CURSOR_DONE = 0x7fffffff;

/** Cache-wide words. */
export const CACHE = {
  EVENTS: 0, // bumped (and notified) whenever a slot becomes clean or free: writers waiting for space watch it
  HAND: 1, // clock hand of the slot allocator
} as const;

/**
 * Array-wide words of the background copy (ESTABLISH and the data transfer), kept in the cache
 * words' buffer after the cache's own: set by the control API, read by the disk adapters.
 */
export const BACKGROUND = {
  PAUSED: 2, // 1: no disk adapter starts another background track until it is 0 again
  MIN_KBPS: 3, // the copy's rate while hosts are busy (KB/s, 0: no floor of its own, the max applies)
  MAX_KBPS: 4, // the copy's rate while hosts are idle (KB/s, 0: unlimited)
  HOST_OPS: 5, // host requests taken by every host adapter so far (wraps): the throttle's sign that hosts are busy
} as const;

const DRIVE_SPARE = 3; // DRIVE_STATE.SPARE (drive-state.ts names every state and word)
export const DRIVE_WORDS = 4;

export const NO_SLOT = -1;
/** Slots a cache-exhausted error describes (the first ones). */
const SLOTS_DESCRIBED = 8;
export const NO_TRACK = -1;

export const TRACK_FLAG_NAMES = TRACK as unknown as Record<string, number>;
export const SLOT_FLAG_NAMES = SLOT as unknown as Record<string, number>;

/** The SharedArrayBuffers themselves: what is handed to a worker (structured-cloned, not copied). */
export interface SharedBuffers {
  trackBytes: number;
  headsPerCylinder: number;
  totalTracks: number;
  slots: number;
  devices: number;
  trackFlags: SharedArrayBuffer;
  trackPb: SharedArrayBuffer;
  trackSlot: SharedArrayBuffer;
  slotState: SharedArrayBuffer;
  slotOwner: SharedArrayBuffer;
  slotSeq: SharedArrayBuffer;
  /** Per slot [lo, hi): the bytes that may differ from its own track's location on the drive (lo ≥ hi: none). */
  slotDirty: SharedArrayBuffer;
  /** Per slot [lo, hi): the bytes a PARTIAL slot holds of its track (meaningless without PARTIAL). */
  slotValid: SharedArrayBuffer;
  slotData: SharedArrayBuffer;
  cacheWords: SharedArrayBuffer;
  deviceHeaders: SharedArrayBuffer;
  driveOwner: SharedArrayBuffer; // disk adapter index owning each drive
  hooks: SharedArrayBuffer; // HOOK words
  splitCursors: SharedArrayBuffer; // splitCursorWord(y, da)
  // Per host adapter × device: [0, n) its host requests in flight (the throttle: hosts busy); [n, 2n) those
  // in a critical section (track locked, nothing awaited): the only ones the switch waits for (step 114).
  hostInflight: SharedArrayBuffer;
  intents: SharedArrayBuffer; // per actor id: the slot move it is making (intent.ts), finished by whoever takes its place
  driveData: SharedArrayBuffer[]; // backing store of each dense drive (8 bytes for a sparse one)
  /** Per drive: its track → chunk index (Int32, NO_CHUNK where never written), for a sparse drive; undefined for a dense one. */
  sparseIndex: Array<SharedArrayBuffer | undefined>;
  /** The chunks of every sparse drive (one track each), a growable buffer: it grows as tracks are first written. */
  sparsePool: SharedArrayBuffer;
  /** SPARSE words: the next chunk never used, then each drive's resident chunks (SPARSE.RESIDENT + d). */
  sparseWords: SharedArrayBuffer;
  /** Per global track: its drive write seqlock at the last durable commit holding it (drives/sparse-drive.ts evicts by it). */
  committedSeq: SharedArrayBuffer;
  /** A bit per track whose drive write began, and per flag chunk whose durable bits changed, since the capture looked (tables/dirty.ts). */
  dirtyTracks: SharedArrayBuffer;
  dirtyFlagChunks: SharedArrayBuffer;
  /** Per global track: the pages written since the capture took its mask (tables/dirty.ts). */
  dirtyPages: SharedArrayBuffer;
  /** Per global track: its drive writes, doubled, odd while one is in progress (a seqlock: durable.ts never reads half a write). */
  driveWriteSeq: SharedArrayBuffer;
  /**
   * Per disk adapter, WRITING_WORDS words (WRITING): the drive writes it has open now — on any
   * drive, its own or not (a direct copy) — as a span of consecutive global tracks. A worker
   * terminated inside a write leaves odd seqlocks only there (recovery.ts closes them).
   */
  driveWriting: SharedArrayBuffer;
  /** Per drive, DRIVE_WORDS words: its state, the drive whose media serves its tracks, a rebuild's progress (drive-state.ts). */
  driveState: SharedArrayBuffer;
  /** Per global track: the CRC-32 of the bytes its copies last got (on its M1 location; checksums.ts). */
  trackSums: SharedArrayBuffer;
}

const sab = (bytes: number) => new SharedArrayBuffer(Math.max(bytes, 8));

export { isSparse, sharedMemoryBytes, NO_CHUNK, IN_STORE, SPARSE } from '../config/memory-size.ts';
export { DENSE_DRIVE_MAX_BYTES } from '../config/memory-size.ts';

/**
 * The array's shared memory. `allSparse` (an array kept in a data dir): every drive keeps only the
 * tracks touched, so a restart can leave the rest in the store (IN_STORE) until first used.
 */
export function createSharedBuffers(
  given: ArrayConfig,
  opts: { allSparse?: boolean; driveCacheBytes?: number } = {},
): SharedBuffers {
  const cfg = opts.allSparse
    ? { ...given, drives: given.drives.map((d) => ({ ...d, store: 'sparse' as const })) }
    : given;
  checkSharedMemory(cfg);
  try {
    return allocateSharedBuffers(cfg, opts.driveCacheBytes);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new ArrayError(
      'CONFIG',
      `the array's shared memory (${GiB(sharedMemoryBytes(cfg).bytes)}) could not be allocated here: ${err.message}`,
    );
  }
}

function allocateSharedBuffers(cfg: ArrayConfig, driveCacheBytes?: number): SharedBuffers {
  const drives = new DriveMap(cfg);
  const { trackBytes, headsPerCylinder } = cfg.geometry;
  const slots = cfg.cache.slots;
  assert(NEVER_COMMITTED === 0, () => `committedSeq starts as zeros, not NEVER_COMMITTED ${NEVER_COMMITTED}: fill it`);
  const buffers: SharedBuffers = {
    trackBytes,
    headsPerCylinder,
    totalTracks: drives.totalTracks,
    slots,
    devices: cfg.devices.length,
    trackFlags: sab(drives.totalTracks * 4),
    trackPb: sab(drives.totalTracks * 4),
    trackSlot: sab(drives.totalTracks * 4),
    slotState: sab(slots * 4),
    slotOwner: sab(slots * 4),
    slotSeq: sab(slots * 4),
    slotDirty: sab(slots * 8),
    slotValid: sab(slots * 8),
    slotData: sab(slots * trackBytes),
    cacheWords: sab(8 * 4),
    deviceHeaders: sab(cfg.devices.length * DEVICE_WORDS * 4),
    driveOwner: sab(cfg.drives.length * 4),
    hooks: sab(HOOK_WORDS * 4),
    splitCursors: sab(MAX_SESSIONS * MAX_DISK_ADAPTERS * 4),
    hostInflight: sab(2 * cfg.hostAdapters * cfg.devices.length * 4),
    intents: sab(ACTOR_IDS * INTENT_WORDS * 4),
    driveData: cfg.drives.map((d) => (isSparse(cfg, d) ? sab(8) : sab(d.cylinders * headsPerCylinder * trackBytes))),
    sparseIndex: cfg.drives.map((d) => (isSparse(cfg, d) ? sab(d.cylinders * headsPerCylinder * 4) : undefined)),
    sparsePool: new SharedArrayBuffer(0, { maxByteLength: sparsePoolMaxBytes(cfg, driveCacheBytes) }),
    sparseWords: sab((SPARSE_WORDS + cfg.drives.length) * 4),
    committedSeq: sab(drives.totalTracks * 4),
    dirtyTracks: sab(dirtyWords(drives.totalTracks) * 4),
    dirtyFlagChunks: sab(dirtyWords(Math.ceil(drives.totalTracks / FLAG_CHUNK_TRACKS)) * 4),
    dirtyPages: sab(drives.totalTracks * 4),
    driveWriteSeq: sab(drives.totalTracks * 4),
    driveWriting: sab(MAX_DISK_ADAPTERS * WRITING_WORDS * 4),
    driveState: sab(cfg.drives.length * DRIVE_WORDS * 4),
    trackSums: sab(drives.totalTracks * 4),
  };
  for (const idx of buffers.sparseIndex) if (idx) new Int32Array(idx).fill(NO_CHUNK);
  new Int32Array(buffers.trackSlot).fill(NO_SLOT);
  new Int32Array(buffers.slotOwner).fill(NO_TRACK);
  const owner = new Int32Array(buffers.driveOwner);
  cfg.diskAdapters.forEach((a, i) => a.drives.forEach((d) => (owner[drives.index(d)] = i)));
  const driveState = new Int32Array(buffers.driveState);
  for (let d = 0; d < cfg.drives.length; d++) driveState[d * DRIVE_WORDS + 1] = d; // each position its own media
  for (const d of cfg.spares ?? []) driveState[drives.index(d) * DRIVE_WORDS] = DRIVE_SPARE;
  return buffers;
}

/** Typed views over the shared buffers; every actor builds its own. */
export class SharedState {
  readonly buffers: SharedBuffers;
  readonly trackBytes: number;
  readonly totalTracks: number;
  readonly slots: number;
  readonly trackFlags: Int32Array;
  readonly trackPb: Int32Array;
  readonly trackSlot: Int32Array;
  readonly slotState: Int32Array;
  readonly slotOwner: Int32Array;
  readonly slotSeq: Int32Array;
  readonly slotDirty: Int32Array;
  readonly slotValid: Int32Array;
  readonly slotData: Uint8Array;
  readonly cacheWords: Int32Array;
  readonly deviceHeaders: Int32Array;
  readonly driveOwner: Int32Array;
  /** TEST ONLY holds and deliberate faults (src/shared/hooks): asked by the actors, set by tests. */
  readonly hooks: TestHooks;
  readonly splitCursors: Int32Array;
  readonly hostInflight: Int32Array;
  readonly intents: Int32Array;
  readonly driveWriteSeq: Int32Array;
  readonly driveWriting: Int32Array;
  readonly committedSeq: Int32Array;
  readonly dirtyTracks: Int32Array;
  readonly dirtyFlagChunks: Int32Array;
  readonly dirtyPages: Int32Array;
  readonly driveState: Int32Array;
  readonly trackSums: Int32Array;
  readonly devices: number;

  constructor(buffers: SharedBuffers) {
    this.buffers = buffers;
    this.trackBytes = buffers.trackBytes;
    this.totalTracks = buffers.totalTracks;
    this.slots = buffers.slots;
    this.trackFlags = new Int32Array(buffers.trackFlags);
    this.trackPb = new Int32Array(buffers.trackPb);
    this.trackSlot = new Int32Array(buffers.trackSlot);
    this.slotState = new Int32Array(buffers.slotState);
    this.slotOwner = new Int32Array(buffers.slotOwner);
    this.slotSeq = new Int32Array(buffers.slotSeq);
    this.slotDirty = new Int32Array(buffers.slotDirty);
    this.slotValid = new Int32Array(buffers.slotValid);
    this.slotData = new Uint8Array(buffers.slotData);
    this.cacheWords = new Int32Array(buffers.cacheWords);
    this.deviceHeaders = new Int32Array(buffers.deviceHeaders);
    this.driveOwner = new Int32Array(buffers.driveOwner);
    this.hooks = new TestHooks(new Int32Array(buffers.hooks));
    this.splitCursors = new Int32Array(buffers.splitCursors);
    this.hostInflight = new Int32Array(buffers.hostInflight);
    this.intents = new Int32Array(buffers.intents);
    this.driveWriteSeq = new Int32Array(buffers.driveWriteSeq);
    this.driveWriting = new Int32Array(buffers.driveWriting);
    this.committedSeq = new Int32Array(buffers.committedSeq);
    this.dirtyTracks = new Int32Array(buffers.dirtyTracks);
    this.dirtyFlagChunks = new Int32Array(buffers.dirtyFlagChunks);
    this.dirtyPages = new Int32Array(buffers.dirtyPages);
    this.driveState = new Int32Array(buffers.driveState);
    this.trackSums = new Int32Array(buffers.trackSums);
    this.devices = buffers.devices;
  }

  /** The data of slot `s` (a view, not a copy). */
  slotBytes(s: number): Uint8Array {
    return this.slotRange(s, 0, this.trackBytes);
  }

  /**
   * Bytes [at, at + len) of slot `s` as one view (the host path's reads: one view a request, not a
   * view of the slot and another of the range).
   */
  slotRange(s: number, at: number, len: number): Uint8Array {
    const base = this.slotOffset(s, at, len);
    return this.slotData.subarray(base, base + len);
  }

  /** Copy `src` into slot `s` at `at` (no view made: the host path's writes, a stage's bytes). */
  writeSlot(s: number, src: Uint8Array, at: number): void {
    this.slotData.set(src, this.slotOffset(s, at, src.length));
  }

  /** Where bytes [at, at + len) of slot `s` begin in slotData (checked: no message built unless it fails). */
  private slotOffset(s: number, at: number, len: number): number {
    if (!(s >= 0 && s < this.slots && at >= 0 && len >= 0 && at + len <= this.trackBytes))
      assert(false, `slot ${s} [${at}, ${at + len}) outside slots 0..${this.slots - 1} of ${this.trackBytes} bytes`);
    return s * this.trackBytes + at;
  }

  /**
   * Count host requests in flight on `device` for host adapter `ha` (one atomic add on one word,
   * so an adapter that dies anywhere leaves a count its replacement takes back exactly).
   */
  addInflight(ha: number, device: number, delta: number): number {
    return this.addHostWord(ha * this.devices + device, delta, 'in-flight');
  }

  /**
   * Count host requests of `ha` inside their critical section on `device`: track locked under the
   * active generation, between their check of BLOCKED and their unlock. Only these hold the switch.
   */
  addCritical(ha: number, device: number, delta: number): number {
    return this.addHostWord(this.hostInflight.length / 2 + ha * this.devices + device, delta, 'critical-section');
  }

  private addHostWord(i: number, delta: number, what: string): number {
    const now = Atomics.add(this.hostInflight, i, delta) + delta;
    assert(now >= 0, () => `host word ${i}: ${what} count went negative (${now})`);
    if (now === 0) sched().notify(this.hostInflight, i);
    return now;
  }

  /** Host requests in flight on `device`, over every host adapter. */
  inflight(device: number): number {
    return this.sumHostWords(device, 0);
  }

  /** Host requests inside their critical section on `device`, over every host adapter. */
  critical(device: number): number {
    return this.sumHostWords(device, this.hostInflight.length / 2);
  }

  /** Whether any host request is in flight on any device (the throttle's "hosts busy"). */
  hostsBusy(): boolean {
    for (let i = 0; i < this.hostInflight.length / 2; i++) if (Atomics.load(this.hostInflight, i) > 0) return true;
    return false;
  }

  private sumHostWords(device: number, base: number): number {
    let n = 0;
    for (let i = base + device; i < base + this.hostInflight.length / 2; i += this.devices)
      n += Atomics.load(this.hostInflight, i);
    return n;
  }

  /**
   * Wait until no host request is inside its critical section on `device` (bounded): the switch's
   * drain (step 114). Requests queued for a lock, staging or filling are not waited for: they
   * check BLOCKED and the generation when they enter and translate again if it changed.
   */
  async awaitDrained(device: number, waitMs: number, what: string): Promise<void> {
    const deadline = sched().now() + waitMs;
    const base = this.hostInflight.length / 2;
    for (;;) {
      let busy = -1;
      for (let i = base + device; i < this.hostInflight.length && busy < 0; i += this.devices)
        if (Atomics.load(this.hostInflight, i) !== 0) busy = i;
      if (busy < 0) return;
      if (sched().now() > deadline)
        throw new ArrayError(
          'TIMEOUT',
          `${what}: ${this.critical(device)} still inside their critical section after ${waitMs} ms`,
        );
      await waitWord(this.hostInflight, busy, Atomics.load(this.hostInflight, busy), WAIT_SLICE_MS);
    }
  }

  /** Signal that a slot became clean or free (wakes writers waiting for cache space). */
  cacheEvent(): void {
    Atomics.add(this.cacheWords, CACHE.EVENTS, 1);
    sched().notify(this.cacheWords, CACHE.EVENTS);
  }

  describeTrack(g: number): string {
    const f = Atomics.load(this.trackFlags, g);
    const owner = lockOwnerOf(f);
    return `flags=${bits(f, TRACK_FLAG_NAMES)}${owner ? ` lockOwner=${owner}` : ''} pb=0x${Atomics.load(this.trackPb, g).toString(16)} slot=${Atomics.load(this.trackSlot, g)}`;
  }

  /** The first SLOTS_DESCRIBED slots, each with its owner track's flags (a cache-exhausted error's detail). */
  describeSlots(): string {
    const out: string[] = [];
    for (let s = 0; s < Math.min(this.slots, SLOTS_DESCRIBED); s++) {
      const owner = Atomics.load(this.slotOwner, s);
      out.push(`${this.describeSlot(s)}${owner === NO_TRACK ? '' : ` (track ${this.describeTrack(owner)})`}`);
    }
    return out.join('; ') + (this.slots > SLOTS_DESCRIBED ? '; …' : '');
  }

  describeSlot(s: number): string {
    const st = Atomics.load(this.slotState, s);
    const part =
      st & SLOT.PARTIAL
        ? ` valid=[${Atomics.load(this.slotValid, 2 * s)},${Atomics.load(this.slotValid, 2 * s + 1)})`
        : '';
    return `slot ${s} state=${bits(st, SLOT_FLAG_NAMES)}${part} owner=${Atomics.load(this.slotOwner, s)} seq=${Atomics.load(this.slotSeq, s)}`;
  }
}
