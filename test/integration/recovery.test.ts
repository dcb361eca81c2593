/**
 * Recovery, history expiry, positioning and presence with the real `centrifuge` SDK (and raw frames for bad
 * input): what a user sees when a connection drops and comes back. Every case counts the publications an
 * application receives over the whole test, so a lost, doubled or reordered publication fails it.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type {
  Centrifuge,
  PublicationContext,
  ServerSubscribedContext,
  SubscribedContext,
  Subscription,
} from 'centrifuge';
import { Disconnects } from '../../src/protocol/codes.js';
import { hsToken, once, RawClient, SECRET, sleep, waitFor } from '../helpers/clients.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { JSON_SDK, SDK_ENCODINGS, type SdkEncoding, sdkClient } from '../helpers/sdk-encodings.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const HISTORY_MAX = 50;

const config = {
  client: {
    allow_anonymous_connect_without_token: true,
    token: { hmac_secret_key: SECRET },
    // 500 missed publications are recovered in one go (Centrifugo's default limit is 300).
    recovery_max_publication_limit: 1000,
    history_max_publication_limit: HISTORY_MAX,
  },
  channel: {
    without_namespace: openChannels(),
    namespaces: [
      { name: 'rec', ...openChannels({ history_size: 1000, history_ttl: '300s', force_recovery: true }) },
      {
        name: 'arec',
        ...openChannels({
          history_size: 1000,
          history_ttl: '300s',
          allow_recovery: true,
          allow_history_for_client: true,
        }),
      },
      {
        name: 'small',
        ...openChannels({ history_size: 5, history_ttl: '300s', force_recovery: true, allow_history_for_client: true }),
      },
      {
        name: 'short',
        ...openChannels({ history_size: 100, history_ttl: '1s', force_recovery: true, allow_history_for_client: true }),
      },
      {
        name: 'meta',
        ...openChannels({ history_size: 100, history_ttl: '1s', history_meta_ttl: '2s', force_recovery: true }),
      },
      { name: 'pos', ...openChannels({ history_size: 100, history_ttl: '300s', force_positioning: true }) },
      { name: 'pres', ...openChannels({ presence: true, join_leave: true, allow_presence_for_client: true }) },
      {
        name: 'forced',
        ...openChannels({ presence: true, join_leave: true, force_push_join_leave: true }),
      },
      { name: 'nohist', ...openChannels() },
    ],
  },
};

/** SDK options for a client that must stay away long enough for the test to publish while it is gone. */
const AWAY = { minReconnectDelay: 1000, maxReconnectDelay: 1000 };

const clients: Centrifuge[] = [];
/** The server-side client id of each SDK client's current connection. */
const ids = new Map<Centrifuge, string>();

/** The SDK encoding of the suite running now (suites of one file run one after another). */
let enc: SdkEncoding = JSON_SDK;

function client(url: string, opts: Parameters<typeof sdkClient>[2] = {}): Centrifuge {
  const c = sdkClient(enc, url, opts);
  clients.push(c);
  c.on('connected', (ctx) => ids.set(c, ctx.client));
  return c;
}

function disconnectAll(): void {
  for (const c of clients.splice(0)) c.disconnect();
  ids.clear();
}

/** Closes the SDK client's connection from the server with 3011 (force reconnect): the SDK reconnects by itself. */
function cut(s: TestServer, c: Centrifuge): void {
  const id = ids.get(c);
  assert.ok(id, 'the SDK client is connected');
  const session = s.server.node.clients.get(id);
  assert.ok(session, 'the server knows the SDK client');
  session.close(Disconnects.forceReconnect);
}

/** Cuts the connection and waits until the SDK noticed it (its 'connecting' event carries 3011). */
async function cutAndWait(s: TestServer, c: Centrifuge): Promise<void> {
  const reconnecting = once<{ code: number }>(c, 'connecting');
  cut(s, c);
  assert.equal((await reconnecting).code, 3011);
}

async function publish(s: TestServer, channel: string, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++)
    await s.server.node.ops.publish({ channel: channel, data: Buffer.from(JSON.stringify({ n })) });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Everything the application sees of one subscription: its subscribed contexts and the `n` of every publication. */
interface Seen {
  subscribed: SubscribedContext[];
  ns: number[];
}

function watch(sub: Subscription): Seen {
  const seen: Seen = { subscribed: [], ns: [] };
  sub.on('subscribed', (ctx) => seen.subscribed.push(ctx));
  sub.on('publication', (ctx) => seen.ns.push((enc.value(ctx.data) as { n: number }).n));
  return seen;
}

