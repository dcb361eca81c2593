/**
 * Channel names from hostile clients (issue 11, case 3): `channel.max_length` holds wherever a name enters — every
 * client command, connect and tokens, every server API method — and reading channels that hold nothing stores
 * nothing (1,900 history reads of fresh long names once kept a stream each for history_meta_ttl, 30 days). A
 * client that subscribed to a channel while it was empty still recovers what it missed, on both engines.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, SubscribedContext, Subscription } from 'centrifuge';
import { Redis } from 'ioredis';
import type { MemoryBroker } from '../../src/engine/memory/memory-broker.js';
import type { MemoryPresence } from '../../src/engine/memory/memory-presence.js';
import { Disconnects } from '../../src/protocol/codes.js';
import { hsToken, RawClient, SECRET, sdk, waitFor } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';
import { needRedis, REDIS_URL } from '../helpers/services.js';

const redisSkip = await needRedis();
const prefix = `chorus-test-names-${randomUUID().slice(0, 8)}`;

const MAX = 255;
const tooLong = (prefix = 'ch') => `${prefix}:${'x'.repeat(MAX - prefix.length)}`;
const longest = (prefix: string) => `${prefix}:${'y'.repeat(MAX - prefix.length - 1)}`;

/** Every read and publish open to any client, so the tests are about names only. */
const open = (extra: Record<string, unknown>) =>
  openChannels({
    allow_publish_for_client: true,
    allow_history_for_client: true,
    allow_presence_for_client: true,
    ...extra,
  });

const config = {
  // No command rate limit: these tests send thousands of commands on purpose.
  client: { allow_anonymous_connect_without_token: true, token: { hmac_secret_key: SECRET }, command_rate_limit: 0 },
  http_api: { key: 'api-key' },
  channel: {
    without_namespace: open({ presence: true, history_size: 10, history_ttl: '300s' }),
    namespaces: [
      { name: 'ch', ...open({ presence: true, history_size: 10, history_ttl: '300s', allow_recovery: true }) },
      { name: 'rec', ...open({ history_size: 100, history_ttl: '300s', force_recovery: true }) },
    ],
  },
};

function expectTooLong(reply: Record<string, unknown>, what: string): void {
  const error = reply.error as { code?: number; message?: string } | undefined;
  assert.equal(error?.code, 107, `${what}: error 107, got ${JSON.stringify(reply)}`);
  assert.match(error?.message ?? '', /channel\.max_length/, `${what}: the message names the limit`);
}

