/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The admin page (/admin): a login, then a dashboard polling /admin/api every 1.5 s — totals, nodes, busiest
 * channels, a chart of the last 5 minutes (uPlot), and forms to publish and to disconnect a user. The session
 * token lives in sessionStorage (this tab only). Every piece of server data reaches the DOM as text, never markup.
 *
 * Figures are the whole cluster's whichever node answers (behind a load balancer each poll may reach another):
 * totals and the chart say "whole cluster", each node's row and its chart series carry the node's name, and the
 * bar names the node that answered.
 */
import 'uplot/dist/uPlot.min.css';
import './admin.css';
import uPlot from 'uplot';

const POLL_MS = 1500;
/** The chart's window: the series holds the last 5 minutes. */
const WINDOW_S = 300;
/** Tick steps for counts: whole numbers only. */
const INTEGER_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7];
const TOKEN_KEY = 'chorus-admin-token';

interface NodeInfo {
  uid: string;
  name: string;
  version: string;
  num_clients: number;
  num_users: number;
  num_channels: number;
  num_subs: number;
  uptime: number;
  /** Messages per second in and out on this node (absent when it did not answer in time). */
  rate_in?: number;
  rate_out?: number;
}

interface State {
  insecure: boolean;
  node: { uid: string; name: string; version: string };
  nodes: NodeInfo[];
  totals: { nodes: number; connections: number; users: number; channels: number; subscriptions: number };
  channels: { total: number; top: { channel: string; subscribers: number }[] };
  rates: { in: number; out: number };
}

interface Columns {
  t: number[];
  connections: number[];
  in: number[];
  out: number[];
}

/** The whole cluster's columns, and each node's on the same seconds. */
interface Series extends Columns {
  nodes: Array<Columns & { uid: string; name: string }>;
}

interface ApiError {
  code: number;
  message: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: ApiError,
  ) {
    super(error.message);
  }
}

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} missing`);
  return el as T;
}

/** An element with text content (never HTML). */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls !== undefined) e.className = cls;
  return e;
}

let token = sessionStorage.getItem(TOKEN_KEY) ?? '';

async function api<T>(path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (token !== '') headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`/admin/api/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new HttpError(0, { code: 0, message: 'server unreachable' });
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    throw new HttpError(res.status, { code: res.status, message: `HTTP ${res.status}` });
  }
  if (!res.ok) {
    const e = (json as { error?: ApiError | string }).error;
    const error = typeof e === 'object' && e !== null ? e : { code: res.status, message: String(e ?? res.status) };
    throw new HttpError(res.status, error);
  }
  return json as T;
}

// --- formatting ------------------------------------------------------------------------------------------------

const numberFormat = new Intl.NumberFormat();
const fmt = (n: number) => numberFormat.format(n);
const fmtRate = (n: number) => (n >= 100 ? fmt(Math.round(n)) : n.toFixed(n === Math.round(n) ? 0 : 1));

function fmtUptime(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

// --- views -----------------------------------------------------------------------------------------------------

const loginView = $('login-view');
const dashView = $('dash-view');
const logoutButton = $<HTMLButtonElement>('logout');
const live = $('live');
const liveText = $('live-text');
const banner = $('banner');

let polling: number | undefined;
let pollGeneration = 0;

function showLogin(message = ''): void {
  stopPolling();
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  dashView.hidden = true;
  logoutButton.hidden = true;
  live.hidden = true;
  $('node-name').textContent = '';
  loginView.hidden = false;
  $('login-error').textContent = message;
  const pw = $<HTMLInputElement>('password');
  pw.value = '';
  pw.focus();
}

function showDashboard(insecure: boolean): void {
  loginView.hidden = true;
  dashView.hidden = false;
  logoutButton.hidden = insecure;
  live.hidden = false;
  chart.resize();
  startPolling();
}

// --- login -----------------------------------------------------------------------------------------------------

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const button = $<HTMLButtonElement>('login-button');
  const password = $<HTMLInputElement>('password').value;
  const error = $('login-error');
  if (password === '') {
    error.textContent = 'Enter the password.';
    return;
  }
  button.disabled = true;
  error.textContent = '';
  try {
    const r = await api<{ token: string; insecure?: boolean }>('login', { password });
    token = r.token;
    sessionStorage.setItem(TOKEN_KEY, token);
    $<HTMLInputElement>('password').value = '';
    showDashboard(r.insecure === true);
  } catch (e) {
    const err = e as HttpError;
    error.textContent =
      err.status === 401
        ? 'Wrong password.'
        : err.status === 429
          ? `Too many failed logins: ${err.message.replace(/^too many failed logins from your address: /, '')}.`
          : `Login failed: ${err.message}`;
    $<HTMLInputElement>('password').select();
  } finally {
    button.disabled = false;
  }
});

