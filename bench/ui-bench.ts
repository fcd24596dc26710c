// The live view on a large array (DESIGN §13): `serve --http` with 100,800 tracks (16 drives of 420
// cylinders × 15 heads), the page opened in Debian's chromium (playwright-core), and LD1 restriped
// while it watches. Measured from the page itself: its first draw after navigation (the target:
// under 1 s), the updates it received per second during the restripe (target ≥ 2), and how long
// one draw of the map takes; from the server: the size of the first message.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe } from '../scripts/serve-child.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DRIVES = 16;
const CYLINDERS = 420;
const HEADS = 15;
const TRACK_BYTES = 16384;
/** LD1's cylinders per member before (3 members) and after (4): the device the restripe moves. */
const LD1_MEMBER_CYLINDERS = 60;
/** The restripe's copy rate (MB/s): slow enough to watch for several seconds. */
const THROTTLE_MBPS = 8;
/** Longest the restripe may take here (ms). */
const RESTRIPE_WAIT_MS = 120_000;

export interface UiBenchRow {
  tracks: number;
  helloBytes: number;
  firstDrawMs: number;
  restripeSec: number;
  updates: number;
  updatesPerSec: number;
  drawMs: number;
}

function arrayConfig(ld1Members: number): Record<string, unknown> {
  const ids = Array.from({ length: DRIVES }, (_, i) => `d${i}`);
  const member = (d: number, startCylinder = 0) => ({ drive: ids[d]!, startCylinder });
  return {
    geometry: { trackBytes: TRACK_BYTES, headsPerCylinder: HEADS },
    cache: { slots: 1024 },
    drives: ids.map((id) => ({ id, cylinders: CYLINDERS, store: 'sparse' })),
    diskAdapters: [0, 1, 2, 3].map((a) => ({ id: `DA${a}`, drives: ids.slice(a * 4, a * 4 + 4) })),
    devices: [
      {
        id: 'LD1',
        layout: 'striped',
        cylinders: LD1_MEMBER_CYLINDERS * ld1Members,
        stripeCylinders: 2,
        members: Array.from({ length: ld1Members }, (_, i) => member(i)),
      },
      {
        id: 'LD2',
        layout: 'striped',
        cylinders: 4 * 300,
        stripeCylinders: 1,
        members: [4, 5, 6, 7].map((d) => member(d)),
      },
      {
        id: 'LD3',
        layout: 'striped',
        cylinders: 4 * 400,
        stripeCylinders: 4,
        members: [12, 13, 14, 15].map((d) => member(d)),
      },
      { id: 'BCV1', layout: 'bcv', of: 'LD1', members: [8, 9, 10].map((d) => member(d)) },
    ],
  };
}

export async function uiBench(say: (s: string) => void): Promise<UiBenchRow | undefined> {
  if (!existsSync(CHROMIUM)) {
    say(`ui: SKIPPED, no ${CHROMIUM} (apt-get install chromium)`);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'arrayemu-ui-bench-'));
  const running = join(dir, 'running.json');
  const target = join(dir, 'target.json');
  writeFileSync(running, JSON.stringify(arrayConfig(3)));
  writeFileSync(target, JSON.stringify(arrayConfig(4)));
  const served = await startServe(['--config', running, '--socket', join(dir, 'nbd.sock'), '--http', '127.0.0.1:0']);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const api = served.http!;
    const hello = await helloBytes(api);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${api}/`);
    await page.waitForFunction(() => (globalThis as any).arrayemuView.firstDrawMs !== null, null, { timeout: 30_000 });
    const firstDrawMs = await page.evaluate(() => (globalThis as any).arrayemuView.firstDrawMs as number);
    await put(api, '/v1/throttle', { minMBps: THROTTLE_MBPS, maxMBps: THROTTLE_MBPS });
    const post = await fetch(`${api}/v1/reconfigurations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(arrayConfig(4)),
    });
    if (post.status !== 202) throw new Error(`POST /v1/reconfigurations: ${post.status} ${await post.text()}`);
    const { id } = (await post.json()) as { id: number };
    const t0 = performance.now();
    const u0 = await page.evaluate(() => (globalThis as any).arrayemuView.updates as number);
    await waitDone(api, id);
    const restripeSec = (performance.now() - t0) / 1000;
    const end = await page.evaluate(() => (globalThis as any).arrayemuView as { updates: number; lastDrawMs: number });
    const updates = end.updates - u0;
    const row = {
      tracks: DRIVES * CYLINDERS * HEADS,
      helloBytes: hello,
      firstDrawMs,
      restripeSec: Math.round(restripeSec * 10) / 10,
      updates,
      updatesPerSec: Math.round((updates / restripeSec) * 10) / 10,
      drawMs: end.lastDrawMs,
    };
    say(
      `ui: ${row.tracks} tracks, first draw ${row.firstDrawMs} ms, ${row.updatesPerSec} updates/s over a ${row.restripeSec} s restripe, a draw ${row.drawMs} ms`,
    );
    return row;
  } finally {
    await browser.close();
    await served.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The size of the events stream's first message (the whole map) in bytes. */
async function helloBytes(api: string): Promise<number> {
  const ac = new AbortController();
  const res = await fetch(`${api}/v1/events`, { signal: ac.signal });
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes('\n\n')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString('utf8');
  }
  ac.abort();
  return Buffer.byteLength(text.slice(0, text.indexOf('\n\n')));
}

async function put(api: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${api}${path}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`PUT ${path}: ${res.status}`);
}

async function waitDone(api: string, id: number): Promise<void> {
  const deadline = performance.now() + RESTRIPE_WAIT_MS;
  for (;;) {
    const j = (await (await fetch(`${api}/v1/reconfigurations/${id}`)).json()) as { state: string; error: string };
    if (j.state === 'done') return;
    if (j.state === 'failed') throw new Error(`the restripe failed: ${j.error}`);
    if (performance.now() > deadline) throw new Error(`the restripe took more than ${RESTRIPE_WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function uiMarkdown(r: UiBenchRow, machine: string, date: string): string {
  return [
    '## The live view on a 100k-track array',
    '',
    `Command: \`npm run bench\` (\`arrayemu bench --only ui\`) · machine: ${machine} · date: ${date}. \`serve --http\` on ${DRIVES} sparse drives of ${CYLINDERS} cylinders × ${HEADS} heads (${r.tracks} tracks of ${TRACK_BYTES / 1024} KiB), the page opened in Debian's chromium (playwright-core, 1400 × 900), then LD1 (${LD1_MEMBER_CYLINDERS * 3} cylinders on 3 drives) expanded onto a fourth drive with the copy throttled to ${THROTTLE_MBPS} MB/s, so the page is watched for several seconds. Figures from the page itself.`,
    '',
    '| tracks | first message | first draw after navigation | restripe | updates received | updates/s | one draw of the map |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    `| ${r.tracks} | ${(r.helloBytes / 1024).toFixed(0)} KiB | ${r.firstDrawMs} ms | ${r.restripeSec} s | ${r.updates} | ${r.updatesPerSec} | ${r.drawMs} ms |`,
    '',
    'Targets: the page drawn within 1 s of navigation; at least 2 updates a second during the restripe.',
    '',
  ].join('\n');
}
