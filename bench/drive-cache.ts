// The data dir holds the drives, memory is their cache (DESIGN §10): `arrayemu serve` of the 66.8 GB
// array of four drives with `--drive-cache-mib`, filled by fio (sequential 64 KiB writes, QD16) with
// far more than the cache, each block carrying fio's verify header; the server's anonymous memory
// sampled throughout (its RssAnon: the drive cache, the slots, the tables, each thread's heap; the
// store's mapped file pages are page cache); the server killed with SIGKILL once fio's FLUSH was
// answered; the time to serve again from that dir beside the time to serve again from an empty one;
// then every block fio wrote read back through the restarted server and checked (fio --verify_only).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, type Serving } from '../scripts/serve-child.ts';
import { missingTools } from '../scripts/tools.ts';
import { fourDriveStripe } from './arrays.ts';
import { fioJob } from './fio.ts';

const TRACK_BYTES = 65536;
const HEADS = 15;
/** 4 drives of 16987 cylinders: 66.8 GB. */
const DRIVE_CYLINDERS = 16987;
/** How often the server's memory is sampled (ms). */
const SAMPLE_EVERY_MS = 500;
/** The fill is bounded in time as well as size (s). */
const FILL_MAX_S = 600;

export interface DriveCacheRow {
  arrayGB: number;
  cacheMiB: number;
  filledGiB: number;
  fillMBps: number;
  /** The server's RssAnon before the fill and at its peak (MiB). */
  baseMiB: number;
  peakMiB: number;
  /** The drive cache's bytes at the end (MiB), and the tracks it held. */
  cacheHeldMiB: number;
  /** Time to serve again: from the filled dir after kill -9, and from one with nothing held (ms). */
  restartHeldMs: number;
  /** The restarted server's RssAnon once it served (MiB). */
  restartMiB: number;
  /** What fio read back through the restarted server and found as written (GiB; any mismatch fails the bench). */
  verifiedGiB: number;
  restartEmptyMs: number;
  ratio: number;
}

function arrayConfig(): unknown {
  return fourDriveStripe({
    trackBytes: TRACK_BYTES,
    headsPerCylinder: HEADS,
    driveCylinders: DRIVE_CYLINDERS,
    slots: 1024,
  });
}

/** fio's sequential 64 KiB fill of LD1 with a verify header in each block, or (`check`) the read-back of it. */
function fill(sock: string, fillGiB: number, check: boolean): Promise<FioJob> {
  const args = [
    '--rw=write',
    '--bs=64k',
    '--iodepth=16',
    `--size=${fillGiB}g`,
    `--runtime=${FILL_MAX_S}`,
    '--verify=crc32c',
    ...(check ? ['--verify_only', '--verify_fatal=1'] : ['--do_verify=0', '--end_fsync=1']),
  ];
  return fioJob<FioJob>(`nbd+unix:///LD1?socket=${sock}`, 'fill', args, (FILL_MAX_S + 120) * 1000);
}

interface FioJob {
  write: { bw_bytes: number; io_bytes: number };
  read: { io_bytes: number };
  error: number;
}

