/**
 * What an application developer does with Chorus through the real `centrifuge` SDK, as one suite body that runs
 * over any of the SDK's transports (sdk-transports.test.ts runs it over WebSocket, HTTP-streaming and SSE): the
 * same expectations hold whichever transport carries the session. Every server here serves all three.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext, SubscribedContext } from 'centrifuge';
import { hsToken, once, SECRET, sleep, waitFor } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';
import { type Relay, sdkOver, startRelay, type TransportName, withHttpTransports } from '../helpers/transports.js';

type ClientOpts = Parameters<typeof sdkOver>[2];

export function sdkSuite(transport: TransportName): void {
  const clients: Centrifuge[] = [];
  /** An SDK client over `transport` to `url` (a server's, or a relay's in front of it). */
  function client(url: string, opts: ClientOpts = {}): Centrifuge {
    const c = sdkOver(transport, url, opts);
    clients.push(c);
    return c;
  }
  function disconnectAll(): void {
    for (const c of clients.splice(0)) c.disconnect();
  }
  async function connected(url: string, opts: ClientOpts = {}): Promise<Centrifuge> {
    const c = client(url, opts);
    const ok = once<{ transport: string }>(c, 'connected');
    c.connect();
    assert.equal((await ok).transport, transport, 'connected over the transport under test');
    return c;
  }
  function serve(config: Record<string, unknown>, opts?: Parameters<typeof startServer>[1]): Promise<TestServer> {
    return startServer(withHttpTransports(config), opts);
  }

  describe('with tokens (secure mode)', () => {
    let s: TestServer;
    before(async () => {
      s = await serve({
        client: { token: { hmac_secret_key: SECRET } },
        http_api: { insecure: true },
        channel: {
          without_namespace: { allow_subscribe_for_client: true, allow_publish_for_subscriber: true },
          namespaces: [
            { name: 'news', allow_subscribe_for_client: true, allow_publish_for_client: true },
            { name: 'secret' },
          ],
        },
      });
    });
    afterEach(disconnectAll);
    after(() => s.close());

    test('two clients with tokens exchange messages; the publication carries the publisher identity', async () => {
      const alice = await connected(s.url, { token: await hsToken({ sub: 'alice', info: { name: 'Alice' } }) });
      const bob = await connected(s.url, { token: await hsToken({ sub: 'bob' }) });
      const subA = alice.newSubscription('room');
      const subB = bob.newSubscription('room');
      subA.subscribe();
      subB.subscribe();
      await Promise.all([once(subA, 'subscribed'), once(subB, 'subscribed')]);
      const received = once<PublicationContext>(subB, 'publication');
      await subA.publish({ text: 'hello bob' });
      const pub = await received;
      assert.deepEqual(pub.data, { text: 'hello bob' });
      assert.equal(pub.info?.user, 'alice');
      assert.deepEqual(pub.info?.connInfo, { name: 'Alice' });
    });

    test('a connection without a token is refused when anonymous access is off (3501)', async () => {
      const c = client(s.url);
      c.connect();
      assert.equal((await once<{ code: number }>(c, 'disconnected')).code, 3501);
    });

    test('an invalid token closes with 3500 and the SDK does not reconnect', async () => {
      const c = client(s.url, { token: await hsToken({ sub: 'x' }, 'wrong-secret-wrong-secret-wrong-secret') });
      c.connect();
      assert.equal((await once<{ code: number }>(c, 'disconnected')).code, 3500);
      await sleep(100);
      assert.equal(c.state, 'disconnected');
    });

    test('an expired token is answered with 109 and the SDK gets a fresh one from getToken', async () => {
      let calls = 0;
      const c = client(s.url, {
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

    test('the SDK refreshes an expiring connection token through the refresh command', async () => {
      let refreshes = 0;
      const c = await connected(s.url, {
        token: await hsToken({ sub: 'short', exp: Math.floor(Date.now() / 1000) + 2 }),
        getToken: async () => {
          refreshes++;
          return hsToken({ sub: 'short', exp: Math.floor(Date.now() / 1000) + 3600 });
        },
      });
      let dropped = 0;
      c.on('connecting', () => dropped++);
      await waitFor(() => refreshes > 0, 6000, 'a token refresh');
      await sleep(300);
      assert.equal(c.state, 'connected');
      assert.equal(dropped, 0, 'refreshed in place, never reconnected');
    });

    test('a connection the server expires (3005) reconnects on its own', async () => {
      const c = await connected(s.url, {
        token: await hsToken({ sub: 'exp', exp: Math.floor(Date.now() / 1000) + 3600 }),
      });
      const reconnecting = once<{ code: number }>(c, 'connecting');
      await s.server.node.ops.refresh({ user: 'exp', expired: true });
      assert.equal((await reconnecting).code, 3005);
      await once(c, 'connected');
    });

    test('server-side subscriptions: from the channels claim, and added at runtime through the server API', async () => {
      const watcher = client(s.url, { token: await hsToken({ sub: 'w', channels: ['news:alerts'] }) });
      const subscribed = once<SubscribedContext>(watcher, 'subscribed');
      watcher.connect();
      assert.equal((await subscribed).channel, 'news:alerts');
      const received = once<PublicationContext>(watcher, 'publication');
      await s.server.node.ops.publish({ channel: 'news:alerts', data: Buffer.from('{"level":"high"}') });
      const pub = await received;
      assert.equal(pub.channel, 'news:alerts');
      assert.deepEqual(pub.data, { level: 'high' });

      const later = once<SubscribedContext>(watcher, 'subscribed');
      const res = await fetch(`${s.url}/api/subscribe`, {
        method: 'POST',
        body: JSON.stringify({ user: 'w', channel: 'news:later' }),
      });
      assert.equal(res.status, 200);
      assert.equal((await later).channel, 'news:later');
    });

    test('a private $ channel needs a subscription token bound to the user', async () => {
      const c = await connected(s.url, { token: await hsToken({ sub: 'carol' }) });
      const noToken = c.newSubscription('$secret:plans');
      const refused = once<{ code: number }>(noToken, 'unsubscribed');
      noToken.subscribe();
      assert.equal((await refused).code, 103);
      c.removeSubscription(noToken);
      const withToken = c.newSubscription('$secret:plans', {
        getToken: async () => hsToken({ sub: 'carol', channel: '$secret:plans' }),
      });
      withToken.subscribe();
      await once(withToken, 'subscribed');
      const received = once<PublicationContext>(withToken, 'publication');
      await s.server.node.ops.publish({ channel: '$secret:plans', data: Buffer.from('{"step":1}') });
      assert.deepEqual((await received).data, { step: 1 });
    });

    test('a subscription token for another user is refused with 3500 (the SDK stops)', async () => {
      const c = await connected(s.url, { token: await hsToken({ sub: 'dave' }) });
      const sub = c.newSubscription('$secret:x', {
        getToken: async () => hsToken({ sub: 'mallory', channel: '$secret:x' }),
      });
      sub.subscribe();
      assert.equal((await once<{ code: number }>(c, 'disconnected')).code, 3500);
    });

    test('an expiring subscription token is refreshed through sub_refresh', async () => {
      let calls = 0;
      const c = await connected(s.url, { token: await hsToken({ sub: 'erin' }) });
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

    test('unknown namespace 102, no permission 103, subscriber-only publish 103', async () => {
      const c = await connected(s.url, { token: await hsToken({ sub: 'frank' }) });
      const unknown = c.newSubscription('nope:x');
      const unknownEnd = once<{ code: number }>(unknown, 'unsubscribed');
      unknown.subscribe();
      assert.equal((await unknownEnd).code, 102);
      const closed = c.newSubscription('secret:x');
      const closedEnd = once<{ code: number }>(closed, 'unsubscribed');
      closed.subscribe();
      assert.equal((await closedEnd).code, 103);
      await assert.rejects(c.publish('room', { x: 1 }), (e: { code: number }) => e.code === 103);
      await c.publish('news:open', { x: 1 });
    });

    test('a server API disconnect reaches the client with its code; a 4500+ code is terminal', async () => {
      const c = await connected(s.url, { token: await hsToken({ sub: 'kicked' }) });
      const gone = once<{ code: number; reason: string }>(c, 'disconnected');
      await s.server.node.ops.disconnect({ user: 'kicked', disconnect: { code: 4501, reason: 'banned for a day' } });
      const ctx = await gone;
      assert.equal(ctx.code, 4501);
      assert.equal(ctx.reason, 'banned for a day');
      await sleep(200);
      assert.equal(c.state, 'disconnected');
    });

    test('a server API disconnect with a reconnect code (3011) makes the SDK come back', async () => {
      const c = await connected(s.url, { token: await hsToken({ sub: 'bounce' }) });
      const reconnecting = once<{ code: number }>(c, 'connecting');
      await s.server.node.ops.disconnect({ user: 'bounce', disconnect: { code: 3011, reason: 'force reconnect' } });
      assert.equal((await reconnecting).code, 3011);
      await once(c, 'connected');
    });
  });

  describe('rpc, message pushes and the command rate limit', () => {
    let s: TestServer;
    before(async () => {
      s = await serve(
        {
          client: { token: { hmac_secret_key: SECRET }, command_rate_limit: 5, command_rate_burst: 5 },
          channel: { without_namespace: openChannels() },
        },
        {
          hooks: {
            rpc: new Map([
              ['sum', (ctx, data) => ({ user: ctx.user, sum: (data as number[]).reduce((a, b) => a + b) })],
            ]),
          },
        },
      );
    });
    afterEach(disconnectAll);
    after(() => s.close());

    test('rpc without a handler answers 108; with one it returns its result', async () => {
      const c = await connected(s.url, { token: await hsToken({ sub: 'hal' }) });
      await assert.rejects(c.rpc('unknown', {}), (e: { code: number }) => e.code === 108);
      assert.deepEqual((await c.rpc('sum', [1, 2, 3])).data, { user: 'hal', sum: 6 });
    });

    test('a message pushed by the server reaches the message event', async () => {
      const c = await connected(s.url, { token: await hsToken({ sub: 'msg' }) });
      const got = once<{ data: unknown }>(c, 'message');
      await s.server.node.ops.send({ user: 'msg', data: Buffer.from('{"hi":1}') });
      assert.deepEqual((await got).data, { hi: 1 });
    });

    test('commands over client.command_rate_limit are refused with 111; the connection stays', async () => {
      const c = await connected(s.url, { token: await hsToken({ sub: 'rapid' }) });
      const sub = c.newSubscription('rate');
      sub.subscribe();
      await once(sub, 'subscribed');
      // A burst of 5 above the rate is answered 111; another burst's worth would close the connection (3013).
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => sub.publish({ i })));
      const refused = results.filter((r) => r.status === 'rejected');
      assert.ok(refused.length > 0, 'some publishes were refused');
      for (const r of refused) assert.equal((r as PromiseRejectedResult).reason.code, 111);
      assert.equal(c.state, 'connected');
    });
  });

  describe('insecure mode (as the centrifuge-js test suite runs Centrifugo)', () => {
    let s: TestServer;
    before(async () => {
      s = await serve({ client: { insecure: true }, channel: { without_namespace: { presence: true } } });
    });
    afterEach(disconnectAll);
    after(() => s.close());

    test('anonymous clients connect without a token, subscribe and receive their own publication', async () => {
      const c = await connected(s.url);
      const sub = c.newSubscription('test');
      sub.subscribe();
      await once(sub, 'subscribed');
      const received = once<PublicationContext>(sub, 'publication');
      await sub.publish({ echo: true });
      assert.deepEqual((await received).data, { echo: true });
    });

    test('presence and presence stats count the anonymous user and drop to 0 after unsubscribe', async () => {
      const c = await connected(s.url);
      const sub = c.newSubscription('test-presence');
      sub.subscribe();
      await once(sub, 'subscribed');
      assert.equal(Object.keys((await sub.presence()).clients).length, 1);
      const stats = await sub.presenceStats();
      assert.equal(stats.numClients, 1);
      assert.equal(stats.numUsers, 1);
      const unsubscribed = once(sub, 'unsubscribed');
      sub.unsubscribe();
      await unsubscribed;
      await waitFor(async () => (await c.presenceStats('test-presence')).numClients === 0, 3000, 'presence emptied');
    });

    test('churn leaves no session behind: connect/disconnect and subscribe/unsubscribe loops, offline then online', async () => {
      const presentIds = async (via: Centrifuge) => Object.keys((await via.presence('test-churn')).clients).sort();
      const network = new EventTarget();
      const c = client(s.url, { networkEventTarget: network });
      for (let i = 0; i < 10; i++) {
        c.connect();
        c.disconnect();
      }
      assert.equal(c.state, 'disconnected');
      const first = once<{ client: string }>(c, 'connected');
      c.connect();
      const firstId = (await first).client;

      const sub = c.newSubscription('test-churn');
      for (let i = 0; i < 10; i++) {
        sub.subscribe();
        sub.unsubscribe();
      }
      assert.equal(sub.state, 'unsubscribed');
      sub.subscribe();
      await once(sub, 'subscribed');
      await waitFor(async () => (await presentIds(c)).join() === firstId, 3000, 'only the live subscription present');

      // Going offline makes the SDK drop its transport (WebSocket close, fetch abort, EventSource close): the server
      // must end that session, and the SDK comes back as a new client once online.
      const observer = await connected(s.url);
      const reconnecting = once<{ code: number }>(c, 'connecting');
      network.dispatchEvent(new Event('offline'));
      assert.equal((await reconnecting).code, 1, 'connecting because the transport closed');
      await waitFor(async () => (await presentIds(observer)).length === 0, 3000, 'the dropped session left presence');
      const back = once<{ client: string }>(c, 'connected');
      network.dispatchEvent(new Event('online'));
      const secondId = (await back).client;
      assert.notEqual(secondId, firstId);
      await waitFor(async () => (await presentIds(observer)).join() === secondId, 3000, 'resubscribed anew');
    });
  });

  describe('presence, join/leave and history', () => {
    let s: TestServer;
    before(async () => {
      s = await serve({
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
    afterEach(disconnectAll);
    after(() => s.close());

    test('join and leave events reach only subscribers that asked for them', async () => {
      const asker = await connected(s.url);
      const silent = await connected(s.url);
      const subAsk = asker.newSubscription('lobby', { joinLeave: true });
      const subSilent = silent.newSubscription('lobby');
      let silentJoins = 0;
      subSilent.on('join', () => silentJoins++);
      subAsk.subscribe();
      subSilent.subscribe();
      await Promise.all([once(subAsk, 'subscribed'), once(subSilent, 'subscribed')]);
      const joined = once<{ info: { user: string } }>(subAsk, 'join');
      const newcomer = await connected(s.url, { token: await hsToken({ sub: 'newbie' }) });
      newcomer.newSubscription('lobby').subscribe();
      assert.equal((await joined).info.user, 'newbie');
      const left = once<{ info: { user: string } }>(subAsk, 'leave');
      newcomer.disconnect();
      assert.equal((await left).info.user, 'newbie');
      await sleep(100);
      assert.equal(silentJoins, 0);
    });

    test('history returns the latest publications with offsets and the stream epoch', async () => {
      const c = await connected(s.url);
      const sub = c.newSubscription('hist');
      sub.subscribe();
      await once(sub, 'subscribed');
      for (let i = 1; i <= 12; i++) await sub.publish({ n: i });
      const h = await sub.history({ limit: 100 });
      assert.deepEqual(
        h.publications.map((p) => (p.data as { n: number }).n),
        [3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
      );
      assert.equal(h.offset, 12);
      assert.ok(h.epoch.length > 0, 'the stream has an epoch');
      const rev = await sub.history({ limit: 2, reverse: true });
      assert.deepEqual(
        rev.publications.map((p) => p.offset),
        [12, 11],
      );
    });
  });

  describe('recovery after a dropped connection', () => {
    let s: TestServer;
    let relay: Relay;
    before(async () => {
      s = await serve({
        client: { allow_anonymous_connect_without_token: true, token: { hmac_secret_key: SECRET } },
        channel: { without_namespace: openChannels({ history_size: 1000, history_ttl: '300s', force_recovery: true }) },
      });
      relay = await startRelay(s.port);
    });
    afterEach(disconnectAll);
    after(async () => {
      await relay.close();
      await s.close();
    });

    async function publish(channel: string, from: number, to: number): Promise<void> {
      for (let n = from; n <= to; n++) {
        await s.server.node.ops.publish({ channel, data: Buffer.from(JSON.stringify({ n })) });
      }
    }

    test('publications missed while the connection was down come back exactly once, in order', async () => {
      // Through the relay, whose cut drops the TCP connections as a network does: no close frame, no push.
      const c = await connected(relay.url, { minReconnectDelay: 500, maxReconnectDelay: 500 });
      const sub = c.newSubscription('dropped');
      const subscribed: SubscribedContext[] = [];
      const ns: number[] = [];
      sub.on('subscribed', (ctx) => subscribed.push(ctx));
      sub.on('publication', (ctx) => ns.push((ctx.data as { n: number }).n));
      sub.subscribe();
      await waitFor(() => subscribed.length === 1, 5000, 'subscribed');
      await publish('dropped', 1, 5);
      await waitFor(() => ns.length === 5, 5000, 'live publications');
      const away = once(c, 'connecting');
      relay.cut();
      await away;
      await publish('dropped', 6, 205);
      await waitFor(() => subscribed.length === 2, 10_000, 'resubscribed');
      assert.equal(subscribed[1]?.wasRecovering, true);
      assert.equal(subscribed[1]?.recovered, true);
      await publish('dropped', 206, 210);
      await waitFor(() => ns.length >= 210, 5000, 'every publication');
      await sleep(50);
      assert.deepEqual(
        ns,
        Array.from({ length: 210 }, (_, i) => i + 1),
      );
      // The dropped session is gone from the server, not left behind holding the channel.
      await waitFor(() => s.server.node.clients.size === 1, 5000, 'one session left');
    });

    test('a server-side subscription recovers through connect.subs after a drop', async () => {
      const c = client(relay.url, {
        minReconnectDelay: 500,
        maxReconnectDelay: 500,
        token: await hsToken({ sub: 'srv', channels: ['server-side'] }),
      });
      const subs: SubscribedContext[] = [];
      const ns: number[] = [];
      c.on('subscribed', (ctx) => subs.push(ctx as SubscribedContext));
      c.on('publication', (ctx) => ns.push((ctx.data as { n: number }).n));
      c.connect();
      await waitFor(() => subs.length === 1, 5000, 'server-side subscription');
      await publish('server-side', 1, 3);
      await waitFor(() => ns.length === 3, 5000, 'live publications');
      const away = once(c, 'connecting');
      relay.cut();
      await away;
      await publish('server-side', 4, 30);
      await waitFor(() => subs.length === 2, 10_000, 'reconnected');
      assert.equal(subs[1]?.recovered, true);
      await waitFor(() => ns.length >= 30, 5000, 'every publication');
      assert.deepEqual(
        ns,
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
    });
  });

  describe('heartbeats and shutdown', () => {
    afterEach(disconnectAll);

    test('server pings are answered (pong) so the connection outlives several pong timeouts', async () => {
      const s = await serve({
        client: { allow_anonymous_connect_without_token: true, ping_interval: '600ms', pong_timeout: '300ms' },
      });
      try {
        const c = await connected(s.url);
        let drops = 0;
        c.on('connecting', () => drops++);
        await sleep(2500);
        assert.equal(drops, 0, 'no 3012 (no pong) and no missed ping');
        assert.equal(c.state, 'connected');
      } finally {
        await s.close();
      }
    });

    test('a graceful shutdown tells the client to reconnect (3001)', async () => {
      const s = await serve({ client: { allow_anonymous_connect_without_token: true } });
      const c = await connected(s.url);
      const reconnecting = once<{ code: number }>(c, 'connecting');
      await s.close();
      assert.equal((await reconnecting).code, 3001);
    });
  });

  describe('personal channel with single_connection', () => {
    let s: TestServer;
    before(async () => {
      s = await serve({
        client: {
          token: { hmac_secret_key: SECRET },
          subscribe_to_user_personal_channel: { enabled: true, single_connection: true },
        },
      });
    });
    afterEach(disconnectAll);
    after(() => s.close());

    test("a user's new connection closes the older one with 3504 (no reconnect loop)", async () => {
      const first = await connected(s.url, { token: await hsToken({ sub: 'solo' }) });
      const kicked = once<{ code: number }>(first, 'disconnected');
      const second = await connected(s.url, { token: await hsToken({ sub: 'solo' }) });
      assert.equal((await kicked).code, 3504);
      await sleep(200);
      assert.equal(second.state, 'connected');
    });
  });
}
