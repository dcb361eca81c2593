/**
 * Chorus embedded in an app (createChorus): the Express chat example driven with the real `centrifuge` SDK
 * (cookie login, hooks, RPC, server-side publish/send/disconnect), a second Chorus on a plain node:http server
 * (a throwing hook, other upgrade listeners, close), and the example run as its README says.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext, Subscription } from 'centrifuge';
import WebSocket, { WebSocketServer } from 'ws';
import { type Example, LOBBY, SESSION_COOKIE, startExample } from '../../examples/express-chat/server.js';
import { type Chorus, createChorus } from '../../src/index.js';
import { once, RawClient, sdk, sleep, waitFor } from '../helpers/clients.js';

/** A `ws` WebSocket that sends this Cookie header with the upgrade, as a browser does. */
function withCookie(cookie: string) {
  return class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers: { cookie } });
    }
  };
}

let clients: Centrifuge[] = [];
function track(c: Centrifuge): Centrifuge {
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients) c.disconnect();
  clients = [];
});

interface Disconnected {
  code: number;
  reason: string;
}

async function sessionCookie(ex: Example, name: string): Promise<string> {
  const res = await fetch(new URL('/login', ex.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { user: name });
  const set = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  assert.ok(set, 'a session cookie');
  return set.split(';')[0] as string;
}

describe('the express-chat example with the real SDK', () => {
  let ex: Example;
  before(async () => {
    ex = await startExample({ port: 0 });
  });
  after(() => ex.close());

  const client = (cookie?: string) =>
    track(sdk(ex.wsUrl, cookie === undefined ? {} : { websocket: withCookie(cookie) }));

  async function connectAs(name: string): Promise<Centrifuge> {
    const c = client(await sessionCookie(ex, name));
    c.connect();
    await once(c, 'connected');
    return c;
  }

  async function joinLobby(c: Centrifuge): Promise<Subscription> {
    const sub = c.newSubscription(LOBBY);
    sub.subscribe();
    await once(sub, 'subscribed');
    return sub;
  }

  async function assertRefused(c: Centrifuge): Promise<void> {
    let attempts = 0;
    c.on('connecting', () => attempts++);
    c.connect();
    const d = await once<Disconnected>(c, 'disconnected');
    assert.deepEqual(d, { code: 3507, reason: 'permission denied' });
    const seen = attempts;
    await sleep(600); // twice the test SDK's maxReconnectDelay
    assert.equal(c.state, 'disconnected');
    assert.equal(attempts, seen, 'the SDK does not reconnect after 3507');
  }

  test('without the session cookie the SDK is closed with 3507 and does not reconnect', async () => {
    await assertRefused(client());
  });

  test('a tampered, foreign or unknown cookie is refused with 3507 too', async () => {
    const alice = await sessionCookie(ex, 'alice');
    const [, signature] = alice.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ name: 'admin', exp: 9e9 })).toString('base64url');
    await Promise.all([
      assertRefused(client(`${SESSION_COOKIE}=${forgedPayload}.${signature}`)),
      assertRefused(client(`${SESSION_COOKIE}=garbage`)),
      assertRefused(client(`${SESSION_COOKIE}=%zz`)),
      assertRefused(client(`other_app=${alice.split('=')[1]}`)),
    ]);
  });

  test('after POST /login the SDK connects as that user, with its name as connection info', async () => {
    const c = await connectAs('alice');
    assert.equal(c.state, 'connected');
    assert.deepEqual(await c.rpc('whoami', {}), { data: { user: 'alice' } });
    const sub = await joinLobby(c);
    const presence = await sub.presence();
    const mine = Object.values(presence.clients).filter((i) => i.user === 'alice');
    assert.equal(mine.length, 1);
    assert.deepEqual(mine[0]?.connInfo, { name: 'alice' });
  });

  test('the lobby has join/leave (opt-in, as the page asks) with the users the cookies named', async () => {
    const watcher = await connectAs('jo');
    const lobby = watcher.newSubscription(LOBBY, { joinLeave: true });
    const events: string[] = [];
    const infos: unknown[] = [];
    lobby.on('join', (ctx) => {
      events.push(`join ${ctx.info.user}`);
      infos.push(ctx.info.connInfo);
    });
    lobby.on('leave', (ctx) => events.push(`leave ${ctx.info.user}`));
    lobby.subscribe();
    await once(lobby, 'subscribed');
    const kim = await connectAs('kim');
    await joinLobby(kim);
    await waitFor(() => events.includes('join kim'), 5000, "kim's join");
    kim.disconnect();
    await waitFor(() => events.includes('leave kim'), 5000, "kim's leave");
    // A subscriber also sees its own join, as with Centrifugo.
    assert.deepEqual(events, ['join jo', 'join kim', 'leave kim']);
    assert.deepEqual(infos, [{ name: 'jo' }, { name: 'kim' }]);
  });

  test('the login form sets an HttpOnly SameSite cookie and redirects; bad names are refused; logout clears it', async () => {
    const form = await fetch(new URL('/login', ex.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=Zoë',
      redirect: 'manual',
    });
    assert.equal(form.status, 303);
    assert.equal(form.headers.get('location'), '/');
    const set = form.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`)) ?? '';
    assert.match(set, /; HttpOnly/);
    assert.match(set, /; SameSite=Lax/);
    const cookie = set.split(';')[0] as string;
    const page = await fetch(ex.url, { headers: { cookie } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Signed in as <b>Zoë<\/b>/);
    const anonymous = await fetch(ex.url);
    assert.match(await anonymous.text(), /action="\/login"/);

    for (const name of ['', '<script>', 'x'.repeat(33)]) {
      const bad = await fetch(new URL('/login', ex.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      assert.equal(bad.status, 400, `name ${JSON.stringify(name)}`);
      assert.equal(bad.headers.getSetCookie().length, 0);
    }

    const out = await fetch(new URL('/logout', ex.url), { method: 'POST', headers: { cookie }, redirect: 'manual' });
    assert.equal(out.status, 303);
    assert.match(out.headers.getSetCookie().join('\n'), new RegExp(`^${SESSION_COOKIE}=;.*Expires=Thu, 01 Jan 1970`));
  });

  test('the page loads the SDK bundle from /vendor/centrifuge.js', async () => {
    const res = await fetch(new URL('/vendor/centrifuge.js', ex.url));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /javascript/);
    assert.match(await res.text(), /globalThis\.Centrifuge\s*=/);
  });

  test('a publication carries {text, user, at} with the user stamped by the server, whatever the client sent', async () => {
    const alice = await connectAs('alice');
    const bob = await connectAs('bob');
    const subA = await joinLobby(alice);
    const subB = await joinLobby(bob);
    const received = once<PublicationContext>(subB, 'publication');
    const t0 = Date.now();
    await subA.publish({ text: '  hi bob  ', user: 'mallory', at: '1999-01-01T00:00:00Z', admin: true });
    const pub = await received;
    const data = pub.data as { text: string; user: string; at: string };
    assert.deepEqual(Object.keys(data).sort(), ['at', 'text', 'user']);
    assert.equal(data.text, 'hi bob');
    assert.equal(data.user, 'alice');
    assert.ok(Math.abs(Date.parse(data.at) - t0) < 5000, `at ${data.at} is the server's time`);
    assert.equal(pub.info?.user, 'alice');
    // The stored copy (history) is the stamped one too.
    const { publications } = await ex.chorus.history(LOBBY, { limit: 1, reverse: true });
    assert.equal(JSON.parse(publications[0]?.data ?? 'null').user, 'alice');
  });

  test('an empty, too long or malformed message is rejected with 107 and not delivered', async () => {
    const alice = await connectAs('alice');
    const sub = await joinLobby(alice);
    const delivered: unknown[] = [];
    sub.on('publication', (ctx) => delivered.push(ctx.data));
    const is107 = (e: { code?: number }) => e.code === 107;
    await assert.rejects(sub.publish({ text: '' }), is107);
    await assert.rejects(sub.publish({ text: '   ' }), is107);
    await assert.rejects(sub.publish({ text: 'é'.repeat(501) }), is107);
    await assert.rejects(sub.publish({ body: 'no text' }), is107);
    await assert.rejects(sub.publish('just a string'), is107);
    await sub.publish({ text: 'é'.repeat(500) });
    await waitFor(() => delivered.length > 0, 5000, 'the valid message');
    assert.equal(delivered.length, 1);
    assert.equal((delivered[0] as { text: string }).text.length, 500);
    assert.equal(alice.state, 'connected');
  });

  test("rpc('whoami') returns the connection's user; an unknown method is 108", async () => {
    const c = await connectAs('carol');
    assert.deepEqual(await c.rpc('whoami', {}), { data: { user: 'carol' } });
    await assert.rejects(c.rpc('nope', {}), (e: { code?: number }) => e.code === 108);
  });

  test('chorus.publish() from server code reaches the SDK, and so does the server API with its key', async () => {
    const sub = await joinLobby(await connectAs('dave'));
    const got: unknown[] = [];
    sub.on('publication', (ctx) => got.push(ctx.data));
    const fromCode = { text: 'maintenance at noon', user: 'server', at: new Date().toISOString() };
    const { offset } = await ex.chorus.publish(LOBBY, fromCode);
    assert.ok(offset > 0, 'offset > 0');
    await waitFor(() => got.length === 1, 5000, 'the publication from code');
    assert.deepEqual(got[0], fromCode);

    const api = (headers: Record<string, string>) =>
      fetch(new URL('/api/publish', ex.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ channel: LOBBY, data: { text: 'via HTTP', user: 'server', at: 'now' } }),
      });
    assert.equal((await api({})).status, 401);
    assert.equal((await api({ 'x-api-key': 'wrong' })).status, 401);
    const res = await api({ 'x-api-key': ex.apiKey });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { result: { offset: number } }).result.offset, offset + 1);
    await waitFor(() => got.length === 2, 5000, 'the publication from the API');
    assert.equal((got[1] as { text: string }).text, 'via HTTP');
  });

  test("chorus.send({user}) reaches every connection of that user and only them (the SDK's message event)", async () => {
    const [a1, a2, bob] = await Promise.all([connectAs('erin'), connectAs('erin'), connectAs('frank')]);
    const inbox = new Map<Centrifuge, unknown[]>([
      [a1, []],
      [a2, []],
      [bob, []],
    ]);
    for (const [c, box] of inbox) c.on('message', (ctx) => box.push(ctx.data));
    await ex.chorus.send({ user: 'erin' }, { note: 'for erin' });
    await waitFor(() => inbox.get(a1)?.length === 1 && inbox.get(a2)?.length === 1, 5000, "erin's messages");
    // Pushes to one connection arrive in order: once frank has his own message, he had nothing before it.
    await ex.chorus.send({ user: 'frank' }, { note: 'for frank' });
    await waitFor(() => inbox.get(bob)?.length === 1, 5000, "frank's message");
    assert.deepEqual(inbox.get(a1), [{ note: 'for erin' }]);
    assert.deepEqual(inbox.get(a2), [{ note: 'for erin' }]);
    assert.deepEqual(inbox.get(bob), [{ note: 'for frank' }]);
  });

  test("chorus.disconnect(user) closes that user's connections (3503, no reconnect) and leaves others", async () => {
    const [g1, g2, other] = await Promise.all([connectAs('gina'), connectAs('gina'), connectAs('hank')]);
    const closed = Promise.all([once<Disconnected>(g1, 'disconnected'), once<Disconnected>(g2, 'disconnected')]);
    await ex.chorus.disconnect('gina');
    for (const d of await closed) assert.equal(d.code, 3503);
    await sleep(400);
    assert.equal(g1.state, 'disconnected');
    assert.equal(g2.state, 'disconnected');
    assert.equal(other.state, 'connected');
    assert.deepEqual(await other.rpc('whoami', {}), { data: { user: 'hank' } });
  });
});

