/**
 * `chorus agent`: reports this host's CPU, memory and load average to a Chorus (or Centrifugo) server every
 * interval by publishing to a channel, with the real `centrifuge` SDK over WebSocket. The monitoring dashboard
 * (/demo/monitor) plots what agents report. The SDK reconnects on its own; a report due while the connection is
 * down is skipped (never queued), so an agent that was cut off does not flood the channel when it comes back.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Centrifuge } from 'centrifuge';
import { parseDuration } from '../config/duration.js';
import { VERSION } from '../core/version.js';

export const AGENT_HELP = `Usage: chorus agent --server URL [--token-file FILE] [--name NAME] [--interval 1s] [--channel metrics]

Reports this host's CPU usage, memory use and load average to a Chorus server every interval, by publishing
{name, cpu, mem, memUsed, memTotal, load1, cpus, interval, ts} to a channel; the dashboard at /demo/monitor
plots every agent live. Reconnects on its own; Ctrl-C or SIGTERM stops it.

Outside the development preset only agents may report: the server accepts reports from connections whose
token user it lists in demo.agent_users, and the dashboard shows each agent under that user ID (make one per
host: chorus gentoken --user agent-web1). --name is shown only for anonymous agents (development preset).

  -s, --server URL       the server: http(s)://host:port or ws(s)://host:port ("/connection/websocket" is
                         added unless the URL ends with it)
      --token-file FILE  read the connection token (JWT) from FILE (kept out of the process list)
  -t, --token T          the connection token itself (default: $CHORUS_AGENT_TOKEN)
  -n, --name NAME        the name shown for an anonymous agent (default: this host's name)
  -i, --interval D       time between reports, e.g. 1s, 500ms, 5s (default 1s; at least 100ms)
      --channel C        the channel to publish to (default metrics)
  -q, --quiet            print only errors
  -h, --help             this help`;

/** What an agent publishes every interval. */
export interface AgentReport {
  name: string;
  /** CPU busy time over the last interval, all cores, 0–100. */
  cpu: number;
  /** memory in use (total − available), 0–100. */
  mem: number;
  memUsed: number;
  memTotal: number;
  /** 1-minute load average (0 on Windows). */
  load1: number;
  cpus: number;
  /** the report interval in ms, so a dashboard knows when the agent is late. */
  interval: number;
  /** Unix time in ms. */
  ts: number;
}

