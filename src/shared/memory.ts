// Shared memory of the array (SPEC §3): created once by the main thread, visible to every actor.
// Every flag word is changed only with Atomics.
import type { ArrayConfig } from './config.ts';
import { DriveMap } from './layout.ts';
import { assert, bits } from './assert.ts';

/** Track ID table flag bits (one Int32 per physical track). */
export const TRACK = {
  LOCK: 1 << 0, // the per-track lock (track-lock.ts)
  WAITERS: 1 << 1, // someone awaits LOCK: the unlocker must notify
  PS: 1 << 2, // pending split: p was a location of O and is not split yet (third list)
  IND: 1 << 3, // p, read under N, does not hold valid data: fill from the BCV first (second list)
} as const;

/** Cache slot header state bits (one Int32 per slot). WPk = 1 << k for mirror k = 1..4. */
export const SLOT = {
  WP: 1 << 0,
  WP1: 1 << 1,
  WP2: 1 << 2,
  WP3: 1 << 3,
  WP4: 1 << 4,
  VALID: 1 << 5, // the slot holds the whole track's current data
  REF: 1 << 6, // referenced since the clock hand last passed (LRU approximation)
} as const;

export const WPK_ALL = SLOT.WP1 | SLOT.WP2 | SLOT.WP3 | SLOT.WP4;
export const MAX_MIRRORS = 4;
export const MAX_SESSIONS = 16; // PB columns
export const wpk = (k: number): number => {
  assert(k >= 1 && k <= MAX_MIRRORS, `mirror number ${k} outside 1..${MAX_MIRRORS}`);
  return 1 << k;
};

/** Logical device header words (one row of DEVICE_WORDS Int32 per device). */
export const DEVICE = {
  GENERATION: 0, // active configuration generation; activating one is this single atomic store
  READY: 1, // 1 ready, 0 not ready
  INFLIGHT: 2, // host requests in progress on the device
  BLOCKED: 3, // 1 while the switch holds host access (step 114)
} as const;
export const DEVICE_WORDS = 4;

/** Cache-wide words. */
export const CACHE = {
  EVENTS: 0, // bumped (and notified) whenever a slot becomes clean or free: writers waiting for space watch it
  HAND: 1, // clock hand of the slot allocator
} as const;

export const NO_SLOT = -1;
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
  slotData: SharedArrayBuffer;
  cacheWords: SharedArrayBuffer;
  deviceHeaders: SharedArrayBuffer;
  driveOwner: SharedArrayBuffer; // disk adapter index owning each drive
  driveData: SharedArrayBuffer[]; // backing store of each memory drive
}

const sab = (bytes: number) => new SharedArrayBuffer(Math.max(bytes, 8));

export function createSharedBuffers(cfg: ArrayConfig): SharedBuffers {
  const drives = new DriveMap(cfg);
  const { trackBytes, headsPerCylinder } = cfg.geometry;
  const slots = cfg.cache.slots;
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
    slotData: sab(slots * trackBytes),
    cacheWords: sab(8 * 4),
    deviceHeaders: sab(cfg.devices.length * DEVICE_WORDS * 4),
    driveOwner: sab(cfg.drives.length * 4),
    driveData: cfg.drives.map((d) => sab(d.cylinders * headsPerCylinder * trackBytes)),
  };
  new Int32Array(buffers.trackSlot).fill(NO_SLOT);
  new Int32Array(buffers.slotOwner).fill(NO_TRACK);
  const owner = new Int32Array(buffers.driveOwner);
  cfg.diskAdapters.forEach((a, i) => a.drives.forEach((d) => (owner[drives.index(d)] = i)));
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
  readonly slotData: Uint8Array;
  readonly cacheWords: Int32Array;
  readonly deviceHeaders: Int32Array;
  readonly driveOwner: Int32Array;

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
    this.slotData = new Uint8Array(buffers.slotData);
    this.cacheWords = new Int32Array(buffers.cacheWords);
    this.deviceHeaders = new Int32Array(buffers.deviceHeaders);
    this.driveOwner = new Int32Array(buffers.driveOwner);
  }

  /** The data of slot `s` (a view, not a copy). */
  slotBytes(s: number): Uint8Array {
    assert(s >= 0 && s < this.slots, () => `slot ${s} outside 0..${this.slots - 1}`);
    return this.slotData.subarray(s * this.trackBytes, (s + 1) * this.trackBytes);
  }

  deviceWord(device: number, word: number): number {
    return Atomics.load(this.deviceHeaders, device * DEVICE_WORDS + word);
  }

  setDeviceWord(device: number, word: number, value: number): void {
    Atomics.store(this.deviceHeaders, device * DEVICE_WORDS + word, value);
    Atomics.notify(this.deviceHeaders, device * DEVICE_WORDS + word);
  }

  addDeviceWord(device: number, word: number, delta: number): number {
    const i = device * DEVICE_WORDS + word;
    const old = Atomics.add(this.deviceHeaders, i, delta);
    if (word === DEVICE.INFLIGHT) {
      assert(old + delta >= 0, () => `device #${device}: in-flight count went negative (${old}${delta})`);
      if (old + delta === 0) Atomics.notify(this.deviceHeaders, i);
    }
    return old + delta;
  }

  /** Signal that a slot became clean or free (wakes writers waiting for cache space). */
  cacheEvent(): void {
    Atomics.add(this.cacheWords, CACHE.EVENTS, 1);
    Atomics.notify(this.cacheWords, CACHE.EVENTS);
  }

  describeTrack(g: number): string {
    return `flags=${bits(Atomics.load(this.trackFlags, g), TRACK_FLAG_NAMES)} pb=0x${Atomics.load(this.trackPb, g).toString(16)} slot=${Atomics.load(this.trackSlot, g)}`;
  }

  describeSlot(s: number): string {
    return `slot ${s} state=${bits(Atomics.load(this.slotState, s), SLOT_FLAG_NAMES)} owner=${Atomics.load(this.slotOwner, s)} seq=${Atomics.load(this.slotSeq, s)}`;
  }
}
