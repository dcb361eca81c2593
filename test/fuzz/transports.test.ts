/**
 * The transports fuzz: issue 11's promise for the transports the live-server fuzz does not reach. One real server
 * with HTTP-streaming, SSE (and the emulation endpoint), uni_websocket, uni_sse and uni_http_stream enabled; SDK
 * bystanders (official `centrifuge`: JSON over WebSocket, the Protobuf build over WebSocket, and the JSON build
 * over HTTP-streaming and over SSE) receiving a steady stream of publications; and seeded workers sending hostile
 * input meanwhile (test/fuzz/transports/scenarios.ts): broken Protobuf frames, hostile stream connects and
 * emulation requests, hostile uni connects, readers that stop reading, resets at random points.
 *
 * It holds the server to: the process never dies; every HTTP status and close code is a documented one (never
 * 5xx, never 3004, never a stream or socket ended without the disconnect the protocol promises); the bystanders
 * receive every publication in order without a gap or a disconnect; the event loop is never held longer than
 * FUZZ_STALL_MS of CPU; nothing is logged as an error; and once the storm is over (abandoned sessions ended by
 * their ping and stale timeouts, shortened here) sessions, subscriptions and channels are the bystanders' alone.
 *
 * The server runs in a process of its own (test/fuzz/transports/server-process.ts) with the loop monitor inside
 * it: what is measured is the server's work alone, not this process's (building the hostile frames, decoding every
 * answer, the SDK bystanders), which in one process made most of every long turn.
 *
 * FUZZ_SEED replays a run (each worker draws its own seeded stream); FUZZ_SCALE multiplies the inputs
 * (FUZZ_TRANSPORT_INPUTS sets them); FUZZ_SERVER_EXEC_ARGV adds node flags to the server process (--cpu-prof).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Centrifuge, Subscription } from 'centrifuge';
import { hsToken, once, sleep } from '../helpers/clients.js';
import { JSON_SDK, PROTOBUF_SDK, sdkClient } from '../helpers/sdk-encodings.js';
import { openChannels } from '../helpers/server.js';
import { sdkOver } from '../helpers/transports.js';
import { SCALE, SEED } from './fuzz-options.js';
import { Rng } from './hostile-inputs.js';
import { Findings, Notes, Tally, worstTurn } from './live/checks.js';
import {
  type Context,
  emulationScenario,
  LiveSessions,
  pbSession,
  resetScenario,
  streamSession,
  uniHttp,
  uniWebSocket,
} from './transports/scenarios.js';
import { type ServerCounts, type ServerProcess, startServerProcess } from './transports/server-process.js';

const INPUTS = Number(process.env.FUZZ_TRANSPORT_INPUTS ?? Math.round(3000 * SCALE));
const WORKERS = Number(process.env.FUZZ_WORKERS ?? 16);
const STALL_MS = Number(process.env.FUZZ_STALL_MS ?? 100);
const STORM_SECONDS = Number(process.env.FUZZ_SECONDS ?? Math.max(120, INPUTS / 25));
const API_KEY = 'fuzz-api-key';
const SECRET = 'fuzz-secret-which-is-long-enough-for-hs256-0123456789';
const FEED = 'watch:feed';
const LIMIT = 65_536;
/**
 * Shortened timeouts, so abandoned sessions end within seconds: a stream or uni_websocket peer that never answers
 * pings is closed with 3012 after at most ping_interval + pong_timeout (docs/protocol.md, "Connection lifecycle"
 * 4 and "uni_websocket"), a WebSocket that never connects with 3502 after stale_close_delay.
 */
const PING_S = 3;
const PONG_S = 2;
const STALE_S = 2;
const ABANDON_MS = (PING_S + PONG_S + 3) * 1000;

const CONFIG = {
  client: {
    allow_anonymous_connect_without_token: true,
    token: { hmac_secret_key: SECRET },
    allowed_origins: ['http://good.example'],
    ping_interval: `${PING_S}s`,
    pong_timeout: `${PONG_S}s`,
    stale_close_delay: `${STALE_S}s`,
  },
  channel: {
    without_namespace: openChannels({ presence: true, join_leave: true }),
    namespaces: [
      { name: 'hist', ...openChannels({ history_size: 20, history_ttl: '30s', force_recovery: true, presence: true }) },
      { name: 'pres', ...openChannels({ presence: true, join_leave: true, force_push_join_leave: true }) },
      {
        // The bystanders' channel: anyone may subscribe, only the server API publishes.
        name: 'watch',
        allow_subscribe_for_client: true,
        allow_subscribe_for_anonymous: true,
        history_size: 100,
        history_ttl: '60s',
        force_recovery: true,
      },
    ],
  },
  http_api: { key: API_KEY },
  http_stream: { enabled: true },
  sse: { enabled: true },
  uni_websocket: { enabled: true },
  uni_sse: { enabled: true },
  uni_http_stream: { enabled: true },
};

