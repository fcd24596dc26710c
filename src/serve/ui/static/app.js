// arrayemu's live view (DESIGN §13): the track map (FIG. 8/9 drawn live), each device and its
// reconfiguration with pause/resume and throttle, host I/O and the FIG. 7 scenarios as charts.
// Served by the array itself; updates arrive as Server-Sent Events (/v1/events). Plain browser
// JavaScript: no build step, no CDN — uPlot comes from the project's node_modules.
'use strict';

(() => {
  // The cell byte of a track (src/serve/ui/track-view.ts CELL) and a location's role (ROLE).
  const CELL = { PS: 1, IND: 2, PB: 4, FMT: 8, CACHED: 16, WP: 32, LOCK: 64, FILLPEND: 128 };
  const ROLE = { ACTIVE: 0, OLD: 1, NEW: 2, BCV: 3 };
  const NO_OWNER = 255;
  /** Most canvas columns and rows the map uses: past that, tracks share a pixel (the most telling wins). */
  const MAP_COLUMNS_MAX = 1200;
  const MAP_ROWS_MAX = 560;
  /** Points each chart keeps (at 4 updates a second: a minute). */
  const CHART_POINTS = 240;

  // What a cell shows, most telling first: its rank when tracks share a pixel, colour and legend.
  const STATES = [
    { key: 'ind', bit: CELL.IND, colour: [229, 57, 53], label: 'IND (fill from BCV)' },
    { key: 'ps', bit: CELL.PS, colour: [251, 140, 0], label: 'PS (split pending)' },
    { key: 'pb', bit: CELL.PB, colour: [171, 71, 188], label: 'PB (BCV data not moved)' },
    { key: 'wp', bit: CELL.WP, colour: [253, 216, 53], label: 'write pending' },
    { key: 'fillpend', bit: CELL.FILLPEND, colour: [255, 241, 118], label: 'filled, in cache' },
    { key: 'lock', bit: CELL.LOCK, colour: [255, 255, 255], label: 'locked' },
    { key: 'cached', bit: CELL.CACHED, colour: [77, 208, 225], label: 'cached' },
    { key: 'fmt', bit: CELL.FMT, colour: [97, 97, 97], label: 'formatted (zeros)' },
  ];
  const DEVICE_COLOURS = [
    [66, 133, 244],
    [52, 168, 83],
    [156, 204, 101],
    [0, 150, 136],
    [121, 134, 203],
    [141, 110, 99],
    [240, 98, 146],
    [120, 144, 156],
  ];
  const ROLE_NAMES = ['in use', 'old layout', 'new layout', 'BCV'];

  const view = {
    /** Test and debugging hooks: what the page has received and shows. */
    updates: 0,
    seq: -1,
    counts: {},
    jobs: [],
    devices: [],
    drives: [],
    switches: [],
    scenarios: [0, 0, 0, 0],
    host: null,
    errors: [],
    firstDrawMs: null,
  };
  window.arrayemuView = view;

  const $ = (id) => document.getElementById(id);
  const tokenInput = $('token');
  tokenInput.value = sessionStorage.getItem('arrayemu-token') ?? '';
  tokenInput.addEventListener('change', () => {
    sessionStorage.setItem('arrayemu-token', tokenInput.value);
    connect();
  });

  let geometry = null;
  let cells = new Uint8Array(0);
  let owners = new Uint8Array(0);
  let roles = new Uint8Array(0);
  let grid = null; // { width, height, pixelOf: Int32Array (per track), rank, colour, image }
  let drawPending = false;
  let source = null;

  function decode(b64) {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  function connect() {
    if (source) source.close();
    const token = tokenInput.value.trim();
    source = new EventSource(`/v1/events${token ? `?token=${encodeURIComponent(token)}` : ''}`);
    source.addEventListener('hello', (e) => onHello(JSON.parse(e.data)));
    source.addEventListener('tick', (e) => onTick(JSON.parse(e.data)));
    source.addEventListener('problem', (e) => showProblem(JSON.parse(e.data).error));
    source.onopen = () => setConn('live', 'live');
    source.onerror = () => setConn('down', 'disconnected (retrying)');
  }

  function setConn(cls, text) {
    const c = $('conn');
    c.className = `conn ${cls}`;
    c.textContent = text;
  }

  function showProblem(text) {
    const p = $('problem');
    p.hidden = !text;
    p.textContent = text ?? '';
  }

  function onHello(h) {
    geometry = h.geometry;
    owners = decode(h.owners);
    roles = decode(h.roles);
    cells = decode(h.cells);
    view.seq = h.seq;
    buildGrid();
    renderLegends();
    scheduleDraw();
  }

  function onTick(t) {
    if (!geometry) return;
    if (t.cells) cells = decode(t.cells);
    else if (t.changes) for (let i = 0; i < t.changes.length; i += 2) cells[t.changes[i]] = t.changes[i + 1];
    if (t.owners) owners = decode(t.owners);
    if (t.roles) roles = decode(t.roles);
    view.seq = t.seq;
    view.updates++;
    view.jobs = t.jobs;
    view.devices = t.devices;
    view.drives = t.drives ?? [];
    view.switches = t.switches;
    view.scenarios = t.scenarios;
    view.host = t.host;
    view.background = t.background;
    showProblem(null);
    renderDevices(t);
    renderSwitches(t.switches);
    pushCharts(t);
    scheduleDraw();
  }

  // ---- the track map ----------------------------------------------------------------------------

  /** Where each track is drawn: one block per drive (heads across, cylinders down), tracks sharing a pixel past the limits. */
  function buildGrid() {
    const heads = geometry.headsPerCylinder;
    const n = geometry.drives.length;
    const gap = 1;
    const colsPerDrive = Math.max(1, Math.min(heads, Math.floor(MAP_COLUMNS_MAX / n) - gap));
    const maxCyl = Math.max(...geometry.drives.map((d) => d.cylinders));
    const rows = Math.max(1, Math.min(maxCyl, MAP_ROWS_MAX));
    const width = n * (colsPerDrive + gap);
    const total = geometry.drives.reduce((s, d) => s + d.cylinders * heads, 0);
    const pixelOf = new Int32Array(total);
    geometry.drives.forEach((d, i) => {
      const x0 = i * (colsPerDrive + gap);
      for (let c = 0; c < d.cylinders; c++) {
        const y = Math.floor((c * rows) / maxCyl);
        for (let h = 0; h < heads; h++) {
          const x = x0 + Math.floor((h * colsPerDrive) / heads);
          pixelOf[d.baseTrack + c * heads + h] = y * width + x;
        }
      }
    });
    const canvas = $('map');
    canvas.width = width;
    canvas.height = rows;
    const ctx = canvas.getContext('2d');
    grid = {
      width,
      height: rows,
      pixelOf,
      rank: new Uint8Array(width * rows),
      ctx,
      image: ctx.createImageData(width, rows),
    };
    const labels = $('drive-labels');
    labels.innerHTML = '';
    for (const d of geometry.drives) {
      const s = document.createElement('span');
      s.style.width = `${100 / n}%`;
      s.textContent = d.id;
      s.title = `drive ${d.id} (disk adapter #${d.adapter}): ${d.cylinders} cylinders × ${heads} heads`;
      labels.appendChild(s);
    }
  }

  function scheduleDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      draw();
    });
  }

  /** The colour of one track and how telling it is (higher wins a shared pixel). */
  function trackColour(g, out) {
    const c = cells[g];
    for (let k = 0; k < STATES.length; k++) {
      if (c & STATES[k].bit) {
        const col = STATES[k].colour;
        out[0] = col[0];
        out[1] = col[1];
        out[2] = col[2];
        return STATES.length + 1 - k;
      }
    }
    const o = owners[g];
    if (o === NO_OWNER) {
      out[0] = out[1] = out[2] = 34;
      return 0;
    }
    const base = DEVICE_COLOURS[o % DEVICE_COLOURS.length];
    const r = roles[g];
    const f = r === ROLE.OLD ? 0.45 : r === ROLE.NEW ? 0.7 : r === ROLE.BCV ? 0.55 : 1;
    out[0] = base[0] * f;
    out[1] = base[1] * f;
    out[2] = r === ROLE.BCV ? Math.min(255, base[2] * f + 60) : base[2] * f;
    return 1;
  }

  function draw() {
    if (!grid) return;
    const t0 = performance.now();
    const { rank, image, pixelOf } = grid;
    const px = image.data;
    rank.fill(0);
    px.fill(0);
    for (let i = 3; i < px.length; i += 4) px[i] = 255;
    const counts = Object.fromEntries(STATES.map((s) => [s.key, 0]));
    const colour = [0, 0, 0];
    for (let g = 0; g < cells.length; g++) {
      const c = cells[g];
      if (c) for (const s of STATES) if (c & s.bit) counts[s.key]++;
      const r = trackColour(g, colour) + 1;
      const p = pixelOf[g];
      if (r <= rank[p]) continue;
      rank[p] = r;
      px[p * 4] = colour[0];
      px[p * 4 + 1] = colour[1];
      px[p * 4 + 2] = colour[2];
    }
    grid.ctx.putImageData(image, 0, 0);
    view.counts = counts;
    for (const s of STATES) {
      const el = document.querySelector(`#legend [data-state="${s.key}"] .count`);
      if (el) el.textContent = String(counts[s.key]);
    }
    if (view.firstDrawMs === null) view.firstDrawMs = Math.round(performance.now());
    view.lastDrawMs = Math.round((performance.now() - t0) * 10) / 10;
  }

  function swatch(rgb) {
    return `<span class="swatch" style="background: rgb(${rgb.map(Math.round).join(',')})"></span>`;
  }

  function renderLegends() {
    $('legend').innerHTML = STATES.map(
      (s) => `<span class="item" data-state="${s.key}">${swatch(s.colour)}${s.label} <b class="count">0</b></span>`,
    ).join('');
    const devs = geometry.devices.slice(0, 32);
    $('devices-legend').innerHTML = devs
      .map((d) => {
        const base = DEVICE_COLOURS[d.index % DEVICE_COLOURS.length];
        const roleSwatches = d.bcvOf ? [3] : [0, 1, 2];
        return roleSwatches
          .map((r) => {
            const f = r === 1 ? 0.45 : r === 2 ? 0.7 : r === 3 ? 0.55 : 1;
            const c = [base[0] * f, base[1] * f, r === 3 ? Math.min(255, base[2] * f + 60) : base[2] * f];
            return `<span class="item">${swatch(c)}${d.id} ${ROLE_NAMES[r]}</span>`;
          })
          .join('');
      })
      .join('');
  }

  // ---- devices, their reconfigurations and the controls ------------------------------------------

  function authHeaders() {
    const token = tokenInput.value.trim();
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  async function call(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: { 'content-type': 'application/json', ...authHeaders() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) showProblem(`${method} ${path}: ${res.status} ${text}`);
    return res.ok;
  }

  const fmt = (v, unit = '') => (v === null || v === undefined ? '–' : `${v}${unit}`);

  /** A device's copies as md shows them ([UU], [_U]) with its state, and each mirror's drives. */
  function copiesOf(d) {
    if (!d.mirrors || d.mirrors.length < 2) return d.state && d.state !== 'ok' ? ` <b class="bad">${d.state}</b>` : '';
    const marks = d.mirrors.map((m) => (m.state === 'ok' ? 'U' : '_')).join('');
    const where = d.mirrors.map((m) => `mirror ${m.mirror}: ${m.drives.join(' ')}`).join(' · ');
    const lost = d.lostTracks ? `, ${d.lostTracks} track(s) lost` : '';
    return ` <span class="mirrors" title="${where}">${d.mirrors.length}-way [${marks}] <b class="${d.state === 'ok' ? '' : 'bad'}">${d.state}${lost}</b></span><div class="dim">${where}</div>`;
  }

  /** Drives that failed, spares and rebuilds (progress, rate, ETA). */
  function renderDrives(drives) {
    if (drives.length === 0) return '';
    const line = (d) => {
      if (d.state === 'failed')
        return `${d.id} <b class="bad">failed</b>${d.replacedBy ? ` (replaced by ${d.replacedBy})` : ''}`;
      if (d.state === 'rebuilding' && d.rebuild)
        return `${d.id} <b>rebuilding</b> in place of ${d.inPlaceOf}: ${d.rebuild.done} / ${d.rebuild.total} copies · ${fmt(d.copiesPerSec, ' copies/s')} · ETA ${fmt(d.etaSec, ' s')}`;
      return `${d.id} ${d.state}${d.inPlaceOf ? ` in place of ${d.inPlaceOf}` : ''}`;
    };
    return `<div class="device" data-drives><div class="title">Drives</div>${drives.map((d) => `<div data-drive="${d.id}">${line(d)}</div>`).join('')}</div>`;
  }

  function renderDevices(t) {
    const root = $('devices');
    const running = new Map(t.jobs.map((j) => [j.device, j]));
    const html =
      t.devices
        .filter((d) => !d.bcvOf)
        .map((d) => {
          const j = running.get(d.id);
          const layout =
            d.layout === 'striped'
              ? `striped over ${d.members.length} drives, ${d.stripeCylinders} cylinder stripes`
              : `${d.layout ?? '?'} over ${d.members.length} drives`;
          let job = '<div class="dim">no reconfiguration running</div>';
          if (j) {
            const doneNow = j.phase === 'establish' ? (j.established ?? 0) : j.tracksDone; // the bar follows the phase
            const pct = j.tracksTotal ? Math.round((100 * doneNow) / j.tracksTotal) : 0;
            const pred =
              j.predicted && 'durationSec' in j.predicted
                ? ` · predicted ${fmt(j.predicted.etaSec, ' s')} left of ${j.predicted.durationSec} s`
                : '';
            const est =
              j.phase === 'establish' && j.established !== undefined
                ? ` · ESTABLISH ${j.established} / ${fmt(j.tracksTotal)} tracks copied to the BCV`
                : '';
            job = `<div data-job="${j.id}">reconfiguration #${j.id}: <b>${j.phase ?? 'preparing'}</b>${t.background.paused ? ' <b>(paused)</b>' : ''}${est}
            · <span class="done">${j.tracksDone}</span> / ${fmt(j.tracksTotal)} tracks moved · ${fmt(j.tracksPerSec, ' tracks/s')} · ETA ${fmt(j.etaSec, ' s')}${pred}</div>
            <div class="progress"><div style="width:${pct}%"></div></div>
            <button data-act="pause" data-id="${j.id}">pause</button><button data-act="resume" data-id="${j.id}">resume</button>`;
          }
          return `<div class="device" data-device="${d.id}"><div class="title">${d.id} <span class="dim">generation ${d.generation} · ${layout} · ${(d.bytes / 2 ** 20).toFixed(1)} MiB</span>${copiesOf(d)}</div>${job}</div>`;
        })
        .join('') + renderDrives(t.drives ?? []);
    const bg = t.background;
    const throttle = `<div class="device"><div class="title">Background copy throttle</div>
      min <input id="min-mbps" type="number" min="0" value="${bg.minMBps}"> MB/s · max <input id="max-mbps" type="number" min="0" value="${bg.maxMBps}"> MB/s (0: no limit)
      <button data-act="throttle">apply</button></div>`;
    // Keep the throttle inputs while someone types in them.
    const active = document.activeElement;
    if (active && (active.id === 'min-mbps' || active.id === 'max-mbps')) {
      const keep = root.querySelector('.device:last-child');
      root.innerHTML = html;
      if (keep) root.appendChild(keep);
      return;
    }
    root.innerHTML = html + throttle;
  }

  $('devices').addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b) return;
    const act = b.dataset.act;
    if (act === 'pause' || act === 'resume') void call('POST', `/v1/reconfigurations/${b.dataset.id}/${act}`);
    if (act === 'throttle')
      void call('PUT', '/v1/throttle', { minMBps: Number($('min-mbps').value), maxMBps: Number($('max-mbps').value) });
  });

  function renderSwitches(list) {
    $('switches').innerHTML = list.length
      ? list.map((s) => `<li>#${s.id} ${s.device}: hosts blocked <b>${s.hostBlockedMs}</b> ms</li>`).join('')
      : '<li class="dim">no switch yet</li>';
  }

  // ---- charts (uPlot) -----------------------------------------------------------------------------

  const series = { t: [], iops: [], p50: [], p99: [], sc: [[], [], [], []] };
  let lastScenarios = null;
  let lastAt = null;
  const charts = {};

  function makeChart(el, title, labels, colours, unit) {
    const opts = {
      title,
      width: el.clientWidth || 400,
      height: 150,
      series: [
        {},
        ...labels.map((label, i) => ({ label, stroke: colours[i], width: 1.5, value: (u, v) => fmt(v, unit) })),
      ],
      axes: [
        { stroke: '#8a93a0', grid: { stroke: '#2a303a' } },
        { stroke: '#8a93a0', grid: { stroke: '#2a303a' } },
      ],
      scales: { x: { time: true } },
    };
    return new uPlot(opts, [[], ...labels.map(() => [])], el);
  }

  function initCharts() {
    charts.iops = makeChart($('chart-iops'), 'ops/s', ['ops/s'], ['#4fc3f7'], '');
    charts.latency = makeChart(
      $('chart-latency'),
      'latency (ms, bucket bound)',
      ['p50', 'p99'],
      ['#81c784', '#ffb74d'],
      ' ms',
    );
    charts.scenarios = makeChart(
      $('chart-scenarios'),
      'scenario/s',
      ['1: split and transfer done', '2: split only', '3: transfer only', '4: neither'],
      ['#4fc3f7', '#fb8c00', '#e53935', '#ab47bc'],
      '',
    );
  }

  function push(arr, v) {
    arr.push(v);
    if (arr.length > CHART_POINTS) arr.shift();
  }

  function pushCharts(t) {
    const sec = t.atMs / 1000;
    const dt = lastAt === null ? null : sec - lastAt;
    push(series.t, sec);
    push(series.iops, t.host.opsPerSec);
    push(series.p50, t.host.p50Ms);
    push(series.p99, t.host.p99Ms);
    for (let k = 0; k < 4; k++)
      push(series.sc[k], lastScenarios && dt ? Math.max(0, Math.round((t.scenarios[k] - lastScenarios[k]) / dt)) : 0);
    lastScenarios = t.scenarios;
    lastAt = sec;
    charts.iops.setData([series.t, series.iops]);
    charts.latency.setData([series.t, series.p50, series.p99]);
    charts.scenarios.setData([series.t, ...series.sc]);
    $('scenario-totals').textContent =
      `since start: ${t.scenarios.map((n, k) => `scenario ${k + 1}: ${n}`).join(' · ')}`;
    $('rate').textContent =
      `${t.host.opsPerSec} ops/s · ${fmt(t.host.mbPerSec, ' MB/s')} · p99 ${fmt(t.host.p99Ms, ' ms')}`;
  }

  window.addEventListener('error', (e) => view.errors.push(String(e.message)));
  initCharts();
  connect();
})();
