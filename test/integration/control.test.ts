// The control API of `serve --http`: status, reconfigurations (refusals change nothing), metrics,
// and the bearer token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/shared/config/config.ts';
import { serve, type Serving } from '../../src/serve/serve.ts';
import { startControl, type Control } from '../../src/serve/control/server.ts';
import { smallRaw } from '../support/helpers.ts';
import { RawNbd } from '../support/nbd-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'arrayemu-control-'));
const config = parseConfig(smallRaw('fig2', 128));
let s: Serving;
let api: Control;
beforeAll(async () => {
  s = await serve(config, { socket: join(dir, 'nbd.sock'), mode: 'inline' });
  api = await startControl(s, config, '127.0.0.1:0');
});
afterAll(async () => {
  await api?.close();
  await s?.close();
});

const call = async (method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
  const r = await fetch(`${api.url}${path}`, { method, body, headers });
  const text = await r.text();
  return {
    status: r.status,
    text,
    json: (() => {
      try {
        return JSON.parse(text);
      } catch {
        return undefined;
      }
    })(),
  };
};

describe('control API', () => {
  it('status lists the devices with size and generation', async () => {
    const r = await call('GET', '/v1/status');
    expect(r.status).toBe(200);
    expect(r.json.devices.map((d: { id: string }) => d.id)).toEqual(['LD1', 'LD2', 'META1', 'BCV1', 'BCV2']);
    expect(r.json.devices[0]).toMatchObject({ generation: 1, bcvOf: null });
    expect(r.json.reconfigurations).toEqual([]);
  });

  it('refuses a body that is not JSON or not a valid target with 400 naming the field, and changes nothing', async () => {
    const before = await call('GET', '/v1/status');
    const notJson = await call('POST', '/v1/reconfigurations', '{oops');
    expect([notJson.status, notJson.json.error]).toEqual([400, expect.stringMatching(/^body: not JSON/)]);
    const bad = smallRaw('fig2-new', 128);
    bad.devices[0].cylinders = 13;
    const invalid = await call('POST', '/v1/reconfigurations', JSON.stringify(bad));
    expect(invalid.status).toBe(400);
    expect(invalid.json.error).toMatch(/devices\[0\]\.cylinders/);
    expect((await call('GET', '/v1/status')).json).toEqual(before.json);
    expect((await call('POST', '/v1/reconfigurations/1/pause')).status).toBe(404);
    expect((await call('GET', '/v1/nothing')).status).toBe(404);
  });

  it('POST /v1/plans predicts a restripe of the running array in a thread of its own, changing nothing; bad fields are 400 by name', async () => {
    const before = await call('GET', '/v1/status');
    const body = { to: smallRaw('fig2-new', 128), driveModel: 'hdd-15k', load: 'randread', seconds: 0.05 };
    const r = await call('POST', '/v1/plans', JSON.stringify(body));
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ device: 'LD1', kind: 'expansion' });
    expect(r.json.durationMs).toBeGreaterThan(0);
    expect(r.json.boundBy).toMatch(/^(drive|link) /);
    expect(r.json.host.opsRatio).toBeGreaterThan(0);
    expect((await call('GET', '/v1/status')).json).toEqual(before.json); // a plan runs nothing on the array
    const bad = await call('POST', '/v1/plans', JSON.stringify({ ...body, load: 'sometimes', queueDepth: 0 }));
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/load: must be none or one of .*; queueDepth: /);
    const untimed = await call('POST', '/v1/plans', JSON.stringify({ to: body.to }));
    expect([untimed.status, untimed.json.error]).toEqual([
      400,
      expect.stringMatching(/have no model \(give --drive-model/),
    ]);
  });

  it('runs a reconfiguration: 202 with an id, its state until done, then the grown device in status', async () => {
    const start = await call('POST', '/v1/reconfigurations', JSON.stringify(smallRaw('fig2-new', 128)));
    expect(start.status).toBe(202);
    expect(start.json).toMatchObject({ device: 'LD1', state: 'running' });
    let job = start.json;
    for (let i = 0; i < 400 && job.state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      job = (await call('GET', `/v1/reconfigurations/${start.json.id}`)).json;
    }
    expect(job.state).toBe('done');
    expect(job.report.bitsLeft).toEqual({ pb: 0, ps: 0, ind: 0 });
    expect(job.tracksDone).toBe(job.tracksTotal);
    expect(job.predicted).toEqual({ unavailable: 'drive 31 has no timing model' }); // instant drives: nothing to predict
    const ld1 = (await call('GET', '/v1/status')).json.devices[0];
    expect(ld1.generation).toBe(2);
    expect(ld1.bytes).toBe(s.emu.model.device('LD1').bytes);
    expect((await call('GET', '/v1/reconfigurations/999')).status).toBe(404);
  });

  it('/metrics: per-device I/O, adapters, cache slots, NBD requests, in Prometheus text', async () => {
    const c = await RawNbd.open({ path: join(dir, 'nbd.sock') });
    await c.hello();
    await c.go('LD2');
    c.request(1, 1n, 0n, 4096, 0, Buffer.alloc(4096, 3));
    expect((await c.simpleReply()).error).toBe(0);
    c.request(0, 2n, 0n, 4096);
    await c.simpleReply(4096);
    c.close();
    const m = await call('GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/^arrayemu_ld_written_bytes_total\{device="LD2"\} 4096$/m);
    expect(m.text).toMatch(/^arrayemu_ld_reads_completed_total\{device="LD2"\} 1$/m);
    expect(m.text).toMatch(/^arrayemu_nbd_requests_total\{command="write",result="ok"\} \d+$/m);
    expect(m.text).toMatch(/^arrayemu_cache_slots\{state="free"\} \d+$/m);
    expect(m.text).toMatch(/^arrayemu_adapter_up\{adapter="DA30"\} 1$/m);
    expect(m.text).toMatch(/^arrayemu_adapter_thread_nice\{adapter="SP"\} 0$/m); // inline: every actor on the main thread
    expect(m.text).toMatch(/# TYPE arrayemu_ld_read_time_seconds_total counter/);
    for (const total of ['link_busy_seconds_total', 'destaged_total', 'staged_total'])
      expect(m.text).toMatch(new RegExp(`# TYPE arrayemu_adapter_${total} counter`));
  });

  it('throttle: refused by field; pause holds the background copy still, resume lets it finish', async () => {
    expect((await call('PUT', '/v1/throttle', JSON.stringify({ maxMBps: 'fast' }))).json.error).toMatch(/^maxMBps:/);
    expect((await call('PUT', '/v1/throttle', JSON.stringify({ minMBps: 5, maxMBps: 1 }))).json.error).toMatch(
      /^minMBps:/,
    );
    expect((await call('PUT', '/v1/throttle', JSON.stringify({ speed: 1 }))).status).toBe(400);
    const t = await call('PUT', '/v1/throttle', JSON.stringify({ minMBps: 0, maxMBps: 0.2 }));
    expect(t.json).toEqual({ paused: false, minMBps: 0, maxMBps: 0.2 });
    expect((await call('GET', '/v1/status')).json.throttle).toEqual({ minMBps: 0, maxMBps: 0.2 });
    const target = smallRaw('fig9-after-fig2-new', 128);
    const start = await call('POST', '/v1/reconfigurations', JSON.stringify(target));
    expect(start.status, start.text).toBe(202);
    const copied = async () =>
      Object.values(await s.emu.status()).reduce((n, a) => n + (a.established ?? 0) + (a.fills ?? 0), 0);
    const base = await copied();
    for (let i = 0; i < 200 && (await copied()) === base; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await call('POST', `/v1/reconfigurations/${start.json.id}/pause`)).json.paused).toBe(true);
    await new Promise((r) => setTimeout(r, 150)); // tracks already past the gate finish
    const held = await copied();
    await new Promise((r) => setTimeout(r, 400));
    expect(await copied(), 'no background track while paused').toBe(held);
    expect((await call('GET', `/v1/reconfigurations/${start.json.id}`)).json).toMatchObject({
      state: 'running',
      paused: true,
    });
    await call('PUT', '/v1/throttle', JSON.stringify({ minMBps: 0, maxMBps: 0 }));
    await call('POST', `/v1/reconfigurations/${start.json.id}/resume`);
    let job = start.json;
    for (let i = 0; i < 400 && job.state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      job = (await call('GET', `/v1/reconfigurations/${start.json.id}`)).json;
    }
    expect(job.state).toBe('done');
    expect((await call('POST', `/v1/reconfigurations/${start.json.id}/pause`)).status).toBe(409);
  });

  it('another address needs a token file; with one, a request without the bearer token is 401', async () => {
    await expect(startControl(s, config, '0.0.0.0:0')).rejects.toThrow(/--token-file/);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'a-secret-token-of-some-length\n');
    const guarded = await startControl(s, config, '127.0.0.1:0', tokenFile);
    try {
      expect((await fetch(`${guarded.url}/v1/status`)).status).toBe(401);
      expect(
        (
          await fetch(`${guarded.url}/v1/status`, {
            headers: { authorization: 'Bearer a-secret-token-of-some-length' },
          })
        ).status,
      ).toBe(200);
      // The live view: its page and scripts hold no data (served to anyone); its events stream
      // needs the token, which an EventSource can only give in the query.
      expect((await fetch(`${guarded.url}/`)).status).toBe(200);
      expect((await fetch(`${guarded.url}/ui/uPlot.iife.min.js`)).status).toBe(200);
      expect((await fetch(`${guarded.url}/v1/events`)).status).toBe(401);
      expect((await fetch(`${guarded.url}/v1/events?token=wrong-token-of-some-length`)).status).toBe(401);
      const ac = new AbortController();
      const events = await fetch(`${guarded.url}/v1/events?token=a-secret-token-of-some-length`, { signal: ac.signal });
      expect(events.status).toBe(200);
      expect(events.headers.get('content-type')).toBe('text/event-stream');
      const first = await events.body!.getReader().read();
      expect(Buffer.from(first.value!).toString()).toMatch(/^event: hello\ndata: \{/);
      ac.abort();
    } finally {
      await guarded.close();
    }
  });
});

