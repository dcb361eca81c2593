/**
 * The HTTP server API with cent.js (the Centrifugo API client a backend would use) and raw requests, against
 * connections made with the real centrifuge SDK.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CentClient, CentException } from 'cent.js';
import type { Centrifuge, PublicationContext, Subscription } from 'centrifuge';
import { hsToken, once, SECRET, sdk, sleep, waitFor } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const KEY = 'test-api-key';

// biome-ignore lint/suspicious/noExplicitAny: API replies are free-form JSON in these tests.
type Json = any;
/** cent.js with its methods loosely typed: its own types lack some v6 fields (idempotency_key, b64data). */
type LooseCent = Record<
  'publish' | 'broadcast' | 'getHistory' | 'disconnect' | 'refresh' | 'pipeline',
  (p: Json) => Promise<Json>
> &
  CentClient;

describe('server API', () => {
  let s: TestServer;
  let cent: LooseCent;
  const clients: Centrifuge[] = [];

  async function user(sub: string, opts: Record<string, unknown> = {}): Promise<Centrifuge> {
    const c = sdk(s.wsUrl, { token: await hsToken({ sub, ...opts }) });
    clients.push(c);
    const connected = once<{ client: string }>(c, 'connected');
    c.connect();
    await connected;
    return c;
  }

  async function subscribed(c: Centrifuge, channel: string, opts = {}): Promise<Subscription> {
    const sub = c.newSubscription(channel, opts);
    const ok = once(sub, 'subscribed');
    sub.subscribe();
    await ok;
    return sub;
  }

  async function call(path: string, body: string, headers?: Record<string, string>): Promise<Json> {
    return (await post(path, body, headers)).json();
  }

  function post(path: string, body: string, headers: Record<string, string> = { 'X-API-Key': KEY }) {
    return fetch(`${s.url}${path}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });
  }

  before(async () => {
    s = await startServer({
      http_api: { key: KEY, max_body_size: 64 * 1024 },
      client: {
        token: { hmac_secret_key: SECRET },
        subscribe_to_user_personal_channel: { enabled: true },
      },
      channel: {
        without_namespace: openChannels({ presence: true, history_size: 10, history_ttl: '60s', force_recovery: true }),
        namespaces: [{ name: 'plain', ...openChannels() }],
      },
    });
    cent = new CentClient({ url: `${s.url}/api`, apiKey: KEY }) as LooseCent;
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await s.close();
  });

  test('no key or a wrong key → 401; the right key in X-API-Key or Authorization: apikey → 200', async () => {
    assert.equal((await post('/api/info', '{}', {})).status, 401);
    assert.equal((await post('/api/info', '{}', { 'X-API-Key': 'wrong' })).status, 401);
    assert.equal((await post('/api/info', '{}', { Authorization: `apikey ${KEY}` })).status, 200);
    await assert.rejects(new CentClient({ url: `${s.url}/api`, apiKey: 'nope' }).getInfo());
  });

  test('publish reaches subscribers and returns the stream position; tags and idempotency keys work', async () => {
    const c = await user('pub-reader');
    const sub = await subscribed(c, 'news');
    const got = once<PublicationContext>(sub, 'publication');
    const r = (await cent.publish({ channel: 'news', data: { n: 1 }, tags: { k: 'v' } })) as {
      offset: number;
      epoch: string;
    };
    const pub = await got;
    assert.equal(pub.offset, r.offset);
    assert.ok(r.epoch.length > 0, 'r.epoch.length > 0');
    assert.deepEqual(pub.tags, { k: 'v' });
    const first = await cent.publish({ channel: 'news', data: { once: true }, idempotency_key: 'k1' });
    const second = await cent.publish({ channel: 'news', data: { once: true }, idempotency_key: 'k1' });
    assert.deepEqual(second, first);
    const h = (await cent.getHistory({ channel: 'news', limit: 100 })) as { publications: unknown[] };
    assert.equal(h.publications.length, 2, 'the repeated idempotent publish was not stored again');
    // Big integers pass through byte for byte (the raw body is forwarded, not re-serialised).
    await post('/api/publish', '{"channel":"news","data":{"big":9007199254740993}}');
    const raw = await (await post('/api/history', '{"channel":"news","limit":10,"reverse":true}')).text();
    assert.match(raw, /"big":9007199254740993/);
  });

  test('publish with skip_history and b64data; errors: unknown namespace 102, missing data 107', async () => {
    const r = (await cent.publish({ channel: 'news', data: 1, skip_history: true })) as { offset?: number };
    assert.equal(r.offset, undefined);
    const c = await user('b64-reader');
    const sub = await subscribed(c, 'b64');
    const got = once<PublicationContext>(sub, 'publication');
    await cent.publish({ channel: 'b64', b64data: Buffer.from('{"x":1}').toString('base64') });
    assert.deepEqual((await got).data, { x: 1 });
    // cent.js rejects with a CentException (it keeps no code: String(error)); the code is on the wire.
    await assert.rejects(cent.publish({ channel: 'nope:x', data: 1 }), CentException);
    const unknownNs = await call('/api/publish', '{"channel":"nope:x","data":1}');
    assert.equal(unknownNs.error.code, 102);
    const missing = await call('/api/publish', '{"channel":"news"}');
    assert.equal(missing.error.code, 107);
    assert.match(missing.error.message, /data/);
  });

  test('b64data carries any bytes: a JSON subscriber gets them as a base64 string; non-base64 is 107', async () => {
    const c = await user('binary-reader');
    const sub = await subscribed(c, 'binary');
    const got = once<PublicationContext>(sub, 'publication');
    const bytes = Buffer.from([0, 1, 0x7b, 0x80, 0xfe, 0xff]);
    const r = await call('/api/publish', JSON.stringify({ channel: 'binary', b64data: bytes.toString('base64') }));
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    assert.equal((await got).data, bytes.toString('base64'));
    const bad = await call('/api/publish', '{"channel":"binary","b64data":"not base64!"}');
    assert.equal(bad.error.code, 107);
    assert.match(bad.error.message, /b64data/);
  });

  test('validation errors name the field; malformed and huge bodies are refused, never a crash', async () => {
    const wrongType = await call('/api/publish', '{"channel":5,"data":1}');
    assert.equal(wrongType.error.code, 107);
    assert.match(wrongType.error.message, /channel/);
    const badTags = await call('/api/publish', '{"channel":"a","data":1,"tags":{"k":1}}');
    assert.match(badTags.error.message, /tags\.k/);
    const malformed = await post('/api/publish', '{"channel":');
    assert.equal(malformed.status, 400);
    assert.equal(((await malformed.json()) as Json).error.code, 107);
    const notObject = await post('/api/publish', '[1,2]');
    assert.equal(notObject.status, 400);
    const huge = await post('/api/publish', JSON.stringify({ channel: 'a', data: 'x'.repeat(100_000) }));
    assert.equal(huge.status, 413);
    const unknown = await post('/api/frobnicate', '{}');
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as Json).error.code, 104);
    const get = await fetch(`${s.url}/api/info`, { headers: { 'X-API-Key': KEY } });
    assert.equal(get.status, 405);
    // Still serving.
    assert.ok(
      Array.isArray(((await cent.getInfo()) as { nodes: unknown[] }).nodes),
      'Array.isArray(((await cent.getInfo()) as { nodes: unknown[] }).nodes)',
    );
  });

  test('transport error mode maps errors to HTTP statuses', async () => {
    const headers = { 'X-API-Key': KEY, 'X-Centrifugo-Error-Mode': 'transport' };
    assert.equal((await post('/api/publish', '{"channel":"nope:x","data":1}', headers)).status, 404);
    assert.equal((await post('/api/presence', '{"channel":"plain:x"}', headers)).status, 400);
    assert.equal(
      (await post('/api/history', '{"channel":"news","since":{"offset":1,"epoch":"zzz"}}', headers)).status,
      416,
    );
    assert.equal((await post('/api/publish', '{"channel":"nope:x","data":1}')).status, 200);
  });

  test('broadcast publishes to many channels with a response each', async () => {
    const r = (await cent.broadcast({ channels: ['b1', 'b2', 'nope:x'], data: { all: 1 } })) as {
      responses: Array<{ result?: { offset: number }; error?: { code: number } }>;
    };
    assert.equal(r.responses.length, 3);
    assert.equal(r.responses[0]?.result?.offset, 1);
    assert.equal(r.responses[2]?.error?.code, 102);
  });

  test('presence, presence_stats, history, history_remove and channels', async () => {
    const a = await user('pa');
    const b = await user('pb');
    await subscribed(a, 'room');
    await subscribed(b, 'room');
    const presence = (await cent.getPresence({ channel: 'room' })) as {
      presence: Record<string, { user: string }>;
    };
    assert.deepEqual(
      Object.values(presence.presence)
        .map((p) => p.user)
        .sort(),
      ['pa', 'pb'],
    );
    assert.deepEqual(await cent.getPresenceStats({ channel: 'room' }), { num_clients: 2, num_users: 2 });
    await cent.publish({ channel: 'room', data: { n: 1 } });
    await cent.publish({ channel: 'room', data: { n: 2 } });
    const h = (await cent.getHistory({ channel: 'room', limit: 10, reverse: true })) as {
      publications: Array<{ data: { n: number } }>;
      offset: number;
    };
    assert.deepEqual(
      h.publications.map((p) => p.data.n),
      [2, 1],
    );
    assert.equal(h.offset, 2);
    await cent.removeHistory({ channel: 'room' });
    const after = (await cent.getHistory({ channel: 'room', limit: 10 })) as { publications?: unknown[] };
    assert.equal(after.publications, undefined);
    const channels = (await cent.getChannels({ pattern: 'ro*' })) as {
      channels: Record<string, { num_clients: number }>;
    };
    assert.deepEqual(channels.channels, { room: { num_clients: 2 } });
    const notAvailable = await call('/api/presence', '{"channel":"plain:x"}');
    assert.equal(notAvailable.error.code, 108);
  });

  test('subscribe and unsubscribe a user server-side; the SDK sees subscribed/unsubscribed and publications', async () => {
    const c = await user('srv');
    const subscribedEv = once<{ channel: string }>(c, 'subscribed');
    await cent.subscribe({ user: 'srv', channel: 'pushed' });
    assert.equal((await subscribedEv).channel, 'pushed');
    const got = once<PublicationContext>(c, 'publication');
    await cent.publish({ channel: 'pushed', data: { hi: 1 } });
    assert.deepEqual((await got).data, { hi: 1 });
    const unsub = once<{ channel: string }>(c, 'unsubscribed');
    await cent.unsubscribe({ user: 'srv', channel: 'pushed' });
    assert.equal((await unsub).channel, 'pushed');
  });

  test('disconnect a user with a custom code, keeping whitelisted connections', async () => {
    const a = await user('kick');
    const b = await user('kick');
    const aId = (a as unknown as { _client: string })._client;
    const bDisconnected = once<{ code: number; reason: string }>(b, 'disconnected');
    await cent.disconnect({ user: 'kick', whitelist: [aId], disconnect: { code: 4501, reason: 'bye' } });
    const ctx = await bDisconnected;
    assert.equal(ctx.code, 4501);
    assert.equal(ctx.reason, 'bye');
    await sleep(100);
    assert.equal(a.state, 'connected');
    const bad = await call('/api/disconnect', '{"user":"kick","disconnect":{"code":12,"reason":""}}');
    assert.equal(bad.error.code, 107);
  });

  test('refresh with expired: true closes the user connections with 3005', async () => {
    const c = await user('old', { exp: Math.floor(Date.now() / 1000) + 3600 });
    const gone = once<{ code: number }>(c, 'connecting');
    await cent.refresh({ user: 'old', expired: true });
    assert.equal((await gone).code, 3005);
    c.disconnect();
  });

  test('personal channel: a publication to #user reaches all of that user’s connections and nobody else', async () => {
    const tab1 = await user('alice-p');
    const tab2 = await user('alice-p');
    const other = await user('bob-p');
    let leaked = 0;
    other.on('publication', () => leaked++);
    const r1 = once<PublicationContext>(tab1, 'publication');
    const r2 = once<PublicationContext>(tab2, 'publication');
    await cent.publish({ channel: '#alice-p', data: { dm: 'hello' } });
    assert.deepEqual((await r1).data, { dm: 'hello' });
    assert.deepEqual((await r2).data, { dm: 'hello' });
    await sleep(100);
    assert.equal(leaked, 0);
  });

  test('send (Chorus extension): to one connection, to a user, to everyone', async () => {
    const a1 = await user('ms-a');
    const a2 = await user('ms-a');
    const b = await user('ms-b');
    const counts = new Map<Centrifuge, unknown[]>([
      [a1, []],
      [a2, []],
      [b, []],
    ]);
    for (const [c, list] of counts) c.on('message', (ctx) => list.push(ctx.data));
    const a1Id = (a1 as unknown as { _client: string })._client;
    await call('/api/send', JSON.stringify({ client: a1Id, data: { only: 'a1' } }));
    await waitFor(() => (counts.get(a1) as unknown[]).length === 1, 2000, 'a1 message');
    await sleep(50);
    assert.equal((counts.get(a2) as unknown[]).length, 0);
    await post('/api/send', JSON.stringify({ user: 'ms-a', data: { to: 'user' } }));
    await waitFor(() => (counts.get(a2) as unknown[]).length === 1, 2000, 'user message');
    assert.equal((counts.get(b) as unknown[]).length, 0);
    await post('/api/send', JSON.stringify({ all: true, data: { to: 'everyone' } }));
    await waitFor(() => (counts.get(b) as unknown[]).length === 1, 2000, 'broadcast to everyone');
    assert.deepEqual((counts.get(b) as unknown[])[0], { to: 'everyone' });
    const bad = await call('/api/send', '{"data":1}');
    assert.equal(bad.error.code, 107);
  });

  test('batch, sequential and parallel', async () => {
    const res: Json = await (
      await post(
        '/api/batch',
        JSON.stringify({
          commands: [{ publish: { channel: 'bt', data: 1 } }, { presence_stats: { channel: 'bt' } }, { publish: {} }],
        }),
      )
    ).json();
    assert.equal(res.result.replies.length, 3);
    assert.equal(res.result.replies[0].publish.offset, 1);
    assert.deepEqual(res.result.replies[1].presence_stats, { num_clients: 0, num_users: 0 });
    assert.equal(res.result.replies[2].error.code, 107);
    const par: Json = await (
      await post(
        '/api/batch',
        JSON.stringify({
          parallel: true,
          commands: Array.from({ length: 20 }, () => ({ publish: { channel: 'bp', data: 0 } })),
        }),
      )
    ).json();
    const offsets = par.result.replies
      .map((r: { publish: { offset: number } }) => r.publish.offset)
      .sort((a: number, b: number) => a - b);
    assert.deepEqual(
      offsets,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  test('legacy POST /api with {method, params} lines, as cent.js pipeline sends', async () => {
    const results = await cent.pipeline([
      { method: 'publish', params: { channel: 'legacy', data: { x: 1 } } },
      { method: 'info', params: {} },
    ]);
    assert.equal((results[0] as { offset: number }).offset, 1);
    assert.ok(
      Array.isArray((results[1] as { nodes: unknown[] }).nodes),
      'Array.isArray((results[1] as { nodes: unknown[] }).nodes)',
    );
  });

  test('info lists this node with its counts', async () => {
    await user('info-user');
    const info = (await cent.getInfo()) as {
      nodes: Array<{ uid: string; version: string; num_clients: number; num_users: number; uptime: number }>;
    };
    assert.equal(info.nodes.length, 1);
    const n = info.nodes[0];
    assert.ok(
      n && n.num_clients >= 1 && n.num_users >= 1 && n.uid.length > 0 && n.version.length > 0,
      'n && n.num_clients >= 1 && n.num_users >= 1 && n.uid.length > 0 && n.version....',
    );
  });
});

describe('server API without a key', () => {
  test('answers 401 to everything, explaining which key to set', async () => {
    const s = await startServer({});
    try {
      const r = await fetch(`${s.url}/api/info`, { method: 'POST', body: '{}' });
      assert.equal(r.status, 401);
      assert.match(((await r.json()) as { error: { message: string } }).error.message, /http_api\.key/);
    } finally {
      await s.close();
    }
  });
});