logoutButton.addEventListener('click', async () => {
  await api('logout', {}).catch(() => {});
  showLogin();
});

// --- polling ---------------------------------------------------------------------------------------------------

function stopPolling(): void {
  if (polling !== undefined) clearTimeout(polling);
  polling = undefined;
  pollGeneration++;
}

function startPolling(): void {
  stopPolling();
  const generation = pollGeneration;
  const tick = async () => {
    if (generation !== pollGeneration) return;
    if (!document.hidden) await refresh(generation);
    if (generation === pollGeneration) polling = window.setTimeout(tick, POLL_MS);
  };
  void tick();
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && polling !== undefined) startPolling();
});

async function refresh(generation: number): Promise<void> {
  try {
    const [state, series] = await Promise.all([api<State>('state'), api<Series>('series')]);
    if (generation !== pollGeneration) return;
    render(state);
    lastSeries = series;
    chart.update(series);
    live.classList.remove('adm-stale');
    liveText.textContent = 'live';
    banner.hidden = true;
  } catch (e) {
    if (generation !== pollGeneration) return;
    const err = e as HttpError;
    if (err.status === 401) {
      showLogin('Your session expired: log in again.');
      return;
    }
    live.classList.add('adm-stale');
    liveText.textContent = 'offline';
    banner.textContent = `Cannot refresh: ${err.message}. Retrying…`;
    banner.hidden = false;
  }
}

// --- rendering -------------------------------------------------------------------------------------------------

let lastState: State | undefined;

function render(s: State): void {
  lastState = s;
  $('node-name').textContent = `via ${s.node.name}`;
  $('node-name').title =
    `This refresh was answered by node ${s.node.name} (${s.node.uid}, version ${s.node.version}); every figure is the whole cluster's unless a node is named.`;
  $('totals-note').textContent = s.totals.nodes === 1 ? 'one node' : `${fmt(s.totals.nodes)} nodes`;
  const totals: Record<string, string> = {
    nodes: fmt(s.totals.nodes),
    connections: fmt(s.totals.connections),
    users: fmt(s.totals.users),
    channels: fmt(s.totals.channels),
    subscriptions: fmt(s.totals.subscriptions),
    in: fmtRate(s.rates.in),
    out: fmtRate(s.rates.out),
  };
  for (const dd of document.querySelectorAll<HTMLElement>('[data-total]')) {
    dd.textContent = totals[dd.dataset.total ?? ''] ?? '–';
  }
  renderNodes(s);
  renderChannels(s);
}

/** A table cell labelled with its column, so a narrow screen can show it as "label: value" (admin.css). */
function cell(label: string, text: string, cls?: string): HTMLTableCellElement {
  const td = el('td', text, cls);
  td.dataset.label = label;
  return td;
}

function renderNodes(s: State): void {
  const rows = s.nodes.map((n) => {
    const tr = el('tr');
    const name = el('td');
    const uid = el('span', n.uid.slice(0, 8), 'adm-uid');
    uid.title = n.uid;
    name.append(el('span', n.name, 'adm-strong'), uid);
    if (n.uid === s.node.uid) name.append(el('span', 'answered', 'adm-tag'));
    const rate = (x: number | undefined) => (x === undefined ? '–' : fmtRate(x));
    tr.append(
      name,
      cell('Version', n.version),
      cell('Clients', fmt(n.num_clients), 'num'),
      cell('Users', fmt(n.num_users), 'num'),
      cell('Channels', fmt(n.num_channels), 'num'),
      cell('Subs', fmt(n.num_subs), 'num'),
      cell('In/s', rate(n.rate_in), 'num'),
      cell('Out/s', rate(n.rate_out), 'num'),
      cell('Uptime', fmtUptime(n.uptime), 'num'),
    );
    return tr;
  });
  $('nodes').replaceChildren(...rows);
}

