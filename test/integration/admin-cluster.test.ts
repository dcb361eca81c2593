/**
 * The admin page behind a load balancer: whichever node answers, the figures are the whole cluster's (so the
 * chart does not jump from node to node), and each node's own figures come labelled with its name. Two nodes on
 * a shared in-memory bus; the Redis path is the same control plane (test/cluster).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { loadConfig } from '../../src/config/load.js';
import { MemoryBus } from '../../src/engine/memory/memory-broker.js';
import { createMemoryEngine } from '../../src/engine/memory/memory-engine.js';
import { MemoryPresence } from '../../src/engine/memory/memory-presence.js';
import { type ChorusServer, createChorusServer } from '../../src/server.js';
import { alignSeries } from '../../src/web/admin-stats.js';
import { once, sdk, waitFor } from '../helpers/clients.js';
import { openChannels } from '../helpers/server.js';

// biome-ignore lint/suspicious/noExplicitAny: admin API replies are free-form JSON in these tests.
type Json = any;

describe('admin figures across two nodes', () => {
  const shared = { bus: new MemoryBus(), presence: new MemoryPresence() };
  const servers: Array<{ s: ChorusServer; ws: string; url: string }> = [];
  const clients: Centrifuge[] = [];

  before(async () => {
    for (const name of ['node-a', 'node-b']) {
      const { config } = loadConfig({
        base: {
          node: { name },
          http_server: { port: 0, address: '127.0.0.1' },
          http_api: { key: 'k' },
          admin: { enabled: true, insecure: true },
          client: { allow_anonymous_connect_without_token: true },
          channel: { without_namespace: openChannels({ allow_publish_for_client: true }) },
        },
      });
      const s = await createChorusServer({ config, engine: createMemoryEngine(Date.now, shared) });
      const { port } = await s.listen();
      servers.push({ s, ws: `ws://127.0.0.1:${port}/connection/websocket`, url: `http://127.0.0.1:${port}` });
    }
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    for (const { s } of servers) await s.close();
  });

  async function subscriber(i: number): Promise<Centrifuge> {
    const c = sdk(servers[i]!.ws);
    clients.push(c);
    const sub = c.newSubscription('board');
    const ok = once(sub, 'subscribed');
    sub.subscribe();
    c.connect();
    await ok;
    return c;
  }

  const admin = async (i: number, path: string): Promise<Json> =>
    (await fetch(`${servers[i]!.url}/admin/api/${path}`)).json();

  test('state and series are the same cluster totals from either node, each node’s figures named', async () => {
    await subscriber(0);
    await subscriber(0);
    const publisher = await subscriber(1);
    // Publications through node B reach the three subscribers: in on B, out on both.
    const publishing = setInterval(() => void publisher.publish('board', { tick: true }).catch(() => {}), 50);
    try {
      for (const i of [0, 1]) {
        await waitFor(
          async () => {
            const s = await admin(i, 'series');
            return s.connections.at(-1) === 3 && s.in.at(-1) > 0 && s.out.at(-1) > 0;
          },
          8000,
          `node ${i}'s series to count the cluster`,
        );
      }
      const [a, b] = [await admin(0, 'series'), await admin(1, 'series')];
      for (const s of [a, b]) {
        assert.deepEqual(
          s.nodes.map((n: Json) => [n.name, n.connections.at(-1)]),
          [
            ['node-a', 2],
            ['node-b', 1],
          ],
          'each node’s own figures, named',
        );
        assert.equal(s.t.length, s.connections.length);
        assert.equal(s.nodes[1].in.at(-1) > 0, true, 'node-b made the publications');
        assert.equal(s.nodes[0].in.at(-1), 0, 'node-a made none');
      }
      assert.deepEqual(a.t.slice(-3), b.t.slice(-3), 'both nodes answer on the same seconds');
      for (const i of [0, 1]) {
        const st = await admin(i, 'state');
        assert.equal(st.totals.connections, 3);
        assert.equal(st.totals.nodes, 2);
        assert.ok(st.rates.in > 0 && st.rates.out > 0, 'cluster-wide rates');
        const rows = Object.fromEntries(st.nodes.map((n: Json) => [n.name, n]));
        assert.equal(rows['node-a'].num_clients, 2);
        assert.equal(rows['node-b'].num_clients, 1);
        assert.ok(rows['node-b'].rate_in > 0, 'a node row carries its own rate');
        assert.equal(st.node.name, i === 0 ? 'node-a' : 'node-b', 'which node answered');
      }
    } finally {
      clearInterval(publishing);
    }
  });
});

describe('aligning the nodes’ samples', () => {
  const node = (uid: string, t: number[], connections: number[]) => ({
    uid,
    name: uid,
    t,
    connections,
    users: connections,
    channels: connections,
    subscriptions: connections,
    in: connections,
    out: connections,
  });

  test('sums second by second, up to the newest second every node has; a late node counts 0 before it started', () => {
    const s = alignSeries([node('a', [100, 101, 102, 103], [1, 2, 3, 4]), node('b', [102, 103, 104], [10, 20, 30])]);
    assert.deepEqual(s.t, [100, 101, 102, 103]);
    assert.deepEqual(s.connections, [1, 2, 13, 24]);
    assert.deepEqual(
      s.nodes.map((n) => n.connections),
      [
        [1, 2, 3, 4],
        [0, 0, 10, 20],
      ],
    );
  });

  test('a second a node skipped (timer drift) repeats its previous sample instead of dipping', () => {
    const s = alignSeries([node('a', [100, 101, 102], [5, 5, 5]), node('b', [100, 102], [7, 7])]);
    assert.deepEqual(s.connections, [12, 12, 12]);
  });

  test('no samples yet: empty columns', () => {
    const s = alignSeries([node('a', [], [])]);
    assert.deepEqual([s.t, s.connections, s.nodes], [[], [], []]);
  });
});
