/**
 * The admin API (/admin/api) against a real server and real `centrifuge` SDK connections: login, the bearer
 * token, live state and series, publish, disconnect, and how it answers bad requests.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext, Subscription } from 'centrifuge';
import { SignJWT } from 'jose';
import { hsToken, once, SECRET, sdk, waitFor } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const PASSWORD = 'correct horse battery staple';
const ADMIN_SECRET = 'admin-secret-for-the-tests-long-enough';

// biome-ignore lint/suspicious/noExplicitAny: API replies are free-form JSON in these tests.
type Json = any;

function adminConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    admin: { enabled: true, password: PASSWORD, secret: ADMIN_SECRET, ...extra },
    client: { token: { hmac_secret_key: SECRET } },
    channel: { without_namespace: openChannels(), namespaces: [{ name: 'news', ...openChannels() }] },
  };
}

describe('admin API', () => {
  let s: TestServer;
  let token: string;
  const clients: Centrifuge[] = [];

  async function user(sub: string): Promise<Centrifuge> {
    const c = sdk(s.wsUrl, { token: await hsToken({ sub }) });
    clients.push(c);
    const connected = once(c, 'connected');
    c.connect();
    await connected;
    return c;
  }

  async function subscribed(c: Centrifuge, channel: string): Promise<Subscription> {
    const sub = c.newSubscription(channel);
    const ok = once(sub, 'subscribed');
    sub.subscribe();
    await ok;
    return sub;
  }

  async function req(
    path: string,
    opts: { body?: string | object; token?: string | null; method?: string } = {},
  ): Promise<{ status: number; json: Json; headers: Headers }> {
    const headers: Record<string, string> = {};
    const t = opts.token === undefined ? token : opts.token;
    if (t !== null) headers.authorization = `Bearer ${t}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${s.url}/admin/api/${path}`, {
      method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      body,
    });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : JSON.parse(text), headers: res.headers };
  }

  async function state(): Promise<Json> {
    const r = await req('state');
    assert.equal(r.status, 200, `state answered ${r.status}`);
    return r.json;
  }

  before(async () => {
    s = await startServer(adminConfig());
  });
  after(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await s.close();
  });

  test('a wrong password is refused with 401, after a delay', async () => {
    const t0 = Date.now();
    const r = await req('login', { body: { password: 'guess' }, token: null });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.message, 'wrong password');
    assert.ok(Date.now() - t0 >= 300, 'a wrong password answers after a delay');
    assert.equal(r.json.token, undefined);
  });

  test('the right password returns a signed token', async () => {
    const r = await req('login', { body: { password: PASSWORD }, token: null });
    assert.equal(r.status, 200);
    assert.match(r.json.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    token = r.json.token;
  });

  test('every endpoint but login needs a valid token', async () => {
    for (const [path, body] of [
      ['state', undefined],
      ['series', undefined],
      ['publish', { channel: 'room', data: {} }],
      ['disconnect', { user: 'x' }],
      ['logout', {}],
    ] as const) {
      const none = await req(path, { body, token: null });
      assert.equal(none.status, 401, `${path} without a token`);
      assert.equal(none.json.error.code, 401);
      const garbage = await req(path, { body, token: 'not-a-token' });
      assert.equal(garbage.status, 401, `${path} with a garbage token`);
    }
    // Signed with another secret, or with the admin secret but not an admin token (a client token's claims).
    const key = (k: string) => new TextEncoder().encode(k);
    const foreign = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('admin')
      .setAudience('chorus-admin')
      .setExpirationTime('1h')
      .sign(key('some-other-secret-which-is-long-enough'));
    assert.equal((await req('state', { token: foreign })).status, 401);
    const clientLike = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).sign(key(ADMIN_SECRET));
    assert.equal((await req('state', { token: clientLike })).status, 401);
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('admin')
      .setAudience('chorus-admin')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(key(ADMIN_SECRET));
    assert.equal((await req('state', { token: expired })).status, 401);
  });

  test('state reflects real SDK connections and subscriptions', async () => {
    const before = await state();
    assert.equal(before.nodes.length, 1);
    assert.equal(before.totals.nodes, 1);
    assert.equal(before.insecure, false);
    const alice = await user('alice');
    const bob = await user('bob');
    const bob2 = await user('bob');
    await subscribed(alice, 'room-admin-state');
    await subscribed(bob, 'room-admin-state');
    await subscribed(bob2, 'room-admin-state');
    await subscribed(bob, 'news:admin-state');
    // The figures are those of the last sampled second (so totals, rows and chart agree): up to a second old.
    let st = await state();
    await waitFor(
      async () => {
        st = await state();
        return (
          st.totals.connections === before.totals.connections + 3 &&
          st.totals.subscriptions === before.totals.subscriptions + 4
        );
      },
      5000,
      'the sampled state to count the new connections',
    );
    assert.equal(st.totals.connections, before.totals.connections + 3);
    assert.equal(st.totals.users, before.totals.users + 2);
    assert.equal(st.totals.subscriptions, before.totals.subscriptions + 4);
    assert.equal(st.totals.channels, before.totals.channels + 2);
    assert.equal(st.nodes[0].num_clients, st.totals.connections);
    assert.equal(st.nodes[0].uid, st.node.uid);
    assert.equal(typeof st.nodes[0].uptime, 'number');
    // Busiest first.
    const room = st.channels.top.findIndex((c: Json) => c.channel === 'room-admin-state');
    const news = st.channels.top.findIndex((c: Json) => c.channel === 'news:admin-state');
    assert.ok(room >= 0 && news > room, 'channels listed busiest first');
    assert.equal(st.channels.top[room].subscribers, 3);
    assert.equal(st.channels.top[news].subscribers, 1);
    for (const c of [alice, bob, bob2]) c.disconnect();
    await waitFor(async () => (await state()).totals.connections === before.totals.connections, 5000, 'disconnects');
  });

  test('publish reaches an SDK subscriber; the rates and the series count it', async () => {
    const carol = await user('carol');
    const sub = await subscribed(carol, 'news:admin-publish');
    const got = once<PublicationContext>(sub, 'publication');
    const r = await req('publish', { body: { channel: 'news:admin-publish', data: { text: 'from admin', n: 1 } } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json, { result: {} });
    const pub = await got;
    assert.deepEqual(pub.data, { text: 'from admin', n: 1 });
    // Scalars are JSON values too.
    const got2 = once<PublicationContext>(sub, 'publication');
    assert.equal((await req('publish', { body: { channel: 'news:admin-publish', data: 'plain' } })).status, 200);
    assert.equal((await got2).data, 'plain');
    // The sampler runs every second: within a few the series holds the publications (in) and deliveries (out).
    await waitFor(
      async () => {
        const series = (await req('series')).json;
        return series.in.some((x: number) => x > 0) && series.out.some((x: number) => x > 0);
      },
      4000,
      'rates in the series',
    );
    const series = (await req('series')).json;
    assert.equal(series.interval, 1000);
    assert.equal(series.t.length, series.connections.length);
    assert.ok(series.t.length <= 300);
    assert.ok(series.connections.at(-1) >= 1, 'connections sampled');
    carol.disconnect();
  });

  test('publish errors come back as {error: {code, message}}', async () => {
    const unknown = await req('publish', { body: { channel: 'nowhere:x', data: {} } });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.error.code, 102);
    assert.match(unknown.json.error.message, /unknown channel/);
    const noData = await req('publish', { body: { channel: 'room' } });
    assert.equal(noData.status, 400);
    assert.equal(noData.json.error.code, 107);
    assert.match(noData.json.error.message, /data/);
    const noChannel = await req('publish', { body: { data: {} } });
    assert.equal(noChannel.status, 400);
    assert.match(noChannel.json.error.message, /channel: required/);
    const numChannel = await req('publish', { body: { channel: 42, data: {} } });
    assert.equal(numChannel.status, 400);
    assert.match(numChannel.json.error.message, /channel: must be a string/);
  });

  test('disconnect closes every connection of the user with 3503', async () => {
    const dave = await user('dave');
    const dave2 = await user('dave');
    const erin = await user('erin');
    const closed = [once<{ code: number }>(dave, 'disconnected'), once<{ code: number }>(dave2, 'disconnected')];
    const r = await req('disconnect', { body: { user: 'dave' } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json, { result: { online: true } });
    for (const ctx of await Promise.all(closed)) assert.equal(ctx.code, 3503);
    assert.equal(erin.state, 'connected', 'other users stay connected');
    const nobody = await req('disconnect', { body: { user: 'nobody' } });
    assert.deepEqual(nobody.json, { result: { online: false } });
    assert.equal((await req('disconnect', { body: { user: '' } })).status, 400);
    assert.equal((await req('disconnect', { body: {} })).status, 400);
    erin.disconnect();
  });

  test('bad bodies and methods get clear 4xx answers, and the server keeps serving', async () => {
    const cases: Array<[string, string, number, RegExp]> = [
      ['publish', '{not json', 400, /not valid JSON/],
      ['publish', '[1,2]', 400, /JSON object/],
      ['publish', 'null', 400, /JSON object/],
      ['publish', '', 400, /body required/],
      ['login', '"password"', 400, /JSON object/],
      ['login', '{"password": 12}', 400, /password/],
      ['disconnect', '{"user": {"$ne": 1}}', 400, /user: must be a string/],
    ];
    for (const [path, body, status, message] of cases) {
      const r = await req(path, { body, method: 'POST' });
      assert.equal(r.status, status, `${path} ${body}`);
      assert.equal(r.json.error.code, 107);
      assert.match(r.json.error.message, message);
    }
    const big = await req('publish', { body: { channel: 'room', data: 'x'.repeat(100_000) } });
    assert.equal(big.status, 413);
    const wrongMethod = await req('state', { body: {}, method: 'POST' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET');
    assert.equal((await req('publish', { method: 'GET' })).status, 405);
    assert.equal((await req('nothing-here')).status, 404);
    assert.equal((await req('__proto__')).status, 404);
    assert.equal((await state()).nodes.length, 1, 'still serving');
  });

  test('logout revokes the token', async () => {
    const login = await req('login', { body: { password: PASSWORD }, token: null });
    const mine = login.json.token as string;
    assert.equal((await req('state', { token: mine })).status, 200);
    assert.equal((await req('logout', { body: {}, token: mine })).status, 200);
    assert.equal((await req('state', { token: mine })).status, 401);
    assert.equal((await req('state')).status, 200, 'other sessions stay valid');
  });
});

describe('admin API with admin.insecure', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      admin: { enabled: true, insecure: true },
      channel: { without_namespace: openChannels() },
      client: { allow_anonymous_connect_without_token: true },
    });
  });
  after(() => s.close());

  test('works without a login', async () => {
    const st = await fetch(`${s.url}/admin/api/state`);
    assert.equal(st.status, 200);
    const json = (await st.json()) as Json;
    assert.equal(json.insecure, true);
    assert.equal(json.totals.nodes, 1);
    const c = sdk(s.wsUrl);
    const sub = c.newSubscription('open');
    const got = once<PublicationContext>(sub, 'publication');
    sub.subscribe();
    c.connect();
    await once(sub, 'subscribed');
    const pub = await fetch(`${s.url}/admin/api/publish`, {
      method: 'POST',
      body: JSON.stringify({ channel: 'open', data: { ok: true } }),
    });
    assert.equal(pub.status, 200);
    assert.deepEqual((await got).data, { ok: true });
    // The page's login form still works (any password) and hands out a token the API accepts.
    const login = await fetch(`${s.url}/admin/api/login`, { method: 'POST', body: '{"password":""}' });
    assert.equal(login.status, 200);
    assert.equal(((await login.json()) as Json).insecure, true);
    c.disconnect();
  });
});

describe('admin API when admin is disabled', () => {
  test('/admin/api answers 404', async () => {
    const s = await startServer({});
    try {
      const r = await fetch(`${s.url}/admin/api/state`);
      assert.equal(r.status, 404);
      const login = await fetch(`${s.url}/admin/api/login`, { method: 'POST', body: `{"password":"x"}` });
      assert.equal(login.status, 404);
    } finally {
      await s.close();
    }
  });
});
