/**
 * History stuffing (issue 11, case 6): an anonymous client published 100 × 60 KB into a room, and from then on
 * anyone subscribing with recovery or reading history was closed with 3008 — the reply alone was over the 1 MiB
 * outbound queue. A reply the server chose to build never gets its requester disconnected: recovery that does
 * not fit is `recovered: false` (or error 112 when asked), a history page that does not fit is cut short at a
 * publication boundary and the client continues from the last offset it got.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext, SubscribedContext } from 'centrifuge';
import { Redis } from 'ioredis';
import { hsToken, once, RawClient, SECRET, sdk, waitFor } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';
import { needRedis, REDIS_URL } from '../helpers/services.js';

const redisSkip = await needRedis();
const prefix = `chorus-test-stuffing-${randomUUID().slice(0, 8)}`;

const BIG = 60_000;
const COUNT = 100;
const CHANNEL = 'room:stuffed';

const config = {
  client: {
    allow_anonymous_connect_without_token: true,
    token: { hmac_secret_key: SECRET },
    // Centrifugo's defaults, stated so the test says what it relies on.
    queue_max_size: 1_048_576,
    history_max_publication_limit: 300,
    recovery_max_publication_limit: 300,
    command_rate_limit: 0,
  },
  channel: {
    namespaces: [
      {
        name: 'room',
        ...openChannels({
          history_size: 1000,
          history_ttl: '300s',
          allow_recovery: true,
          allow_history_for_client: true,
          allow_publish_for_client: true,
        }),
      },
    ],
  },
};

type HistoryReply = { publications?: { offset: number; data: { n: number } }[]; offset?: number; epoch?: string };

function stuffing(engine: string, extra: () => Record<string, unknown>): void {
  describe(`history stuffing: 100 × 60 KB publications in a room (${engine})`, () => {
    let s: TestServer;
    let epoch = '';
    before(async () => {
      s = await startServer({ ...config, ...extra() });
      // An anonymous client stuffs the room, as in the report.
      const stuffer = await RawClient.open(s.wsUrl);
      await stuffer.connect();
      for (let n = 1; n <= COUNT; n++) {
        stuffer.send({ id: n + 1, publish: { channel: CHANNEL, data: { n, pad: 'x'.repeat(BIG) } } });
        await stuffer.reply(n + 1);
      }
      stuffer.close();
      const h = await s.server.node.ops.history(CHANNEL, { limit: 0, reverse: false });
      assert.equal(h.position.offset, COUNT);
      epoch = h.position.epoch;
    });
    after(async () => {
      await s?.close();
    });

    test('recovering all of it: recovered false, no publications, still connected, live ones keep coming', async () => {
      const c = await RawClient.open(s.wsUrl);
      await c.connect();
      c.send({ id: 2, subscribe: { channel: CHANNEL, recoverable: true, recover: true, offset: 0, epoch } });
      const r = (await c.reply(2)).subscribe as Record<string, unknown>;
      assert.ok(r, 'a subscribe reply, not a disconnect');
      assert.equal(r.was_recovering, true);
      assert.equal(r.recovered, undefined, 'recovered: false (omitted)');
      assert.equal(r.publications, undefined, 'nothing replayed');
      assert.equal(r.offset, COUNT, 'the client learns where the stream is');
      // Live publications skip history, so the stuffed stream stays at offset 100 for the other tests.
      await s.server.node.ops.publish({ channel: CHANNEL, data: Buffer.from('{"live":1}'), skipHistory: true });
      await waitFor(() => c.pushes().some((p) => JSON.stringify(p).includes('"live":1')), 5000, 'a live publication');
      assert.equal(c.closeCode, undefined, 'never closed (3008 before)');
      c.close();
    });

    test('recovering what fits: recovered true with every missed publication', async () => {
      const c = await RawClient.open(s.wsUrl);
      await c.connect();
      c.send({ id: 2, subscribe: { channel: CHANNEL, recoverable: true, recover: true, offset: COUNT - 5, epoch } });
      const r = (await c.reply(2)).subscribe as { recovered?: boolean; publications?: { offset: number }[] };
      assert.equal(r.recovered, true);
      assert.deepEqual(
        r.publications?.map((p) => p.offset),
        [96, 97, 98, 99, 100],
      );
      c.close();
    });

    test('with subscribe flag 2 (getState) the answer is error 112', async () => {
      const c = await RawClient.open(s.wsUrl);
      await c.connect();
      c.send({ id: 2, subscribe: { channel: CHANNEL, recoverable: true, recover: true, offset: 0, epoch, flag: 2 } });
      assert.equal(((await c.reply(2)).error as { code: number }).code, 112);
      assert.equal(c.closeCode, undefined);
      c.close();
    });

    test('server-side subscriptions recovered in the connect reply share one budget: not recovered, still connected', async () => {
      const c = await RawClient.open(s.wsUrl);
      const token = await hsToken({
        sub: 'alice',
        subs: { [CHANNEL]: { override: { force_recovery: { value: true } } } },
      });
      const reply = await c.connect({ token, subs: { [CHANNEL]: { recover: true, offset: 0, epoch } } });
      const sub = (reply.connect as { subs: Record<string, Record<string, unknown>> }).subs[CHANNEL];
      assert.equal(sub?.was_recovering, true);
      assert.equal(sub?.recovered, undefined, 'recovered: false');
      assert.equal(c.closeCode, undefined);
      c.close();
    });

    test('a history page that does not fit is cut at a publication boundary; paging with since reads it all', async () => {
      const c = await RawClient.open(s.wsUrl);
      await c.connect();
      const seen: number[] = [];
      let since = { offset: 0, epoch };
      let id = 2;
      for (let page = 0; page < COUNT && seen.length < COUNT; page++) {
        c.send({ id, history: { channel: CHANNEL, limit: COUNT, since } });
        const h = (await c.reply(id++)).history as HistoryReply;
        const pubs = h.publications ?? [];
        assert.ok(pubs.length > 0, 'every page makes progress');
        assert.ok(pubs.length < COUNT, 'a page is cut short: 100 × 60 KB never fits a 1 MiB queue');
        assert.equal(h.offset, COUNT, 'the page tells how far the stream goes');
        seen.push(...pubs.map((p) => p.offset));
        since = { offset: pubs[pubs.length - 1]?.offset ?? 0, epoch };
      }
      assert.deepEqual(
        seen,
        Array.from({ length: COUNT }, (_, i) => i + 1),
        'every publication once, in order',
      );
      // Newest first, cut the same way.
      c.send({ id, history: { channel: CHANNEL, limit: -1, reverse: true } });
      const rev = (await c.reply(id)).history as HistoryReply;
      const offsets = rev.publications?.map((p) => p.offset) ?? [];
      assert.ok(offsets.length > 0 && offsets.length < COUNT, `a reverse page of ${offsets.length}`);
      assert.deepEqual(
        offsets,
        Array.from({ length: offsets.length }, (_, i) => COUNT - i),
      );
      assert.equal(c.closeCode, undefined, 'never closed');
      c.close();
    });

    describe('with the centrifuge SDK', () => {
      let client: Centrifuge | undefined;
      after(() => client?.disconnect());

      test('subscribing with a position to recover from: subscribed, recovered false, then live publications', async () => {
        client = sdk(s.wsUrl);
        const disconnects: number[] = [];
        client.on('disconnected', (ctx) => disconnects.push(ctx.code));
        // 'connecting' with code 0 is the first connect() itself.
        client.on('connecting', (ctx) => {
          if (ctx.code !== 0) disconnects.push(ctx.code);
        });
        const sub = client.newSubscription(CHANNEL, { recoverable: true, since: { offset: 0, epoch } });
        const live: PublicationContext[] = [];
        sub.on('publication', (ctx) => live.push(ctx));
        const subscribed = once<SubscribedContext>(sub, 'subscribed');
        sub.subscribe();
        client.connect();
        const ctx = await subscribed;
        assert.equal(ctx.wasRecovering, true);
        assert.equal(ctx.recovered, false);
        await s.server.node.ops.publish({ channel: CHANNEL, data: Buffer.from('{"after":true}'), skipHistory: true });
        await waitFor(() => live.length === 1, 5000, 'the live publication');
        assert.deepEqual(live[0]?.data, { after: true });
        assert.deepEqual(disconnects, [], 'the SDK was never disconnected');

        // Paging history with since + limit, as an application does.
        const got: number[] = [];
        let since = { offset: 0, epoch };
        for (let page = 0; page < COUNT && got.length < COUNT; page++) {
          const h = await sub.history({ limit: COUNT, since });
          assert.ok(h.publications.length > 0, 'progress');
          for (const p of h.publications) got.push((p.data as { n: number }).n);
          const last = h.publications[h.publications.length - 1];
          since = { offset: last?.offset ?? 0, epoch: h.epoch };
        }
        assert.deepEqual(
          got,
          Array.from({ length: COUNT }, (_, i) => i + 1),
        );
        assert.deepEqual(disconnects, [], 'still never disconnected');
        assert.equal(client.state, 'connected');
      });
    });
  });
}

stuffing('memory', () => ({}));
describe('on Redis', redisSkip, () => {
  after(async () => {
    // The shared Redis keeps nothing of this run.
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}.*`);
    if (keys.length > 0) await r.del(...keys);
    r.disconnect();
  });
  stuffing('redis', () => ({ engine: { type: 'redis', redis: { address: REDIS_URL, prefix } } }));
});

test('history and recovery replies are bounded by count as well', async () => {
  const s = await startServer({
    ...config,
    client: { ...config.client, history_max_publication_limit: 7, recovery_max_publication_limit: 5 },
  });
  try {
    for (let n = 1; n <= 20; n++)
      await s.server.node.ops.publish({ channel: 'room:small', data: Buffer.from(JSON.stringify({ n })) });
    const { epoch } = (await s.server.node.ops.history('room:small', { limit: 0, reverse: false })).position;
    const c = await RawClient.open(s.wsUrl);
    await c.connect();
    c.send({ id: 2, history: { channel: 'room:small', limit: -1 } });
    assert.equal(((await c.reply(2)).history as HistoryReply).publications?.length, 7);
    c.send({ id: 3, subscribe: { channel: 'room:small', recoverable: true, recover: true, offset: 14, epoch } });
    const r = (await c.reply(3)).subscribe as { recovered?: boolean; publications?: unknown[] };
    assert.equal(r.recovered, undefined, '6 missed > recovery_max_publication_limit 5: not recovered');
    c.send({ id: 4, unsubscribe: { channel: 'room:small' } });
    await c.reply(4);
    c.send({ id: 5, subscribe: { channel: 'room:small', recoverable: true, recover: true, offset: 15, epoch } });
    assert.equal(((await c.reply(5)).subscribe as { recovered?: boolean }).recovered, true);
    c.close();
  } finally {
    await s.close();
  }
});