describe('createChorus on a plain node:http server', () => {
  let http: Server;
  let chorus: Chorus;
  let base: string;
  let echo: WebSocketServer;

  before(async () => {
    chorus = await createChorus({
      config: {
        client: { allow_anonymous_connect_without_token: true },
        channel: {
          without_namespace: {
            allow_subscribe_for_client: true,
            allow_subscribe_for_anonymous: true,
            allow_publish_for_subscriber: true,
            allow_publish_for_anonymous: true,
          },
        },
      },
      hooks: {
        onSubscribe: ({ channel }) => {
          if (channel === 'boom') throw new Error('a bug in the application');
          return undefined;
        },
      },
    });
    http = createServer((_req, res) => {
      res.end('plain http');
    });
    chorus.attach(http);
    // The app's own WebSocket endpoint on the same server: each upgrade listener takes only its own path.
    echo = new WebSocketServer({ noServer: true });
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url !== '/other') return;
      echo.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(`echo: ${m}`)));
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    base = `127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    await chorus.close();
    echo.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });

  const wsUrl = () => `ws://${base}/connection/websocket`;

  test('a hook throwing a plain Error answers 100 to that subscribe; the connection and server keep working', async () => {
    const raw = await RawClient.open(wsUrl());
    await raw.connect();
    raw.send({ id: 2, subscribe: { channel: 'boom' } });
    assert.deepEqual(await raw.reply(2), {
      id: 2,
      error: { code: 100, message: 'internal server error', temporary: true },
    });
    raw.send({ id: 3, subscribe: { channel: 'fine' } });
    assert.ok((await raw.reply(3)).subscribe !== undefined, 'the same connection subscribes elsewhere');
    assert.equal(raw.closeCode, undefined);

    // The SDK sees the error on the subscription (and, 100 being temporary, would retry).
    const c = track(sdk(wsUrl()));
    const boom = c.newSubscription('boom');
    const failed = once<{ error: { code: number } }>(boom, 'error');
    boom.subscribe();
    c.connect();
    assert.equal((await failed).error.code, 100);
    boom.unsubscribe();

    // Other clients are served as usual.
    const other = track(sdk(wsUrl()));
    other.connect();
    const sub = other.newSubscription('fine');
    sub.subscribe();
    await once(sub, 'subscribed');
    const got = once<PublicationContext>(sub, 'publication');
    await chorus.publish('fine', { ok: true });
    assert.deepEqual((await got).data, { ok: true });
    assert.equal(c.state, 'connected');
    raw.close();
  });

  test('attach() leaves the other upgrade paths and plain HTTP requests to the app', async () => {
    const ws = new WebSocket(`ws://${base}/other`);
    await once(ws, 'open');
    const reply = once<Buffer>(ws, 'message');
    ws.send('ping');
    assert.equal(String(await reply), 'echo: ping');
    ws.close();
    const res = await fetch(`http://${base}/anything`);
    assert.equal(await res.text(), 'plain http');
  });

  test('close() closes the clients with 3001 (the SDK reconnects) and detaches from the server', async () => {
    const raw = await RawClient.open(wsUrl());
    await raw.connect();
    const c = track(sdk(wsUrl(), { minReconnectDelay: 5000, maxReconnectDelay: 5000 }));
    c.connect();
    await once(c, 'connected');
    const reconnecting = once<Disconnected>(c, 'connecting');
    await chorus.close();
    // (not raw.waitClose(): its 5 s timer is never cleared and would hold the test process open)
    await waitFor(() => raw.closeCode !== undefined, 5000, 'the raw client closed');
    assert.equal(raw.closeCode, 3001);
    assert.equal(raw.closeReason, 'shutdown');
    assert.deepEqual(await reconnecting, { code: 3001, reason: 'shutdown' });
    c.disconnect();
    assert.equal(http.listenerCount('upgrade'), 1, "only the app's own upgrade listener is left");
    // The server and the app's other endpoint outlive Chorus.
    const ws = new WebSocket(`ws://${base}/other`);
    await once(ws, 'open');
    ws.close();
    await chorus.close(); // idempotent
  });
});