interface Bystander {
  name: string;
  client: Centrifuge;
  sub: Subscription;
  lastN: number;
  lastOffset: number;
  problems: string[];
}

const BYSTANDER_KINDS = ['json-websocket', 'protobuf-websocket', 'http_stream', 'sse'] as const;

async function bystander(base: string, kind: (typeof BYSTANDER_KINDS)[number], i: number): Promise<Bystander> {
  const token = await hsToken({ sub: `bystander-${i}` }, SECRET);
  const ws = `${base.replace(/^http/, 'ws')}/connection/websocket`;
  const client =
    kind === 'json-websocket'
      ? sdkClient(JSON_SDK, ws, { token })
      : kind === 'protobuf-websocket'
        ? sdkClient(PROTOBUF_SDK, ws, { token })
        : sdkOver(kind, base, { token });
  const sub = client.newSubscription(FEED);
  const b: Bystander = { name: kind, client, sub, lastN: 0, lastOffset: 0, problems: [] };
  const value = kind === 'protobuf-websocket' ? PROTOBUF_SDK.value : JSON_SDK.value;
  sub.on('publication', (ctx) => {
    const n = (value(ctx.data) as { n: number }).n;
    if (n !== b.lastN + 1) b.problems.push(`publication ${n} after ${b.lastN}`);
    if (ctx.offset !== undefined && b.lastOffset > 0 && ctx.offset !== b.lastOffset + 1) {
      b.problems.push(`offset ${ctx.offset} after ${b.lastOffset}`);
    }
    b.lastN = n;
    if (ctx.offset !== undefined) b.lastOffset = ctx.offset;
  });
  client.on('disconnected', (ctx) => b.problems.push(`disconnected ${ctx.code} ${ctx.reason}`));
  client.on('error', (ctx) => b.problems.push(`error ${ctx.type} ${ctx.error?.message ?? ''}`));
  sub.on('unsubscribed', (ctx) => b.problems.push(`unsubscribed ${ctx.code} ${ctx.reason}`));
  client.connect();
  sub.subscribe();
  await once(sub, 'subscribed', 10_000);
  return b;
}

let server: ServerProcess;
let port = 0;
let base = '';
/** Uncaught exceptions in this process (the clients' side: a bug of the test). */
const crashes: string[] = [];
const onCrash = (e: unknown) => crashes.push(e instanceof Error ? (e.stack ?? e.message) : String(e));

before(async () => {
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  server = await startServerProcess(CONFIG);
  port = server.port;
  base = `http://127.0.0.1:${port}`;
});
after(async () => {
  await server?.close();
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
});