async function api(s: TestServer, method: string, params: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${s.url}/api/${method}`, {
    method: 'POST',
    headers: { 'x-api-key': 'api-key', 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  return (await res.json()) as Record<string, unknown>;
}

describe('channel.max_length holds wherever a channel name enters', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(config);
  });
  after(async () => {
    await s?.close();
  });

  test('client commands: subscribe, publish, history, presence, presence_stats, unsubscribe, sub_refresh', async () => {
    const c = await RawClient.open(s.wsUrl);
    await c.connect();
    const ch = tooLong();
    c.send(
      { id: 2, subscribe: { channel: ch } },
      { id: 3, publish: { channel: ch, data: { a: 1 } } },
      { id: 4, history: { channel: ch, limit: 10 } },
      { id: 5, presence: { channel: ch } },
      { id: 6, presence_stats: { channel: ch } },
      { id: 7, unsubscribe: { channel: ch } },
      { id: 8, sub_refresh: { channel: ch, token: 'some-token' } },
    );
    const names = ['subscribe', 'publish', 'history', 'presence', 'presence_stats', 'unsubscribe', 'sub_refresh'];
    for (let i = 0; i < names.length; i++) expectTooLong(await c.reply(i + 2), names[i] as string);
    // A name of exactly max_length bytes is fine.
    c.send({ id: 20, publish: { channel: longest('ch'), data: { a: 1 } } });
    assert.deepEqual((await c.reply(20)).publish, {});
    assert.equal(c.closeCode, undefined, 'the connection stays open');
    c.close();
  });

  test('the limit counts bytes, as Centrifugo does', async () => {
    const c = await RawClient.open(s.wsUrl);
    await c.connect({});
    // 200 characters, 400 bytes: a channel_regex may allow non-ASCII names, the limit still holds.
    c.send({ id: 2, history: { channel: `ch:${'é'.repeat(200)}`, limit: 1 } });
    expectTooLong(await c.reply(2), 'history of a multi-byte name');
    c.close();
  });

  test('connect: subs of the connect command, and channels and subs of the token', async () => {
    const viaSubs = await RawClient.open(s.wsUrl);
    expectTooLong(await viaSubs.connect({ subs: { [tooLong()]: { recover: true, offset: 1 } } }), 'connect.subs');
    viaSubs.close();

    const viaChannels = await RawClient.open(s.wsUrl);
    const t1 = await hsToken({ sub: 'alice', channels: [tooLong()] });
    expectTooLong(await viaChannels.connect({ token: t1 }), 'token channels');
    viaChannels.close();

    const viaTokenSubs = await RawClient.open(s.wsUrl);
    const t2 = await hsToken({ sub: 'alice', subs: { [tooLong()]: {} } });
    expectTooLong(await viaTokenSubs.connect({ token: t2 }), 'token subs');
    viaTokenSubs.close();

    const fine = await RawClient.open(s.wsUrl);
    const t3 = await hsToken({ sub: 'alice', channels: [longest('ch')] });
    const reply = await fine.connect({ token: t3 });
    assert.ok(reply.connect, `a name of exactly the limit is subscribed: ${JSON.stringify(reply)}`);
    fine.close();
  });

  test('server API: publish, broadcast, subscribe, unsubscribe, presence, presence_stats, history, history_remove', async () => {
    const ch = tooLong();
    expectTooLong(await api(s, 'publish', { channel: ch, data: {} }), 'publish');
    expectTooLong(await api(s, 'subscribe', { user: 'alice', channel: ch }), 'subscribe');
    expectTooLong(await api(s, 'unsubscribe', { user: 'alice', channel: ch }), 'unsubscribe');
    expectTooLong(await api(s, 'presence', { channel: ch }), 'presence');
    expectTooLong(await api(s, 'presence_stats', { channel: ch }), 'presence_stats');
    expectTooLong(await api(s, 'history', { channel: ch, limit: 1 }), 'history');
    expectTooLong(await api(s, 'history_remove', { channel: ch }), 'history_remove');
    const broadcast = await api(s, 'broadcast', { channels: [longest('ch'), ch], data: { a: 1 } });
    const responses = (broadcast.result as { responses: Record<string, unknown>[] }).responses;
    assert.ok(responses[0]?.result, 'the valid channel is published to');
    expectTooLong(responses[1] as Record<string, unknown>, 'broadcast to the long name');
  });

  test('embedding: node.publish refuses the name too', async () => {
    await assert.rejects(
      s.server.node.ops.publish({ channel: tooLong(), data: Buffer.from('{}') }),
      /channel\.max_length/,
    );
  });
});

describe('reads of channels that hold nothing store nothing (memory engine)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(config);
  });
  after(async () => {
    await s?.close();
  });

  test('1,900 history reads (and presence reads) of fresh long names leave no stream behind', async () => {
    const broker = s.server.node.engine.broker as MemoryBroker;
    const presence = s.server.node.engine.presence as MemoryPresence;
    const c = await RawClient.open(s.wsUrl);
    await c.connect();
    const before = broker.numStreams;
    let id = 2;
    for (let frame = 0; frame < 19; frame++) {
      const cmds: unknown[] = [];
      for (let i = 0; i < 100; i++) {
        const ch = longest(`ch:${frame}-${i}`);
        cmds.push({ id: id++, history: { channel: ch, limit: -1 } });
        if (i % 10 === 0)
          cmds.push({ id: id++, presence_stats: { channel: ch } }, { id: id++, presence: { channel: ch } });
      }
      c.send(...cmds);
      await c.reply(id - 1);
    }
    const errors = c.messages.filter((m) => m.error !== undefined);
    assert.deepEqual(errors, [], 'every read was answered');
    const histories = c.messages.filter((m) => m.history !== undefined);
    assert.equal(histories.length, 1900);
    for (const m of histories) {
      const h = m.history as { offset?: number; epoch?: string };
      assert.ok(h.epoch, 'an empty channel still reports an epoch to recover against');
      assert.equal(h.offset, undefined, 'offset 0');
    }
    // API reads too.
    for (let i = 0; i < 50; i++) {
      await api(s, 'history', { channel: longest(`ch:api-${i}`), limit: 10 });
      await api(s, 'presence_stats', { channel: longest(`ch:api-${i}`) });
    }
    assert.equal(broker.numStreams, before, 'no stream was created by a read');
    assert.equal(presence.numChannels, 0, 'no presence set was created by a read');
    c.close();
  });
});

/** Subscribes an SDK client with recovery and records what the application sees. */
async function recoverable(url: string, channel: string) {
  const c: Centrifuge = sdk(url, { minReconnectDelay: 200, maxReconnectDelay: 200 });
  const sub: Subscription = c.newSubscription(channel);
  const seen = { subscribed: [] as SubscribedContext[], ns: [] as number[] };
  sub.on('subscribed', (ctx) => seen.subscribed.push(ctx));
  sub.on('publication', (ctx) => seen.ns.push((ctx.data as { n: number }).n));
  const ids: string[] = [];
  c.on('connected', (ctx) => ids.push(ctx.client));
  sub.subscribe();
  c.connect();
  await waitFor(() => seen.subscribed.length === 1, 5000, 'subscribed');
  return { c, sub, seen, ids };
}

/** The server cuts the SDK client (3011): it reconnects and resubscribes with recovery by itself. */
function cut(s: TestServer, ids: string[]): void {
  const session = s.server.node.clients.get(ids[ids.length - 1] as string);
  assert.ok(session, 'the server knows the client');
  session.close(Disconnects.forceReconnect);
}

async function publish(s: TestServer, channel: string, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++)
    await s.server.node.ops.publish({ channel: channel, data: Buffer.from(JSON.stringify({ n })) });
}

function recoveryFromEmptyChannels(engine: 'memory' | 'redis', extra: () => Record<string, unknown>) {
  describe(`a client that subscribed to an empty channel recovers (${engine})`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer({ ...config, ...extra() });
    });
    after(async () => {
      await s?.close();
    });

    test('publications that arrive while it is away, before any other', async () => {
      const ch = `rec:away-${randomUUID()}`;
      const { c, seen, ids } = await recoverable(s.wsUrl, ch);
      assert.equal(seen.subscribed[0]?.recoverable, true);
      assert.ok(seen.subscribed[0]?.streamPosition?.epoch, 'an empty channel has an epoch');
      const reconnecting = new Promise((r) => c.once('connecting', r));
      cut(s, ids);
      await reconnecting;
      await publish(s, ch, 1, 3);
      await waitFor(() => seen.subscribed.length === 2, 5000, 'resubscribed');
      assert.equal(seen.subscribed[1]?.wasRecovering, true);
      assert.equal(seen.subscribed[1]?.recovered, true, 'the empty position is a position of the new stream');
      await waitFor(() => seen.ns.length === 3, 5000, 'recovered publications');
      await publish(s, ch, 4, 4);
      await waitFor(() => seen.ns.length === 4, 5000, 'live publication');
      assert.deepEqual(seen.ns, [1, 2, 3, 4]);
      c.disconnect();
    });

    test('publications that arrived live, then more while it is away', async () => {
      const ch = `rec:live-${randomUUID()}`;
      const { c, seen, ids } = await recoverable(s.wsUrl, ch);
      await publish(s, ch, 1, 2);
      await waitFor(() => seen.ns.length === 2, 5000, 'live publications');
      const reconnecting = new Promise((r) => c.once('connecting', r));
      cut(s, ids);
      await reconnecting;
      await publish(s, ch, 3, 5);
      await waitFor(() => seen.subscribed.length === 2, 5000, 'resubscribed');
      assert.equal(seen.subscribed[1]?.recovered, true);
      await waitFor(() => seen.ns.length === 5, 5000, 'recovered publications');
      assert.deepEqual(seen.ns, [1, 2, 3, 4, 5]);
      c.disconnect();
    });
  });
}

recoveryFromEmptyChannels('memory', () => ({}));

describe('on Redis', redisSkip, () => {
  after(async () => {
    // The shared Redis keeps nothing of this run.
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}.*`);
    if (keys.length > 0) await r.del(...keys);
    r.disconnect();
  });

  recoveryFromEmptyChannels('redis', () => ({ engine: { type: 'redis', redis: { address: REDIS_URL, prefix } } }));

  describe('reads of channels that hold nothing store nothing (Redis engine)', () => {
    let s: TestServer;
    let probe: Redis;
    before(async () => {
      s = await startServer({ ...config, engine: { type: 'redis', redis: { address: REDIS_URL, prefix } } });
      probe = new Redis(REDIS_URL);
    });
    after(async () => {
      probe?.disconnect();
      await s?.close();
    });

    test('1,900 history reads of fresh long names create no key', async () => {
      const c = await RawClient.open(s.wsUrl);
      await c.connect();
      let id = 2;
      for (let frame = 0; frame < 19; frame++) {
        const cmds: unknown[] = [];
        for (let i = 0; i < 100; i++)
          cmds.push({ id: id++, history: { channel: longest(`ch:r${frame}-${i}`), limit: 5 } });
        c.send(...cmds);
        await c.reply(id - 1);
      }
      assert.equal(c.messages.filter((m) => m.history !== undefined).length, 1900);
      const keys = await probe.keys(`${prefix}.*{ch:r*`);
      assert.deepEqual(keys, [], 'no key was created by a read');
      c.close();
    });
  });
});
