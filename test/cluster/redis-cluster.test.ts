/**
 * Three Chorus processes sharing a Redis of this test's own (it is stopped and restarted here) behave as one
 * server: cross-node delivery, presence, history and recovery, routing to a connection on another node, info,
 * and the failures — a node killed with SIGKILL, Redis restarted while publishing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext, SubscribedContext } from 'centrifuge';
import { NODE_TTL_MS } from '../../src/core/control-plane.js';
import { once, sdk, sleep, waitFor } from '../helpers/clients.js';
import { api, type Balancer, type NodeProcess, startBalancer, startNode } from '../helpers/cluster.js';
import { needRedis, type OwnRedis, startOwnRedis } from '../helpers/services.js';

const skip = await needRedis();

describe('three nodes through Redis', skip, () => {
  let redis: OwnRedis;
  let nodes: NodeProcess[] = [];
  const clients: Centrifuge[] = [];
  const prefix = `cluster-${randomUUID().slice(0, 8)}`;

  const config = () => ({
    engine: { type: 'redis', redis: { address: redis.url, prefix } },
    http_api: { key: 'cluster-key' },
    client: { allow_anonymous_connect_without_token: true, recovery_max_publication_limit: 10_000 },
    channel: {
      without_namespace: {
        allow_subscribe_for_client: true,
        allow_subscribe_for_anonymous: true,
        allow_publish_for_client: true,
        allow_publish_for_anonymous: true,
        allow_presence_for_subscriber: true,
        allow_presence_for_anonymous: true,
        presence: true,
        history_size: 10_000,
        history_ttl: '300s',
        force_recovery: true,
      },
    },
  });

  function client(url: string): Centrifuge {
    const c = sdk(url);
    clients.push(c);
    return c;
  }

  async function connected(url: string): Promise<{ c: Centrifuge; id: string }> {
    const c = client(url);
    const ok = once<{ client: string }>(c, 'connected', 10_000);
    c.connect();
    return { c, id: (await ok).client };
  }

  before(async () => {
    redis = await startOwnRedis();
    nodes = await Promise.all([startNode(config()), startNode(config()), startNode(config())]);
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(nodes.map((n) => n.kill()));
    redis?.stop();
  });

  test('info lists all three nodes, each named <hostname>_<port>', async () => {
    await waitFor(async () => (await api(nodes[0]!.url, 'info', {})).result.nodes.length === 3, 10_000, '3 nodes');
    const listed = (await api(nodes[1]!.url, 'info', {})).result.nodes as { uid: string; name: string }[];
    assert.equal(new Set(listed.map((n) => n.uid)).size, 3);
    // A node names itself once it listens and tells the others at once (not at its next heartbeat, 3 s later).
    const expected = nodes.map((n) => `${hostname()}_${n.port}`).sort();
    let names: string[] = [];
    await waitFor(
      async () => {
        names = (await api(nodes[1]!.url, 'info', {})).result.nodes.map((n: { name: string }) => n.name).sort();
        return JSON.stringify(names) === JSON.stringify(expected);
      },
      1000,
      'the default node.name (host and listening port) in info',
    ).catch(() => assert.deepEqual(names, expected, 'the default node.name is the host and the listening port'));
    assert.match(nodes[0]!.output(), new RegExp(`"node":"${hostname()}_${nodes[0]!.port}"`), 'log lines name the node');
  });

  test('a publication through node A reaches subscribers on nodes B and C', async () => {
    const b = (await connected(nodes[1]!.wsUrl)).c;
    const c = (await connected(nodes[2]!.wsUrl)).c;
    const sb = b.newSubscription('x-node');
    const sc = c.newSubscription('x-node');
    const ready = Promise.all([once(sb, 'subscribed'), once(sc, 'subscribed')]);
    sb.subscribe();
    sc.subscribe();
    await ready;
    const got = Promise.all([once<PublicationContext>(sb, 'publication'), once<PublicationContext>(sc, 'publication')]);
    const r = await api(nodes[0]!.url, 'publish', { channel: 'x-node', data: { hello: 'cluster' } });
    assert.equal(r.result.offset, 1);
    for (const p of await got) assert.deepEqual(p.data, { hello: 'cluster' });
  });

  test('presence is the union of every node’s subscribers', async () => {
    const a = (await connected(nodes[0]!.wsUrl)).c;
    const b = (await connected(nodes[1]!.wsUrl)).c;
    for (const c of [a, b]) {
      const s = c.newSubscription('union');
      const ok = once(s, 'subscribed');
      s.subscribe();
      await ok;
    }
    const stats = await api(nodes[2]!.url, 'presence_stats', { channel: 'union' });
    assert.equal(stats.result.num_clients, 2);
    const channels = await api(nodes[2]!.url, 'channels', { pattern: 'union' });
    assert.deepEqual(channels.result.channels, { union: { num_clients: 2 } });
  });

  test('send to a connection held by another node', async () => {
    const { c, id } = await connected(nodes[1]!.wsUrl);
    const msg = once<{ data: unknown }>(c, 'message');
    await api(nodes[0]!.url, 'send', { client: id, data: { routed: true } });
    assert.deepEqual((await msg).data, { routed: true });
  });

  test('history and recovery across nodes: away from A, back through B, everything recovered', async () => {
    let upstream = nodes[0]!.port;
    const lb: Balancer = await startBalancer(() => [upstream]);
    try {
      const c = client(lb.wsUrl);
      const sub = c.newSubscription('roam');
      const seen: number[] = [];
      sub.on('publication', (ctx) => seen.push((ctx.data as { n: number }).n));
      const first = once(sub, 'subscribed', 10_000);
      sub.subscribe();
      c.connect();
      await first;
      for (let n = 1; n <= 5; n++) await api(nodes[2]!.url, 'publish', { channel: 'roam', data: { n } });
      await waitFor(() => seen.length === 5, 5000, 'live publications');
      upstream = nodes[1]!.port;
      const back = once<SubscribedContext>(sub, 'subscribed', 10_000);
      const id = (c as unknown as { _client: string })._client;
      await api(nodes[2]!.url, 'disconnect', { client: id, disconnect: { code: 3011, reason: 'move' } });
      for (let n = 6; n <= 50; n++) await api(nodes[2]!.url, 'publish', { channel: 'roam', data: { n } });
      const ctx = await back;
      assert.equal(ctx.wasRecovering, true);
      assert.equal(ctx.recovered, true);
      await waitFor(() => seen.length === 50, 5000, 'all 50');
      assert.deepEqual(
        seen,
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
    } finally {
      await lb.close();
    }
  });

  test('a node killed with SIGKILL: its clients move to another node and recover every acknowledged publication', async () => {
    const victim = await startNode(config());
    nodes.push(victim);
    let alive = [victim.port, nodes[1]!.port];
    const lb = await startBalancer(() => alive);
    try {
      const subs = Array.from({ length: 5 }, () => {
        const c = client(lb.wsUrl);
        const s = c.newSubscription('failover');
        const seen: number[] = [];
        s.on('publication', (ctx) => seen.push((ctx.data as { n: number }).n));
        const ok = once(s, 'subscribed', 10_000);
        s.subscribe();
        c.connect();
        return { s, seen, ok };
      });
      await Promise.all(subs.map((x) => x.ok));
      const acked: number[] = [];
      let stop = false;
      const publisher = (async () => {
        for (let n = 1; !stop && n <= 400; n++) {
          const r = await api(nodes[2]!.url, 'publish', { channel: 'failover', data: { n } }).catch(() => undefined);
          if (r?.result) acked.push(n);
          await sleep(5);
        }
      })();
      await sleep(300);
      alive = [nodes[1]!.port];
      await victim.kill();
      await sleep(800);
      stop = true;
      await publisher;
      const last = acked.at(-1) ?? 0;
      await waitFor(() => subs.every((x) => x.seen.includes(last)), 15_000, 'every subscriber caught up');
      for (const x of subs) {
        assert.deepEqual(x.seen, acked, 'every acknowledged publication exactly once, in order');
      }
    } finally {
      await lb.close();
    }
  });

  test('a node killed with SIGKILL leaves info and its clients leave presence within the node TTL', async () => {
    const victim = await startNode(config());
    nodes.push(victim);
    const victimUid = (await api(victim.url, 'info', {})).result.nodes.find((n: { name: string }) =>
      n.name.endsWith(`_${victim.port}`),
    )?.uid as string;
    assert.ok(victimUid, 'the victim names itself <hostname>_<port> in info');
    const doomed = client(victim.wsUrl);
    const survivor = client(nodes[1]!.wsUrl);
    for (const c of [doomed, survivor]) {
      const s = c.newSubscription('ghosts');
      const ok = once(s, 'subscribed', 10_000);
      s.subscribe();
      c.connect();
      await ok;
    }
    const stats = async () => (await api(nodes[0]!.url, 'presence_stats', { channel: 'ghosts' })).result.num_clients;
    assert.equal(await stats(), 2);
    await victim.kill();
    const killedAt = Date.now();
    doomed.disconnect();
    await waitFor(async () => (await stats()) === 1, NODE_TTL_MS + 5000, 'the dead node’s client to leave presence');
    const gone = Date.now() - killedAt;
    // The node's alive mark lasts NODE_TTL_MS from its last heartbeat; Redis then stops listing its entries.
    assert.ok(gone <= NODE_TTL_MS + 1000, `presence cleared ${gone} ms after the kill (at most ${NODE_TTL_MS} ms)`);
    const presence = (await api(nodes[2]!.url, 'presence', { channel: 'ghosts' })).result.presence;
    assert.deepEqual(Object.keys(presence), [(survivor as unknown as { _client: string })._client]);
    await waitFor(
      async () =>
        !(await api(nodes[0]!.url, 'info', {})).result.nodes.some((n: { uid: string }) => n.uid === victimUid),
      5000,
      'the dead node to leave info',
    );
  });

  test('Redis restarted while publishing: nodes stay up, delivery resumes, any loss is signalled', async () => {
    const c = (await connected(nodes[1]!.wsUrl)).c;
    const s = c.newSubscription('outage');
    const seen: number[] = [];
    const resubscribes: SubscribedContext[] = [];
    s.on('publication', (ctx) => seen.push((ctx.data as { n: number }).n));
    const ok = once(s, 'subscribed', 10_000);
    s.subscribe();
    await ok;
    s.on('subscribed', (ctx) => resubscribes.push(ctx));
    const acked: number[] = [];
    const failed: number[] = [];
    let n = 0;
    const publishOne = async () => {
      n++;
      const r = await api(nodes[0]!.url, 'publish', { channel: 'outage', data: { n } }).catch(() => undefined);
      (r?.result ? acked : failed).push(n);
    };
    for (let i = 0; i < 20; i++) await publishOne();
    redis.stop();
    for (let i = 0; i < 10; i++) {
      await publishOne();
      await sleep(50);
    }
    assert.ok(failed.length > 0, 'publishing fails fast while Redis is down');
    const health = await fetch(`${nodes[1]!.url}/health`);
    assert.equal(health.status, 200, 'the node stays up');
    assert.equal((await fetch(`${nodes[1]!.url}/ready`)).status, 503, 'and says it is not ready');
    await redis.start();
    await waitFor(async () => (await fetch(`${nodes[0]!.url}/ready`)).status === 200, 15_000, 'ready again');
    const resumeStart = Date.now();
    await waitFor(
      async () => {
        await publishOne();
        return seen.includes(n);
      },
      15_000,
      'delivery resumed',
    );
    assert.ok(Date.now() - resumeStart < 10_000, 'delivery resumes within seconds');
    // Every acknowledged publication arrived, or the client was told it could not be recovered.
    const lost = acked.filter((x) => !seen.includes(x));
    const signalled = resubscribes.some((ctx) => ctx.wasRecovering && !ctx.recovered);
    assert.ok(lost.length === 0 || signalled, `lost ${lost.join(',')} without a signal`);
  });
});
