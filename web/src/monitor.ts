/// <reference lib="dom" />
/**
 * The live monitoring dashboard (/demo/monitor): subscribes to the channel `chorus agent` processes publish to
 * (`metrics`, or ?channel=…), keeps the last minute of every agent's reports, plots CPU, memory and load with
 * one series per agent (uPlot), and shows a card per agent with its latest values. An agent is offline when it
 * leaves the channel (join/leave events) or has not reported for 3 of its intervals (at least 3 s); it comes
 * back online with its next report. History and presence fill the picture in when the page opens.
 *
 * Everything agents publish is untrusted: reports are validated and all text goes in through textContent.
 * An agent is who the server says published the report: the user of its verified connection token (the
 * publication's info), never the name in the payload, so one agent cannot write into another's card. Only
 * anonymous reports (the development preset lets anonymous agents report) and reports published through the
 * server API (no client info) go by the payload's name. At most MAX_AGENTS cards: a newcomer takes the place of
 * the longest-silent offline agent, never of an online one.
 */
import { Centrifuge, type ClientInfo, type PublicationContext } from 'centrifuge';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './monitor.css';

const WINDOW_S = 60;
const KEEP_S = WINDOW_S + 5;
const MIN_OFFLINE_MS = 3000;
const MAX_AGENTS = 50;
const PALETTE_SIZE = 10;

interface Report {
  name: string;
  cpu: number;
  mem: number;
  load1: number;
  ts: number;
  interval: number;
  memUsed?: number;
  memTotal?: number;
  cpus?: number;
}

/** A plotted point; a gap marker (all null) breaks the lines where an agent was silent. */
interface Point {
  x: number;
  ts: number;
  cpu: number | null;
  mem: number | null;
  load: number | null;
}

type Metric = 'cpu' | 'mem' | 'load';

interface Card {
  root: HTMLElement;
  status: HTMLElement;
  cpu: HTMLElement;
  cpuBar: HTMLElement;
  mem: HTMLElement;
  memBar: HTMLElement;
  memBytes: HTMLElement;
  load: HTMLElement;
  cpus: HTMLElement;
  seen: HTMLElement;
}

interface Agent {
  name: string;
  slot: number;
  last: Report;
  points: Point[];
  /** Browser time (ms) of the latest report. */
  lastSeen: number;
  /** Browser clock minus agent clock, smallest seen (≈ clock offset + network latency). */
  skew: number | undefined;
  client: string | undefined;
  left: boolean;
  online: boolean;
  card: Card;
}

const params = new URLSearchParams(location.search);
const channel = params.get('channel') || 'metrics';
const agents = new Map<string, Agent>();

// ---------------------------------------------------------------------------------------------------------------
// Reports

function num(v: unknown, min = 0, max = Number.POSITIVE_INFINITY): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : undefined;
}

/**
 * A report, or undefined for anything else published on the channel. `user` is the publisher's user as the server
 * verified it: when there is one, it is the agent's name, whatever the payload says.
 */
function parseReport(data: unknown, user: string): Report | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  const claimed = user !== '' ? user : d.name;
  const name = typeof claimed === 'string' ? claimed.trim().slice(0, 80) : '';
  const cpu = num(d.cpu, 0, 100);
  const mem = num(d.mem, 0, 100);
  const load1 = num(d.load1, 0, 1e6);
  const ts = num(d.ts, 1);
  if (name === '' || cpu === undefined || mem === undefined || load1 === undefined || ts === undefined) return;
  return {
    name,
    cpu,
    mem,
    load1,
    ts,
    interval: num(d.interval, 50, 3_600_000) ?? 1000,
    memUsed: num(d.memUsed),
    memTotal: num(d.memTotal),
    cpus: num(d.cpus, 1, 1e5),
  };
}

function offlineAfter(a: Agent): number {
  return Math.max(3 * a.last.interval, MIN_OFFLINE_MS);
}

