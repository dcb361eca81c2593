/**
 * Targets for the application-shaped benchmarks (many-channels, connect-storm, idle): Chorus and the two
 * alternatives, each its own process on loopback, each driven the same way by a load generator on bare sockets
 * (`WireConn`):
 *   raw       bench/targets/raw-ws-app.ts: bare `ws`, JWT verified with jose on upgrade, the floor
 *   raw-hmac  the same, the JWT checked by hand with node:crypto (no JOSE library): what the floor costs without jose
 *   socketio  bench/targets/socketio-app.ts: Socket.IO 4, websocket transport, JWT in an auth middleware
 *   chorus    Chorus, JWT connection tokens (HS256), server API with a key
 * Every client authenticates with its own HS256 JWT (`sub` = its user); a backend pushes through each target's
 * HTTP endpoint with an API key. Also here: tokens, a bounded-concurrency pool, HTTP calls, the open-file limit.
 */
import { readFileSync } from 'node:fs';
import { type Agent, request } from 'node:http';
import { SignJWT } from 'jose';
import { type ServerProcess, startChorus, startScript } from './server.js';
import type { WireConn } from './wire.js';

export const SECRET = 'chorus-bench-secret-0123456789abcdef';
export const API_KEY = 'chorus-bench-api-key';

/** Counts the messages in one received frame (answering protocol pings on the way); never decodes payloads. */
export type Counter = (buf: Buffer, start: number, end: number) => number;

/** An HTTP request a backend makes to a target. */
export interface ApiCall {
  path: string;
  body: string;
  headers: Record<string, string>;
}

export interface StartOptions {
  /** Every connection is given its own user channel (Chorus `#<user>`, Socket.IO room, raw: by user). */
  personal?: boolean;
  nodeArgs?: string[];
}

export interface AppTarget {
  key: string;
  label: string;
  start(o: StartOptions): Promise<ServerProcess>;
  /** Opens `c` and authenticates with `token`; resolves once the server accepted the connection. */
  connect(c: WireConn, server: ServerProcess, token: string, localAddress: string): Promise<void>;
  /** Subscribes `c` to `channel`; `n` (1, 2, …) numbers the subscribes of one connection. */
  subscribe(c: WireConn, channel: string, n: number): Promise<void>;
  counter(c: WireConn): Counter;
  /** What a backend sends to push `data` (JSON text) to one user's personal channel. */
  toUser(user: string, data: string): ApiCall;
  /** What a backend sends to push `data` (JSON text) to every subscriber of `channel`. */
  toChannel(channel: string, data: string): ApiCall;
  /** Connections and subscriptions as the server counts them. */
  stats(server: ServerProcess, agent: Agent): Promise<{ clients: number; subs: number }>;
}

const JSON_HEADERS = { 'content-type': 'application/json', 'x-api-key': API_KEY };

/** A frame holds one or more newline-separated messages; pushes start with {"push", a ping is {} (answered {}). */
export function chorusCounter(c: WireConn): Counter {
  return (buf, start, end) => {
    const view = buf.subarray(start, end);
    let n = 0;
    let p = 0;
    while (p < view.length) {
      let nl = view.indexOf(10, p);
      if (nl === -1) nl = view.length;
      if (nl - p === 2) {
        if (view[p] === 0x7b && view[p + 1] === 0x7d) c.send('{}');
      } else if (view[p + 2] === 0x70) n++;
      p = nl + 1;
    }
    return n;
  };
}

/** "42[...]" is an event; "2" is the engine.io ping, answered "3". */
export function socketioCounter(c: WireConn): Counter {
  return (buf, start, end) => {
    if (buf[start] === 0x34 && buf[start + 1] === 0x32) return 1;
    if (end - start === 1 && buf[start] === 0x32) c.send('3');
    return 0;
  };
}