function renderChannels(s: State): void {
  const filter = $<HTMLInputElement>('channel-filter').value.trim().toLowerCase();
  const shown = s.channels.top.filter((c) => filter === '' || c.channel.toLowerCase().includes(filter));
  const rows = shown.map((c) => {
    const tr = el('tr');
    const name = el('td', c.channel, 'adm-channel');
    name.title = 'Publish to this channel';
    name.tabIndex = 0;
    name.dataset.channel = c.channel;
    tr.append(name, cell('Subscribers', fmt(c.subscribers), 'num'));
    return tr;
  });
  if (rows.length === 0) {
    const tr = el('tr');
    const td = el('td', filter === '' ? 'No channel has subscribers.' : 'No channel matches.', 'adm-empty');
    td.colSpan = 2;
    tr.append(td);
    rows.push(tr);
  }
  $('channels').replaceChildren(...rows);
  const total = s.channels.total;
  $('channels-note').textContent =
    total > s.channels.top.length ? `busiest ${s.channels.top.length} of ${fmt(total)}` : `${fmt(total)} in all`;
}

$('channel-filter').addEventListener('input', () => {
  if (lastState !== undefined) renderChannels(lastState);
});

/** A channel name clicked (or Enter on it) fills the publish form. */
function pickChannel(target: EventTarget | null): void {
  const td = (target as HTMLElement | null)?.closest<HTMLElement>('td[data-channel]');
  if (!td) return;
  const input = $<HTMLInputElement>('pub-channel');
  input.value = td.dataset.channel ?? '';
  input.focus();
}
$('channels').addEventListener('click', (e) => pickChannel(e.target));
$('channels').addEventListener('keydown', (e) => {
  if (e.key === 'Enter') pickChannel(e.target);
});

// --- actions ---------------------------------------------------------------------------------------------------

function showResult(out: HTMLElement, ok: boolean, text: string): void {
  out.textContent = text;
  out.classList.toggle('adm-ok', ok);
  out.classList.toggle('adm-fail', !ok);
}

$('publish-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const out = $('publish-result');
  const channel = $<HTMLInputElement>('pub-channel').value.trim();
  const text = $<HTMLTextAreaElement>('pub-data').value;
  if (channel === '') return showResult(out, false, 'Enter a channel.');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return showResult(out, false, `Data is not valid JSON: ${(e as Error).message}`);
  }
  const button = (ev.currentTarget as HTMLFormElement).querySelector('button') as HTMLButtonElement;
  button.disabled = true;
  try {
    const r = await api<{ result: { offset?: number; epoch?: string } }>('publish', { channel, data });
    const where = r.result.offset !== undefined ? ` (offset ${r.result.offset})` : '';
    showResult(out, true, `Published to ${channel}${where}.`);
  } catch (e) {
    const err = e as HttpError;
    if (err.status === 401) return showLogin('Your session expired: log in again.');
    showResult(out, false, `Error ${err.error.code}: ${err.error.message}`);
  } finally {
    button.disabled = false;
  }
});

$('disconnect-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const out = $('disconnect-result');
  const user = $<HTMLInputElement>('dis-user').value.trim();
  if (user === '') return showResult(out, false, 'Enter a user ID.');
  const button = (ev.currentTarget as HTMLFormElement).querySelector('button') as HTMLButtonElement;
  button.disabled = true;
  try {
    const r = await api<{ result: { online?: boolean } }>('disconnect', { user });
    showResult(
      out,
      true,
      r.result.online === false ? `${user} was not connected.` : `Disconnected every connection of ${user}.`,
    );
  } catch (e) {
    const err = e as HttpError;
    if (err.status === 401) return showLogin('Your session expired: log in again.');
    showResult(out, false, `Error ${err.error.code}: ${err.error.message}`);
  } finally {
    button.disabled = false;
  }
});

// --- chart -----------------------------------------------------------------------------------------------------

/** The uPlot chart: connections on the left axis, messages per second on the right; follows the colour scheme. */
class Chart {
  private plot: uPlot | undefined;
  private data: uPlot.AlignedData = [[], [], [], []];
  private readonly host = $('chart');

