// Host I/O through the full actor path (host processors in a piscina pool → host adapter worker →
// shared cache, disk adapters destaging behind) beside an in-process, single-threaded reference
// doing the same address mapping and copies, in the same run.
import { fileURLToPath } from 'node:url';
import { loadConfig, parseConfig } from '../src/shared/config/config.ts';
import { ArrayEmulator } from '../src/runtime/emulator.ts';
import { HostClient } from '../src/host/client.ts';
import { runWorkload } from '../src/host/run.ts';
import { mulberry32 } from '../src/shared/sched/sched.ts';
import type { DeviceLayout } from '../src/shared/layout/layout.ts';

const FIG2 = fileURLToPath(new URL('../examples/fig2.json', import.meta.url));

export type HostIoKey = 'read4k' | 'write4k' | 'read64k' | 'write64k' | 'read4kHalf' | 'read512';

/** Queue depth of each of the two host processors (128 requests in flight in all). */
export const HOST_IO_QUEUE_DEPTH = 64;

/**
 * The cases: name, block bytes, percent reads, `key` (names each in `arrayemu bench --json`), and
 * each host processor's queue depth. The last two measure the path itself: the same reads with
 * half the requests in flight (what the p99 owes to queueing), and the smallest request (a lookup
 * and a 512 B copy: what a request costs the path whatever it carries).
 */
export const HOST_IO_CASES: Array<[string, number, number, HostIoKey, number]> = [
  ['4 KiB random read (cached)', 4096, 100, 'read4k', HOST_IO_QUEUE_DEPTH],
  ['4 KiB random write', 4096, 0, 'write4k', HOST_IO_QUEUE_DEPTH],
  ['64 KiB random read (cached)', 65536, 100, 'read64k', HOST_IO_QUEUE_DEPTH],
  ['64 KiB random write', 65536, 0, 'write64k', HOST_IO_QUEUE_DEPTH],
  ['4 KiB random read (cached), half the requests in flight', 4096, 100, 'read4kHalf', HOST_IO_QUEUE_DEPTH / 2],
  ['512 B random read (cached): the smallest request', 512, 100, 'read512', HOST_IO_QUEUE_DEPTH],
];

export interface Row {
  case: string;
  blockBytes: number;
  readPct: number;
  actorOpsPerSec: number;
  actorMBPerSec: number;
  actorP99Ms: number;
  /** Each host processor's queue depth (two host processors). */
  queueDepth: number;
  /** The reference as the issue set it: a read allocates its buffer (as a host's read once did), a write does not. */
  referenceOpsPerSec: number;
  ratio: number;
  /**
   * Like for like: the reference's reads land in one reused buffer, as the host processors' reads
   * do now (`readInto`); for writes the same figure as the reference.
   */
  referenceIntoOpsPerSec: number;
  ratioInto: number;
  /** How busy the host adapter's thread was (0-1) and the host processors' threads (their mean): what bounds the row. */
  hostAdapterBusy: number;
  hostProcessorsBusy: number;
}

/**
 * The reference: one thread, the same locate() and the same copies into and out of a track cache.
 * `newBufferPerRead`: each read allocates the buffer it lands in (the reference as issue 31 set it);
 * otherwise reads land in one reused buffer, as the host processors' do.
 */
