// npm run bench: fio over NBD against `arrayemu serve` and against `nbdkit memory` of the same
// size, in the same run, over Unix sockets: 64 KiB randrw QD16 with crc32c verify, and 4 KiB
// randread QD32. The ratio is the emulator's throughput over nbdkit's.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type ArrayConfig } from '../src/shared/config/config.ts';
import { startServe } from '../scripts/serve-child.ts';
import { missingTools } from '../scripts/tools.ts';
import { fioJob } from './fio.ts';

/** Where bin/arrayemu.mjs is, whatever the working directory. */
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

const TRACK = 65536;
const HEADS = 16;
/** 256 MiB: LD1 striped over four drives on four disk adapters, 2 host adapters, a cache holding all of it. */
const CYLINDERS_PER_DRIVE = 64;
export const NBD_DEVICE_BYTES = 4 * CYLINDERS_PER_DRIVE * HEADS * TRACK;

export const nbdConfig = (): ArrayConfig =>
  parseConfig({
    geometry: { trackBytes: TRACK, headsPerCylinder: HEADS },
    cache: { slots: 4 * CYLINDERS_PER_DRIVE * HEADS },
    hostAdapters: 2,
    drives: [0, 1, 2, 3].map((i) => ({ id: `d${i}`, cylinders: CYLINDERS_PER_DRIVE })),
    diskAdapters: [0, 1, 2, 3].map((i) => ({ id: `DA${i}`, drives: [`d${i}`] })),
    devices: [
      {
        id: 'LD1',
        layout: 'striped',
        cylinders: 4 * CYLINDERS_PER_DRIVE,
        stripeCylinders: 1,
        members: [0, 1, 2, 3].map((i) => ({ drive: `d${i}`, startCylinder: 0 })),
      },
    ],
  });

/** The fio jobs, by their key in `arrayemu bench --json` (`nbd.randrw64k`, …). */
export type NbdCaseKey = 'randrw64k' | 'randread4k' | 'randwrite4k';

interface FioCase {
  key: NbdCaseKey;
  name: string;
  args: string[];
  /** The issue's target for arrayemu ÷ nbdkit memory (none: measured, not targeted). */
  target?: number;
}

const CASES = (seconds: number): FioCase[] => [
  {
    key: 'randrw64k',
    name: '64 KiB randrw QD16, crc32c verify',
    args: [
      '--rw=randrw',
      '--bs=64k',
      '--iodepth=16',
      '--verify=crc32c',
      '--do_verify=1',
      '--verify_state_save=0',
      '--size=64m',
      // Several passes over the 64 MiB (each written, then verified): long enough to be more than start-up.
      `--loops=${Math.max(2, seconds * 2)}`,
    ],
    target: 0.5,
  },
  {
    key: 'randread4k',
    name: '4 KiB randread QD32',
    args: [
      '--rw=randread',
      '--bs=4k',
      '--iodepth=32',
      '--time_based',
      `--runtime=${seconds}`,
      `--size=${NBD_DEVICE_BYTES}`,
    ],
    target: 0.7,
  },
  {
    key: 'randwrite4k',
    name: '4 KiB randwrite QD32',
    args: [
      '--rw=randwrite',
      '--bs=4k',
      '--iodepth=32',
      '--time_based',
      `--runtime=${seconds}`,
      `--size=${NBD_DEVICE_BYTES}`,
    ],
  },
];

/**
 * Every block of each server written once before anything is measured (sequential 1 MiB writes): a
 * block first written costs the page faults of its memory (about 11 µs a 4 KiB page on this VM, 180 µs
 * a 64 KiB track), in nbdkit's memory as in the emulated drives, and a measure should be of a disk
 * that holds data, not of the first touch of its memory.
 */
const FILL: FioCase = {
  key: 'randrw64k',
  name: 'fill',
  args: ['--rw=write', '--bs=1m', '--iodepth=8', `--size=${NBD_DEVICE_BYTES}`],
};

/** A short fio job first against each server, not measured: the emulator's threads compile their hot code (JIT) on it. */
const WARM_UP: FioCase = {
  key: 'randrw64k',
  name: 'warm-up',
  args: ['--rw=randrw', '--bs=64k', '--iodepth=16', '--time_based', '--runtime=1', `--size=${NBD_DEVICE_BYTES}`],
};

/** What a case reads of fio's job: bandwidth (KiB/s) and I/Os each way. */
interface BandwidthJob {
  read: { bw: number; total_ios: number };
  write: { bw: number; total_ios: number };
  error: number;
}

/**
 * fio's read + write bandwidth (MiB/s) for one case against `uri`, and the server's CPU per request
 * (µs, every thread of it): `cpuMs` reads the server's CPU time so far.
 */
async function fio(uri: string, c: FioCase, cpuMs: () => number): Promise<{ mib: number; cpuUsPerIo: number }> {
  const cpu0 = cpuMs();
  const job = await fioJob<BandwidthJob>(uri, 'bench', c.args);
  const cpu = cpuMs() - cpu0;
  const ios = job.read.total_ios + job.write.total_ios;
  return {
    mib: Math.round(((job.read.bw + job.write.bw) / 1024) * 10) / 10,
    cpuUsPerIo: Math.round(((cpu * 1000) / Math.max(1, ios)) * 10) / 10,
  };
}

/** A server's CPU time (ms, all its threads) from /proc (clock ticks of 10 ms); NaN where /proc is not there. */
function childCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

export interface NbdBenchRow {
  key: NbdCaseKey;
  case: string;
  arrayemuMiBps: number;
  nbdkitMiBps: number;
  ratio: number;
  /** CPU per request (µs), all the server's threads: what bounds throughput on a machine of few cores. */
  arrayemuCpuUsPerIo: number;
  nbdkitCpuUsPerIo: number;
  target?: number;
}