/** Adds a report; `live` ones arrived just now, the others come from history. */
function ingest(data: unknown, info: ClientInfo | undefined, live: boolean): void {
  const r = parseReport(data, info?.user ?? '');
  if (r === undefined) return;
  const now = Date.now();
  let a = agents.get(r.name);
  if (a === undefined) {
    if (agents.size >= MAX_AGENTS && !evictOne(now)) return;
    a = {
      name: r.name,
      slot: nextSlot++,
      last: r,
      points: [],
      lastSeen: 0,
      skew: undefined,
      client: undefined,
      left: false,
      online: false,
      card: makeCard(r.name, nextSlot - 1),
    };
    agents.set(r.name, a);
    placeCard(a);
  }
  if (a.points.some((p) => p.ts === r.ts)) return; // recovered or fetched twice
  if (live) {
    const d = now - r.ts;
    if (a.skew === undefined || d < a.skew || Math.abs(d - a.skew) > 5000) a.skew = d;
  }
  const x = Math.min(now, r.ts + (a.skew ?? 0)) / 1000;
  // Older than the charts show (history can be): it still tells when the agent was last heard of.
  if (x >= now / 1000 - KEEP_S)
    insertPoint(a, { x, ts: r.ts, cpu: r.cpu, mem: r.mem, load: r.load1 }, r.interval / 1000);
  if (r.ts >= a.last.ts || a.lastSeen === 0) {
    a.last = r;
    a.lastSeen = live ? now : x * 1000;
    if (info !== undefined) a.client = info.client;
    if (live) a.left = false;
  }
  updateCard(a, now);
  scheduleDraw();
}

let nextSlot = 0;

/** Makes room for a new agent: drops the offline one silent longest. False when every agent is online. */
function evictOne(now: number): boolean {
  let victim: Agent | undefined;
  for (const a of agents.values()) {
    updateCard(a, now);
    if (!a.online && (victim === undefined || a.lastSeen < victim.lastSeen)) victim = a;
  }
  if (victim === undefined) return false;
  victim.card.root.remove();
  agents.delete(victim.name);
  return true;
}

/** Keeps points in time order, with a gap marker wherever the agent was silent for more than 2.5 intervals. */
function insertPoint(a: Agent, p: Point, interval: number): void {
  const pts = a.points;
  let i = pts.length;
  while (i > 0 && (pts[i - 1] as Point).x > p.x) i--;
  const prev = pts[i - 1];
  const next = pts[i];
  const gap = (from: Point, to: Point) => to.x - from.x > 2.5 * interval && from.cpu !== null && to.cpu !== null;
  const marker = (after: Point): Point => ({ x: after.x + interval, ts: -1, cpu: null, mem: null, load: null });
  const add: Point[] = [];
  if (prev !== undefined && gap(prev, p)) add.push(marker(prev));
  add.push(p);
  if (next !== undefined && gap(p, next)) add.push(marker(p));
  pts.splice(i, 0, ...add);
}

function leave(info: ClientInfo): void {
  for (const a of agents.values()) {
    if (a.client !== undefined && a.client === info.client) a.left = true;
  }
  tick();
}

// ---------------------------------------------------------------------------------------------------------------
// Cards

const $ = <T extends HTMLElement>(sel: string, root: ParentNode = document): T => root.querySelector(sel) as T;
const agentsEl = $('#mon-agents');
const chartsEl = $('#mon-charts');

function el(tag: string, cls: string, text = ''): HTMLElement {
  const e = document.createElement(tag);
  if (cls !== '') e.className = cls;
  if (text !== '') e.textContent = text;
  return e;
}

function stat(label: string, unit: string): { row: HTMLElement; value: HTMLElement; extra: HTMLElement } {
  const row = el('div', 'mon-stat');
  row.append(el('dt', '', label));
  const dd = el('dd', '');
  const value = el('span', 'mon-value', '–');
  dd.append(value);
  if (unit !== '') dd.append(el('span', 'mon-unit', unit));
  const extra = el('span', 'mon-extra');
  dd.append(extra);
  row.append(dd);
  return { row, value, extra };
}