function reference(
  layout: DeviceLayout,
  trackBytes: number,
  blockBytes: number,
  read: boolean,
  seconds: number,
  newBufferPerRead: boolean,
): number {
  const tracks = layout.tracks;
  const cache = new Uint8Array(tracks * trackBytes);
  const slotByGlobal = new Map<number, number>();
  for (let t = 0; t < tracks; t++) slotByGlobal.set(layout.locate(t), t);
  const slotIndex = new Int32Array(Math.max(...slotByGlobal.keys()) + 1).fill(-1);
  for (const [g, s] of slotByGlobal) slotIndex[g] = s;
  const bytes = tracks * trackBytes;
  const blocks = Math.floor(bytes / blockBytes);
  const rand = mulberry32(1);
  const src = new Uint8Array(blockBytes).fill(0xa5);
  const into = new Uint8Array(blockBytes);
  let ops = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 256; k++) {
      const off = Math.floor(rand() * blocks) * blockBytes;
      const out = read && newBufferPerRead ? new Uint8Array(blockBytes) : into;
      let pos = 0;
      while (pos < blockBytes) {
        const abs = off + pos;
        const t = Math.floor(abs / trackBytes);
        const at = abs - t * trackBytes;
        const len = Math.min(trackBytes - at, blockBytes - pos);
        const base = slotIndex[layout.locate(t)]! * trackBytes + at;
        if (read) out.set(cache.subarray(base, base + len), pos);
        else cache.set(src.subarray(pos, pos + len), base);
        pos += len;
      }
      ops++;
    }
  }
  return (ops / (performance.now() - t0)) * 1000;
}

/** The four host I/O cases through the actors, each beside the in-process reference, `seconds` each. */
export async function hostIoRows(seconds: number, say: (s: string) => void): Promise<Row[]> {
  const raw = JSON.parse(JSON.stringify(loadConfig(FIG2)));
  raw.cache.slots = 1024; // holds every track of the array: reads are cache hits
  const config = parseConfig(raw);
  const emu = await ArrayEmulator.start(config);
  const rows: Row[] = [];
  try {
    const dev = emu.model.device('LD1');
    const tb = emu.model.trackBytes;
    // Warm the cache: every track of LD1 written once (and so resident).
    const host = new HostClient(emu.hostLink(0));
    await Promise.all(
      Array.from({ length: dev.layout.tracks }, (_, t) => host.write('LD1', t * tb, new Uint8Array(tb).fill(t & 0xff))),
    );
    await host.flush();
    host.close();
    for (const [name, blockBytes, readPct, , queueDepth] of HOST_IO_CASES) {
      const before = emu.threadUse();
      const s = await runWorkload(emu, {
        hostProcessors: 2,
        seconds,
        queueDepth,
        readPct,
        blockBytes,
        pattern: 'random',
        seed: 3,
        devices: ['LD1'],
        verify: false,
      });
      const haBusy = emu.threadUse(before).HA0?.utilization ?? 0;
      if (s.ioErrors > 0) throw new Error(`${name}: ${s.ioErrors} I/O errors: ${s.described[0]}`);
      const read = readPct === 100;
      const ref = reference(dev.layout, tb, blockBytes, read, seconds, true);
      const refInto = read ? reference(dev.layout, tb, blockBytes, read, seconds, false) : ref;
      const actor = s.iops;
      const ratio = (r: number) => Math.round((actor / r) * 1000) / 1000;
      rows.push({
        case: name,
        blockBytes,
        readPct,
        actorOpsPerSec: actor,
        actorMBPerSec: s.mbPerSec,
        actorP99Ms: s.latencyMs.p99,
        queueDepth,
        referenceOpsPerSec: Math.round(ref),
        ratio: ratio(ref),
        referenceIntoOpsPerSec: Math.round(refInto),
        ratioInto: ratio(refInto),
        hostAdapterBusy: Math.round(haBusy * 100) / 100,
        hostProcessorsBusy: s.hostProcessorsBusy ?? 0,
      });
      say(
        `${name}: ${actor} ops/s (${s.mbPerSec} MB/s, p99 ${s.latencyMs.p99} ms) vs reference ${Math.round(ref)} ops/s → ratio ${rows.at(-1)!.ratio} ${read ? ` (reading into one buffer ${Math.round(refInto)} → ${rows.at(-1)!.ratioInto})` : ''}; threads busy: HA0 ${rows.at(-1)!.hostAdapterBusy}, host processors ${rows.at(-1)!.hostProcessorsBusy}`,
      );
    }
  } finally {
    await emu.stop();
  }
  return rows;
}
