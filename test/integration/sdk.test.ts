/**
 * End to end with the real `centrifuge` SDK over a real port: what an application developer does with Chorus.
 * The whole suite runs once per encoding: the SDK's default build (JSON) and its Protobuf build
 * (`centrifuge/build/protobuf`, binary frames, payloads as bytes), as the mobile SDKs speak it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext, SubscribedContext } from 'centrifuge';
import { hsToken, once, SECRET, sleep, waitFor } from '../helpers/clients.js';
import { SDK_ENCODINGS, type SdkEncoding, sdkClient } from '../helpers/sdk-encodings.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const API_KEY = 'sdk-test-api-key';

async function api(s: TestServer, method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(`${s.url}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'X-API-Key': API_KEY },
    body: JSON.stringify(params),
  });
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(body.error, undefined, `API ${method} failed: ${JSON.stringify(body)}`);
  return body;
}

function sdkSuite(enc: SdkEncoding): void {
  const clients: Centrifuge[] = [];
  function client(url: string, opts: Parameters<typeof sdkClient>[2] = {}): Centrifuge {
    const c = sdkClient(enc, url, opts);
    clients.push(c);
    return c;
  }
  function disconnectAll(): void {
    for (const c of clients.splice(0)) c.disconnect();
  }

  describe('with tokens (secure mode)', () => {
    let s: TestServer;
    before(async () => {
      s = await startServer({
        client: { token: { hmac_secret_key: SECRET } },
        http_api: { key: API_KEY },
        channel: {
          without_namespace: { allow_subscribe_for_client: true, allow_publish_for_subscriber: true },
          namespaces: [
            { name: 'news', allow_subscribe_for_client: true, allow_publish_for_client: true },
            { name: 'secret' },
          ],
        },
      });
    });
    after(async () => {
      disconnectAll();
      await s.close();
    });

    test('two clients with tokens exchange messages; the publication carries the publisher identity', async () => {
      const alice = client(s.wsUrl, { token: await hsToken({ sub: 'alice', info: { name: 'Alice' } }) });
      const bob = client(s.wsUrl, { token: await hsToken({ sub: 'bob' }) });
      alice.connect();
      bob.connect();
      const [ctxA] = await Promise.all([once<{ client: string }>(alice, 'connected'), once(bob, 'connected')]);
      assert.match(ctxA.client, /^[0-9a-f-]{36}$/);
      const subA = alice.newSubscription('room');
      const subB = bob.newSubscription('room');
      subA.subscribe();
      subB.subscribe();
      await Promise.all([once(subA, 'subscribed'), once(subB, 'subscribed')]);
      const received = once<PublicationContext>(subB, 'publication');
      await subA.publish(enc.data({ text: 'hello bob' }));
      const pub = await received;
      assert.deepEqual(enc.value(pub.data), { text: 'hello bob' });
      assert.equal(pub.info?.user, 'alice');
      assert.equal(pub.info?.client, ctxA.client);
      assert.deepEqual(enc.value(pub.info?.connInfo), { name: 'Alice' });
    });

    test('every connection gets its own client id, even for the same user', async () => {
      const token = await hsToken({ sub: 'same' });
      const a = client(s.wsUrl, { token });
      const b = client(s.wsUrl, { token });
      a.connect();
      b.connect();
      const [ca, cb] = await Promise.all([
        once<{ client: string }>(a, 'connected'),
        once<{ client: string }>(b, 'connected'),
      ]);
      assert.notEqual(ca.client, cb.client);
    });

    test('a connection without a token is refused when anonymous access is off', async () => {
      const c = client(s.wsUrl);
      c.connect();
      const ctx = await once<{ code: number }>(c, 'disconnected');
      assert.equal(ctx.code, 3501);
    });

    test('an invalid token closes with 3500 and the SDK does not reconnect', async () => {
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'x' }, 'wrong-secret-wrong-secret-wrong-secret') });
      c.connect();
      const ctx = await once<{ code: number }>(c, 'disconnected');
      assert.equal(ctx.code, 3500);
      assert.equal(c.state, 'disconnected');
    });

    test('an expired token is answered with 109 and the SDK gets a fresh one from getToken', async () => {
      let calls = 0;
      const c = client(s.wsUrl, {
        token: await hsToken({ sub: 'late', exp: Math.floor(Date.now() / 1000) - 10 }),
        getToken: async () => {
          calls++;
          return hsToken({ sub: 'late', exp: Math.floor(Date.now() / 1000) + 3600 });
        },
      });
      c.connect();
      await once(c, 'connected');
      assert.equal(calls, 1);
    });

    test('the connect result carries the token expiry and the SDK refreshes before it runs out', async () => {
      let refreshes = 0;
      const c = client(s.wsUrl, {
        token: await hsToken({ sub: 'short', exp: Math.floor(Date.now() / 1000) + 2 }),
        getToken: async () => {
          refreshes++;
          return hsToken({ sub: 'short', exp: Math.floor(Date.now() / 1000) + 3600 });
        },
      });
      c.connect();
      await once(c, 'connected');
      await waitFor(() => refreshes > 0, 6000, 'a token refresh');
      await sleep(300);
      assert.equal(c.state, 'connected');
    });

    test('server-side subscriptions from the channels claim deliver to the client-level publication event', async () => {
      const watcher = client(s.wsUrl, { token: await hsToken({ sub: 'w', channels: ['news:alerts'] }) });
      const subscribed = once<SubscribedContext>(watcher, 'subscribed');
      watcher.connect();
      const sctx = await subscribed;
      assert.equal(sctx.channel, 'news:alerts');
      const received = once<PublicationContext>(watcher, 'publication');
      const publisher = client(s.wsUrl, { token: await hsToken({ sub: 'p' }) });
      publisher.connect();
      await once(publisher, 'connected');
      await publisher.publish('news:alerts', enc.data({ level: 'high' }));
      const pub = await received;
      assert.equal(pub.channel, 'news:alerts');
      assert.deepEqual(enc.value(pub.data), { level: 'high' });
    });

    test('the server API subscribes a user at runtime, sends it a message, and unsubscribes it', async () => {
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'api-target' }) });
      c.connect();
      await once(c, 'connected');
      const subscribed = once<SubscribedContext>(c, 'subscribed');
      await api(s, 'subscribe', { user: 'api-target', channel: 'news:runtime', data: { welcome: true } });
      const sctx = await subscribed;
      assert.equal(sctx.channel, 'news:runtime');
      assert.deepEqual(enc.value(sctx.data), { welcome: true });
      const received = once<PublicationContext>(c, 'publication');
      await api(s, 'publish', { channel: 'news:runtime', data: { live: 1 } });
      assert.deepEqual(enc.value((await received).data), { live: 1 });
      const message = once<{ data: unknown }>(c, 'message');
      await api(s, 'send', { user: 'api-target', data: { note: 'direct' } });
      assert.deepEqual(enc.value((await message).data), { note: 'direct' });
      const unsubscribed = once<{ channel: string }>(c, 'unsubscribed');
      await api(s, 'unsubscribe', { user: 'api-target', channel: 'news:runtime' });
      assert.equal((await unsubscribed).channel, 'news:runtime');
    });

    test('the server API disconnects a user with its own code, which the SDK reports', async () => {
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'kicked' }) });
      c.connect();
      await once(c, 'connected');
      const gone = once<{ code: number; reason: string }>(c, 'disconnected');
      await api(s, 'disconnect', { user: 'kicked', disconnect: { code: 4501, reason: 'banned' } });
      const ctx = await gone;
      assert.equal(ctx.code, 4501);
      assert.equal(ctx.reason, 'banned');
    });

    test('a private $ channel needs a subscription token bound to the user', async () => {
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'carol' }) });
      c.connect();
      await once(c, 'connected');
      const noToken = c.newSubscription('$secret:plans');
      // A terminal subscribe error ends the subscription: the SDK reports it as 'unsubscribed' with the code.
      const refused = once<{ code: number }>(noToken, 'unsubscribed');
      noToken.subscribe();
      assert.equal((await refused).code, 103);
      c.removeSubscription(noToken);

      const withToken = c.newSubscription('$secret:plans', {
        getToken: async () => hsToken({ sub: 'carol', channel: '$secret:plans', info: { role: 'owner' } }),
      });
      withToken.subscribe();
      await once(withToken, 'subscribed');
      const received = once<PublicationContext>(withToken, 'publication');
      await s.server.node.ops.publish({ channel: '$secret:plans', data: Buffer.from(JSON.stringify({ step: 1 })) });
      assert.deepEqual(enc.value((await received).data), { step: 1 });
    });

    test('a subscription token for another user is refused with 3500 (the SDK stops)', async () => {
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'dave' }) });
      c.connect();
      await once(c, 'connected');
      const sub = c.newSubscription('$secret:x', {
        getToken: async () => hsToken({ sub: 'mallory', channel: '$secret:x' }),
      });
      sub.subscribe();
      const ctx = await once<{ code: number }>(c, 'disconnected');
      assert.equal(ctx.code, 3500);
    });

    test('an expiring subscription token is refreshed through sub_refresh', async () => {
      let calls = 0;
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'erin' }) });
      c.connect();
      await once(c, 'connected');
      const sub = c.newSubscription('$secret:live', {
        getToken: async () => {
          calls++;
          return hsToken({ sub: 'erin', channel: '$secret:live', exp: Math.floor(Date.now() / 1000) + 2 });
        },
      });
      sub.subscribe();
      await once(sub, 'subscribed');
      await waitFor(() => calls >= 2, 6000, 'subscription token refresh');
      assert.equal(sub.state, 'subscribed');
    });

    test('subscribing to an unknown namespace fails with 102; permission is checked per namespace', async () => {
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'frank' }) });
      c.connect();
      await once(c, 'connected');
      const unknown = c.newSubscription('nope:x');
      const unknownEnd = once<{ code: number }>(unknown, 'unsubscribed');
      unknown.subscribe();
      assert.equal((await unknownEnd).code, 102);
      const closed = c.newSubscription('secret:x');
      const closedEnd = once<{ code: number }>(closed, 'unsubscribed');
      closed.subscribe();
      assert.equal((await closedEnd).code, 103);
    });

    test('publish needs permission: subscriber-only channel refuses non-subscribers with 103', async () => {
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'gina' }) });
      c.connect();
      await once(c, 'connected');
      await assert.rejects(c.publish('room', enc.data({ x: 1 })), (e: { code: number }) => e.code === 103);
      await c.publish('news:open', enc.data({ x: 1 }));
    });

    test('rpc without a registered handler answers 108; with one it returns its result', async () => {
      // RPC handlers are part of the server's hooks, given when it is built.
      const withRpc = await startServer(
        { client: { token: { hmac_secret_key: SECRET } } },
        {
          hooks: {
            rpc: new Map([
              ['sum', (ctx, data) => ({ user: ctx.user, sum: (data as number[]).reduce((a, b) => a + b) })],
            ]),
          },
        },
      );
      try {
        const c = client(withRpc.wsUrl, { token: await hsToken({ sub: 'hal' }) });
        c.connect();
        await once(c, 'connected');
        await assert.rejects(c.rpc('unknown', enc.data({})), (e: { code: number }) => e.code === 108);
        const res = await c.rpc('sum', enc.data([1, 2, 3]));
        assert.deepEqual(enc.value(res.data), { user: 'hal', sum: 6 });
        c.disconnect();
      } finally {
        await withRpc.close();
      }
    });

    test('send reaches the onSend hook; without one the connection closes with 3508 (not available)', async () => {
      const got: unknown[] = [];
      const withSend = await startServer(
        { client: { token: { hmac_secret_key: SECRET } } },
        { hooks: { onSend: (ctx, data) => void got.push({ user: ctx.user, data }) } },
      );
      try {
        const c = client(withSend.wsUrl, { token: await hsToken({ sub: 'sender' }) });
        c.connect();
        await once(c, 'connected');
        await c.send(enc.data({ typing: true }));
        await waitFor(() => got.length === 1, 5000, 'the onSend hook');
        assert.deepEqual(got[0], { user: 'sender', data: { typing: true } });
      } finally {
        await withSend.close();
      }
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'sender' }) });
      c.connect();
      await once(c, 'connected');
      // 3508 is terminal for the SDK: it does not reconnect into the same refusal.
      const closed = once<{ code: number }>(c, 'disconnected');
      await c.send(enc.data({ typing: true }));
      assert.equal((await closed).code, 3508);
    });

    test('presence and history answer 108 where the namespace does not enable them', async () => {
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'ivy' }) });
      c.connect();
      await once(c, 'connected');
      const sub = c.newSubscription('room');
      sub.subscribe();
      await once(sub, 'subscribed');
      await assert.rejects(sub.presence(), (e: { code: number }) => e.code === 108);
      await assert.rejects(sub.history({ limit: 10 }), (e: { code: number }) => e.code === 108);
    });
  });

  describe('insecure mode (as the centrifuge-js test suite runs Centrifugo)', () => {
    let s: TestServer;
    before(async () => {
      s = await startServer({
        client: { insecure: true },
        channel: { without_namespace: { presence: true } },
      });
    });
    after(async () => {
      disconnectAll();
      await s.close();
    });

    test('anonymous clients connect without a token, subscribe and receive their own publication', async () => {
      const c = client(s.wsUrl);
      c.connect();
      await once(c, 'connected');
      const sub = c.newSubscription('test');
      sub.subscribe();
      await once(sub, 'subscribed');
      const received = once<PublicationContext>(sub, 'publication');
      await sub.publish(enc.data({ echo: true }));
      assert.deepEqual(enc.value((await received).data), { echo: true });
    });

    test('presence and presence stats count the anonymous user and drop to 0 after unsubscribe', async () => {
      const c = client(s.wsUrl);
      c.connect();
      await once(c, 'connected');
      const sub = c.newSubscription('test-presence');
      sub.subscribe();
      await once(sub, 'subscribed');
      const presence = await sub.presence();
      assert.equal(Object.keys(presence.clients).length, 1);
      const stats = await sub.presenceStats();
      assert.equal(stats.numClients, 1);
      assert.equal(stats.numUsers, 1);
      const unsubscribed = once(sub, 'unsubscribed');
      sub.unsubscribe();
      await unsubscribed;
      // Commands of a connection run in order: the unsubscribe is complete before the stats are read.
      const after = await c.presenceStats('test-presence');
      assert.equal(after.numClients, 0);
      assert.equal(after.numUsers, 0);
    });

    test('a token in insecure mode sets the user but never expires the connection', async () => {
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'u1', exp: Math.floor(Date.now() / 1000) + 1 }) });
      // Insecure mode skips nothing of the signature check when a key is set; without a key the token is invalid,
      // so this server (no key) refuses it: insecure mode is for anonymous use.
      c.connect();
      const ctx = await once<{ code: number }>(c, 'disconnected');
      assert.equal(ctx.code, 3500);
    });
  });

  describe('open channels with presence, join/leave and history', () => {
    let s: TestServer;
    before(async () => {
      s = await startServer({
        client: { allow_anonymous_connect_without_token: true, token: { hmac_secret_key: SECRET } },
        channel: {
          without_namespace: openChannels({
            presence: true,
            join_leave: true,
            history_size: 10,
            history_ttl: '60s',
            allow_recovery: true,
          }),
        },
      });
    });
    after(async () => {
      disconnectAll();
      await s.close();
    });

    test('join and leave events reach only subscribers that asked for them', async () => {
      const asker = client(s.wsUrl);
      const silent = client(s.wsUrl);
      asker.connect();
      silent.connect();
      await Promise.all([once(asker, 'connected'), once(silent, 'connected')]);
      const subAsk = asker.newSubscription('lobby', { joinLeave: true });
      const subSilent = silent.newSubscription('lobby');
      let silentJoins = 0;
      subSilent.on('join', () => silentJoins++);
      subAsk.subscribe();
      subSilent.subscribe();
      await Promise.all([once(subAsk, 'subscribed'), once(subSilent, 'subscribed')]);
      const joined = once<{ info: { user: string; connInfo?: unknown } }>(subAsk, 'join');
      const newcomer = client(s.wsUrl, { token: await hsToken({ sub: 'newbie', info: { badge: 'new' } }) });
      newcomer.connect();
      const subNew = newcomer.newSubscription('lobby');
      subNew.subscribe();
      const join = await joined;
      assert.equal(join.info.user, 'newbie');
      assert.deepEqual(enc.value(join.info.connInfo), { badge: 'new' });
      const left = once<{ info: { user: string } }>(subAsk, 'leave');
      newcomer.disconnect();
      assert.equal((await left).info.user, 'newbie');
      await sleep(100);
      assert.equal(silentJoins, 0);
    });

    test('presence lists each client with its connection info', async () => {
      const c = client(s.wsUrl, { token: await hsToken({ sub: 'pat', info: { name: 'Pat' } }) });
      c.connect();
      const connected = await once<{ client: string }>(c, 'connected');
      const sub = c.newSubscription('who');
      sub.subscribe();
      await once(sub, 'subscribed');
      const presence = await sub.presence();
      const me = presence.clients[connected.client];
      assert.equal(me?.user, 'pat');
      assert.deepEqual(enc.value(me?.connInfo), { name: 'Pat' });
    });

    test('history returns the latest publications with offsets and the stream epoch', async () => {
      const c = client(s.wsUrl);
      c.connect();
      await once(c, 'connected');
      const sub = c.newSubscription('hist');
      sub.subscribe();
      await once(sub, 'subscribed');
      for (let i = 1; i <= 12; i++) await sub.publish(enc.data({ n: i }));
      const h = await sub.history({ limit: 100 });
      assert.equal(h.publications.length, 10);
      assert.deepEqual(
        h.publications.map((p) => (enc.value(p.data) as { n: number }).n),
        [3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
      );
      assert.equal(h.offset, 12);
      assert.ok(h.epoch.length > 0, 'h.epoch.length > 0');
      const rev = await sub.history({ limit: 2, reverse: true });
      assert.deepEqual(
        rev.publications.map((p) => p.offset),
        [12, 11],
      );
      const since = await sub.history({ limit: 100, since: { offset: 10, epoch: h.epoch } });
      assert.deepEqual(
        since.publications.map((p) => (enc.value(p.data) as { n: number }).n),
        [11, 12],
      );
    });
  });

  describe('limits and close codes', () => {
    let s: TestServer;
    before(async () => {
      s = await startServer({
        client: { insecure: true, channel_limit: 2 },
        websocket: { message_size_limit: 4096 },
      });
    });
    after(async () => {
      disconnectAll();
      await s.close();
    });

    test('client.channel_limit: the subscription over the limit fails with 106, the others stay', async () => {
      const c = client(s.wsUrl);
      c.connect();
      await once(c, 'connected');
      const a = c.newSubscription('a');
      const b = c.newSubscription('b');
      a.subscribe();
      b.subscribe();
      await Promise.all([once(a, 'subscribed'), once(b, 'subscribed')]);
      const third = c.newSubscription('c');
      const refused = once<{ code: number }>(third, 'unsubscribed');
      third.subscribe();
      assert.equal((await refused).code, 106);
      assert.equal(a.state, 'subscribed');
    });

    test('a frame over websocket.message_size_limit closes with 1009, which the SDK reports as final', async () => {
      const c = client(s.wsUrl);
      c.connect();
      await once(c, 'connected');
      const sub = c.newSubscription('big');
      sub.subscribe();
      await once(sub, 'subscribed');
      const closed = once<{ code: number; reason: string }>(c, 'disconnected');
      sub.publish(enc.data({ blob: 'x'.repeat(8192) })).catch(() => {});
      // The SDK turns the WebSocket's 1009 into its own code 3 (message size limit) and stops.
      const ctx = await closed;
      assert.equal(ctx.code, 3);
      assert.match(ctx.reason, /message size limit/);
    });
  });

  describe('personal channel with single_connection', () => {
    let s: TestServer;
    before(async () => {
      s = await startServer({
        client: {
          token: { hmac_secret_key: SECRET },
          subscribe_to_user_personal_channel: { enabled: true, single_connection: true },
        },
      });
    });
    after(async () => {
      disconnectAll();
      await s.close();
    });

    test("a user's new connection closes the older one with 3504 (no reconnect loop)", async () => {
      const first = client(s.wsUrl, { token: await hsToken({ sub: 'solo' }) });
      first.connect();
      await once(first, 'connected');
      const kicked = once<{ code: number }>(first, 'disconnected');
      const second = client(s.wsUrl, { token: await hsToken({ sub: 'solo' }) });
      second.connect();
      await once(second, 'connected');
      assert.equal((await kicked).code, 3504);
      await sleep(200);
      assert.equal(second.state, 'connected');
    });
  });
}

for (const enc of SDK_ENCODINGS) describe(`the ${enc.name} SDK`, () => sdkSuite(enc));