/** The WebSocket endpoint for a server base URL: http→ws, https→wss, "/connection/websocket" added. */
export function websocketEndpoint(server: string): string {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `http://${server}`);
  } catch {
    throw new Error(`invalid --server URL "${server}": use e.g. http://localhost:8000`);
  }
  const schemes: Record<string, string> = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
  const scheme = schemes[url.protocol];
  if (scheme === undefined) throw new Error(`--server must be an http(s):// or ws(s):// URL, not "${server}"`);
  url.protocol = scheme;
  if (!url.pathname.endsWith('/connection/websocket')) {
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/connection/websocket`;
  }
  return url.toString();
}

/** CPU busy share between calls, from the cumulative per-core times os.cpus() reports. */
export function cpuMeter(): () => number {
  const read = () => {
    let idle = 0;
    let total = 0;
    for (const { times } of os.cpus()) {
      idle += times.idle;
      total += times.user + times.nice + times.sys + times.idle + times.irq;
    }
    return { idle, total };
  };
  let last = read();
  return () => {
    const now = read();
    const total = now.total - last.total;
    const idle = now.idle - last.idle;
    last = now;
    if (total <= 0) return 0;
    return Math.min(100, Math.max(0, (100 * (total - idle)) / total));
  };
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

export function sample(name: string, cpu: number, interval: number): AgentReport {
  const memTotal = os.totalmem();
  const memUsed = Math.max(0, memTotal - os.freemem());
  return {
    name,
    cpu: round(cpu, 1),
    mem: memTotal > 0 ? round((100 * memUsed) / memTotal, 1) : 0,
    memUsed,
    memTotal,
    load1: round(os.loadavg()[0] ?? 0, 2),
    cpus: os.cpus().length,
    interval,
    ts: Date.now(),
  };
}

/** The user ID (`sub`) of a JWT, read without verifying it (the server does that); undefined if there is none. */
export function tokenUser(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

function fail(message: string): never {
  process.stderr.write(`chorus agent: ${message}\n`);
  process.exit(1);
}

export async function agent(args: string[]): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args,
      options: {
        server: { type: 'string', short: 's' },
        token: { type: 'string', short: 't' },
        'token-file': { type: 'string' },
        name: { type: 'string', short: 'n' },
        interval: { type: 'string', short: 'i' },
        channel: { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    fail(`${(e as Error).message}\n\n${AGENT_HELP}`);
  }
  if (values.help) return void console.log(AGENT_HELP);
  if (values.server === undefined) fail(`--server is required\n\n${AGENT_HELP}`);
  let endpoint: string;
  try {
    endpoint = websocketEndpoint(values.server as string);
  } catch (e) {
    fail((e as Error).message);
  }
  let interval = 1000;
  if (values.interval !== undefined) {
    try {
      interval = parseDuration(values.interval as string);
    } catch (e) {
      fail(`--interval: ${(e as Error).message}`);
    }
    if (!(interval >= 100)) fail('--interval must be at least 100ms');
  }
  const name = ((values.name as string | undefined) ?? os.hostname()).trim();
  if (name === '') fail('--name must not be empty');
  const channel = (values.channel as string | undefined) ?? 'metrics';
  if (channel === '') fail('--channel must not be empty');
  let token = (values.token as string | undefined) ?? process.env.CHORUS_AGENT_TOKEN ?? '';
  if (values['token-file'] !== undefined) {
    if (values.token !== undefined) fail('give --token or --token-file, not both');
    try {
      token = readFileSync(values['token-file'] as string, 'utf8').trim();
    } catch (e) {
      fail(`cannot read --token-file: ${(e as Error).message}`);
    }
    if (token === '') fail(`--token-file ${values['token-file']} is empty`);
  }
  // The dashboard shows an agent with a token under its token's user, whatever --name says.
  const shownAs = tokenUser(token) ?? name;
  const quiet = values.quiet === true;
  const say = (line: string) => {
    if (!quiet) process.stderr.write(`chorus agent: ${line}\n`);
  };

  // Loaded here, not at the top: the other commands must work where only the server's dependencies are installed.
  let sdk: typeof import('centrifuge');
  let ws: typeof import('ws');
  try {
    [sdk, ws] = await Promise.all([import('centrifuge'), import('ws')]);
  } catch (e) {
    fail(`the agent needs the "centrifuge" and "ws" packages (npm install centrifuge ws): ${(e as Error).message}`);
  }

  const client: Centrifuge = new sdk.Centrifuge(endpoint, {
    websocket: ws.WebSocket,
    token,
    name: 'chorus-agent',
    version: VERSION,
    minReconnectDelay: 500,
    maxReconnectDelay: 10_000,
    timeout: Math.max(5000, interval),
  });
  let stopping = false;
  let wasConnected = false;
  let reportedTrouble = false;
  client.on('connected', (ctx) => {
    wasConnected = true;
    reportedTrouble = false;
    say(
      `connected to ${endpoint} (client ${ctx.client}); reporting as "${shownAs}" to "${channel}" every ${interval}ms`,
    );
  });
  client.on('connecting', (ctx) => {
    if (stopping || !wasConnected) return;
    wasConnected = false;
    say(`disconnected (${ctx.reason}, code ${ctx.code}); reconnecting`);
  });
  client.on('error', (ctx) => {
    if (stopping || reportedTrouble || wasConnected) return;
    reportedTrouble = true;
    say(`cannot connect to ${endpoint} (${ctx.error.message}); retrying`);
  });
  client.on('disconnected', (ctx) => {
    // Only a terminal refusal (bad token, banned, …) lands here: the SDK reconnects on its own otherwise.
    if (stopping) return;
    let hint = '';
    if (token === '' && (ctx.code === 3500 || ctx.code === 3501)) {
      hint = ': the server may want a connection token (--token; "chorus gentoken" makes one)';
    } else if (ctx.code === 3500) {
      hint = ': check --token (expired, or signed with another key?)';
    }
    fail(`the server closed the connection for good: ${ctx.reason} (code ${ctx.code})${hint}`);
  });

  // Subscribing makes the agent visible in the channel's presence and join/leave events (the dashboard marks an
  // agent offline as soon as it leaves). Publishing does not depend on it: a server may allow one and not the other.
  const sub = client.newSubscription(channel);
  sub.on('error', () => {});
  sub.on('unsubscribed', (ctx) => {
    if (!stopping && ctx.code !== 0) say(`not subscribed to "${channel}" (${ctx.reason}); reporting anyway`);
  });
  sub.subscribe();
  client.connect();

  const cpu = cpuMeter();
  let inFlight = false;
  let skipped = 0;
  let lastError = '';
  const report = () => {
    const data = sample(name, cpu(), interval);
    if (client.state !== 'connected' || inFlight) {
      skipped++;
      return;
    }
    inFlight = true;
    client.publish(channel, data).then(
      () => {
        inFlight = false;
        if (lastError !== '') say(`publishing again${skipped > 0 ? ` (${skipped} reports skipped)` : ''}`);
        lastError = '';
        skipped = 0;
      },
      (e: { code?: number; message?: string }) => {
        inFlight = false;
        const text = `${e.message ?? String(e)}${e.code === undefined ? '' : ` (code ${e.code})`}`;
        if (text !== lastError) {
          const hint =
            e.code === 103
              ? `: only agents may report to "${channel}": connect with a token (--token-file) for a user the server lists in demo.agent_users`
              : '';
          process.stderr.write(`chorus agent: cannot publish to "${channel}": ${text}${hint}\n`);
        }
        lastError = text;
      },
    );
  };
  const timer = setInterval(report, interval);

  const stop = (signal: string) => {
    if (stopping) process.exit(0);
    stopping = true;
    clearInterval(timer);
    say(`${signal}: stopping`);
    client.disconnect();
    // The socket's close handshake lets the process end on its own; do not wait for a server that went quiet.
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