describe('control API over timed drives', () => {
  it("a reconfiguration shows plan's prediction beside its own progress", async () => {
    const raw = smallRaw('fig2', 128);
    raw.drives = raw.drives.map((d: object) => ({ ...d, model: 'hdd-15k' }));
    const target = { ...smallRaw('fig2-new', 128), drives: raw.drives };
    const timed = await serve(parseConfig(raw), { socket: join(dir, 'timed.sock'), mode: 'inline' });
    const c = await startControl(timed, timed.running, '127.0.0.1:0');
    try {
      const start: any = await (
        await fetch(`${c.url}/v1/reconfigurations`, { method: 'POST', body: JSON.stringify(target) })
      ).json();
      let job: any = start;
      // The plan runs in a worker beside the restripe: poll until both have ended (bounded).
      for (let i = 0; i < 800 && (job.state === 'running' || job.predicted === null); i++) {
        await new Promise((r) => setTimeout(r, 25));
        job = await (await fetch(`${c.url}/v1/reconfigurations/${start.id}`)).json();
      }
      expect(job.state).toBe('done');
      expect(job.predicted.durationSec).toBeGreaterThan(0);
      expect(job.predicted.boundBy).toMatch(/^(drive|link) /);
      expect(job.predicted.etaSec).toBeNull(); // no ETA once it has ended
    } finally {
      await c.close();
      await timed.close();
    }
  });
});