async function getJSON(agent: Agent, port: number, path: string, body?: string): Promise<unknown> {
  const r = await httpCall(agent, port, { path, body: body ?? '', headers: JSON_HEADERS }, body ? 'POST' : 'GET');
  if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

const rawTarget = (key: string, label: string, verify: 'jose' | 'hmac'): AppTarget => ({
  key,
  label,
  start: (o) =>
    startScript(
      'bench/targets/raw-ws-app.ts',
      ['--port', '0', '--secret', SECRET, '--api-key', API_KEY, '--verify', verify],
      '/',
      o.nodeArgs ?? [],
    ),
  async connect(c, server, token, localAddress) {
    await c.open(`${server.wsUrl}?token=${token}`, localAddress);
  },
  async subscribe(c, channel) {
    c.send(`sub ${channel}`);
    await c.next((t) => t === 'ok');
  },
  counter: () => () => 1,
  toUser: (user, data) => ({ path: '/publish', body: `{"user":"${user}","data":${data}}`, headers: JSON_HEADERS }),
  toChannel: (channel, data) => ({
    path: '/broadcast',
    body: `{"channel":"${channel}","data":${data}}`,
    headers: JSON_HEADERS,
  }),
  stats: async (server, agent) => (await getJSON(agent, server.port, '/stats')) as { clients: number; subs: number },
});

const socketioTarget: AppTarget = {
  key: 'socketio',
  label: 'Socket.IO 4 (websocket, rooms, HTTP endpoint)',
  start: (o) =>
    startScript(
      'bench/targets/socketio-app.ts',
      ['--port', '0', '--secret', SECRET, '--api-key', API_KEY, ...(o.personal ? ['--personal'] : [])],
      '/socket.io/?EIO=4&transport=websocket',
      o.nodeArgs ?? [],
    ),
  async connect(c, server, token, localAddress) {
    await c.open(server.wsUrl, localAddress);
    // The engine.io open packet ("0{…}") may come with the 101; connecting the namespace need not wait for it.
    c.send(`40{"token":"${token}"}`);
    const reply = await c.next((t) => t.startsWith('40') || t.startsWith('44'));
    if (reply.startsWith('44')) throw new Error(`connect refused: ${reply}`);
  },
  async subscribe(c, channel, n) {
    c.send(`42${n}["subscribe","${channel}"]`);
    await c.next((t) => t.startsWith(`43${n}[`));
  },
  counter: socketioCounter,
  toUser: (user, data) => ({ path: '/publish', body: `{"user":"${user}","data":${data}}`, headers: JSON_HEADERS }),
  toChannel: (channel, data) => ({
    path: '/broadcast',
    body: `{"channel":"${channel}","data":${data}}`,
    headers: JSON_HEADERS,
  }),
  stats: async (server, agent) => (await getJSON(agent, server.port, '/stats')) as { clients: number; subs: number },
};

function chorusApp(key: string, label: string, root?: string): AppTarget {
  return {
    key,
    label,
    start: (o) =>
      startChorus(
        {
          client: {
            token: { hmac_secret_key: SECRET },
            subscribe_to_user_personal_channel: { enabled: o.personal === true },
          },
          http_api: { key: API_KEY },
          channel: { without_namespace: { allow_subscribe_for_client: true } },
        },
        o.nodeArgs ?? [],
        root,
      ),
    async connect(c, server, token, localAddress) {
      await c.open(server.wsUrl, localAddress);
      c.send(`{"id":1,"connect":{"token":"${token}"}}`);
      const reply = await c.next((t) => t.includes('"id":1'));
      if (reply.includes('"error"')) throw new Error(`connect refused: ${reply}`);
    },
    async subscribe(c, channel, n) {
      c.send(`{"id":${n + 1},"subscribe":{"channel":"${channel}"}}`);
      const reply = await c.next((t) => t.includes(`"id":${n + 1}`));
      if (reply.includes('"error"')) throw new Error(`subscribe refused: ${reply}`);
    },
    counter: chorusCounter,
    toUser: (user, data) => ({
      path: '/api/publish',
      body: `{"channel":"#${user}","data":${data}}`,
      headers: JSON_HEADERS,
    }),
    toChannel: (channel, data) => ({
      path: '/api/publish',
      body: `{"channel":"${channel}","data":${data}}`,
      headers: JSON_HEADERS,
    }),
    async stats(server, agent) {
      const r = (await getJSON(agent, server.port, '/api/info', '{}')) as {
        result?: { nodes?: Array<{ num_clients: number; num_subs: number }> };
      };
      const node = r.result?.nodes?.[0];
      return { clients: node?.num_clients ?? -1, subs: node?.num_subs ?? -1 };
    },
  };
}

const chorusTarget = chorusApp('chorus', 'Chorus');

/** `CHORUS_BASELINE=DIR`: another built checkout runs as the `chorus-baseline` target (two versions, one run). */
const baselineTarget = chorusApp(
  'chorus-baseline',
  `Chorus at ${process.env.CHORUS_BASELINE ?? '(CHORUS_BASELINE unset)'}`,
  process.env.CHORUS_BASELINE,
);

export const APP_TARGETS: AppTarget[] = [
  rawTarget('raw', 'raw ws + HTTP endpoint, JWT with jose (floor)', 'jose'),
  rawTarget('raw-hmac', 'raw ws, JWT checked with node:crypto HMAC (no jose)', 'hmac'),
  socketioTarget,
  chorusTarget,
  baselineTarget,
];

/** The targets named in a `--targets raw,socketio,chorus` flag, in that order. */
export function selectTargets(flag: string): AppTarget[] {
  return flag.split(',').map((k) => {
    const t = APP_TARGETS.find((x) => x.key === k);
    if (!t) throw new Error(`unknown target ${k} (known: ${APP_TARGETS.map((x) => x.key).join(', ')})`);
    return t;
  });
}

/** One HS256 connection token per user, `sub` = the user, valid for an hour. */
export async function makeTokens(users: string[]): Promise<string[]> {
  const key = new TextEncoder().encode(SECRET);
  const exp = Math.floor(Date.now() / 1000) + 3600;
  return Promise.all(
    users.map((sub) =>
      new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(exp).sign(key),
    ),
  );
}

/** The source address of the k-th connection: 127.0.0.2–51, so ephemeral ports never run out. */
export const sourceAddress = (k: number): string => `127.0.0.${2 + (k % 50)}`;

/** Runs f(0 … n-1) with at most `concurrency` calls in flight; f handles its own errors. */
export async function pool(n: number, concurrency: number, f: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await f(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, worker));
}

/** Rejects after `ms` unless `p` settled first. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** One HTTP request on a keep-alive agent; resolves with the status and the body. */
export function httpCall(
  agent: Agent,
  port: number,
  call: ApiCall,
  method = 'POST',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: call.path,
        agent,
        headers: method === 'POST' ? { ...call.headers, 'content-length': Buffer.byteLength(call.body) } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(method === 'POST' ? call.body : undefined);
  });
}

/** The soft limit on open files ("Max open files" in /proc/PID/limits) of this process or of `pid`. */
export function openFileLimit(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  const n = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: n(line?.[1]), hard: n(line?.[2]) };
}

/** A small deterministic PRNG (mulberry32), so every target gets the same sequence of users. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Quantile of an ascending array (0 when empty). */
export function quantile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