describe('embedding pitfalls', () => {
  /** A server with just Chorus attached (and the app's handler), listening on a free port. */
  async function attached(app: RequestListener, config: Record<string, unknown> = {}) {
    const chorus = await createChorus({ config });
    const http = createServer(app);
    chorus.attach(http);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const base = `127.0.0.1:${(http.address() as AddressInfo).port}`;
    const close = async () => {
      await chorus.close();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    };
    return { chorus, http, base, close };
  }

  test('an upgrade for another path is answered (404 or closed) when nothing else takes it', async () => {
    const s = await attached((_req, res) => res.end());
    const sockets: Duplex[] = [];
    s.http.on('connection', (socket: Duplex) => sockets.push(socket));
    try {
      const ws = new WebSocket(`ws://${s.base}/not-chorus`, { handshakeTimeout: 500 });
      const outcome = await new Promise<string>((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(`HTTP ${res.statusCode}`));
        ws.once('error', (e) => resolve(e.message));
      });
      assert.notEqual(outcome, 'Opening handshake has timed out');
    } finally {
      for (const socket of sockets) socket.destroy();
      await s.close();
    }
  });

  test('apiMiddleware() mounted after express.json() answers instead of hanging', async () => {
    const express = (await import('express')).default;
    const app = express();
    const s = await attached(app, { http_api: { key: 'k' } });
    app.use(express.json());
    app.use(s.chorus.apiMiddleware());
    try {
      const res = await fetch(`http://${s.base}/api/info`, {
        method: 'POST',
        headers: { 'x-api-key': 'k', 'content-type': 'application/json' },
        body: '{}',
        signal: AbortSignal.timeout(1000),
      });
      assert.equal(res.status, 200);
      assert.ok(
        ((await res.json()) as { result?: unknown }).result !== undefined,
        '((await res.json()) as { result?: unknown }).result !== undefined',
      );
    } finally {
      await s.close();
    }
  });
});

