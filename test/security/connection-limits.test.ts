/**
 * Connection limits per client address: open connections and new connections per second, refused at the upgrade
 * with HTTP 429 (the SDK retries with backoff and gets in once there is room), counted in metrics. The address
 * comes from X-Forwarded-For / X-Real-IP only when the peer is a configured trusted proxy; a client cannot pick
 * its address by sending those headers itself.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, afterEach, describe, test } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config/load.js';
import { ClientAddresses, limitKey, normalizeAddress } from '../../src/transport/client-address.js';
import { ConnectionLimits } from '../../src/transport/connection-limits.js';
import { sdk, sleep, waitFor } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

const servers: TestServer[] = [];
const sockets: WebSocket[] = [];

async function server(client: Record<string, unknown>, http: Record<string, unknown> = {}): Promise<TestServer> {
  const s = await startServer({
    http_server: http,
    prometheus: { enabled: true },
    client: { allow_anonymous_connect_without_token: true, ...client },
  });
  servers.push(s);
  return s;
}

interface Outcome {
  status: number;
  retryAfter?: string | undefined;
  ws?: WebSocket;
}

/** Opens a WebSocket (with extra request headers); resolves with 101 and the socket, or the refusal's status. */
function open(s: TestServer, headers: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(s.wsUrl, { headers });
    ws.once('open', () => {
      sockets.push(ws);
      resolve({ status: 101, ws });
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined });
      res.resume();
      ws.terminate();
    });
    ws.once('error', (e) => reject(e));
  });
}

async function closeAndWait(ws: WebSocket | undefined): Promise<void> {
  if (ws === undefined) return;
  const closed = new Promise((r) => ws.once('close', r));
  ws.close();
  await closed;
}

async function refusedMetric(s: TestServer, reason: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const m = new RegExp(`^chorus_connections_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  assert.ok(m, `the metric is exported for ${reason}`);
  return Number(m[1]);
}

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
});
after(async () => {
  for (const s of servers) await s.close();
});

describe('connection limits per client address', () => {
  test('off by default: many connections from one address are accepted', async () => {
    const cfg = loadConfig({}).config;
    assert.equal(cfg.client.address_connection_limit, 0);
    assert.equal(cfg.client.address_connection_rate_limit, 0);
    assert.deepEqual(cfg.http_server.trusted_proxies, []);
    const s = await server({});
    const all = await Promise.all(Array.from({ length: 40 }, () => open(s)));
    assert.deepEqual(new Set(all.map((o) => o.status)), new Set([101]));
  });

  test('address_connection_limit: the connection over the limit gets 429, counted; a freed slot is reusable', async () => {
    const s = await server({ address_connection_limit: 2 });
    const a = await open(s);
    const b = await open(s);
    assert.equal(a.status, 101);
    assert.equal(b.status, 101);
    const c = await open(s);
    assert.equal(c.status, 429);
    assert.ok(Number(c.retryAfter) >= 1, `Retry-After: ${c.retryAfter}`);
    // Headers an untrusted peer sends change nothing: it is still 127.0.0.1.
    const spoofed = await open(s, { 'X-Forwarded-For': '203.0.113.9', 'X-Real-IP': '203.0.113.10' });
    assert.equal(spoofed.status, 429, 'X-Forwarded-For from an untrusted peer is ignored');
    assert.equal(await refusedMetric(s, 'address_limit'), 2);
    await closeAndWait(a.ws);
    await waitFor(async () => (await open(s)).status === 101, 3000, 'a connection once a slot is free');
  });

  test('address_connection_rate_limit: a burst passes, the next connection gets 429 with Retry-After', async () => {
    const s = await server({ address_connection_rate_limit: 1, address_connection_rate_burst: 3 });
    for (let i = 0; i < 3; i++) {
      const o = await open(s);
      assert.equal(o.status, 101, `connection ${i + 1} of the burst`);
      await closeAndWait(o.ws);
    }
    const refused = await open(s);
    assert.equal(refused.status, 429);
    assert.equal(refused.retryAfter, '1');
    assert.equal(await refusedMetric(s, 'address_rate'), 1);
    await sleep(1100);
    assert.equal((await open(s)).status, 101, 'the bucket refills at the rate');
  });

  test('client.connection_rate_limit (Centrifugo’s, per node): 503 over the rate', async () => {
    const s = await server({ connection_rate_limit: 2 });
    const first = await Promise.all([open(s), open(s), open(s)]);
    assert.deepEqual(first.map((o) => o.status).sort(), [101, 101, 503]);
    assert.equal(await refusedMetric(s, 'node_rate'), 1);
  });

  test('behind a trusted proxy the forwarded address is limited, and a client cannot choose it', async () => {
    const s = await server({ address_connection_limit: 1 }, { trusted_proxies: ['127.0.0.0/8', '::1'] });
    const x = await open(s, { 'X-Forwarded-For': '203.0.113.5' });
    assert.equal(x.status, 101);
    assert.equal((await open(s, { 'X-Forwarded-For': '203.0.113.5' })).status, 429, 'same client, over the limit');
    assert.equal((await open(s, { 'X-Forwarded-For': '203.0.113.6' })).status, 101, 'another client behind it');
    // The client prepends an address of its own; the proxy appends the real one: the right-most untrusted wins.
    assert.equal(
      (await open(s, { 'X-Forwarded-For': '198.51.100.1, 203.0.113.5' })).status,
      429,
      'a spoofed X-Forwarded-For entry does not free the client',
    );
    assert.equal((await open(s, { 'X-Real-IP': '203.0.113.7' })).status, 101, 'X-Real-IP is read too');
    assert.equal((await open(s, { 'X-Real-IP': '203.0.113.7' })).status, 429);
  });

  test('the centrifuge SDK retries a 429 with backoff and connects once the address has room', async () => {
    const s = await server({ address_connection_limit: 1 });
    const holder = await open(s);
    const c: Centrifuge = sdk(s.wsUrl, { minReconnectDelay: 100, maxReconnectDelay: 300 });
    const states: string[] = [];
    c.on('state', (ctx) => states.push(ctx.newState));
    let transportErrors = 0;
    c.on('error', (ctx) => {
      if (ctx.type === 'transport') transportErrors++;
    });
    try {
      c.connect();
      await waitFor(() => transportErrors >= 2, 5000, 'refused attempts');
      assert.equal(c.state, 'connecting', 'still trying: a refusal is not terminal');
      await closeAndWait(holder.ws);
      await waitFor(() => c.state === 'connected', 5000, 'connected once the slot is free');
      assert.ok(!states.includes('disconnected'), `never gave up: ${states.join(' → ')}`);
    } finally {
      c.disconnect();
    }
  });
});

describe('the admin login throttle behind a trusted proxy', () => {
  const admin = { enabled: true, password: 'right-password', secret: 'throttle-secret-long-enough-for-hs256' };
  const login = (s: TestServer, forwardedFor: string) =>
    fetch(`${s.url}/admin/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Forwarded-For': forwardedFor },
      body: JSON.stringify({ password: 'wrong' }),
    }).then((r) => r.status);

  test('counts the forwarded client address, so one client guessing does not lock out the others', async () => {
    const s = await startServer({
      admin: { ...admin, login_failure_limit: 3 },
      http_server: { trusted_proxies: ['127.0.0.1'] },
    });
    servers.push(s);
    for (let i = 0; i < 3; i++) assert.equal(await login(s, '203.0.113.5'), 401);
    assert.equal(await login(s, '203.0.113.5'), 429, 'the guessing client is throttled');
    assert.equal(await login(s, '203.0.113.6'), 401, 'another client behind the same proxy is not');
  });

  test('without trusted proxies the header is ignored: every request counts as the peer', async () => {
    const s = await startServer({ admin: { ...admin, login_failure_limit: 3 } });
    servers.push(s);
    for (let i = 0; i < 3; i++) assert.equal(await login(s, `203.0.113.${i}`), 401);
    assert.equal(await login(s, '203.0.113.99'), 429, 'a fresh X-Forwarded-For does not escape the throttle');
  });
});