const rssAnonKiB = (pid: number): number =>
  Number(/RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

/** Start `serve` and time it until it serves (ms). */
async function timedStart(args: string[]): Promise<{ s: Serving; ms: number }> {
  const t0 = performance.now();
  const s = await startServe(args);
  return { s, ms: Math.round(performance.now() - t0) };
}

export async function driveCacheBench(
  cacheMiB: number,
  fillGiB: number,
  say: (s: string) => void,
): Promise<DriveCacheRow[]> {
  const missing = missingTools(['fio']);
  if (missing.length > 0) {
    say(`drive cache: SKIPPED (${missing.join(', ')} not installed)`);
    return [];
  }
  const root = mkdtempSync(join(tmpdir(), 'arrayemu-drive-cache-bench-'));
  try {
    const config = join(root, 'array.json');
    writeFileSync(config, JSON.stringify(arrayConfig()));
    const sock = join(root, 'nbd.sock');
    const serveArgs = (dir: string) => ['--data-dir', dir, '--drive-cache-mib', String(cacheMiB), '--socket', sock];
    const server = await startServe(['--config', config, ...serveArgs(join(root, 'dd')), '--http', '127.0.0.1:0']);
    const pid = server.child.pid!;
    const baseKiB = rssAnonKiB(pid);
    let peakKiB = baseKiB;
    const sampler = setInterval(() => (peakKiB = Math.max(peakKiB, rssAnonKiB(pid))), SAMPLE_EVERY_MS);
    let job: FioJob;
    let held: { bytes: number };
    try {
      say(`drive cache: filling ${fillGiB} GiB of the 66.8 GB array through a ${cacheMiB} MiB drive cache`);
      job = await fill(sock, fillGiB, false);
      const st = (await (await fetch(`${server.http}/v1/status`)).json()) as {
        dataDir: { driveCache: { bytes: number } };
      };
      held = st.dataDir.driveCache;
    } finally {
      clearInterval(sampler);
      server.child.kill('SIGKILL'); // fio's FLUSH was answered: what it wrote is durable
      await server.exited;
    }
    const again = await timedStart(serveArgs(join(root, 'dd')));
    let verified: FioJob;
    let restartKiB: number;
    try {
      restartKiB = rssAnonKiB(again.s.child.pid!);
      say(`drive cache: restarted after kill -9 in ${again.ms} ms; reading back every block fio wrote`);
      verified = await fill(sock, fillGiB, true);
    } finally {
      await again.s.stop();
    }
    const empty = await startServe(['--config', config, ...serveArgs(join(root, 'empty'))]);
    empty.child.kill('SIGKILL'); // both restarts follow a kill -9
    await empty.exited;
    const emptyAgain = await timedStart(serveArgs(join(root, 'empty')));
    await emptyAgain.s.stop();
    const row: DriveCacheRow = {
      arrayGB: +((4 * DRIVE_CYLINDERS * HEADS * TRACK_BYTES) / 1e9).toFixed(1),
      cacheMiB,
      filledGiB: +(job.write.io_bytes / 2 ** 30).toFixed(2),
      fillMBps: Math.round(job.write.bw_bytes / 1e6),
      baseMiB: Math.round(baseKiB / 1024),
      peakMiB: Math.round(peakKiB / 1024),
      cacheHeldMiB: Math.round(held.bytes / 2 ** 20),
      restartHeldMs: again.ms,
      restartMiB: Math.round(restartKiB / 1024),
      verifiedGiB: +(verified.read.io_bytes / 2 ** 30).toFixed(2),
      restartEmptyMs: emptyAgain.ms,
      ratio: +(again.ms / emptyAgain.ms).toFixed(2),
    };
    say(
      `drive cache ${cacheMiB} MiB: ${row.filledGiB} GiB at ${row.fillMBps} MB/s; RssAnon ${row.baseMiB} → peak ${row.peakMiB} MiB; restart after kill -9 ${row.restartHeldMs} ms held vs ${row.restartEmptyMs} ms empty (${row.ratio}), ${row.restartMiB} MiB; ${row.verifiedGiB} GiB read back as written`,
    );
    return [row];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export function driveCacheMarkdown(rows: DriveCacheRow[], machine: string, date: string): string {
  return [
    `## The drives in the data dir, memory their bounded cache (${date}, ${machine})`,
    '',
    `\`arrayemu bench --only drive-cache\`: \`arrayemu serve --data-dir D --drive-cache-mib N\` of a 66.8 GB array of four drives (two disk adapters, 1024 cache slots), filled by fio (sequential 64 KiB writes, QD16, a verify header in each block, a FLUSH at the end); the server's anonymous memory (RssAnon) sampled every ${SAMPLE_EVERY_MS} ms; the server killed (SIGKILL) once the FLUSH was answered; the time to serve again from that dir (after the kill) and from one holding nothing; then every block read back through the restarted server and checked (\`fio --verify_only\`, any mismatch fails the run).`,
    '',
    '| array | drive cache | written | MB/s | RssAnon before → peak | cache held at the end | restart after kill -9, held / empty | ratio | RssAnon after the restart | read back as written |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.arrayGB} GB | ${r.cacheMiB} MiB | ${r.filledGiB} GiB | ${r.fillMBps} | ${r.baseMiB} → ${r.peakMiB} MiB | ${r.cacheHeldMiB} MiB | ${r.restartHeldMs} / ${r.restartEmptyMs} ms | ${r.ratio} | ${r.restartMiB} MiB | ${r.verifiedGiB} GiB |`,
    ),
    '',
  ].join('\n');
}