/** Connects an SDK client with one subscription and waits until it is subscribed. */
async function subscribed(
  s: TestServer,
  channel: string,
  opts: Parameters<typeof sdkClient>[2] = {},
  subOpts: Parameters<Centrifuge['newSubscription']>[1] = {},
): Promise<{ c: Centrifuge; sub: Subscription; seen: Seen }> {
  const c = client(s.wsUrl, opts);
  const sub = c.newSubscription(channel, subOpts);
  const seen = watch(sub);
  sub.subscribe();
  c.connect();
  await waitFor(() => seen.subscribed.length === 1, 5000, `subscribed to ${channel}`);
  return { c, sub, seen };
}

async function connectedRaw(s: TestServer, params: Record<string, unknown> = {}): Promise<RawClient> {
  const c = await RawClient.open(s.wsUrl);
  const r = await c.connect(params);
  assert.ok(r.connect, `connect failed: ${JSON.stringify(r)}`);
  return c;
}

function errorCode(reply: Record<string, unknown>): number | undefined {
  return (reply.error as { code?: number } | undefined)?.code;
}

/** Kills the client's TCP socket: no WebSocket close frame reaches the server. */
function killSocket(c: RawClient): void {
  (c.ws as unknown as { _socket: Socket })._socket.destroy();
}

describe('presence and join/leave', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(config);
  });
  after(async () => {
    disconnectAll();
    await s.close();
  });

  async function stats(c: RawClient, id: number, channel: string): Promise<{ clients: number; users: number }> {
    c.send({ id, presence_stats: { channel } });
    const r = (await c.reply(id)).presence_stats as { num_clients?: number; num_users?: number };
    return { clients: r.num_clients ?? 0, users: r.num_users ?? 0 };
  }

  /** The join/leave pushes a raw client received for a channel, as `join:<client id>` / `leave:<client id>`. */
  function joinLeave(c: RawClient, channel: string): string[] {
    const out: string[] = [];
    for (const p of c.pushes()) {
      if (p.channel !== channel) continue;
      if (p.join) out.push(`join:${(p.join as { info: { client: string } }).info.client}`);
      if (p.leave) out.push(`leave:${(p.leave as { info: { client: string } }).info.client}`);
    }
    return out;
  }

  function about(c: RawClient, channel: string, clientId: string): string[] {
    return joinLeave(c, channel).filter((e) => e.endsWith(`:${clientId}`));
  }

  function idOf(c: RawClient): string {
    const connect = c.messages.find((m) => m.id === 1)?.connect as { client?: string } | undefined;
    assert.ok(connect?.client, 'connected');
    return connect.client;
  }

  test('counts drop on unsubscribe and on a dead TCP socket; join/leave only for those who asked', async () => {
    const ch = 'pres:room';
    const observer = await connectedRaw(s);
    const asker = await connectedRaw(s);
    const quiet = await connectedRaw(s);
    asker.send({ id: 2, subscribe: { channel: ch, join_leave: true } });
    quiet.send({ id: 2, subscribe: { channel: ch } });
    await asker.reply(2);
    await quiet.reply(2);
    assert.deepEqual(await stats(observer, 2, ch), { clients: 2, users: 1 }, 'anonymous clients are one user');

    const leaver = await connectedRaw(s);
    const leaverId = idOf(leaver);
    leaver.send({ id: 2, subscribe: { channel: ch } });
    await leaver.reply(2);
    await waitFor(() => about(asker, ch, leaverId).length === 1, 2000, 'join push');
    assert.equal((await stats(observer, 3, ch)).clients, 3);
    leaver.send({ id: 3, unsubscribe: { channel: ch } });
    await leaver.reply(3);
    await waitFor(() => about(asker, ch, leaverId).length === 2, 2000, 'leave push');
    assert.deepEqual(about(asker, ch, leaverId), [`join:${leaverId}`, `leave:${leaverId}`]);
    assert.equal((await stats(observer, 4, ch)).clients, 2);

    const dying = await connectedRaw(s);
    const dyingId = idOf(dying);
    dying.send({ id: 2, subscribe: { channel: ch } });
    await dying.reply(2);
    assert.equal((await stats(observer, 5, ch)).clients, 3);
    killSocket(dying);
    await waitFor(() => about(asker, ch, dyingId).length === 2, 3000, 'leave push for the dead connection');
    assert.deepEqual(about(asker, ch, dyingId), [`join:${dyingId}`, `leave:${dyingId}`]);
    assert.equal((await stats(observer, 6, ch)).clients, 2);
    observer.send({ id: 7, presence: { channel: ch } });
    const presence = ((await observer.reply(7)).presence as { presence?: Record<string, unknown> }).presence ?? {};
    assert.deepEqual(Object.keys(presence).sort(), [idOf(asker), idOf(quiet)].sort());

    asker.send({ id: 3, unsubscribe: { channel: ch } });
    quiet.send({ id: 3, unsubscribe: { channel: ch } });
    await asker.reply(3);
    await quiet.reply(3);
    assert.deepEqual(await stats(observer, 8, ch), { clients: 0, users: 0 });
    observer.send({ id: 9, presence: { channel: ch } });
    const empty = ((await observer.reply(9)).presence as { presence?: Record<string, unknown> }).presence ?? {};
    assert.deepEqual(empty, {});
    assert.deepEqual(joinLeave(quiet, ch), [], 'no join/leave for a subscriber that did not ask');
    assert.deepEqual(joinLeave(observer, ch), [], 'no join/leave for a non-subscriber');
    for (const c of [observer, asker, quiet, leaver]) c.close();
  });

  test('force_push_join_leave delivers join/leave to every subscriber, also for a dead socket', async () => {
    const ch = 'forced:room';
    const quiet = await connectedRaw(s);
    quiet.send({ id: 2, subscribe: { channel: ch } });
    await quiet.reply(2);
    const dying = await connectedRaw(s);
    const dyingId = idOf(dying);
    dying.send({ id: 2, subscribe: { channel: ch } });
    await dying.reply(2);
    await waitFor(() => about(quiet, ch, dyingId).length === 1, 2000, 'join push');
    killSocket(dying);
    await waitFor(() => about(quiet, ch, dyingId).length === 2, 3000, 'leave push');
    assert.deepEqual(about(quiet, ch, dyingId), [`join:${dyingId}`, `leave:${dyingId}`]);
    assert.deepEqual(await stats(quiet, 3, ch), { clients: 1, users: 1 });
    quiet.close();
  });

  test('an SDK client whose connection is cut counts once in presence after it reconnects', async () => {
    const { c, sub } = await subscribed(s, 'pres:sdk', { minReconnectDelay: 100, maxReconnectDelay: 100 });
    assert.equal((await sub.presenceStats()).numClients, 1);
    const resubscribed = once(sub, 'subscribed');
    cut(s, c);
    await resubscribed;
    assert.equal((await sub.presenceStats()).numClients, 1);
    const presence = await sub.presence();
    assert.deepEqual(Object.keys(presence.clients), [ids.get(c)]);
    const done = once(sub, 'unsubscribed');
    sub.unsubscribe();
    await done;
    assert.equal((await c.presenceStats('pres:sdk')).numClients, 0);
  });
});

