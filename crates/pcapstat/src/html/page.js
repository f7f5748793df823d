// pcapstat HTML report: draws the page from the JSON data blob above (docs/html.md). Hand
// written, no library. Every string that comes from a capture is put into the document as a
// text node or an attribute value (never as markup).
'use strict';
(function () {
  const T0 = performance.now();
  const D = JSON.parse(document.getElementById('pcapstat-data').textContent);
  const R = D.report;
  const W = D.waterfall;
  const PHASE_COLORS = ['#c3c8d0', '#0fb9b1', '#fa8231', '#a55eea', '#778ca3', '#20bf6b', '#3867d6'];
  const PHASE_LABELS = ['Blocked', 'DNS', 'Connect', 'TLS', 'Send', 'Wait (TTFB)', 'Receive'];
  const SERIES_COLORS = ['#2563eb', '#f79009', '#12b76a', '#7a5af8', '#ee46bc', '#06aed4', '#f04438', '#84cc16', '#98a2b3'];
  const SVGNS = 'http://www.w3.org/2000/svg';

  // ---- DOM helpers (text only) ----
  function el (tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    for (const k of kids.flat()) {
      if (k === null || k === undefined || k === false) continue;
      e.appendChild(typeof k === 'object' ? k : document.createTextNode(String(k)));
    }
    return e;
  }
  function sv (tag, attrs, ...kids) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    for (const k of kids.flat()) {
      if (k === null || k === undefined || k === false) continue;
      e.appendChild(typeof k === 'object' ? k : document.createTextNode(String(k)));
    }
    return e;
  }
  function setAttrs (e, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.setAttribute('class', v);
      else if (k === 'style') e.setAttribute('style', v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
  }

  // ---- formatting ----
  function fmtMs (ms) {
    if (ms === null || ms === undefined) return '–';
    const a = Math.abs(ms);
    if (a === 0) return '0';
    if (a < 1) return trimZeros((ms * 1000).toPrecision(3)) + ' µs';
    if (a < 1000) return (a < 10 ? ms.toFixed(2) : a < 100 ? ms.toFixed(1) : ms.toFixed(0)) + ' ms';
    if (a < 60000) return (ms / 1000).toFixed(a < 10000 ? 3 : 2) + ' s';
    return (ms / 60000).toFixed(1) + ' min';
  }
  function trimZeros (s) { return s.indexOf('.') >= 0 ? s.replace(/0+$/, '').replace(/\.$/, '') : s; }
  function fmtTick (ms) {
    if (ms < 1) return trimZeros((ms * 1000).toPrecision(3)) + ' µs';
    if (ms < 1000) return trimZeros(ms.toPrecision(3)) + ' ms';
    return trimZeros((ms / 1000).toPrecision(3)) + ' s';
  }
  function fmtNs (ns) { return ns === null || ns === undefined ? '–' : fmtMs(ns / 1e6); }
  function fmtInt (n) { return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'); }
  function fmtBytes (b) {
    if (b === null || b === undefined) return '–';
    const u = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0; let v = b;
    while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + u[i];
  }
  function fmtBits (bps) {
    const u = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s'];
    let i = 0; let v = bps;
    while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
    return (v < 10 && i > 0 ? v.toFixed(1) : v.toFixed(0)) + ' ' + u[i];
  }
  function pct (part, whole) { return whole ? (100 * part / whole).toFixed(1) + ' %' : '–'; }
  function shortNum (v) {
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G';
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + 'k';
    return a < 10 && a !== Math.round(a) ? v.toFixed(1) : v.toFixed(0);
  }
  const originMs = D.origin_ns / 1e6;
  function absTime (ms) {
    const d = new Date(Math.floor(originMs + ms));
    const iso = d.toISOString();
    const sub = Math.floor((((originMs + ms) % 1) + 1) % 1 * 1000).toString().padStart(3, '0');
    return iso.slice(0, 10) + ' ' + iso.slice(11, 23) + sub + ' UTC';
  }
  function relTime (ms, step) {
    if (step >= 1000 || Math.abs(ms) >= 10000) return (ms / 1000).toFixed(step >= 1000 ? 0 : step >= 100 ? 1 : step >= 10 ? 2 : 3) + ' s';
    return ms.toFixed(step >= 1 ? 0 : step >= 0.1 ? 1 : step >= 0.01 ? 2 : 3) + ' ms';
  }
  function niceStep (span, target, integer) {
    const raw = Math.max(integer ? 1 : 0, span / Math.max(1, target));
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
    return 10 * p;
  }

  // ---- tooltip ----
  const tip = document.getElementById('tooltip');
  function showTip (ev, title, pairs) {
    tip.replaceChildren();
    if (title) tip.appendChild(el('div', { class: 't' }, title));
    const dl = el('dl');
    for (const [k, v] of pairs) { dl.appendChild(el('dt', null, k)); dl.appendChild(el('dd', null, v)); }
    tip.appendChild(dl);
    tip.hidden = false;
    const pad = 14; const r = tip.getBoundingClientRect();
    let x = ev.clientX + pad; let y = ev.clientY + pad;
    if (x + r.width > window.innerWidth - 4) x = ev.clientX - r.width - pad;
    if (y + r.height > window.innerHeight - 4) y = Math.max(4, ev.clientY - r.height - pad);
    tip.style.left = Math.max(4, x) + 'px'; tip.style.top = y + 'px';
  }
  function hideTip () { tip.hidden = true; }

  const app = document.getElementById('app');
  app.replaceChildren();

  // ---- header ----
  const S = R;
  const dur = D.end_ms;
  const meta = [
    ['format', [S.format, S.compression && S.compression !== 'none' ? S.compression : null].filter(Boolean).join(', ')],
    ['frames', fmtInt(S.frames)],
    ['start', absTime(0)],
    ['duration', fmtMs(dur)]
  ];
  if (D.filter) meta.push(['filter', D.filter]);
  app.appendChild(el('header', { class: 'topbar' },
    el('div', { class: 'brand' }, 'pcapstat · network timing report'),
    el('h1', null, D.title),
    el('div', { class: 'meta' }, meta.map(([k, v]) => el('span', null, k + ' ', el('b', null, v))))));
  const main = el('main');
  app.appendChild(main);

  if (S.damaged) {
    main.appendChild(el('div', { class: 'banner warn' }, 'The capture is damaged at byte ' + S.damaged.offset +
      ' (frame ' + S.damaged.frame + '): ' + S.damaged.reason + '. Everything before it was analysed.'));
  }
  if (R.limits && R.limits.length) {
    main.appendChild(el('div', { class: 'banner warn' }, 'Limits hit: ' +
      R.limits.map(l => l.name + ' (' + fmtInt(l.count) + ' ' + l.message + ')').join('; ')));
  }

  // ---- KPIs ----
  const C = R.tcp_connections; const H = R.applications.http; const TL = R.applications.tls; const DN = R.applications.dns;
  const pkts = C.c2s.packets + C.s2c.packets; const retx = C.c2s.retransmissions + C.s2c.retransmissions;
  const dnsFailed = DN.queries - DN.answered + Object.entries(DN.rcodes || {}).filter(([k]) => k !== 'NOERROR').reduce((a, [, v]) => a + v, 0);
  const kpis = [
    ['HTTP requests', fmtInt(H.requests), H.requests ? pct(H.reused_requests, H.requests) + ' on reused connections' : 'none seen', false],
    ['TCP connections', fmtInt(C.connections), fmtInt(C.failed) + ' failed', C.failed > 0],
    ['Wait (TTFB) p95', fmtNs(H.wait.p95_ns), 'p50 ' + fmtNs(H.wait.p50_ns) + ' · p99 ' + fmtNs(H.wait.p99_ns), false],
    ['Connect p95', fmtNs(C.connect.p95_ns), 'p50 ' + fmtNs(C.connect.p50_ns) + ' · p99 ' + fmtNs(C.connect.p99_ns), false],
    ['TLS handshakes', fmtInt(TL.handshakes), TL.handshakes ? pct(TL.resumed, TL.handshakes) + ' resumed · p95 ' + fmtNs(TL.handshake.p95_ns) : 'none seen', false],
    ['DNS queries', fmtInt(DN.queries), fmtInt(dnsFailed) + ' failed · p95 ' + fmtNs(DN.latency.p95_ns), dnsFailed > 0],
    ['Retransmissions', pct(retx, pkts), fmtInt(retx) + ' of ' + fmtInt(pkts) + ' segments', retx > 0 && retx / Math.max(1, pkts) > 0.01],
    ['HTTP errors', fmtInt(D.http_errors.count_4xx + D.http_errors.count_5xx), fmtInt(D.http_errors.count_4xx) + ' 4xx · ' + fmtInt(D.http_errors.count_5xx) + ' 5xx', D.http_errors.count_5xx > 0]
  ];
  main.appendChild(el('div', { class: 'kpis', id: 'kpis' }, kpis.map(([k, v, s, bad]) =>
    el('div', { class: 'kpi' + (bad ? ' bad' : '') }, el('div', { class: 'k' }, k), el('div', { class: 'v' }, v), el('div', { class: 's' }, s)))));

  // ---- waterfall ----
  const LABEL_W = 420; const ROW_H = 20;
  const rows = W.rows;
  const hidden = W.hidden;
  const OT = D.over_time;
  const wfCard = el('section', { class: 'card', id: 'waterfall' });
  main.appendChild(wfCard);
  wfCard.appendChild(el('h2', null, 'Waterfall',
    el('span', { class: 'sub' }, fmtInt(W.shown) + ' of ' + fmtInt(W.requests) + ' requests, one row each · time since the first frame (' + absTime(0) + ')')));
  if (hidden) {
    wfCard.appendChild(el('div', { class: 'banner info', style: 'margin:10px 12px 0', id: 'wf-cap' },
      'This capture has ' + fmtInt(W.requests) + ' requests; the waterfall draws ' + fmtInt(W.shown) +
      ' (the cap of ' + fmtInt(W.max_rows) + '): the ' + fmtInt(Math.floor(W.max_rows / 2)) +
      ' that started first and the slowest of the others by total time (requests without a response first). The ' +
      fmtInt(hidden.requests) + ' others are counted per time bucket in the last row; the histograms, charts and tables below count every request.'));
  }
  let v0 = 0; let v1 = 1;
  let fullStart = 0; let fullEnd = 1;
  for (const r of rows) { fullStart = Math.min(fullStart, r.start_ms); fullEnd = Math.max(fullEnd, r.end_ms); }
  fullEnd = Math.max(fullEnd, D.end_ms);
  if (!rows.length) { fullStart = 0; fullEnd = Math.max(1, D.end_ms); }
  const padMs = (fullEnd - fullStart) * 0.01;
  fullStart -= padMs; fullEnd += padMs;
  // The first view: the drawn requests (the whole capture is one click away).
  let fitStart = fullStart; let fitEnd = fullEnd;
  if (rows.length) {
    fitStart = Infinity; fitEnd = -Infinity;
    for (const r of rows) { fitStart = Math.min(fitStart, r.start_ms); fitEnd = Math.max(fitEnd, r.end_ms); }
    const pad = Math.max(0.001, (fitEnd - fitStart) * 0.03);
    fitStart = Math.max(fullStart, fitStart - pad); fitEnd = Math.min(fullEnd, fitEnd + pad);
  }
  v0 = fitStart; v1 = fitEnd;

  const rangeLabel = el('span', { class: 'range' });
  // A text filter: matching rows stay, the others are dimmed (as DevTools' filter box).
  const filterBox = el('input', { type: 'search', class: 'filter', placeholder: 'Filter: URL, host, status, method, #conn', 'aria-label': 'Filter requests' });
  const filterCount = el('span', { class: 'range' });
  const orderBox = el('select', { class: 'order', 'aria-label': 'Row order' },
    el('option', { value: 'connection' }, 'Grouped by connection'),
    el('option', { value: 'start' }, 'By start time'),
    el('option', { value: 'total' }, 'Slowest first'));
  let match = null; // null: no filter; else a Uint8Array per row
  filterBox.addEventListener('input', () => {
    const q = filterBox.value.trim().toLowerCase();
    if (!q) { match = null; filterCount.textContent = ''; } else {
      match = new Uint8Array(rows.length);
      let n = 0;
      rows.forEach((r, i) => {
        const hay = [r.url, r.host || '', r.path || '', r.method || '', r.status === null ? 'none' : String(r.status), '#' + r.conn_id, r.server, r.server_name || ''].join(' ').toLowerCase();
        if (hay.includes(q)) { match[i] = 1; n++; }
      });
      filterCount.textContent = n + ' of ' + rows.length + ' match';
    }
    for (let i = 0; i < rows.length; i++) labels.children[i].classList.toggle('dim', !!match && !match[i]);
    redraw();
  });
  const toolbar = el('div', { class: 'wf-toolbar' },
    el('button', { type: 'button', title: 'Zoom in (or Ctrl + wheel)', onclick: () => zoomAt(0.5, (v0 + v1) / 2) }, 'Zoom in'),
    el('button', { type: 'button', title: 'Zoom out', onclick: () => zoomAt(2, (v0 + v1) / 2) }, 'Zoom out'),
    el('button', { type: 'button', title: 'Pan left (or Shift + wheel, or drag)', onclick: () => pan(-(v1 - v0) * 0.25) }, '◀'),
    el('button', { type: 'button', title: 'Pan right', onclick: () => pan((v1 - v0) * 0.25) }, '▶'),
    el('button', { type: 'button', title: 'The span of the drawn requests', id: 'wf-reset', onclick: () => setView(fitStart, fitEnd) }, 'Fit requests'),
    el('button', { type: 'button', title: 'The whole capture, first to last frame', onclick: () => setView(fullStart, fullEnd) }, 'Whole capture'),
    rangeLabel,
    orderBox, filterBox, filterCount,
    el('div', { class: 'legend' }, PHASE_LABELS.map((l, i) => el('span', null, el('i', { style: 'background:' + PHASE_COLORS[i] }), l))));
  wfCard.appendChild(toolbar);
  const ovBox = el('div', { class: 'wf-overview', title: 'Overview: drag to choose the window' });
  const ovCanvas = el('canvas');
  ovBox.appendChild(ovCanvas);
  wfCard.appendChild(ovBox);
  const axisBox = el('div', { class: 'wf-axis' });
  const axisCanvas = el('canvas');
  axisBox.appendChild(axisCanvas);
  wfCard.appendChild(el('div', { class: 'wf-head' },
    el('div', { class: 'lh' }, el('span', { style: 'text-align:right' }, 'conn'), el('span', null, 'status'), el('span', null, 'method'), el('span', null, 'URL')),
    axisBox));
  const body = el('div', { class: 'wf-body' });
  const labels = el('div', { class: 'wf-labels', id: 'wf-labels' });
  const track = el('div', { class: 'wf-track' });
  const canvas = el('canvas', { id: 'wf-canvas' });
  track.appendChild(canvas);
  const nLines = rows.length + (hidden ? 1 : 0);
  const grid = el('div', { class: 'wf-grid', style: 'height:' + (nLines * ROW_H) + 'px' }, labels, track);
  body.appendChild(grid);
  wfCard.appendChild(body);
  if (!rows.length) {
    for (const e of [toolbar, ovBox, wfCard.querySelector('.wf-head'), body]) e.style.display = 'none';
    wfCard.appendChild(el('div', { class: 'none', style: 'padding-top:12px' }, 'No HTTP request in this capture (HTTP/1.x, HTTP/2 and HTTP/3; HTTPS and HTTP/3 need their TLS keys: --keylog, or keys embedded in the pcapng).'));
  }

  // Row order: grouped by connection (as the data comes), or by start, or slowest first.
  // Connection groups: colour stripe and alternating bands (each row its own group when the
  // rows are not grouped).
  const byConnection = rows.slice();
  let groups = []; // [firstRow, lastRow, conn_id, minStart, maxEnd]
  let groupOf = new Int32Array(rows.length);
  let grouped = true;
  function connColor (id) { return 'hsl(' + ((id * 137.508) % 360).toFixed(0) + ',62%,52%)'; }
  function statusClass (s) { return s === null ? 's0' : 's' + Math.floor(s / 100); }
  function layoutRows (order) {
    grouped = order === 'connection';
    const sorted = byConnection.slice();
    if (order === 'start') sorted.sort((a, b) => a.start_ms - b.start_ms || a.conn_id - b.conn_id || a.request_index - b.request_index);
    if (order === 'total') sorted.sort((a, b) => (b.total_ms === null ? Infinity : b.total_ms) - (a.total_ms === null ? Infinity : a.total_ms) || a.start_ms - b.start_ms);
    sorted.forEach((r, i) => { rows[i] = r; });
    groups = [];
    rows.forEach((r, i) => {
      const g = groups[groups.length - 1];
      if (grouped && g && g[2] === r.conn_id) { g[1] = i; g[3] = Math.min(g[3], r.start_ms); g[4] = Math.max(g[4], r.end_ms); } else groups.push([i, i, r.conn_id, r.start_ms, r.end_ms]);
    });
    groupOf = new Int32Array(rows.length);
    groups.forEach((g, gi) => { for (let i = g[0]; i <= g[1]; i++) groupOf[i] = gi; });
    const frag = document.createDocumentFragment();
    rows.forEach((r, i) => {
      const g = groups[groupOf[i]];
      // The Host and target as sent (the URL is percent-encoded as HAR has it).
      const scheme = r.url.startsWith('https:') ? 'https://' : 'http://';
      const hostPart = r.path !== null && /^https?:\/\//i.test(r.path) ? '' : scheme + (r.host !== null ? r.host : r.server);
      const pathPart = r.path !== null ? r.path : '';
      const cid = !grouped ? '#' + r.conn_id + (r.request_index ? '·' + r.request_index : '') : i === g[0] ? '#' + r.conn_id : '↳' + r.request_index;
      const row = el('div', { class: 'wf-row' + (groupOf[i] % 2 ? ' alt' : ''), 'data-i': i },
        el('span', { class: 'cb', style: 'background:' + connColor(r.conn_id) }),
        el('span', { class: 'cid' + (r.reused ? ' reuse' : '') }, cid),
        el('span', { class: 'st ' + statusClass(r.status) }, r.status === null ? '—' : r.status),
        el('span', { class: 'm' }, r.method === null ? '?' : r.method),
        el('span', { class: 'u' }, el('span', { class: 'h' }, hostPart), pathPart));
      frag.appendChild(row);
    });
    if (hidden) {
      frag.appendChild(el('div', { class: 'wf-agg', id: 'wf-hidden' }, '+ ' + fmtInt(hidden.requests) + ' requests not drawn: started per bucket →'));
    }
    labels.replaceChildren(frag);
  }
  layoutRows('connection');
  orderBox.addEventListener('change', () => {
    layoutRows(orderBox.value);
    filterBox.dispatchEvent(new Event('input'));
  });

  // The over-time charts show the waterfall's window as a band.
  const viewListeners = [];
  let hoverRow = -1;
  const dpr = window.devicePixelRatio || 1;
  function sizeCanvas (c, w, h) {
    c.width = Math.max(1, Math.round(w * dpr)); c.height = Math.max(1, Math.round(h * dpr));
    c.style.width = w + 'px'; c.style.height = h + 'px';
    const ctx = c.getContext('2d'); ctx.setTransform(dpr, 0, 0, dpr, 0, 0); return ctx;
  }
  function trackWidth () { return Math.max(100, track.clientWidth); }
  function xOf (t, w) { return (t - v0) / (v1 - v0) * w; }
  function ticks (w) {
    const step = niceStep(v1 - v0, Math.max(2, Math.floor(w / 110)));
    const out = [];
    for (let t = Math.ceil(v0 / step) * step; t <= v1; t += step) out.push(t);
    return [out, step];
  }
  function drawAxis () {
    const w = trackWidth();
    const ctx = sizeCanvas(axisCanvas, w, 24);
    ctx.clearRect(0, 0, w, 24);
    ctx.font = '10.5px system-ui, "DejaVu Sans", sans-serif'; ctx.fillStyle = '#667085'; ctx.strokeStyle = '#c4c9d2';
    const [ts, step] = ticks(w);
    for (const t of ts) {
      const x = Math.round(xOf(t, w)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, 16); ctx.lineTo(x, 24); ctx.stroke();
      ctx.fillText(relTime(t, step), x + 3, 13);
    }
    rangeLabel.textContent = relTime(v0, (v1 - v0) / 10) + ' – ' + relTime(v1, (v1 - v0) / 10) + ' (' + fmtMs(v1 - v0) + ' shown)';
  }
  function drawOverview () {
    const w = Math.max(100, ovBox.clientWidth); const h = 46;
    const ctx = sizeCanvas(ovCanvas, w, h);
    ctx.clearRect(0, 0, w, h);
    const x = t => (t - fullStart) / (fullEnd - fullStart) * w;
    const n = Math.max(1, rows.length);
    const rh = Math.max(1, (h - 6) / n);
    rows.forEach((r, i) => {
      const y = 3 + i * (h - 6) / n;
      for (const [p, a, b] of r.segments) {
        ctx.fillStyle = PHASE_COLORS[p];
        ctx.fillRect(x(a), y, Math.max(1, x(b) - x(a)), Math.min(rh, 3));
      }
    });
    ctx.fillStyle = 'rgba(37,99,235,0.10)'; ctx.strokeStyle = 'rgba(37,99,235,0.7)';
    const a = x(v0); const b = x(v1);
    ctx.fillRect(a, 0, Math.max(2, b - a), h); ctx.strokeRect(a + 0.5, 0.5, Math.max(2, b - a) - 1, h - 1);
  }
  function draw () {
    const w = trackWidth();
    const vh = Math.min(body.clientHeight || 400, nLines * ROW_H);
    const ctx = sizeCanvas(canvas, w, Math.max(ROW_H, vh));
    const top = body.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_H));
    const last = Math.min(nLines - 1, Math.ceil((top + vh) / ROW_H));
    const off = first * ROW_H - top;
    ctx.clearRect(0, 0, w, vh);
    // bands
    for (let i = first; i <= last && i < rows.length; i++) {
      const y = off + (i - first) * ROW_H;
      if (i === hoverRow) { ctx.fillStyle = '#e8f0fe'; ctx.fillRect(0, y, w, ROW_H); } else if (groupOf[i] % 2) { ctx.fillStyle = '#f8f9fb'; ctx.fillRect(0, y, w, ROW_H); }
    }
    // grid
    const [ts] = ticks(w);
    ctx.strokeStyle = '#eef0f4'; ctx.lineWidth = 1;
    for (const t of ts) { const x = Math.round(xOf(t, w)) + 0.5; ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, vh); ctx.stroke(); }
    // end of capture
    const xe = xOf(D.end_ms, w);
    if (xe > 0 && xe < w) { ctx.strokeStyle = '#fda29b'; ctx.setLineDash([3, 3]); ctx.beginPath(); ctx.moveTo(xe, 0); ctx.lineTo(xe, vh); ctx.stroke(); ctx.setLineDash([]); }
    for (let i = first; i <= last && i < rows.length; i++) {
      const r = rows[i]; const y = off + (i - first) * ROW_H;
      const g = groups[groupOf[i]];
      // the connection's span (its drawn requests), so that reuse and idle time show
      if (g[1] > g[0]) {
        ctx.strokeStyle = connColor(r.conn_id); ctx.globalAlpha = 0.45;
        const a = xOf(g[3], w); const b = xOf(g[4], w);
        ctx.beginPath(); ctx.moveTo(Math.max(-1, a), y + ROW_H - 3.5); ctx.lineTo(Math.min(w + 1, b), y + ROW_H - 3.5); ctx.stroke();
        ctx.globalAlpha = 1;
      }
      ctx.globalAlpha = match && !match[i] ? 0.18 : 1;
      for (const [p, a0, b0] of r.segments) {
        const a = xOf(a0, w); const b = xOf(b0, w);
        if (b < -2 || a > w + 2) continue;
        const thin = p === 0;
        ctx.fillStyle = PHASE_COLORS[p];
        ctx.fillRect(Math.max(-2, a), y + (thin ? 8 : 5), Math.max(1, Math.min(w + 2, b) - Math.max(-2, a)), thin ? 4 : 10);
      }
      if (r.status === null || r.status >= 400 || !r.complete) {
        const b = xOf(r.end_ms, w) + 4;
        if (b > 0 && b < w - 60) {
          ctx.fillStyle = r.status === null ? '#d92d20' : r.status >= 500 ? '#d92d20' : r.status >= 400 ? '#dc6803' : '#98a2b3';
          ctx.font = '10px system-ui, "DejaVu Sans", sans-serif';
          ctx.fillText(r.status === null ? 'no response' : r.status >= 400 ? String(r.status) : 'incomplete', b, y + 14);
        }
      } else if (r.total_ms !== null) {
        const b = xOf(r.end_ms, w) + 4;
        if (b > 0 && b < w - 50) { ctx.fillStyle = '#98a2b3'; ctx.font = '10px system-ui, "DejaVu Sans", sans-serif'; ctx.fillText(fmtMs(r.total_ms), b, y + 14); }
      }
    }
    ctx.globalAlpha = 1;
    if (hidden && last >= rows.length) {
      const y = off + (rows.length - first) * ROW_H;
      const max = Math.max(1, ...hidden.buckets);
      ctx.fillStyle = '#98a2b3';
      hidden.buckets.forEach((c, i) => {
        if (!c) return;
        const a = xOf(OT.start_ms + i * OT.bucket_ms, w); const b = xOf(OT.start_ms + (i + 1) * OT.bucket_ms, w);
        const hh = Math.max(1, (ROW_H - 4) * c / max);
        ctx.fillRect(a, y + ROW_H - 2 - hh, Math.max(1, b - a - 0.5), hh);
      });
    }
  }
  let pending = false;
  // The rows on every change; the axis and the overview (all rows) only when the window moves.
  let pendingFull = false;
  function redraw (full) {
    pendingFull = pendingFull || full !== false;
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false; draw();
      if (pendingFull) { pendingFull = false; drawAxis(); drawOverview(); }
    });
  }
  function redrawRows () { redraw(false); }
  function setView (a, b) {
    const minSpan = 0.001;
    if (b - a < minSpan) { const c = (a + b) / 2; a = c - minSpan / 2; b = c + minSpan / 2; }
    const span = fullEnd - fullStart;
    if (b - a > span) { a = fullStart; b = fullEnd; }
    if (a < fullStart) { b += fullStart - a; a = fullStart; }
    if (b > fullEnd) { a -= b - fullEnd; b = fullEnd; }
    v0 = a; v1 = b; redraw();
    for (const f of viewListeners) f();
  }
  function zoomAt (f, c) { setView(c - (c - v0) * f, c + (v1 - c) * f); }
  function pan (d) { setView(v0 + d, v1 + d); }
  body.addEventListener('scroll', redrawRows, { passive: true });
  window.addEventListener('resize', redraw);
  canvas.addEventListener('wheel', ev => {
    const rect = canvas.getBoundingClientRect();
    const t = v0 + (ev.clientX - rect.left) / rect.width * (v1 - v0);
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { ev.preventDefault(); zoomAt(Math.exp(ev.deltaY * 0.002), t); } else if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) { ev.preventDefault(); pan((ev.shiftKey ? ev.deltaY : ev.deltaX) / rect.width * (v1 - v0)); }
  }, { passive: false });
  let drag = null;
  canvas.addEventListener('mousedown', ev => { drag = { x: ev.clientX, a: v0, b: v1 }; canvas.classList.add('dragging'); ev.preventDefault(); });
  window.addEventListener('mouseup', () => { drag = null; canvas.classList.remove('dragging'); ovDrag = null; });
  window.addEventListener('mousemove', ev => {
    if (drag) { const w = trackWidth(); const d = (ev.clientX - drag.x) / w * (drag.b - drag.a); setView(drag.a - d, drag.b - d); }
    if (ovDrag) { const rect = ovBox.getBoundingClientRect(); const t = fullStart + (ev.clientX - rect.left) / rect.width * (fullEnd - fullStart); setView(Math.min(ovDrag, t), Math.max(ovDrag, t)); }
  });
  body.tabIndex = 0;
  body.addEventListener('keydown', ev => {
    const c = (v0 + v1) / 2;
    if (ev.key === '+' || ev.key === '=') zoomAt(0.5, c);
    else if (ev.key === '-') zoomAt(2, c);
    else if (ev.key === 'ArrowLeft') pan(-(v1 - v0) * 0.2);
    else if (ev.key === 'ArrowRight') pan((v1 - v0) * 0.2);
    else if (ev.key === '0') setView(fitStart, fitEnd);
    else return;
    ev.preventDefault();
  });
  canvas.addEventListener('dblclick', ev => { const rect = canvas.getBoundingClientRect(); zoomAt(0.5, v0 + (ev.clientX - rect.left) / rect.width * (v1 - v0)); });
  let ovDrag = null;
  ovBox.addEventListener('mousedown', ev => { const rect = ovBox.getBoundingClientRect(); ovDrag = fullStart + (ev.clientX - rect.left) / rect.width * (fullEnd - fullStart); ev.preventDefault(); });
  function rowTip (ev, i) {
    const r = rows[i];
    const seg = [];
    const names = ['blocked', 'dns', 'connect', 'tls', 'send', 'wait', 'receive'];
    const dur = [null, r.dns_ms, r.connect_ms, r.tls_ms, r.send_ms, r.wait_ms, r.receive_ms];
    const blocked = r.segments.filter(s => s[0] === 0).reduce((a, s) => a + s[2] - s[1], 0);
    dur[0] = blocked > 0 ? blocked : null;
    for (let p = 0; p < 7; p++) {
      if (dur[p] === null || dur[p] === undefined) continue;
      seg.push([el('span', null, el('i', { style: 'background:' + PHASE_COLORS[p] }), PHASE_LABELS[p]), fmtMs(dur[p])]);
    }
    void names;
    const pairs = [
      ['status', (r.status === null ? 'no response' : String(r.status)) + ' · ' + r.version + (r.complete ? '' : ' · incomplete')],
      ['server', r.server + (r.server_name ? ' (SNI ' + r.server_name + ')' : r.host ? ' (Host ' + r.host + ')' : '')],
      ['client', r.client],
      ['connection', '#' + r.conn_id + ' · request ' + r.request_index + (r.stream_id !== null ? ' · stream ' + r.stream_id : '') +
        (r.reused ? ' · reused' : ' · new') + (r.tls_resumed === true ? ' · TLS resumed' : r.tls_resumed === false ? ' · full TLS handshake' : '')],
      ['started', '+' + fmtMs(r.start_ms) + ' · ' + absTime(r.start_ms)],
      ...seg,
      ['total', r.total_ms === null ? '– (response not seen whole)' : fmtMs(r.total_ms)],
      ['bytes', 'request ' + fmtBytes(r.request_bytes) + ' · response ' + fmtBytes(r.response_bytes)]
    ];
    showTip(ev, (r.method === null ? '?' : r.method) + ' ' + r.url, pairs);
  }
  function setHover (i) {
    if (i === hoverRow) return;
    const old = labels.children[hoverRow]; if (old) old.classList.remove('hover');
    hoverRow = i;
    const cur = labels.children[i]; if (cur && i < rows.length) cur.classList.add('hover');
    redrawRows();
  }
  canvas.addEventListener('mousemove', ev => {
    if (drag) { hideTip(); return; }
    const rect = canvas.getBoundingClientRect();
    const i = Math.floor((ev.clientY - rect.top + body.scrollTop) / ROW_H);
    if (i >= 0 && i < rows.length) { setHover(i); rowTip(ev, i); } else if (hidden && i === rows.length) {
      setHover(-1);
      const t = v0 + (ev.clientX - rect.left) / rect.width * (v1 - v0);
      const b = Math.floor((t - OT.start_ms) / OT.bucket_ms);
      showTip(ev, 'Requests not drawn', [['bucket', '+' + fmtMs(OT.start_ms + b * OT.bucket_ms) + ' … +' + fmtMs(OT.start_ms + (b + 1) * OT.bucket_ms)], ['started', fmtInt(hidden.buckets[b] || 0)]]);
    } else { setHover(-1); hideTip(); }
  });
  canvas.addEventListener('mouseleave', () => { setHover(-1); hideTip(); });
  labels.addEventListener('mousemove', ev => {
    const rowEl = ev.target.closest('.wf-row');
    if (!rowEl) { hideTip(); return; }
    const i = Number(rowEl.getAttribute('data-i'));
    setHover(i); rowTip(ev, i);
  });
  labels.addEventListener('mouseleave', () => { setHover(-1); hideTip(); });

  // ---- histograms ----
  const histCard = el('section', { class: 'card', id: 'histograms' },
    el('h2', null, 'Latency distributions', el('span', { class: 'sub' }, 'log scale · marks: p50, p95, p99 of the report (nearest rank)')));
  const hgrid = el('div', { class: 'grid2' });
  histCard.appendChild(hgrid);
  main.appendChild(histCard);
  const source = { connect: 'connections table, connect', tls: 'tls table, handshake', dns: 'dns table, latency (answered queries)', wait: 'http table, wait' };
  for (const h of D.histograms) {
    const box = el('div', { class: 'chart', 'data-histogram': h.name });
    box.appendChild(el('h3', null, h.label, el('span', { class: 'muted', style: 'font-weight:400' }, ' · ' + fmtInt(h.count) + ' values · ' + source[h.name])));
    box.appendChild(el('div', { class: 'marks' },
      el('span', { class: 'p50' }, 'p50 ', el('b', null, fmtMs(h.p50_ms))), ' · ',
      el('span', { class: 'p95' }, 'p95 ', el('b', null, fmtMs(h.p95_ms))), ' · ',
      el('span', { class: 'p99' }, 'p99 ', el('b', null, fmtMs(h.p99_ms))), ' · max ', el('b', null, fmtMs(h.max_ms))));
    if (!h.count) { box.appendChild(el('div', { class: 'empty' }, 'no values in this capture')); hgrid.appendChild(box); continue; }
    box.appendChild(histogramSvg(h));
    hgrid.appendChild(box);
  }
  function histogramSvg (h) {
    const w = 560; const hh = 190; const ml = 44; const mr = 14; const mt = 22; const mb = 24;
    const pw = w - ml - mr; const ph = hh - mt - mb;
    const lo = Math.log10(h.edges_ms[0]); const hi = Math.log10(h.edges_ms[h.edges_ms.length - 1]);
    const x = v => ml + (Math.log10(Math.max(v, 1e-9)) - lo) / (hi - lo) * pw;
    const max = Math.max(1, ...h.counts);
    const y = c => mt + ph - c / max * ph;
    const svg = sv('svg', { viewBox: '0 0 ' + w + ' ' + hh, role: 'img' });
    const yStep = niceStep(max, 4, true);
    for (let c = 0; c <= max; c += yStep) {
      svg.appendChild(sv('line', { class: 'grid', x1: ml, x2: w - mr, y1: y(c), y2: y(c) }));
      svg.appendChild(sv('text', { x: ml - 6, y: y(c) + 3, 'text-anchor': 'end' }, shortNum(c)));
    }
    // log ticks
    const mults = hi - lo > 4.5 ? [1] : hi - lo > 2.2 ? [1, 3] : hi - lo > 0.7 ? [1, 2, 5] : [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9];
    let tickVals = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      for (const m of mults) {
        const v = m * Math.pow(10, e); const lv = Math.log10(v);
        if (lv >= lo - 1e-9 && lv <= hi + 1e-9) tickVals.push(v);
      }
    }
    // A narrow range without round values in it: its two ends.
    if (tickVals.length < 2) tickVals = [h.edges_ms[0], h.edges_ms[h.edges_ms.length - 1]];
    {
      for (const v of tickVals) {
        const xx = x(v);
        svg.appendChild(sv('line', { class: 'axis', x1: xx, x2: xx, y1: mt + ph, y2: mt + ph + 4 }));
        svg.appendChild(sv('text', { x: xx, y: mt + ph + 15, 'text-anchor': 'middle' }, fmtTick(v)));
      }
    }
    h.counts.forEach((c, i) => {
      if (!c) return;
      const a = x(h.edges_ms[i]); const b = x(h.edges_ms[i + 1]);
      const bar = sv('rect', { x: a + 0.5, y: y(c), width: Math.max(1, b - a - 1), height: mt + ph - y(c), fill: '#7f9cf5', rx: 1 });
      bar.addEventListener('mousemove', ev => showTip(ev, h.label, [['range', fmtMs(h.edges_ms[i]) + ' – ' + fmtMs(h.edges_ms[i + 1])], ['count', fmtInt(c) + ' (' + pct(c, h.count) + ')']]));
      bar.addEventListener('mouseleave', hideTip);
      svg.appendChild(bar);
    });
    svg.appendChild(sv('line', { class: 'axis', x1: ml, x2: w - mr, y1: mt + ph + 0.5, y2: mt + ph + 0.5 }));
    const marks = [['p50', h.p50_ms, '#079455'], ['p95', h.p95_ms, '#dc6803'], ['p99', h.p99_ms, '#d92d20']];
    let lastX = -100; let row = 0;
    for (const [name, v, color] of marks) {
      if (v === null) continue;
      const xx = x(Math.max(v, h.edges_ms[0]));
      row = xx - lastX < 40 ? row + 1 : 0; lastX = xx;
      svg.appendChild(sv('line', { x1: xx, x2: xx, y1: mt - 4 + row * 11, y2: mt + ph, stroke: color, 'stroke-width': 1.5, 'stroke-dasharray': '4 3', class: 'mark-' + name }));
      svg.appendChild(sv('text', { x: xx + 3, y: mt - 6 + row * 11, style: 'fill:' + color + ';font-weight:600' }, name));
    }
    return svg;
  }

  // ---- over time ----
  const otCard = el('section', { class: 'card', id: 'over-time' },
    el('h2', null, 'Over time', el('span', { class: 'sub' }, 'per server · buckets of ' + fmtMs(OT.bucket_ms) +
      ' · each connection\'s totals (connections table) spread over its data transfer · dashed band: the waterfall\'s window')));
  main.appendChild(otCard);
  const series = OT.series;
  if (series.length) {
    otCard.appendChild(el('div', { class: 'series-legend' }, series.map((s, i) => el('span', null,
      el('i', { style: 'background:' + SERIES_COLORS[i % SERIES_COLORS.length] }),
      s.name ? s.name : s.server, s.name ? el('span', { class: 'addr' }, s.server) : null,
      el('span', { class: 'addr' }, fmtBytes(s.total_bytes))))));
  }
  const otGrid = el('div', { class: 'grid2' });
  otCard.appendChild(otGrid);
  const bs = OT.bucket_ms / 1000;
  const charts = [
    ['Throughput (payload, both directions)', s => s.c2s_bytes.map((b, i) => (b + s.s2c_bytes[i]) * 8 / bs), fmtBits, 'throughput'],
    ['Retransmitted segments per bucket', s => s.retransmissions, v => v.toFixed(v < 10 ? 1 : 0), 'retransmissions'],
    ['Zero-window segments per bucket', s => s.zero_windows, v => v.toFixed(v < 10 ? 1 : 0), 'zero-windows'],
    ['New connections per bucket', s => s.connections, v => v.toFixed(v < 10 ? 1 : 0), 'connections']
  ];
  for (const [title, get, fmt, id] of charts) {
    const box = el('div', { class: 'chart', 'data-chart': id });
    box.appendChild(el('h3', null, title));
    const data = series.map(get);
    const total = data.reduce((a, d) => a + d.reduce((x, y) => x + y, 0), 0);
    if (!series.length || total === 0) box.appendChild(el('div', { class: 'empty' }, id === 'throughput' ? 'no TCP payload' : 'none in this capture'));
    else box.appendChild(stackedSvg(title, data, fmt, null, id === 'connections'));
    otGrid.appendChild(box);
  }
  {
    const box = el('div', { class: 'chart', 'data-chart': 'requests' });
    box.appendChild(el('h3', null, 'HTTP requests started per bucket'));
    if (OT.requests.some(v => v > 0)) box.appendChild(stackedSvg('Requests started', [OT.requests], v => v.toFixed(0), ['#3867d6'], true));
    else box.appendChild(el('div', { class: 'empty' }, 'no HTTP request'));
    otGrid.appendChild(box);
  }
  function stackedSvg (title, data, fmt, colors, integer) {
    colors = colors || SERIES_COLORS;
    const w = 560; const hh = 170; const ml = 58; const mr = 12; const mt = 10; const mb = 24;
    const pw = w - ml - mr; const ph = hh - mt - mb;
    const n = OT.buckets;
    const sums = new Array(n).fill(0);
    const stacks = data.map(d => { const base = sums.slice(); d.forEach((v, i) => { sums[i] += v; }); return base; });
    const max = Math.max(...sums) || 1;
    const t0 = Math.min(0, OT.start_ms); const t1 = Math.max(D.end_ms, OT.start_ms + n * OT.bucket_ms);
    const x = t => ml + (t - t0) / (t1 - t0 || 1) * pw;
    const y = v => mt + ph - v / max * ph;
    const svg = sv('svg', { viewBox: '0 0 ' + w + ' ' + hh, role: 'img' });
    const yStep = niceStep(max, 4, integer);
    for (let v = 0; v <= max * 1.0001; v += yStep) {
      svg.appendChild(sv('line', { class: 'grid', x1: ml, x2: w - mr, y1: y(v), y2: y(v) }));
      svg.appendChild(sv('text', { x: ml - 6, y: y(v) + 3, 'text-anchor': 'end' }, fmt === fmtBits ? shortNum(v) : shortNum(v)));
    }
    if (fmt === fmtBits) svg.appendChild(sv('text', { x: 4, y: mt + 6 }, 'bit/s'));
    const xStep = niceStep(t1 - t0, 6);
    for (let t = Math.ceil(t0 / xStep) * xStep; t <= t1; t += xStep) {
      svg.appendChild(sv('line', { class: 'axis', x1: x(t), x2: x(t), y1: mt + ph, y2: mt + ph + 4 }));
      svg.appendChild(sv('text', { x: x(t), y: mt + ph + 15, 'text-anchor': 'middle' }, relTime(t, xStep)));
    }
    data.forEach((d, si) => {
      const base = stacks[si];
      d.forEach((v, i) => {
        if (!v) return;
        const a = x(OT.start_ms + i * OT.bucket_ms); const b = x(OT.start_ms + (i + 1) * OT.bucket_ms);
        svg.appendChild(sv('rect', { x: a, y: y(base[i] + v), width: Math.max(0.8, b - a - (b - a > 3 ? 0.6 : 0)), height: Math.max(0.5, y(base[i]) - y(base[i] + v)), fill: colors[si % colors.length] }));
      });
    });
    svg.appendChild(sv('line', { class: 'axis', x1: ml, x2: w - mr, y1: mt + ph + 0.5, y2: mt + ph + 0.5 }));
    const band = sv('rect', { y: mt, height: ph, fill: 'rgba(37,99,235,0.07)', stroke: 'rgba(37,99,235,0.35)', 'stroke-dasharray': '3 3', class: 'view-band' });
    const placeBand = () => {
      const a = Math.max(ml, x(v0)); const b = Math.min(w - mr, x(v1));
      const whole = v0 <= fullStart + 1e-9 && v1 >= fullEnd - 1e-9;
      band.setAttribute('x', a); band.setAttribute('width', Math.max(0, b - a));
      band.setAttribute('visibility', whole || b <= a ? 'hidden' : 'visible');
    };
    placeBand(); viewListeners.push(placeBand);
    svg.appendChild(band);
    const hover = sv('rect', { x: ml, y: mt, width: pw, height: ph, fill: 'transparent' });
    hover.addEventListener('mousemove', ev => {
      const rect = svg.getBoundingClientRect();
      const px = (ev.clientX - rect.left) / rect.width * w;
      const t = t0 + (px - ml) / pw * (t1 - t0);
      const i = Math.floor((t - OT.start_ms) / OT.bucket_ms);
      if (i < 0 || i >= n) { hideTip(); return; }
      const pairs = [['bucket', '+' + fmtMs(OT.start_ms + i * OT.bucket_ms) + ' … +' + fmtMs(OT.start_ms + (i + 1) * OT.bucket_ms)]];
      data.forEach((d, si) => { if (d[i]) pairs.push([data.length > 1 ? (series[si].name || series[si].server) : 'value', fmt(d[i])]); });
      showTip(ev, title, pairs);
    });
    hover.addEventListener('mouseleave', hideTip);
    svg.appendChild(hover);
    return svg;
  }

  // ---- tables ----
  function table (id, cols, data, opts) {
    opts = opts || {};
    const t = el('table', { class: 'data', id });
    const thead = el('thead'); const tbody = el('tbody');
    const tr = el('tr');
    let sortCol = opts.sort === undefined ? -1 : opts.sort; let asc = false;
    cols.forEach((c, ci) => {
      const th = el('th', { class: (c.left ? 'l' : '') + (ci === sortCol ? ' sorted' : ''), title: c.title || null }, c.name);
      th.addEventListener('click', () => { if (sortCol === ci) asc = !asc; else { sortCol = ci; asc = !!c.left; } render(); });
      tr.appendChild(th);
    });
    thead.appendChild(tr); t.appendChild(thead); t.appendChild(tbody);
    function render () {
      const rowsS = data.slice();
      if (sortCol >= 0) {
        const key = cols[sortCol].key || cols[sortCol].get;
        rowsS.sort((a, b) => { const x = key(a); const y = key(b); const c = (x === null) - (y === null) || (x < y ? -1 : x > y ? 1 : 0); return asc ? c : -c; });
      }
      tbody.replaceChildren(...rowsS.map(r => el('tr', null, cols.map(c => {
        const v = c.get(r);
        return el('td', { class: (c.left ? 'l' : '') + (c.cls ? ' ' + c.cls : '') }, c.fmt ? c.fmt(v, r) : v === null ? '–' : v);
      }))));
      [...thead.querySelectorAll('th')].forEach((th, ci) => { th.classList.toggle('sorted', ci === sortCol); th.classList.toggle('asc', ci === sortCol && asc); });
    }
    render();
    return el('div', { class: 'tablewrap' + (opts.scroll ? ' scroll' : '') }, t);
  }
  const hostCard = el('section', { class: 'card', id: 'servers' },
    el('h2', null, 'Servers', el('span', { class: 'sub' }, 'named by SNI, else Host, else address (the report\'s per-server table) · click a column to sort')));
  main.appendChild(hostCard);
  const pctCell = (p, w) => w ? (100 * p / w).toFixed(1) + ' %' : '–';
  if (R.hosts.length) {
    hostCard.appendChild(table('hosts-table', [
      { name: 'Server', left: true, get: h => h.host, cls: 'mono' },
      { name: 'Port', get: h => h.port },
      { name: 'Name from', left: true, get: h => h.name_from },
      { name: 'Requests', get: h => h.requests, fmt: fmtInt },
      { name: 'New conns', get: h => h.new_connections, fmt: fmtInt },
      { name: 'Reuse', get: h => h.requests ? h.reused_requests / h.requests : null, fmt: (v, h) => pctCell(h.reused_requests, h.requests) },
      { name: 'TLS resumed', get: h => h.tls_connections ? h.tls_resumed / h.tls_connections : null, fmt: (v, h) => pctCell(h.tls_resumed, h.tls_connections) },
      { name: '2xx', get: h => h.status['2xx'], fmt: fmtInt },
      { name: '3xx', get: h => h.status['3xx'], fmt: fmtInt },
      { name: '4xx', get: h => h.status['4xx'], fmt: v => v ? el('span', { class: 'bad' }, fmtInt(v)) : '0' },
      { name: '5xx', get: h => h.status['5xx'], fmt: v => v ? el('span', { class: 'bad' }, fmtInt(v)) : '0' },
      { name: 'No resp.', get: h => h.status.none, fmt: v => v ? el('span', { class: 'bad' }, fmtInt(v)) : '0' },
      { name: 'Wait p50', get: h => h.wait.p50_ns, fmt: fmtNs },
      { name: 'Wait p95', get: h => h.wait.p95_ns, fmt: fmtNs },
      { name: 'Total p50', get: h => h.total.p50_ns, fmt: fmtNs },
      { name: 'Total p95', get: h => h.total.p95_ns, fmt: fmtNs },
      { name: 'Conns', get: h => h.connections, fmt: fmtInt },
      { name: 'Failed', get: h => h.failed_connections, fmt: v => v ? el('span', { class: 'bad' }, fmtInt(v)) : '0' },
      { name: 'Retrans.', get: h => h.segments ? h.retransmissions / h.segments : null, fmt: (v, h) => pctCell(h.retransmissions, h.segments) }
    ], R.hosts, { sort: 3 }));
  } else hostCard.appendChild(el('div', { class: 'none' }, 'No server in this capture.'));

  const failCard = el('section', { class: 'card', id: 'failures' }, el('h2', null, 'Failures'));
  main.appendChild(failCard);
  const cols3 = el('div', { class: 'cols3' });
  failCard.appendChild(cols3);
  {
    const box = el('div', { id: 'failed-connections' }, el('h3', null, 'Failed connections · ' + fmtInt(C.failed)));
    if (C.failures.length) {
      box.appendChild(table('failures-by-server', [
        { name: 'Server', left: true, get: f => f.server, cls: 'mono' },
        { name: 'Failure', left: true, get: f => f.failure },
        { name: 'Connections', get: f => f.connections, fmt: fmtInt }
      ], C.failures, { sort: 2 }));
      box.appendChild(el('div', { class: 'note pad' }, 'The first ' + fmtInt(C.failed_connections.length) + ' failed connections:'));
      box.appendChild(table('failed-list', [
        { name: 'Start', get: c => c.start_ts, fmt: v => '+' + fmtMs(v / 1e6 - originMs) },
        { name: 'Client', left: true, get: c => c.client, cls: 'mono' },
        { name: 'Server', left: true, get: c => c.server, cls: 'mono' },
        { name: 'Failure', left: true, get: c => c.failure },
        { name: 'SYN retries', get: c => c.syn_retries }
      ], C.failed_connections, { scroll: true }));
    } else box.appendChild(el('div', { class: 'none' }, 'No failed connection.'));
    cols3.appendChild(box);
  }
  {
    const box = el('div', { id: 'dns-failures' }, el('h3', null, 'DNS failures by name · ' + fmtInt(dnsFailed)));
    if (DN.failed_names.length) {
      box.appendChild(table('dns-failed', [
        { name: 'Name', left: true, get: f => f.name, cls: 'mono wrap' },
        { name: 'Failed', get: f => f.failures, fmt: fmtInt },
        { name: 'NXDOMAIN', get: f => f.nxdomain, fmt: fmtInt },
        { name: 'SERVFAIL', get: f => f.servfail, fmt: fmtInt },
        { name: 'Other rcode', get: f => f.other_rcode, fmt: fmtInt },
        { name: 'Unanswered', get: f => f.unanswered, fmt: fmtInt },
        { name: 'ICMP', get: f => f.icmp_unreachable, fmt: fmtInt }
      ], DN.failed_names, { sort: 1 }));
    } else box.appendChild(el('div', { class: 'none' }, 'No failed DNS query.'));
    if (DN.slowest_names.length) {
      box.appendChild(el('h3', null, 'Slowest DNS names'));
      box.appendChild(table('dns-slowest', [
        { name: 'Name', left: true, get: f => f.name, cls: 'mono wrap' },
        { name: 'Answered', get: f => f.answered, fmt: fmtInt },
        { name: 'Slowest', get: f => f.max_ns, fmt: fmtNs }
      ], DN.slowest_names.slice(0, 10), { sort: 2 }));
    }
    cols3.appendChild(box);
  }
  {
    const E = D.http_errors;
    const box = el('div', { id: 'http-errors', class: 'wide' }, el('h3', null, 'HTTP errors · ' + fmtInt(E.count_4xx) + ' 4xx · ' + fmtInt(E.count_5xx) + ' 5xx'));
    if (E.first.length) {
      box.appendChild(table('http-errors-table', [
        { name: 'Start', get: r => r.start_ms, fmt: v => '+' + fmtMs(v) },
        { name: 'Status', get: r => r.status, fmt: v => el('span', { class: 'bad' }, v) },
        { name: 'Method', left: true, get: r => r.method, cls: 'mono' },
        { name: 'Host', left: true, get: r => r.host, cls: 'mono wrap' },
        { name: 'Target', left: true, get: r => r.path, cls: 'mono wrap' },
        { name: 'Server', left: true, get: r => r.server, cls: 'mono' },
        { name: 'Wait', get: r => r.wait_ms, fmt: fmtMs },
        { name: 'Conn', get: r => r.conn_id }
      ], E.first, { scroll: true }));
      if (E.first.length < E.count_4xx + E.count_5xx) box.appendChild(el('div', { class: 'note pad' }, 'The first ' + E.first.length + ' by start time.'));
    } else box.appendChild(el('div', { class: 'none' }, 'No 4xx or 5xx response.'));
    cols3.appendChild(box);
  }

  app.appendChild(el('footer', null, 'Made by ' + D.generator + ' from the capture alone (capture timestamps; no clock of this machine). ' +
    'Data: the http, connections, tls and dns tables and the JSON report (docs/html.md, docs/metrics.md, docs/summary.md). ' +
    'Waterfall: drag or Shift + wheel to pan, Ctrl + wheel or double-click to zoom, drag in the overview to choose a window; keys + − ← → 0 when the waterfall has the focus.'));

  draw(); drawAxis(); drawOverview();
  // Script time, and time since the navigation started (what a reader waits).
  document.body.setAttribute('data-script-ms', (performance.now() - T0).toFixed(1));
  document.body.setAttribute('data-ready-ms', performance.now().toFixed(1));
  app.setAttribute('aria-busy', 'false');
  document.body.setAttribute('data-ready', 'true');
})();