test(`transports under ${INPUTS} seeded hostile inputs`, { timeout: STORM_SECONDS * 1000 + 120_000 }, async () => {
  const findings = new Findings();
  const notes = new Notes(true);
  const shared: Omit<Context, 'rng'> = {
    port,
    findings,
    closes: new Tally(),
    statuses: new Tally(),
    kinds: new Tally(),
    monitor: notes,
    nodeId: server.nodeId,
    limit: LIMIT,
    live: new LiveSessions(),
    abandonMs: ABANDON_MS,
  };
  const bystanders = await Promise.all(BYSTANDER_KINDS.map((k, i) => bystander(base, k, i)));

  // The steady stream the bystanders must receive whole and in order.
  let published = 0;
  let publishing = true;
  const publishErrors: string[] = [];
  const publisher = (async () => {
    while (publishing) {
      const n = published + 1;
      try {
        const res = await fetch(`${base}/api/publish`, {
          method: 'POST',
          headers: { 'x-api-key': API_KEY },
          body: JSON.stringify({ channel: FEED, data: { n } }),
        });
        const reply = (await res.json()) as { result?: { offset?: number } };
        if (reply.result?.offset !== n) publishErrors.push(`publish ${n}: ${JSON.stringify(reply)}`);
        published = n;
      } catch (e) {
        publishErrors.push(`publish ${n}: ${(e as Error).message}`);
        await sleep(50);
      }
      await sleep(10);
    }
  })();

  await server.startMonitor(Math.min(20, STALL_MS / 2));
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const serverCpuStart = await server.cpuMs();
  // A worker that throws (a bug of the test) stops the storm and is reported like a crash, so the run still ends
  // (the publisher and the bystanders stopped) rather than leaving them running.
  const workerErrors: string[] = [];
  const crashed = () => crashes.length > 0 || server.crashes.length > 0 || workerErrors.length > 0;
  let inputs = 0;
  const worker = async (index: number) => {
    const rng = new Rng(SEED + index * 0x9e3779b1);
    const ctx: Context = { ...shared, rng };
    try {
      while (inputs < INPUTS && !crashed() && performance.now() - started < STORM_SECONDS * 1000) {
        const r = rng.int(100);
        let n: number;
        if (r < 25) n = await pbSession(ctx);
        else if (r < 50) n = await streamSession(ctx);
        else if (r < 62) n = await emulationScenario(ctx);
        else if (r < 72) n = await uniWebSocket(ctx);
        else if (r < 86) n = await uniHttp(ctx);
        else n = await resetScenario(ctx);
        inputs += n;
      }
    } catch (e) {
      workerErrors.push(`worker ${index}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));
  const stormSeconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const serverCpuMs = (await server.cpuMs()) - serverCpuStart;

  await sleep(200);
  publishing = false;
  await publisher;
  const record = await server.stopMonitor();
  const failures: string[] = [];
  for (const e of workerErrors.slice(0, 3)) failures.push(`the test itself failed: ${e}`);
  if (inputs < INPUTS && workerErrors.length === 0)
    failures.push(`only ${inputs} of ${INPUTS} inputs could be sent in ${STORM_SECONDS} s`);
  await until(async () => bystanders.every((b) => b.lastN === published), 10_000);
  for (const b of bystanders) {
    if (b.lastN !== published) failures.push(`bystander ${b.name} got ${b.lastN} of ${published} publications`);
    for (const p of b.problems.slice(0, 5)) failures.push(`bystander ${b.name}: ${p}`);
  }
  for (const e of publishErrors.slice(0, 5)) failures.push(`publisher: ${e}`);

  // Once the hostile clients are gone (the abandoned ones ended by their timeouts), only the bystanders remain.
  const n = bystanders.length;
  const counts = async () => {
    const c: ServerCounts = await server.counts();
    return `sessions ${c.sessions}, clients ${c.clients}, subscriptions ${c.subscriptions}, channels ${c.channels}`;
  };
  const expected = `sessions ${n}, clients ${n}, subscriptions ${n}, channels 1`;
  const cleanupStarted = performance.now();
  await until(async () => (await counts()) === expected, ABANDON_MS + 5000);
  const cleanupMs = performance.now() - cleanupStarted;
  const left = await counts();
  if (left !== expected) failures.push(`after the storm: ${left} (expected ${expected})`);
  const info = (await fetch(`${base}/api/info`, {
    method: 'POST',
    headers: { 'x-api-key': API_KEY },
    body: '{}',
  }).then((r) => r.json())) as { result?: { nodes?: Array<{ num_clients?: number; num_subs?: number }> } };
  const self = info.result?.nodes?.[0];
  if (self?.num_clients !== n || self?.num_subs !== n) failures.push(`info after the storm: ${JSON.stringify(self)}`);

  const worst = worstTurn(record, (i) => {
    const [from, to] = record.long[i] as [number, number, number];
    return notes.around(from, to);
  });
  if (worst.ms > STALL_MS) {
    failures.push(
      `the server's event loop held for ${Math.round(worst.ms)} ms of CPU (bound ${STALL_MS} ms), ` +
        `${((worst.at - performance.timeOrigin - started) / 1000).toFixed(1)} s into the storm, around: ${worst.around}`,
    );
  }
  for (const c of [...server.crashes, ...crashes].slice(0, 3)) failures.push(`uncaught: ${c}`);
  for (const e of (await server.errors()).slice(0, 5)) failures.push(`logged as an error: ${e}`);
  if (findings.size > 0) failures.push(`answers that break the protocol's promises:\n${findings.report()}`);

  console.log(
    [
      `# transports fuzz: seed ${SEED}, ${inputs} inputs in ${stormSeconds.toFixed(1)} s (${Math.round(inputs / stormSeconds)}/s), ` +
        `CPU: server ${(serverCpuMs / 1000).toFixed(1)} s, clients ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, ` +
        `${WORKERS} workers, scale ${SCALE}`,
      `#   bystanders: ${bystanders.map((b) => b.name).join(', ')} × ${published} publications; server event loop: ` +
        `worst turn ${Math.round(worst.ms)} ms CPU, ${record.long.length} turns over 20 ms, longest gap ` +
        `${Math.round(record.maxGapMs)} ms wall, longest GC pause ${Math.round(record.maxGcMs)} ms; counts back to ` +
        `the bystanders' ${Math.round(cleanupMs)} ms after the storm`,
      `#   inputs: ${shared.kinds}`,
      `#   closes and disconnect pushes: ${shared.closes}`,
      `#   HTTP statuses: ${shared.statuses}`,
      `#   result: ${failures.length === 0 ? 'pass' : `${failures.length} failures`} (replay: FUZZ_SEED=${SEED} FUZZ_TRANSPORT_INPUTS=${INPUTS})`,
    ].join('\n'),
  );
  for (const b of bystanders) b.client.disconnect();
  assert.ok(failures.length === 0, `seed ${SEED}:\n${failures.join('\n')}`);
});

/** Polls an async condition every 50 ms until it holds or `ms` pass; whether it held. */
async function until(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await cond()) return true;
    await sleep(50);
  }
  return cond();
}