/** One fio figure as `arrayemu bench --only speed --json` prints it under `nbd`. */
export interface NbdFigure {
  mibPerSec: number;
  nbdkitMibPerSec: number;
  ratio: number;
  cpuUsPerIo: number;
  nbdkitCpuUsPerIo: number;
}

/** The rows as the speed figures' `nbd` object (undefined if fio or nbdkit is missing). */
export function nbdFigures(rows: NbdBenchRow[] | string): Record<NbdCaseKey, NbdFigure> | undefined {
  if (typeof rows === 'string') return undefined;
  return Object.fromEntries(
    rows.map((r) => [
      r.key,
      {
        mibPerSec: r.arrayemuMiBps,
        nbdkitMibPerSec: r.nbdkitMiBps,
        ratio: r.ratio,
        cpuUsPerIo: r.arrayemuCpuUsPerIo,
        nbdkitCpuUsPerIo: r.nbdkitCpuUsPerIo,
      },
    ]),
  ) as Record<NbdCaseKey, NbdFigure>;
}

export async function nbdBench(quick: boolean, say: (s: string) => void): Promise<NbdBenchRow[] | string> {
  const missing = missingTools(['fio', 'nbdkit']);
  if (missing.length) return `skipped: ${missing.join(', ')} not installed`;
  const dir = mkdtempSync(join(tmpdir(), 'arrayemu-nbd-bench-'));
  const kitSock = join(dir, 'nbdkit.sock');
  const aeSock = join(dir, 'arrayemu.sock');
  const kit = spawn('nbdkit', ['-f', '-U', kitSock, 'memory', String(NBD_DEVICE_BYTES)], { stdio: 'ignore' });
  // `arrayemu serve` as its own process, as nbdkit is and as a user runs it. (Served from this
  // process, each fio started here is a fork of it: its shared memory's pages are write-protected at
  // the fork, and every page written after takes a fault — 64 KiB randrw 470 against 657 MiB/s as
  // its own process, the same hour.)
  const configFile = join(dir, 'array.json');
  writeFileSync(configFile, JSON.stringify(nbdConfig()));
  const served = await startServe(['--config', configFile, '--socket', aeSock], REPO_ROOT);
  const ownCpuMs = () => childCpuMs(served.child.pid);
  try {
    for (let i = 0; i < 200 && !existsSync(kitSock); i++) await new Promise((r) => setTimeout(r, 25));
    const rows: NbdBenchRow[] = [];
    const kitCpu = () => childCpuMs(kit.pid);
    for (const first of [FILL, WARM_UP]) {
      await fio(`nbd+unix:///?socket=${kitSock}`, first, kitCpu);
      await fio(`nbd+unix:///LD1?socket=${aeSock}`, first, ownCpuMs);
    }
    for (const c of CASES(quick ? 2 : 5)) {
      const theirs = await fio(`nbd+unix:///?socket=${kitSock}`, c, kitCpu);
      const ours = await fio(`nbd+unix:///LD1?socket=${aeSock}`, c, ownCpuMs);
      const arrayemuMiBps = ours.mib;
      const nbdkitMiBps = theirs.mib;
      const row = {
        key: c.key,
        case: c.name,
        arrayemuMiBps,
        nbdkitMiBps,
        ratio: Math.round((arrayemuMiBps / nbdkitMiBps) * 100) / 100,
        arrayemuCpuUsPerIo: ours.cpuUsPerIo,
        nbdkitCpuUsPerIo: theirs.cpuUsPerIo,
        target: c.target,
      };
      say(
        `nbd ${c.name}: arrayemu ${arrayemuMiBps} MiB/s, nbdkit memory ${nbdkitMiBps} MiB/s (${row.ratio}); CPU per request ${ours.cpuUsPerIo} vs ${theirs.cpuUsPerIo} µs`,
      );
      rows.push(row);
    }
    return rows;
  } finally {
    kit.kill();
    await served.stop();
  }
}

export function nbdMarkdown(rows: NbdBenchRow[] | string, machine: string, date: string): string {
  const body =
    typeof rows === 'string'
      ? [rows]
      : [
          '| fio job | arrayemu MiB/s | nbdkit memory MiB/s | ratio | target | CPU µs per request: arrayemu / nbdkit |',
          '|---|---:|---:|---:|---:|---:|',
          ...rows.map(
            (r) =>
              `| ${r.case} | ${r.arrayemuMiBps} | ${r.nbdkitMiBps} | ${r.ratio} | ${r.target ? `≥ ${r.target}` : '—'} | ${r.arrayemuCpuUsPerIo} / ${r.nbdkitCpuUsPerIo} |`,
          ),
        ];
  return [
    '## Real clients over NBD',
    '',
    `Command: \`npm run bench\` (or \`arrayemu bench --only nbd\`) · machine: ${machine} · date: ${date} · fio's nbd engine over Unix sockets against \`arrayemu serve\` (LD1, ${NBD_DEVICE_BYTES / 2 ** 20} MiB striped over 4 instant drives on 4 disk adapters, 2 host adapters, worker threads) and against \`nbdkit memory\` of the same size, one after the other in the same run.`,
    '',
    ...body,
    '',
    "Each server is its own process, every block of it written once first. A request is parsed in the host adapter's thread, which serves it from its cache slot; a write is then destaged by a disk adapter thread (a copy to the drive and the track's CRC-32), on 2 cores shared with fio: throughput follows the CPU each request costs over all the server's threads (last column; `/proc/<pid>/stat` of each server, clock ticks of 10 ms). Successive runs on this machine vary by half (the same run measures both sides, so the ratio holds better than the figures).",
    '',
  ].join('\n');
}
