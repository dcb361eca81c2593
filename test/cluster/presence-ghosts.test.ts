/**
 * Issue 17's reproduction over real sockets: 300 clients each connect, subscribe to a channel of their own in a
 * namespace with presence, and drop their socket 0–3 ms later — tabs closed mid-subscribe. Two seconds on,
 * presence_stats over the server API must count nobody, on Redis with one, two and three nodes (in-process
 * nodes sharing one Redis; clients spread over them, the API asked of another node than the client's).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { sleep } from '../helpers/clients.js';
import { api } from '../helpers/cluster.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { needRedis, REDIS_URL } from '../helpers/services.js';

const skip = await needRedis();

const CLIENTS = 300;
/** How long after the sockets closed presence must be empty (the figure). */
const AFTER_MS = 2000;

function config(prefix: string) {
  return {
    engine: { type: 'redis', redis: { address: REDIS_URL, prefix } },
    http_api: { key: 'cluster-key' },
    client: { allow_anonymous_connect_without_token: true },
    channel: {
      namespaces: [
        {
          name: 'room',
          presence: true,
          join_leave: true,
          allow_subscribe_for_client: true,
          allow_subscribe_for_anonymous: true,
        },
      ],
    },
  };
}

/** Connects, subscribes, and drops the socket 0–3 ms after sending the subscribe. */
async function vanishMidSubscribe(wsUrl: string, channel: string): Promise<void> {
  const ws = new WebSocket(wsUrl);
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send('{"id":1,"connect":{}}');
  await new Promise<void>((resolve) => ws.once('message', () => resolve()));
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.send(JSON.stringify({ id: 2, subscribe: { channel } }));
  await sleep(Math.random() * 3);
  ws.terminate();
  await closed;
}

// The three cases run side by side: their two-second waits overlap.
describe('clients vanishing mid-subscribe leave no presence behind (Redis)', { ...skip, concurrency: true }, () => {
  for (const count of [1, 2, 3]) {
    test(`${count} node${count > 1 ? 's' : ''}: no ghost 2 s after ${CLIENTS} sockets closed`, async () => {
      const prefix = `ghosts-${randomUUID().slice(0, 8)}`;
      const nodes: TestServer[] = await Promise.all(Array.from({ length: count }, () => startServer(config(prefix))));
      try {
        const channels = Array.from({ length: CLIENTS }, (_, i) => `room:${i}-${randomUUID().slice(0, 8)}`);
        await Promise.all(channels.map((ch, i) => vanishMidSubscribe((nodes[i % count] as TestServer).wsUrl, ch)));
        await sleep(AFTER_MS);
        const ghosts: string[] = [];
        await Promise.all(
          channels.map(async (channel, i) => {
            const r = await api((nodes[(i + 1) % count] as TestServer).url, 'presence_stats', { channel });
            assert.ok(r.result !== undefined, `presence_stats failed: ${JSON.stringify(r)}`);
            if (r.result.num_clients > 0) ghosts.push(channel);
          }),
        );
        assert.deepEqual(ghosts, [], `${ghosts.length} of ${CLIENTS} channels list a client whose socket closed`);
      } finally {
        await Promise.all(nodes.map((n) => n.close()));
      }
    });
  }
});