describe('bad input on raw frames', () => {
  let s: TestServer;
  let c: RawClient;
  let epoch = '';
  let nextId = 2;
  const TOP = 80;

  before(async () => {
    s = await startServer(config);
    const r = await s.server.node.ops.publish({ channel: 'arec:h', data: Buffer.from(JSON.stringify({ n: 1 })) });
    epoch = r.epoch;
    await publish(s, 'arec:h', 2, TOP);
    await publish(s, 'small:h', 1, 10);
    c = await connectedRaw(s);
  });
  after(async () => {
    // None of it closed the connection.
    assert.equal(c.closeCode, undefined);
    c.close();
    await s.close();
  });

  async function call(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = nextId++;
    c.send({ id, ...cmd });
    return c.reply(id);
  }

  type History = { publications?: Array<{ offset: number }>; offset?: number; epoch?: string };

  for (const limit of [-5, 1e9]) {
    test(`history with limit ${limit} is capped at history_max_publication_limit`, async () => {
      const r = await call({ history: { channel: 'arec:h', limit } });
      assert.equal(errorCode(r), undefined);
      const h = r.history as History;
      assert.equal(h.publications?.length, HISTORY_MAX);
      assert.deepEqual(
        h.publications?.map((p) => p.offset),
        range(1, HISTORY_MAX),
      );
      assert.equal(h.offset, TOP);
      assert.equal(h.epoch, epoch);
    });
  }

  test('history since a foreign epoch is 112', async () => {
    const r = await call({ history: { channel: 'arec:h', limit: 10, since: { offset: 5, epoch: 'foreign' } } });
    assert.equal(errorCode(r), 112);
  });

  test('history since an offset beyond the top is 112', async () => {
    for (const offset of [TOP + 1, Number.MAX_SAFE_INTEGER]) {
      const r = await call({ history: { channel: 'arec:h', limit: 10, since: { offset, epoch } } });
      assert.equal(errorCode(r), 112, `offset ${offset}`);
    }
  });

  test('history since an offset already trimmed away is 112; since a kept one works', async () => {
    const small = (await call({ history: { channel: 'small:h', limit: 0 } })).history as History;
    const trimmed = await call({
      history: { channel: 'small:h', limit: 10, since: { offset: 2, epoch: small.epoch } },
    });
    assert.equal(errorCode(trimmed), 112);
    const kept = await call({ history: { channel: 'small:h', limit: 10, since: { offset: 5, epoch: small.epoch } } });
    assert.deepEqual(
      (kept.history as History).publications?.map((p) => p.offset),
      [6, 7, 8, 9, 10],
    );
  });

  test('history on a channel without history is 108', async () => {
    assert.equal(errorCode(await call({ history: { channel: 'nohist:x', limit: 10 } })), 108);
  });

  const unrecoverable: Array<[string, { offset: number; epoch: string }]> = [
    ['an absurd offset (2^53-1)', { offset: Number.MAX_SAFE_INTEGER, epoch: '' }],
    ['a foreign epoch', { offset: 5, epoch: 'foreign' }],
  ];
  for (const [name, pos] of unrecoverable) {
    test(`subscribe recovering from ${name} is recovered false with the current position`, async () => {
      const r = await call({ subscribe: { channel: 'arec:h', recoverable: true, recover: true, ...pos } });
      const res = r.subscribe as Record<string, unknown>;
      assert.ok(res, JSON.stringify(r));
      assert.equal(res.was_recovering, true);
      assert.equal(res.recovered ?? false, false);
      assert.equal((res.publications as unknown[] | undefined)?.length ?? 0, 0);
      assert.equal(res.offset, TOP);
      assert.equal(res.epoch, epoch);
      assert.ok(
        (await call({ unsubscribe: { channel: 'arec:h' } })).unsubscribe,
        "(await call({ unsubscribe: { channel: 'arec:h' } })).unsubscribe",
      );
    });
  }

  test('subscribe recovering from a uint64 offset above 2^53-1 is recovered false, not a disconnect', async (t) => {
    const d = await connectedRaw(s);
    t.after(() => d.close());
    d.send('{"id":2,"subscribe":{"channel":"arec:h","recoverable":true,"recover":true,"offset":18446744073709551615}}');
    await Promise.race([d.reply(2, 1000), d.waitClose(1000)]);
    assert.equal(d.closeCode, undefined, `closed with ${d.closeCode}`);
    const res = (await d.reply(2)).subscribe as Record<string, unknown>;
    assert.equal(res.recovered ?? false, false);
  });

  test('subscribe with flag 2 that cannot recover is 112, and the channel can be subscribed again', async () => {
    const r = await call({
      subscribe: { channel: 'arec:h', recoverable: true, recover: true, offset: 5, epoch: 'foreign', flag: 3 },
    });
    assert.equal(errorCode(r), 112);
    const again = await call({
      subscribe: { channel: 'arec:h', recoverable: true, recover: true, offset: TOP - 3, epoch, flag: 3 },
    });
    const res = again.subscribe as { recovered?: boolean; publications?: Array<{ offset: number }> };
    assert.ok(res, JSON.stringify(again));
    assert.equal(res.recovered, true);
    assert.deepEqual(
      res.publications?.map((p) => p.offset),
      [TOP - 2, TOP - 1, TOP],
    );
    assert.ok(
      (await call({ unsubscribe: { channel: 'arec:h' } })).unsubscribe,
      "(await call({ unsubscribe: { channel: 'arec:h' } })).unsubscribe",
    );
  });
});

