/**
 * The three unidirectional transports over real sockets, the same behaviour checked on each as a client without
 * an SDK sees it: connect with a token or anonymously, server-side subscriptions from the token and from the
 * connect request, publications, recovery with `subs` offsets, join/leave, pings, refresh and expiry, refused
 * connects, and shutdown — every push bare JSON, in Centrifugo's documented shapes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hsToken, sleep } from '../helpers/clients.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/session.js';
import {
  apiPublish,
  connected,
  disconnected,
  openUni,
  type Push,
  UNI_KINDS,
  type UniConn,
  uniConfig,
} from '../helpers/uni.js';

const isPing = (p: Push) => Object.keys(p).length === 0;

for (const kind of UNI_KINDS) {
  describe(kind, () => {
    let s: TestServer;
    const open: UniConn[] = [];
    const uni = async (connect: Record<string, unknown> | undefined, opts = {}) => {
      const c = await openUni(kind, s.url, connect, opts);
      open.push(c);
      return c;
    };

    before(async () => {
      s = await startServer(uniConfig());
    });
    after(async () => {
      for (const c of open) c.close();
      await s.close();
    });

    test('a token connects as its user: a connect push with client id, session and ping, no pong', async () => {
      const c = await uni({ token: await hsToken({ sub: 'alice' }), name: 'no-sdk', version: '1' });
      const result = await connected(c);
      assert.match(String(result.client), /^[0-9a-f-]{36}$/);
      assert.match(String(result.session), /^[0-9a-f-]{36}$/);
      assert.equal(result.ping, 25);
      assert.equal(result.pong, undefined);
      assert.equal(s.server.node.clients.get(String(result.client))?.user, 'alice');
      assert.equal(s.server.node.clients.get(String(result.client))?.transportName, kind);
    });

    test('without a token the client connects anonymously (client.allow_anonymous_connect_without_token)', async () => {
      const c = await uni({});
      const result = await connected(c);
      assert.equal(s.server.node.clients.get(String(result.client))?.user, '');
    });

    test("server-side subscriptions from the token's channels and the request's subs; publications arrive bare", async () => {
      const c = await uni({
        token: await hsToken({ sub: 'bob', channels: ['closed:granted'] }),
        subs: { news: {}, 'closed:asked': {} },
      });
      const subs = (await connected(c)).subs as Record<string, unknown>;
      assert.deepEqual(Object.keys(subs).sort(), ['closed:granted', 'news'], 'closed:asked needs a grant');
      await apiPublish(s.url, 'news', { text: 'hello' });
      await apiPublish(s.url, 'closed:granted', { n: 1 });
      const pub = await c.next('the news publication', (p) => p.channel === 'news');
      assert.deepEqual((pub.pub as { data: unknown }).data, { text: 'hello' });
      await c.next('the granted publication', (p) => p.channel === 'closed:granted' && p.pub !== undefined);
    });

    test('subs with recover, offset and epoch get exactly the publications missed, in the connect push', async () => {
      const ch = `feed:${kind}`;
      const first = await uni({ subs: { [ch]: {} } });
      const epoch = ((await connected(first)).subs as Record<string, { epoch: string }>)[ch]?.epoch;
      assert.ok(epoch, 'a recoverable subscription tells its epoch');
      for (let i = 1; i <= 3; i++) await apiPublish(s.url, ch, { i });
      const seen = await first.next('publication 3', (p) => (p.pub as { offset?: number })?.offset === 3);
      assert.deepEqual((seen.pub as { data: unknown }).data, { i: 3 });
      first.close();

      const back = await uni({ subs: { [ch]: { recover: true, offset: 1, epoch } } });
      const sub = ((await connected(back)).subs as Record<string, Record<string, unknown>>)[ch] as {
        recovered: boolean;
        publications: { offset: number; data: { i: number } }[];
      };
      assert.equal(sub.recovered, true);
      assert.deepEqual(
        sub.publications.map((p) => p.data.i),
        [2, 3],
      );
    });

    test('join and leave pushes on a channel that pushes them', async () => {
      const ch = `room:${kind}`;
      const watcher = await uni({ token: await hsToken({ sub: 'watcher' }), subs: { [ch]: {} } });
      await connected(watcher);
      const visitor = await uni({ token: await hsToken({ sub: 'visitor' }), subs: { [ch]: {} } });
      await connected(visitor);
      const userOf = (p: Push, k: string) => (p[k] as { info: { user: string } } | undefined)?.info.user;
      await watcher.next('the join', (p) => p.channel === ch && userOf(p, 'join') === 'visitor');
      visitor.close();
      await watcher.next('the leave', (p) => p.channel === ch && userOf(p, 'leave') === 'visitor');
    });

    test('a server API refresh arrives as a refresh push with the new ttl', async () => {
      const c = await uni({
        token: await hsToken({ sub: `refreshed-${kind}`, exp: Math.floor(Date.now() / 1000) + 60 }),
      });
      assert.equal((await connected(c)).expires, true);
      const expireAt = Math.floor(Date.now() / 1000) + 3600;
      const res = await fetch(`${s.url}/api/refresh`, {
        method: 'POST',
        body: JSON.stringify({ user: `refreshed-${kind}`, expire_at: expireAt }),
      });
      assert.equal(res.status, 200);
      const r = await c.next('the refresh push', (p) => p.refresh !== undefined);
      const refresh = r.refresh as { expires: boolean; ttl: number };
      assert.equal(refresh.expires, true);
      assert.ok(refresh.ttl > 3590 && refresh.ttl <= 3600, `ttl ${refresh.ttl}`);
    });

    test('an invalid token is refused with a disconnect push 3500, then the connection ends', async () => {
      const c = await uni({ token: await hsToken({ sub: 'x' }, 'another-secret-which-is-long-enough-!!') });
      assert.deepEqual(await disconnected(c), { code: 3500, reason: 'invalid token' });
      const end = await c.ended;
      if (kind === 'uni_websocket') assert.equal(end.code, 3500);
      assert.equal(c.messages.length, 1, 'nothing but the disconnect');
    });

    test('a server API disconnect ends the connection with its code as a push', async () => {
      const c = await uni({ token: await hsToken({ sub: `kicked-${kind}` }) });
      await connected(c);
      await fetch(`${s.url}/api/disconnect`, {
        method: 'POST',
        body: JSON.stringify({ user: `kicked-${kind}`, disconnect: { code: 4501, reason: 'go away' } }),
      });
      assert.deepEqual(await disconnected(c), { code: 4501, reason: 'go away' });
      const end = await c.ended;
      if (kind === 'uni_websocket') assert.deepEqual(end, { code: 4501, reason: 'go away' });
    });
  });

  describe(`${kind}: timers (manual clock)`, () => {
    test('pings are `{}` every ping_interval, unanswered without harm; an expired token closes with 3005', async () => {
      const clock = new ManualClock(Date.now());
      // uni_websocket's WebSocket pings need their pongs to travel while the clock moves: it moves a second at a
      // time, with a moment for the network in between, well within pong_timeout.
      const s = await startServer(uniConfig({ client: { pong_timeout: '20s' } }), { clock });
      const advance = async (ms: number) => {
        for (let t = 0; t < ms; t += 1000) {
          clock.advance(1000);
          await sleep(2);
        }
      };
      try {
        const exp = Math.floor(clock.now() / 1000) + 100;
        const c = await openUni(kind, s.url, { token: await hsToken({ sub: 'e', exp }) });
        await connected(c);
        for (let i = 0; i < 3; i++) {
          await advance(25_000);
          await waitFor(`ping ${i + 1}`, () => c.messages.filter(isPing).length >= i + 1);
        }
        assert.equal(s.server.node.clients.size, 1, 'still connected after pings it could not answer');
        assert.ok(
          c.messages.every((m) => m.connect !== undefined || isPing(m)),
          'nothing but the connect push and pings',
        );
        await advance(25_000 + 25_000);
        assert.deepEqual(await disconnected(c), { code: 3005, reason: 'connection expired' });
        await c.ended;
      } finally {
        await s.close();
      }
    });
  });

  describe(`${kind}: shutdown`, () => {
    test('graceful shutdown writes a disconnect push 3001 and ends the connection', async () => {
      const s = await startServer(uniConfig());
      const c = await openUni(kind, s.url, {});
      await connected(c);
      const closing = s.close();
      assert.deepEqual(await disconnected(c), { code: 3001, reason: 'shutdown' });
      const end = await c.ended;
      if (kind === 'uni_websocket') assert.equal(end.code, 3001);
      await closing;
    });
  });
}
