/**
 * No sticky sessions: three Chorus processes on Redis behind a proxy that sends every HTTP request to the next
 * node in turn. An HTTP-streaming or SSE client's stream stays on one node, while its commands (one request
 * each) land on all three; the nodes that do not hold the session route them to the one that does through the
 * engine, so the SDK works as it does on one node. When the holder stops, the client reconnects through the
 * proxy to another node and recovers what it missed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext, SubscribedContext } from 'centrifuge';
import { once, sleep, waitFor } from '../helpers/clients.js';
import { api, type NodeProcess, startNode } from '../helpers/cluster.js';
import { RawStream } from '../helpers/raw-stream.js';
import { type RoundRobin, startRoundRobin } from '../helpers/round-robin.js';
import { needRedis, REDIS_URL } from '../helpers/services.js';
import { sdkOver, type TransportName } from '../helpers/transports.js';

const skip = (await needRedis()).skip;

describe('emulation behind a round-robin proxy, three nodes on Redis', { skip, timeout: 120_000 }, () => {
  let nodes: NodeProcess[] = [];
  let alive: NodeProcess[] = [];
  let proxy: RoundRobin;
  const clients: Centrifuge[] = [];
  const prefix = `emu-${randomUUID().slice(0, 8)}`;

  before(async () => {
    const config = {
      engine: { type: 'redis', redis: { address: REDIS_URL, prefix } },
      http_api: { key: 'cluster-key' },
      http_stream: { enabled: true },
      sse: { enabled: true },
      client: { allow_anonymous_connect_without_token: true },
      channel: {
        without_namespace: {
          allow_subscribe_for_client: true,
          allow_subscribe_for_anonymous: true,
          allow_publish_for_anonymous: true,
          allow_publish_for_subscriber: true,
          allow_presence_for_subscriber: true,
          allow_presence_for_anonymous: true,
          allow_history_for_subscriber: true,
          allow_history_for_anonymous: true,
          presence: true,
          history_size: 100,
          history_ttl: '60s',
          force_recovery: true,
        },
      },
    };
    nodes = await Promise.all([startNode(config), startNode(config), startNode(config)]);
    alive = [...nodes];
    proxy = await startRoundRobin(() => alive.map((n) => n.port));
    // Every node knows the others (heartbeats) before a request may name one of them.
    await waitFor(
      async () => (await api(nodes[0]?.url as string, 'info', {})).result?.nodes?.length === 3,
      10_000,
      'three nodes in info',
    );
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
  });
  after(async () => {
    await proxy?.close();
    await Promise.all(nodes.map((n) => n.kill()));
  });

  function client(transport: TransportName, opts: Parameters<typeof sdkOver>[2] = {}): Centrifuge {
    const c = sdkOver(transport, proxy.url, opts);
    clients.push(c);
    return c;
  }

  /** Which node holds the stream that carries `clientId` (its info lists the client). */
  async function holderOf(): Promise<NodeProcess> {
    const counts = await Promise.all(
      nodes.map(async (n) => (await api(n.url, 'info', {})).result.nodes[0].num_clients),
    );
    const i = counts.findIndex((x: number) => x > 0);
    assert.ok(i >= 0, 'a node holds the client');
    return nodes[i] as NodeProcess;
  }

  for (const transport of ['http_stream', 'sse'] as const) {
    test(`${transport}: commands landing on every node reach the session (subscribe, publish, presence, history)`, async () => {
      const servedBefore = proxy.served.length;
      const c = client(transport);
      const connected = once<{ transport: string }>(c, 'connected', 10_000);
      c.connect();
      assert.equal((await connected).transport, transport);
      const sub = c.newSubscription(`rr-${transport}`);
      const got: number[] = [];
      sub.on('publication', (ctx: PublicationContext) => got.push((ctx.data as { n: number }).n));
      sub.subscribe();
      await once(sub, 'subscribed', 10_000);
      for (let n = 1; n <= 6; n++) await sub.publish({ n });
      await waitFor(() => got.length === 6, 10_000, 'own publications back');
      assert.deepEqual(got, [1, 2, 3, 4, 5, 6]);
      assert.equal((await sub.presenceStats()).numClients, 1);
      assert.equal((await sub.history({ limit: 10 })).publications.length, 6);
      // The commands really went to all three nodes, not only to the one holding the stream.
      const emulation = proxy.served.slice(servedBefore).filter((r) => r.path === '/emulation');
      assert.ok(emulation.length >= 9, `${emulation.length} emulation requests`);
      assert.equal(new Set(emulation.map((r) => r.backend)).size, 3, 'every node took emulation requests');
    });
  }

  test('an emulation request sent straight to a node that does not hold the session is routed (204)', async () => {
    const r = await RawStream.httpStream(proxy.url, { id: 1, connect: {} });
    try {
      const c = await r.connected();
      const holder = await holderOf();
      const other = nodes.find((n) => n !== holder) as NodeProcess;
      assert.equal(await r.send([{ id: 2, subscribe: { channel: 'routed' } }], { base: other.url }), 204);
      assert.ok((await r.reply(2)).subscribe, 'the subscribe ran on the holder');
      assert.equal(await r.send([{ id: 3, rpc: { method: 'x' } }], { base: other.url }), 204);
      assert.equal(((await r.reply(3)).error as { code: number }).code, 108);
      // A node id nobody has is 404 on every node: the SDK reconnects instead of waiting.
      assert.equal(await r.send([{ id: 4, presence: { channel: 'routed' } }], { base: other.url, node: 'gone' }), 404);
      assert.equal(c.node, (await api(holder.url, 'info', {})).result.nodes[0].uid);
    } finally {
      r.destroy();
    }
  });

  test('when the holder stops, the client reconnects through the proxy and recovers what it missed', async () => {
    const c = client('http_stream', { minReconnectDelay: 200, maxReconnectDelay: 500 });
    const sub = c.newSubscription('rr-failover');
    const subscribed: SubscribedContext[] = [];
    const got: number[] = [];
    sub.on('subscribed', (ctx) => subscribed.push(ctx));
    sub.on('publication', (ctx: PublicationContext) => got.push((ctx.data as { n: number }).n));
    sub.subscribe();
    c.connect();
    await waitFor(() => subscribed.length === 1, 10_000, 'subscribed');
    const holder = await holderOf();
    const survivor = nodes.find((n) => n !== holder) as NodeProcess;
    for (let n = 1; n <= 3; n++) await api(survivor.url, 'publish', { channel: 'rr-failover', data: { n } });
    await waitFor(() => got.length === 3, 10_000, 'live publications');
    alive = alive.filter((n) => n !== holder);
    const away = once<{ code: number }>(c, 'connecting', 10_000);
    await holder.stop();
    // A graceful stop tells the client to reconnect (3001) before its stream ends.
    assert.equal((await away).code, 3001);
    for (let n = 4; n <= 20; n++) await api(survivor.url, 'publish', { channel: 'rr-failover', data: { n } });
    await waitFor(() => subscribed.length === 2, 20_000, 'resubscribed on another node');
    assert.equal(subscribed[1]?.recovered, true);
    await waitFor(() => got.length === 20, 10_000, 'every publication');
    await sleep(100);
    assert.deepEqual(
      got,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    // Its commands keep working with one node fewer.
    await sub.publish({ n: 21 });
    await waitFor(() => got.length === 21, 10_000, 'a publication after the failover');
  });
});