/** The recovery, expiry, positioning and storm suites run once per SDK encoding (JSON, then Protobuf). */
function sdkSuites(e: SdkEncoding): void {
  before(() => {
    enc = e;
  });

  describe('recovery after a dropped connection', () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(config);
    });
    after(async () => {
      disconnectAll();
      await s.close();
    });

    test('500 publications missed while away come back exactly once, in order, recovered', async () => {
      const { c, sub, seen } = await subscribed(s, 'arec:big', AWAY, { recoverable: true });
      assert.equal(seen.subscribed[0]?.recoverable, true);
      assert.equal(seen.subscribed[0]?.wasRecovering, false);
      await publish(s, 'arec:big', 1, 10);
      await waitFor(() => seen.ns.length === 10, 5000, 'live publications');
      await cutAndWait(s, c);
      await publish(s, 'arec:big', 11, 510);
      assert.equal(c.state, 'connecting', 'the client was still away while the 500 were published');
      await waitFor(() => seen.subscribed.length === 2, 5000, 'resubscribed');
      const ctx = seen.subscribed[1];
      assert.equal(ctx?.wasRecovering, true);
      assert.equal(ctx?.recovered, true);
      await publish(s, 'arec:big', 511, 520);
      await waitFor(() => seen.ns.length >= 520, 5000, 'every publication');
      await sleep(50);
      assert.deepEqual(seen.ns, range(1, 520));
      assert.equal(sub.state, 'subscribed');
    });

    test('publications that keep flowing during the reconnect are neither lost nor doubled', async () => {
      const { c, seen } = await subscribed(s, 'rec:flow', { minReconnectDelay: 100, maxReconnectDelay: 100 });
      let n = 0;
      let stop = false;
      // One publication per timer tick, so some land while the subscribe reply is being prepared.
      const publisher = (async () => {
        while (!stop || n < 300) {
          n++;
          await s.server.node.ops.publish({ channel: 'rec:flow', data: Buffer.from(JSON.stringify({ n })) });
          await sleep(1);
        }
      })();
      await waitFor(() => seen.ns.length >= 20, 5000, 'live publications');
      cut(s, c);
      await waitFor(() => seen.subscribed.length === 2, 5000, 'resubscribed');
      stop = true;
      await publisher;
      await waitFor(() => seen.ns.length >= n, 5000, 'every publication');
      await sleep(50);
      assert.equal(seen.subscribed[1]?.wasRecovering, true);
      assert.equal(seen.subscribed[1]?.recovered, true);
      assert.deepEqual(seen.ns, range(1, n));
    });

    test('missing exactly history_size publications is still recovered', async () => {
      const { c, seen } = await subscribed(s, 'small:edge', AWAY);
      await publish(s, 'small:edge', 1, 3);
      await waitFor(() => seen.ns.length === 3, 5000, 'live publications');
      await cutAndWait(s, c);
      await publish(s, 'small:edge', 4, 8);
      await waitFor(() => seen.subscribed.length === 2, 5000, 'resubscribed');
      assert.equal(seen.subscribed[1]?.recovered, true);
      await waitFor(() => seen.ns.length === 8, 5000, 'recovered publications');
      assert.deepEqual(seen.ns, range(1, 8));
    });

    test('missing more than history_size: recovered false and nothing old is replayed', async () => {
      const { c, seen } = await subscribed(s, 'small:over', AWAY);
      await publish(s, 'small:over', 1, 3);
      await waitFor(() => seen.ns.length === 3, 5000, 'live publications');
      await cutAndWait(s, c);
      await publish(s, 'small:over', 4, 23);
      await waitFor(() => seen.subscribed.length === 2, 5000, 'resubscribed');
      const ctx = seen.subscribed[1];
      assert.equal(ctx?.wasRecovering, true);
      assert.equal(ctx?.recovered, false);
      assert.equal(ctx?.hasRecoveredPublications, false);
      assert.equal(ctx?.streamPosition?.offset, 23, 'the client learns the current position');
      await sleep(100);
      assert.deepEqual(seen.ns, [1, 2, 3]);
      // From the new position on the stream is live again.
      await publish(s, 'small:over', 24, 25);
      await waitFor(() => seen.ns.length === 5, 5000, 'live publications after the failed recovery');
      assert.deepEqual(seen.ns, [1, 2, 3, 24, 25]);
    });

    test('server-side subscription (token channels) recovers through connect.subs', async () => {
      const c = client(s.wsUrl, { ...AWAY, token: await hsToken({ sub: 'srv', channels: ['rec:server'] }) });
      const subs: ServerSubscribedContext[] = [];
      const ns: number[] = [];
      c.on('subscribed', (ctx) => {
        if (ctx.channel === 'rec:server') subs.push(ctx);
      });
      c.on('publication', (ctx: PublicationContext) => {
        if (ctx.channel === 'rec:server') ns.push((enc.value(ctx.data) as { n: number }).n);
      });
      c.connect();
      await waitFor(() => subs.length === 1, 5000, 'server-side subscription');
      assert.equal(subs[0]?.recoverable, true);
      await publish(s, 'rec:server', 1, 3);
      await waitFor(() => ns.length === 3, 5000, 'live publications');
      await cutAndWait(s, c);
      await publish(s, 'rec:server', 4, 53);
      await waitFor(() => subs.length === 2, 5000, 'reconnected');
      assert.equal(subs[1]?.wasRecovering, true);
      assert.equal(subs[1]?.recovered, true);
      await publish(s, 'rec:server', 54, 54);
      await waitFor(() => ns.length >= 54, 5000, 'every publication');
      await sleep(50);
      assert.deepEqual(ns, range(1, 54));
    });

    test('server-side subscription missing more than history_size reconnects with recovered false', async () => {
      const c = client(s.wsUrl, { ...AWAY, token: await hsToken({ sub: 'srv2', channels: ['small:server'] }) });
      const subs: ServerSubscribedContext[] = [];
      const ns: number[] = [];
      c.on('subscribed', (ctx) => subs.push(ctx));
      c.on('publication', (ctx: PublicationContext) => ns.push((enc.value(ctx.data) as { n: number }).n));
      c.connect();
      await waitFor(() => subs.length === 1, 5000, 'server-side subscription');
      await publish(s, 'small:server', 1, 2);
      await waitFor(() => ns.length === 2, 5000, 'live publications');
      await cutAndWait(s, c);
      await publish(s, 'small:server', 3, 12);
      await waitFor(() => subs.length === 2, 5000, 'reconnected');
      assert.equal(subs[1]?.wasRecovering, true);
      assert.equal(subs[1]?.recovered, false);
      await sleep(100);
      assert.deepEqual(ns, [1, 2]);
    });
  });

  describe('history expiry', () => {
    let s: TestServer;
    // TTLs pass on the server's clock, moved by hand: no test waits for them in real time.
    const clock = new ManualClock(Date.now());
    before(async () => {
      s = await startServer(config, { clock });
    });
    after(async () => {
      disconnectAll();
      await s.close();
    });

    test('after history_ttl the publications are gone but the position stays', async () => {
      const current = await subscribed(s, 'short:a');
      const behind = await subscribed(s, 'short:a');
      await publish(s, 'short:a', 1, 3);
      await waitFor(() => current.seen.ns.length === 3 && behind.seen.ns.length === 3, 5000, 'live publications');
      behind.c.disconnect();
      await publish(s, 'short:a', 4, 5);
      await waitFor(() => current.seen.ns.length === 5, 5000, 'live publications');
      current.c.disconnect();
      const raw = await connectedRaw(s);
      raw.send({ id: 3, history: { channel: 'short:a', limit: 0 } });
      const epoch = ((await raw.reply(3)).history as { epoch?: string }).epoch;
      assert.ok(epoch, 'the stream has an epoch');
      clock.advance(1300);

      raw.send({ id: 2, history: { channel: 'short:a', limit: 10 } });
      const h = (await raw.reply(2)).history as { publications?: unknown[]; offset?: number; epoch?: string };
      assert.equal(h.publications?.length ?? 0, 0, 'publications expired');
      assert.equal(h.offset, 5);
      assert.equal(h.epoch, epoch);
      raw.close();

      current.c.connect();
      behind.c.connect();
      await waitFor(
        () => current.seen.subscribed.length === 2 && behind.seen.subscribed.length === 2,
        5000,
        'resubscribed',
      );
      assert.equal(current.seen.subscribed[1]?.wasRecovering, true);
      assert.equal(current.seen.subscribed[1]?.recovered, true, 'nothing was missed');
      assert.equal(behind.seen.subscribed[1]?.wasRecovering, true);
      assert.equal(behind.seen.subscribed[1]?.recovered, false, 'publications 4 and 5 are gone');
      await sleep(100);
      assert.deepEqual(current.seen.ns, [1, 2, 3, 4, 5]);
      assert.deepEqual(behind.seen.ns, [1, 2, 3]);
    });

    test('after history_meta_ttl the epoch changes: neither an away nor a live client is told "recovered"', async () => {
      const away = await subscribed(s, 'meta:a');
      const live = await subscribed(s, 'meta:a');
      await publish(s, 'meta:a', 1, 3);
      await waitFor(() => away.seen.ns.length === 3 && live.seen.ns.length === 3, 5000, 'live publications');
      const oldEpoch = away.seen.subscribed[0]?.streamPosition?.epoch;
      assert.ok(oldEpoch, 'oldEpoch');
      away.c.disconnect();
      clock.advance(2300);

      // Coming back with the old epoch: recovered false, and the client learns the new epoch.
      away.c.connect();
      await waitFor(() => away.seen.subscribed.length === 2, 5000, 'resubscribed');
      const ctx = away.seen.subscribed[1];
      assert.equal(ctx?.wasRecovering, true);
      assert.equal(ctx?.recovered, false);
      assert.ok(ctx?.streamPosition?.epoch, 'ctx?.streamPosition?.epoch');
      assert.notEqual(ctx?.streamPosition?.epoch, oldEpoch);

      // The client that stayed connected still holds the old epoch: the first publication of the new stream is an
      // epoch change for it (unsubscribe 2500), and its recovery fails too.
      const resubscribing = once<{ code: number }>(live.sub, 'subscribing');
      await s.server.node.ops.publish({ channel: 'meta:a', data: Buffer.from(JSON.stringify({ n: 100 })) });
      assert.equal((await resubscribing).code, 2500);
      await waitFor(() => live.seen.subscribed.length === 2, 5000, 'live client resubscribed');
      assert.equal(live.seen.subscribed[1]?.wasRecovering, true);
      assert.equal(live.seen.subscribed[1]?.recovered, false);
      assert.ok(live.seen.subscribed[1]?.streamPosition?.epoch, 'the live client learns the new epoch');
      assert.notEqual(live.seen.subscribed[1]?.streamPosition?.epoch, oldEpoch);

      await s.server.node.ops.publish({ channel: 'meta:a', data: Buffer.from(JSON.stringify({ n: 101 })) });
      await waitFor(() => away.seen.ns.length === 5 && live.seen.ns.length === 4, 5000, 'live publications');
      assert.deepEqual(away.seen.ns, [1, 2, 3, 100, 101]);
      assert.deepEqual(live.seen.ns, [1, 2, 3, 101]);
    });
  });

  describe('client.recovery_max_publication_limit', () => {
    let s: TestServer;
    before(async () => {
      s = await startServer({ ...config, client: { ...config.client, recovery_max_publication_limit: 10 } });
    });
    after(async () => {
      disconnectAll();
      await s.close();
    });

    test('up to the limit is recovered; one more is recovered false with nothing replayed', async () => {
      const { c, seen } = await subscribed(s, 'rec:max', { minReconnectDelay: 300, maxReconnectDelay: 300 });
      await publish(s, 'rec:max', 1, 1);
      await waitFor(() => seen.ns.length === 1, 5000, 'live publication');
      await cutAndWait(s, c);
      await publish(s, 'rec:max', 2, 11);
      assert.equal(c.state, 'connecting', 'the client was still away');
      await waitFor(() => seen.subscribed.length === 2, 5000, 'resubscribed');
      assert.equal(seen.subscribed[1]?.recovered, true);
      await waitFor(() => seen.ns.length === 11, 5000, 'recovered publications');
      await cutAndWait(s, c);
      await publish(s, 'rec:max', 12, 22);
      assert.equal(c.state, 'connecting', 'the client was still away');
      await waitFor(() => seen.subscribed.length === 3, 5000, 'resubscribed again');
      assert.equal(seen.subscribed[2]?.wasRecovering, true);
      assert.equal(seen.subscribed[2]?.recovered, false);
      await sleep(100);
      assert.deepEqual(seen.ns, range(1, 11));
    });
  });

  describe('positioning: a gap is never silent', () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(config);
    });
    after(async () => {
      disconnectAll();
      await s.close();
    });

    /** The stream position as the server sees it. */
    async function top(channel: string): Promise<{ offset: number; epoch: string }> {
      const h = await s.server.node.engine.broker.history(channel, {
        limit: 0,
        reverse: false,
        historyMetaTtlMs: 60_000,
      });
      return h.position;
    }

    /** Delivers a publication to the node's subscribers as a broker would, without touching history. */
    function inject(channel: string, n: number, offset: number, epoch: string): void {
      s.server.node.onPublication(channel, { data: Buffer.from(JSON.stringify({ n })), offset }, epoch);
    }

    test('a gap makes the SDK subscription resubscribe (2500) and recover; the gap publication is not shown', async () => {
      const { sub, seen } = await subscribed(s, 'rec:gap');
      await publish(s, 'rec:gap', 1, 3);
      await waitFor(() => seen.ns.length === 3, 5000, 'live publications');
      const p = await top('rec:gap');
      const resubscribing = once<{ code: number }>(sub, 'subscribing');
      inject('rec:gap', 999, p.offset + 5, p.epoch);
      assert.equal((await resubscribing).code, 2500);
      await waitFor(() => seen.subscribed.length === 2, 5000, 'resubscribed');
      assert.equal(seen.subscribed[1]?.wasRecovering, true);
      assert.equal(seen.subscribed[1]?.recovered, true);
      await publish(s, 'rec:gap', 4, 5);
      await waitFor(() => seen.ns.length === 5, 5000, 'live publications after the resubscribe');
      assert.deepEqual(seen.ns, [1, 2, 3, 4, 5]);
    });

    test('a duplicate offset is dropped silently, without a resubscribe', async () => {
      const { sub, seen } = await subscribed(s, 'rec:dup');
      await publish(s, 'rec:dup', 1, 3);
      await waitFor(() => seen.ns.length === 3, 5000, 'live publications');
      let resubscribes = 0;
      sub.on('subscribing', () => resubscribes++);
      const p = await top('rec:dup');
      inject('rec:dup', 998, p.offset, p.epoch);
      await publish(s, 'rec:dup', 4, 4);
      await waitFor(() => seen.ns.length === 4, 5000, 'live publication');
      await sleep(50);
      assert.deepEqual(seen.ns, [1, 2, 3, 4]);
      assert.equal(resubscribes, 0);
    });

    test('an epoch change makes the SDK subscription resubscribe (2500)', async () => {
      const { sub, seen } = await subscribed(s, 'rec:epoch');
      await publish(s, 'rec:epoch', 1, 2);
      await waitFor(() => seen.ns.length === 2, 5000, 'live publications');
      const p = await top('rec:epoch');
      const resubscribing = once<{ code: number }>(sub, 'subscribing');
      inject('rec:epoch', 997, p.offset + 1, 'another-epoch');
      assert.equal((await resubscribing).code, 2500);
      await waitFor(() => seen.subscribed.length === 2, 5000, 'resubscribed');
      assert.deepEqual(seen.ns, [1, 2]);
    });

    test('a positioned (not recoverable) subscription also resubscribes on a gap', async () => {
      const { sub, seen } = await subscribed(s, 'pos:gap');
      assert.equal(seen.subscribed[0]?.positioned, true);
      await publish(s, 'pos:gap', 1, 2);
      await waitFor(() => seen.ns.length === 2, 5000, 'live publications');
      const p = await top('pos:gap');
      const resubscribing = once<{ code: number }>(sub, 'subscribing');
      inject('pos:gap', 996, p.offset + 3, p.epoch);
      assert.equal((await resubscribing).code, 2500);
      await waitFor(() => seen.subscribed.length === 2, 5000, 'resubscribed');
      assert.equal(seen.subscribed[1]?.wasRecovering, false);
      assert.deepEqual(seen.ns, [1, 2]);
    });

    test('a gap on a stream that had no publication yet (offset 0) is not silent either', async () => {
      const { sub, seen } = await subscribed(s, 'rec:fresh');
      const p = await top('rec:fresh');
      assert.equal(p.offset, 0);
      const codes: number[] = [];
      sub.on('subscribing', (ctx) => codes.push(ctx.code));
      inject('rec:fresh', 995, 3, p.epoch);
      await sleep(300);
      // Chorus today delivers publication 3 as if 1 and 2 had never existed: ns is [995], codes [].
      assert.deepEqual(seen.ns, [], 'the publication after the gap is not delivered');
      assert.deepEqual(codes, [2500], 'the subscription is told its state is insufficient');
    });

    test('a gap in a server-side subscription closes the connection with 3010 and the SDK recovers', async () => {
      const c = client(s.wsUrl, {
        minReconnectDelay: 100,
        maxReconnectDelay: 100,
        token: await hsToken({ sub: 'srv', channels: ['rec:srvgap'] }),
      });
      const subs: ServerSubscribedContext[] = [];
      const ns: number[] = [];
      c.on('subscribed', (ctx) => subs.push(ctx));
      c.on('publication', (ctx: PublicationContext) => ns.push((enc.value(ctx.data) as { n: number }).n));
      c.connect();
      await waitFor(() => subs.length === 1, 5000, 'server-side subscription');
      await publish(s, 'rec:srvgap', 1, 3);
      await waitFor(() => ns.length === 3, 5000, 'live publications');
      const p = await top('rec:srvgap');
      const reconnecting = once<{ code: number }>(c, 'connecting');
      inject('rec:srvgap', 994, p.offset + 2, p.epoch);
      assert.equal((await reconnecting).code, 3010);
      await waitFor(() => subs.length === 2, 5000, 'reconnected');
      assert.equal(subs[1]?.wasRecovering, true);
      assert.equal(subs[1]?.recovered, true);
      await publish(s, 'rec:srvgap', 4, 4);
      await waitFor(() => ns.length === 4, 5000, 'live publication');
      assert.deepEqual(ns, [1, 2, 3, 4]);
    });
  });

  describe('recovery storm', () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(config);
    });
    after(async () => {
      disconnectAll();
      await s.close();
    });

    test('200 clients reconnecting at once each recover their 50 missed publications', async (t) => {
      const started = Date.now();
      const N = 200;
      const CHANNELS = 10;
      const MISSED = 50;
      const all: Array<{ c: Centrifuge; channel: string; seen: Seen }> = [];
      for (let i = 0; i < N; i++) {
        const channel = `rec:storm${i % CHANNELS}`;
        const c = client(s.wsUrl, AWAY);
        const sub = c.newSubscription(channel);
        const seen = watch(sub);
        sub.subscribe();
        c.connect();
        all.push({ c, channel, seen });
      }
      await waitFor(() => all.every((x) => x.seen.subscribed.length === 1), 10_000, 'all subscribed');
      for (let k = 0; k < CHANNELS; k++) await publish(s, `rec:storm${k}`, 1, 1);
      await waitFor(() => all.every((x) => x.seen.ns.length === 1), 5000, 'first live publication everywhere');

      const cutAt = Date.now();
      for (const x of all) cut(s, x.c);
      for (let k = 0; k < CHANNELS; k++) await publish(s, `rec:storm${k}`, 2, MISSED + 1);
      await waitFor(() => all.every((x) => x.seen.subscribed.length >= 2), 15_000, 'all resubscribed');
      const recoveredIn = Date.now() - cutAt;
      const failed = all.filter((x) => x.seen.subscribed[1]?.recovered !== true);
      assert.equal(failed.length, 0, `${failed.length} clients not recovered`);
      const wrong = all.filter((x) => x.seen.ns.join() !== range(1, MISSED + 1).join());
      assert.equal(
        wrong.length,
        0,
        `${wrong.length} clients with wrong publications, e.g. ${wrong[0]?.seen.ns.join()}`,
      );
      assert.equal(
        all.every((x) => x.seen.subscribed.length === 2),
        true,
        'each client resubscribed once',
      );
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 20_000, `took ${elapsed} ms`);
      t.diagnostic(`recovery storm: ${N} clients recovered in ${recoveredIn} ms after the cut; test ${elapsed} ms`);
    });
  });
}

for (const e of SDK_ENCODINGS) describe(`the ${e.name} SDK`, () => sdkSuites(e));
