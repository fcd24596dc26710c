// The verifier (DESIGN §6). Every write stamps each 512-byte sector with (device, sector, write id)
// and a checksum; every read is checked against the writes that may legally be returned:
//   the latest write to that sector acknowledged before the read began, or a write that overlapped
//   the read — never an older one, never another sector's data; a never-written sector reads zeros.
//
// One logical clock (an Atomics counter shared by every host processor) orders write starts, write
// acknowledgements and read starts. Write ids are their start ticks. Per sector we keep the largest
// start tick among acknowledged writes (`maxAckedStart`). A read that finds write w in a sector is
// stale iff some write acknowledged before the read began started after w was acknowledged:
//   stale  ⇔  maxAckedStart[sector] (snapshot at read start)  >  ack(w).
// ack(w) comes from a ring indexed by write id; a write not yet acknowledged (or failed) counts as
// acknowledged at +∞ (it may still land).
import { SECTOR_BYTES } from '../shared/config/constants.ts';
import { totalmem } from 'node:os';
import { addWord, loadWord, storeWord } from '../shared/tables/words.ts';
import { createSectorTable, SectorTable, type SectorTableBuffers } from './sector-table.ts';

const WORDS = SECTOR_BYTES / 4;
const MAGIC = 0x41454d55; // "AEMU"
const ACK_RING = 1 << 20; // write ids remembered; an older one is judged by its start alone
const MAX_DESCRIBED = 10;

export interface VerifierBuffers {
  clock: SharedArrayBuffer; // [0] logical clock, [1] verify errors
  ackTick: SharedArrayBuffer;
  ackTag: SharedArrayBuffer;
  /** Per device index: one word per sector written (sector-table.ts). */
  maxAckedStart: SectorTableBuffers[];
}

export interface VerifyDevice {
  id: string;
  index: number; // stamped in each sector
  bytes: number;
}

/** Most memory the verifier's per-sector words may take on one device (4 bytes a sector written): half this machine's memory. */
export const VERIFIER_MAX_BYTES = Math.floor(totalmem() / 2);

export function createVerifierBuffers(devices: VerifyDevice[]): VerifierBuffers {
  const byIndex: SectorTableBuffers[] = [];
  for (const d of devices) byIndex[d.index] = createSectorTable(Math.ceil(d.bytes / SECTOR_BYTES), VERIFIER_MAX_BYTES);
  for (let i = 0; i < byIndex.length; i++) byIndex[i] ??= createSectorTable(1, VERIFIER_MAX_BYTES);
  return {
    clock: new SharedArrayBuffer(16),
    ackTick: new SharedArrayBuffer(ACK_RING * 4),
    ackTag: new SharedArrayBuffer(ACK_RING * 4),
    maxAckedStart: byIndex,
  };
}