describe('client addresses and limit keys', () => {
  const req = (remote: string, headers: Record<string, string> = {}) =>
    ({ socket: { remoteAddress: remote }, headers }) as unknown as IncomingMessage;

  test('addresses are normalized: IPv4-mapped IPv6, brackets, ports, zones, garbage', () => {
    assert.equal(normalizeAddress('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(normalizeAddress('[2001:db8::1]:443'), '2001:db8::1');
    assert.equal(normalizeAddress('192.0.2.1:8080'), '192.0.2.1');
    assert.equal(normalizeAddress('fe80::1%eth0'), 'fe80::1');
    assert.equal(normalizeAddress('unknown'), '');
    assert.equal(normalizeAddress(''), '');
  });

  test('headers count only from a trusted peer; the right-most untrusted hop is the client', () => {
    const none = new ClientAddresses([]);
    assert.equal(none.of(req('10.0.0.2', { 'x-forwarded-for': '203.0.113.1' })), '10.0.0.2');
    const lb = new ClientAddresses(['10.0.0.0/8']);
    assert.equal(lb.of(req('192.0.2.7', { 'x-forwarded-for': '203.0.113.1' })), '192.0.2.7', 'untrusted peer');
    assert.equal(lb.of(req('10.0.0.2', { 'x-forwarded-for': '203.0.113.1' })), '203.0.113.1');
    assert.equal(lb.of(req('10.0.0.2', { 'x-forwarded-for': '198.51.100.1, 203.0.113.1, 10.1.1.1' })), '203.0.113.1');
    assert.equal(lb.of(req('10.0.0.2', { 'x-forwarded-for': 'garbage, 10.1.1.1' })), '10.0.0.2');
    assert.equal(lb.of(req('::ffff:10.0.0.2', { 'x-real-ip': '203.0.113.4' })), '203.0.113.4');
  });

  test('IPv6 addresses are limited per /64, IPv4 per address', () => {
    assert.equal(limitKey('2001:db8:1:2:aaaa::1'), limitKey('2001:db8:1:2::ffff'));
    assert.notEqual(limitKey('2001:db8:1:2::1'), limitKey('2001:db8:1:3::1'));
    assert.equal(limitKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(limitKey('::1'), '0:0:0:0::/64');
    assert.equal(limitKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
    assert.equal(limitKey('192.0.2.1'), '192.0.2.1');
  });

  test('memory follows the active addresses: idle ones are forgotten once their bucket refills', () => {
    const cfg = loadConfig({
      base: { client: { address_connection_rate_limit: 10, address_connection_rate_burst: 10 } },
    }).config;
    const limits = new ConnectionLimits(cfg.client);
    const t0 = 1_000_000;
    for (let i = 0; i < 1000; i++) {
      const a = `198.51.${i >> 8}.${i & 255}`;
      assert.equal(limits.admit(a, t0), undefined);
      limits.release(a);
    }
    assert.equal(limits.trackedAddresses, 1000);
    limits.sweep(t0 + 50);
    assert.equal(limits.trackedAddresses, 1000, 'buckets still refilling are kept (the rate holds)');
    limits.sweep(t0 + 1000);
    assert.equal(limits.trackedAddresses, 0);
    limits.close();
  });
});