function makeCard(name: string, slot: number): Card {
  const root = el('article', 'mon-agent');
  root.dataset.agent = name;
  root.style.setProperty('--mon-c', `var(--mon-s${slot % PALETTE_SIZE})`);
  const head = el('header', 'mon-agent-head');
  head.append(el('span', 'mon-swatch'));
  const h = el('h2', 'mon-agent-name', name);
  h.title = name;
  head.append(h);
  const status = el('span', 'badge mon-status', 'online');
  head.append(status);
  root.append(head);
  const dl = el('dl', 'mon-stats');
  const cpu = stat('CPU', '%');
  const cpuBar = el('span', 'mon-bar-fill');
  const cpuTrack = el('span', 'mon-track');
  cpuTrack.append(cpuBar);
  cpu.row.append(cpuTrack);
  const mem = stat('Memory', '%');
  const memBar = el('span', 'mon-bar-fill');
  const memTrack = el('span', 'mon-track');
  memTrack.append(memBar);
  mem.row.append(memTrack);
  const load = stat('Load 1m', '');
  dl.append(cpu.row, mem.row, load.row);
  root.append(dl);
  const seen = el('p', 'mon-seen');
  root.append(seen);
  return {
    root,
    status,
    cpu: cpu.value,
    cpuBar,
    mem: mem.value,
    memBar,
    memBytes: mem.extra,
    load: load.value,
    cpus: load.extra,
    seen,
  };
}

function placeCard(a: Agent): void {
  const after = [...agents.values()]
    .filter((b) => b !== a && b.name.localeCompare(a.name) > 0)
    .sort((b, c) => b.name.localeCompare(c.name))[0];
  agentsEl.insertBefore(a.card.root, after === undefined ? null : after.card.root);
}