  constructor() {
    new ResizeObserver(() => this.resize()).observe(this.host);
    this.host.addEventListener('mouseleave', () => setTimeout(() => this.showLatest(), 0));
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.rebuild());
  }

  private size(): { width: number; height: number } {
    const width = Math.max(this.host.clientWidth, 200);
    return { width, height: width < 600 ? 200 : 260 };
  }

  private rebuild(): void {
    this.plot?.destroy();
    this.plot = undefined;
    if (this.host.clientWidth === 0) return;
    const css = getComputedStyle(document.body);
    const v = (name: string) => css.getPropertyValue(name).trim();
    const axis = { stroke: v('--adm-muted'), grid: { stroke: v('--adm-grid'), width: 1 }, ticks: { show: false } };
    const opts: uPlot.Options = {
      ...this.size(),
      cursor: { drag: { x: false, y: false } },
      hooks: { ready: [(u) => requestAnimationFrame(() => this.showLatest(u))] },
      legend: { live: true },
      scales: {
        // Always the whole window, the newest sample at the right edge.
        x: { time: true, range: (_u, _min, max) => [max - WINDOW_S, max] },
        n: { range: (_u, _min, max) => [0, Math.max(Math.ceil(max * 1.1), 1)] },
        r: { range: (_u, _min, max) => [0, Math.max(Math.ceil(max * 1.1), 1)] },
      },
      series: [
        {},
        {
          label: 'Connections',
          scale: 'n',
          stroke: v('--adm-c1'),
          width: 2,
          fill: v('--adm-c1-fill'),
          value: (_u, x) => (x == null ? '–' : fmt(x)),
        },
        {
          label: 'Messages in/s',
          scale: 'r',
          stroke: v('--adm-c2'),
          width: 2,
          value: (_u, x) => (x == null ? '–' : fmtRate(x)),
        },
        {
          label: 'Messages out/s',
          scale: 'r',
          stroke: v('--adm-c3'),
          width: 2,
          dash: [6, 4],
          value: (_u, x) => (x == null ? '–' : fmtRate(x)),
        },
      ],
      axes: [
        { ...axis },
        { ...axis, scale: 'n', label: 'connections', size: 56, incrs: INTEGER_INCRS },
        { ...axis, scale: 'r', side: 1, label: 'messages/s', size: 56, grid: { show: false } },
      ],
    };
    this.plot = new uPlot(opts, this.data, this.host);
  }

  /** Without the cursor on the chart, the legend shows the newest values. */
  private showLatest(p = this.plot): void {
    const n = this.data[0].length;
    if (p === undefined || n === 0 || (p.cursor.left ?? -1) >= 0) return;
    p.setLegend({ idx: n - 1 });
  }

  resize(): void {
    if (this.plot === undefined) {
      this.rebuild();
      return;
    }
    const { width, height } = this.size();
    if (width !== this.plot.width || height !== this.plot.height) this.plot.setSize({ width, height });
  }

  update(s: Series): void {
    renderChartSources(s);
    const picked = s.nodes.find((n) => n.uid === chartSource.value);
    const c: Columns = picked ?? s;
    $('chart-note').textContent =
      `${picked === undefined ? 'whole cluster' : `node ${picked.name} only`} · one sample a second`;
    this.data = [c.t, c.connections, c.in, c.out];
    if (this.plot === undefined) this.rebuild();
    else {
      this.plot.setData(this.data);
      this.showLatest();
    }
  }
}

/** Whose figures the chart shows: the whole cluster (the default) or one node. */
const chartSource = $<HTMLSelectElement>('chart-source');

function renderChartSources(s: Series): void {
  const wanted = [['', 'Whole cluster'], ...s.nodes.map((n) => [n.uid, `Node ${n.name}`])] as [string, string][];
  const have = [...chartSource.options].map((o) => [o.value, o.text]);
  if (JSON.stringify(have) === JSON.stringify(wanted)) return;
  const selected = chartSource.value;
  chartSource.replaceChildren(...wanted.map(([value, text]) => new Option(text, value)));
  // A node that left falls back to the whole cluster.
  chartSource.value = wanted.some(([v]) => v === selected) ? selected : '';
}

chartSource.addEventListener('change', () => {
  if (lastSeries !== undefined) chart.update(lastSeries);
});

let lastSeries: Series | undefined;
const chart = new Chart();

// --- start -----------------------------------------------------------------------------------------------------

/** With a stored token (or on an insecure server) the dashboard opens at once; otherwise the login. */
async function start(): Promise<void> {
  try {
    const s = await api<State>('state');
    showDashboard(s.insecure);
    render(s);
  } catch (e) {
    const err = e as HttpError;
    showLogin(err.status === 401 || err.status === 0 ? (token === '' ? '' : 'Your session expired.') : err.message);
    if (err.status === 0) $('login-error').textContent = 'The server is unreachable.';
  }
}

void start();