function checksum(words: (i: number) => number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < WORDS - 1; i++) {
    h ^= words(i);
    h = Math.imul(h, 0x01000193);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

export interface ReadCheck {
  device: VerifyDevice;
  offsetBytes: number;
  snapshot: Int32Array; // maxAckedStart of each sector at read start
  startTick: number;
}

export class Verifier {
  private readonly clock: Int32Array;
  private readonly ackTick: Int32Array;
  private readonly ackTag: Int32Array;
  private readonly maxAckedStart: SectorTable[];
  readonly described: string[] = [];
  errors = 0;
  readsChecked = 0;
  sectorsChecked = 0;

  constructor(buffers: VerifierBuffers) {
    this.clock = new Int32Array(buffers.clock);
    this.ackTick = new Int32Array(buffers.ackTick);
    this.ackTag = new Int32Array(buffers.ackTag);
    this.maxAckedStart = buffers.maxAckedStart.map((b, i) => new SectorTable(b, `device #${i}`));
  }

  private tick(): number {
    const t = addWord(this.clock, 0, 1) + 1;
    if (t >= 0x7fff_fff0) throw new Error('verifier: logical clock exhausted (2^31 events); split the run');
    return t;
  }

  /** Start a write: returns its id and the stamped data for `lengthBytes` at `offsetBytes`. */
  beginWrite(device: VerifyDevice, offsetBytes: number, lengthBytes: number): { writeId: number; data: Uint8Array } {
    assertAligned(offsetBytes, lengthBytes);
    const writeId = this.tick();
    const data = new Uint8Array(lengthBytes);
    const words = new Uint32Array(data.buffer);
    const firstSector = offsetBytes / SECTOR_BYTES;
    for (let s = 0; s < lengthBytes / SECTOR_BYTES; s++) {
      const base = s * WORDS;
      const sector = firstSector + s;
      words[base] = MAGIC;
      words[base + 1] = device.index;
      words[base + 2] = sector;
      words[base + 3] = writeId;
      let x = (writeId ^ Math.imul(sector, 0x9e3779b1)) >>> 0 || 1;
      for (let i = 4; i < WORDS - 1; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        words[base + i] = x >>> 0;
      }
      words[base + WORDS - 1] = checksum((i) => words[base + i]!);
    }
    return { writeId, data };
  }

  /** The write was acknowledged by the array. */
  ackWrite(device: VerifyDevice, offsetBytes: number, lengthBytes: number, writeId: number): void {
    const tick = this.tick();
    const i = writeId & (ACK_RING - 1);
    storeWord(this.ackTick, i, tick);
    storeWord(this.ackTag, i, writeId);
    const table = this.maxAckedStart[device.index]!;
    const first = offsetBytes / SECTOR_BYTES;
    for (let s = first; s < first + lengthBytes / SECTOR_BYTES; s++) table.raise(s, writeId);
  }

  beginRead(device: VerifyDevice, offsetBytes: number, lengthBytes: number): ReadCheck {
    assertAligned(offsetBytes, lengthBytes);
    // The snapshot is taken before the request leaves: whatever it holds was acknowledged before
    // the read began. (Taking a tick first and the snapshot after would let a write acknowledged
    // during the read look older than the read, and flag a legal result.)
    const first = offsetBytes / SECTOR_BYTES;
    const table = this.maxAckedStart[device.index]!;
    const snapshot = new Int32Array(lengthBytes / SECTOR_BYTES);
    for (let s = 0; s < snapshot.length; s++) snapshot[s] = table.load(first + s);
    const startTick = this.tick();
    return { device, offsetBytes, snapshot, startTick };
  }

  /** Check the bytes a read returned; counts and describes errors. Returns the number found. */
  endRead(check: ReadCheck, data: Uint8Array): number {
    const endTick = this.tick();
    this.readsChecked++;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const word = (s: number, i: number) => view.getUint32(s * SECTOR_BYTES + i * 4, true);
    let found = 0;
    const first = check.offsetBytes / SECTOR_BYTES;
    const n = Math.min(check.snapshot.length, Math.floor(data.length / SECTOR_BYTES));
    if (data.length !== check.snapshot.length * SECTOR_BYTES) {
      found += this.report(
        `${check.device.id} read @${check.offsetBytes}: returned ${data.length} bytes, asked ${check.snapshot.length * SECTOR_BYTES}`,
      );
    }
    for (let s = 0; s < n; s++) {
      this.sectorsChecked++;
      const sector = first + s;
      const latest = check.snapshot[s]!;
      if (word(s, 0) !== MAGIC) {
        let zero = true;
        for (let i = 0; i < WORDS && zero; i++) zero = word(s, i) === 0;
        if (!zero)
          found += this.report(
            `${sectorName(check, sector)}: not a stamped sector (first word 0x${word(s, 0).toString(16)})`,
          );
        else if (latest !== 0)
          found += this.report(
            `${sectorName(check, sector)}: reads zeros, but write ${latest} was acknowledged before the read began (lost write)`,
          );
        continue;
      }
      if (checksum((i) => word(s, i)) !== word(s, WORDS - 1)) {
        found += this.report(
          `${sectorName(check, sector)}: checksum mismatch (torn or corrupted sector of write ${word(s, 3)})`,
        );
        continue;
      }
      if (word(s, 1) !== check.device.index || word(s, 2) !== sector) {
        found += this.report(
          `${sectorName(check, sector)}: holds device #${word(s, 1)} sector ${word(s, 2)} (another track's data)`,
        );
        continue;
      }
      const w = word(s, 3);
      if (w > endTick) {
        found += this.report(
          `${sectorName(check, sector)}: write ${w} had not begun when the read ended (tick ${endTick})`,
        );
        continue;
      }
      if (latest <= w) continue; // nothing acknowledged started after w: certainly legal
      const i = w & (ACK_RING - 1);
      const tag = loadWord(this.ackTag, i);
      const ack = tag === w ? loadWord(this.ackTick, i) : tag < w ? Infinity : w;
      if (latest > ack) {
        found += this.report(
          `${sectorName(check, sector)}: stale: holds write ${w} (acknowledged at tick ${ack}) but write ${latest} started after it and was acknowledged before the read began (tick ${check.startTick})`,
        );
      }
    }
    return found;
  }

  private report(text: string): number {
    this.errors++;
    addWord(this.clock, 1, 1);
    if (this.described.length < MAX_DESCRIBED) this.described.push(text);
    return 1;
  }

  /** Verify errors found by every host processor sharing these buffers. */
  totalErrors(): number {
    return loadWord(this.clock, 1);
  }
}

function assertAligned(offsetBytes: number, lengthBytes: number): void {
  if (offsetBytes % SECTOR_BYTES !== 0 || lengthBytes % SECTOR_BYTES !== 0) {
    throw new Error(
      `verifier: I/O must be whole ${SECTOR_BYTES}-byte sectors (offset ${offsetBytes}, length ${lengthBytes})`,
    );
  }
}

/** A sector as errors name it (built only when one is reported: a read checks every sector it holds). */
function sectorName(check: ReadCheck, sector: number): string {
  return `${check.device.id} sector ${sector}`;
}