describe('the example as its README runs it', () => {
  let child: ChildProcess | undefined;
  after(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
  });

  test('`node --import tsx examples/express-chat/server.ts` serves the page and exits 0 on SIGTERM', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'examples/express-chat/server.ts'], {
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'none' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    child.stderr?.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child?.once('exit', (code, signal) => resolve({ code, signal }));
    });
    // The start-up banner: URL, API key, and a curl line (stdout may come in several chunks).
    await waitFor(() => /curl -X POST/.test(out), 20_000, `the start-up banner on stdout (stderr: ${err})`);
    const url = /Chorus chat: (http:\S+)/.exec(out)?.[1] as string;
    assert.match(out, /server API key: \S+/);

    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<form method="post" action="\/login">/);

    // A live connection does not hold the shutdown up: it is closed with 3001.
    const login = await fetch(new URL('/login', url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"ivy"}',
    });
    const cookie = (login.headers.getSetCookie()[0] ?? '').split(';')[0] as string;
    const wsUrl = `${url.replace(/^http/, 'ws')}connection/websocket`;
    const c = track(sdk(wsUrl, { websocket: withCookie(cookie), minReconnectDelay: 5000, maxReconnectDelay: 5000 }));
    c.connect();
    await once(c, 'connected');
    const closed = once<Disconnected>(c, 'connecting');

    child.kill('SIGTERM');
    assert.equal((await closed).code, 3001);
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.match(out, /SIGTERM: closing/);
    assert.equal(err, '');
  });
});