function bytes(n: number): string {
  const gib = n / 2 ** 30;
  return gib >= 1 ? `${gib.toFixed(gib >= 100 ? 0 : 1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function every(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function updateCard(a: Agent, now: number): void {
  const c = a.card;
  const r = a.last;
  a.online = !a.left && now - a.lastSeen < offlineAfter(a);
  c.root.dataset.state = a.online ? 'online' : 'offline';
  c.status.textContent = a.online ? 'online' : 'offline';
  c.status.dataset.state = a.online ? 'up' : 'down';
  c.cpu.textContent = r.cpu.toFixed(1);
  c.cpuBar.style.width = `${r.cpu}%`;
  c.mem.textContent = r.mem.toFixed(1);
  c.memBar.style.width = `${r.mem}%`;
  c.memBytes.textContent =
    r.memUsed !== undefined && r.memTotal !== undefined ? `${bytes(r.memUsed)} of ${bytes(r.memTotal)}` : '';
  c.load.textContent = r.load1.toFixed(2);
  c.cpus.textContent = r.cpus === undefined ? '' : `${r.cpus} CPU${r.cpus === 1 ? '' : 's'}`;
  c.seen.textContent = a.online
    ? `reports every ${every(r.interval)}`
    : `${a.left ? 'disconnected' : 'silent'} · last report ${ago(now - a.lastSeen)}`;
}

function updateSummary(): void {
  const n = agents.size;
  const on = [...agents.values()].filter((a) => a.online).length;
  $('#mon-summary').textContent =
    n === 0 ? 'no agents yet' : `${n} agent${n === 1 ? '' : 's'} · ${on} online${n > on ? ` · ${n - on} offline` : ''}`;
  $('#mon-empty').hidden = n > 0;
  chartsEl.hidden = n === 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Charts

const dark = matchMedia('(prefers-color-scheme: dark)');

interface ChartSpec {
  metric: Metric;
  fmt: (v: number) => string;
  range: uPlot.Range.Function;
}

const SPECS: ChartSpec[] = [
  { metric: 'cpu', fmt: (v) => `${v.toFixed(1)}%`, range: () => [0, 100] },
  { metric: 'mem', fmt: (v) => `${v.toFixed(1)}%`, range: () => [0, 100] },
  {
    metric: 'load',
    fmt: (v) => v.toFixed(2),
    range: (_u, _min, max) => [0, Math.max(1, Math.ceil((max ?? 0) * 1.25 * 2) / 2)],
  },
];

interface Chart {
  spec: ChartSpec;
  figure: HTMLElement;
  box: HTMLElement;
  plot: uPlot | undefined;
  key: string;
}

const charts: Chart[] = SPECS.map((spec) => {
  const figure = $<HTMLElement>(`.mon-chart[data-metric="${spec.metric}"]`);
  return { spec, figure, box: $<HTMLElement>('.mon-plot', figure), plot: undefined, key: '' };
});

function cssVar(name: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim();
}

function plotWidth(c: Chart): number {
  return Math.max(200, Math.floor(c.box.clientWidth));
}

function plotHeight(): number {
  return window.innerWidth < 640 ? 160 : 200;
}

/** One aligned table for all agents: shared x, undefined where an agent has no point (bridged), null for gaps. */
function table(list: Agent[], metric: Metric, from: number): uPlot.AlignedData {
  const xs = [...new Set(list.flatMap((a) => a.points.filter((p) => p.x >= from).map((p) => p.x)))].sort(
    (a, b) => a - b,
  );
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = list.map((a) => {
    const y: (number | null | undefined)[] = new Array(xs.length).fill(undefined);
    // uPlot breaks a line only between the x values next to a null: a gap covers every x up to the next point.
    let last = -1;
    let gap = false;
    for (const p of a.points) {
      const i = index.get(p.x);
      if (i === undefined) continue;
      if (p[metric] === null) {
        gap = true;
        continue;
      }
      if (gap) y.fill(null, last + 1, i);
      gap = false;
      last = i;
      y[i] = p[metric];
    }
    if (gap) y.fill(null, last + 1);
    return y;
  });
  return [xs, ...ys];
}

const pad2 = (n: number) => String(n).padStart(2, '0');
function clock(t: number): string {
  const d = new Date(t * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

function short(name: string): string {
  return name.length > 24 ? `${name.slice(0, 23)}…` : name;
}

function latest(ys: ArrayLike<number | null | undefined> | undefined): number | null {
  if (ys === undefined) return null;
  for (let i = ys.length - 1; i >= 0; i--) {
    const v = ys[i];
    if (v != null) return v;
  }
  return null;
}

function makePlot(c: Chart, list: Agent[]): uPlot {
  const axis = cssVar('--mon-axis') || '#666';
  const grid = cssVar('--mon-grid') || 'rgba(128,128,128,.15)';
  const colors = list.map((a) => cssVar(`--mon-s${a.slot % PALETTE_SIZE}`) || '#888');
  const font = `12px ${getComputedStyle(document.body).fontFamily || 'system-ui'}`;
  const opts: uPlot.Options = {
    width: plotWidth(c),
    height: plotHeight(),
    cursor: { drag: { x: false, y: false } },
    legend: { live: true, markers: { width: 0, fill: (_u, si) => colors[si - 1] ?? 'transparent' } },
    scales: {
      x: { time: true, range: () => [Date.now() / 1000 - WINDOW_S, Date.now() / 1000] },
      y: { range: c.spec.range },
    },
    axes: [
      {
        stroke: axis,
        font,
        space: 64,
        size: 34,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        values: (_u, splits) => splits.map(clock),
      },
      {
        stroke: axis,
        font,
        size: 48,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        values: (_u, splits) => splits.map((v) => (c.spec.metric === 'load' ? String(v) : `${v}%`)),
      },
    ],
    series: [
      { label: 'time', value: (_u, v) => (v == null ? '' : clock(v)) },
      ...list.map(
        (a, i): uPlot.Series => ({
          label: `${short(a.name)}${a.online ? '' : ' (offline)'}`,
          stroke: colors[i] as string,
          width: 2,
          dash: a.online ? undefined : [5, 4],
          alpha: a.online ? 1 : 0.55,
          points: { show: false },
          spanGaps: false,
          // Hovering: the value under the cursor; otherwise the latest one.
          value: (u, v, si, idx) => {
            const shown = idx == null ? latest(u.data[si]) : v;
            return shown == null ? '–' : c.spec.fmt(shown);
          },
        }),
      ),
    ],
  };
  return new uPlot(opts, table(list, c.spec.metric, Date.now() / 1000 - KEEP_S), c.box);
}

function draw(): void {
  const now = Date.now();
  for (const a of agents.values()) a.points = a.points.filter((p) => p.x >= now / 1000 - KEEP_S);
  if (agents.size === 0) return;
  const list = [...agents.values()].sort((a, b) => a.name.localeCompare(b.name));
  const key = `${dark.matches}|${list.map((a) => `${a.name}:${a.online}`).join('\n')}`;
  for (const c of charts) {
    const data = table(list, c.spec.metric, now / 1000 - KEEP_S);
    if (c.plot === undefined || c.key !== key) {
      c.plot?.destroy();
      c.plot = makePlot(c, list);
      c.key = key;
    } else {
      c.plot.setData(data);
      if ((c.plot.cursor.left ?? -1) < 0) c.plot.setLegend({ idxs: c.plot.series.map(() => null) });
    }
    let points = 0;
    for (const y of data.slice(1)) for (const v of y) if (v != null) points++;
    c.figure.dataset.points = String(points);
  }
}

/** Redraws on the next frame, at most every 250 ms however many agents report. */
let drawPending = false;
let lastDraw = 0;
function scheduleDraw(): void {
  if (drawPending) return;
  drawPending = true;
  setTimeout(
    () =>
      requestAnimationFrame(() => {
        drawPending = false;
        lastDraw = Date.now();
        tickCards();
        draw();
      }),
    Math.max(0, lastDraw + 250 - Date.now()),
  );
}

function tickCards(): void {
  const now = Date.now();
  for (const a of agents.values()) updateCard(a, now);
  updateSummary();
}

function tick(): void {
  tickCards();
  draw();
}

function resize(): void {
  for (const c of charts) c.plot?.setSize({ width: plotWidth(c), height: plotHeight() });
}

// ---------------------------------------------------------------------------------------------------------------
// Connection

const connEl = $('#mon-conn');
function setConn(state: 'connecting' | 'connected' | 'disconnected', text: string): void {
  connEl.dataset.state = state;
  connEl.textContent = text;
}

for (const e of document.querySelectorAll('.mon-channel')) e.textContent = channel;
$('#mon-cmd').textContent =
  `chorus agent --server ${location.origin}${channel === 'metrics' ? '' : ` --channel ${channel}`}`;

const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
const centrifuge = new Centrifuge(`${scheme}://${location.host}/connection/websocket`, {
  token: params.get('token') ?? '',
  name: 'chorus-monitor',
});
centrifuge.on('connecting', () => setConn('connecting', 'connecting…'));
centrifuge.on('connected', () => setConn('connected', 'live'));
centrifuge.on('disconnected', (ctx) => setConn('disconnected', `disconnected: ${ctx.reason}`));

const sub = centrifuge.newSubscription(channel, { joinLeave: true });
sub.on('publication', (ctx: PublicationContext) => ingest(ctx.data, ctx.info, true));
sub.on('leave', (ctx) => leave(ctx.info));
sub.on('subscribed', () => {
  void backfill();
});
sub.on('unsubscribed', (ctx) => {
  if (ctx.code !== 0) setConn('disconnected', `cannot subscribe to "${channel}": ${ctx.reason}`);
});
sub.on('error', () => {});

/** The last reports from history (when the channel keeps it), then presence: who is still connected. */
async function backfill(): Promise<void> {
  try {
    const h = await sub.history({ limit: 300, reverse: true });
    for (const p of [...h.publications].reverse()) ingest(p.data, p.info, false);
  } catch {
    // history off for this channel: the charts start empty
  }
  try {
    const present = new Set(Object.keys((await sub.presence()).clients));
    const now = Date.now();
    for (const a of agents.values()) {
      // Gone from the channel and late: offline now rather than after the silence timeout. (An agent that
      // publishes without subscribing is never present, but it is not late either.)
      const late = now - a.lastSeen > 1.5 * a.last.interval;
      if (a.client !== undefined && !present.has(a.client) && late) a.left = true;
    }
  } catch {
    // presence off: offline by silence only
  }
  tick();
}

sub.subscribe();
centrifuge.connect();

setInterval(tick, 1000);
dark.addEventListener('change', () => {
  for (const c of charts) c.key = '';
  tick();
});
new ResizeObserver(resize).observe(chartsEl);
updateSummary();
