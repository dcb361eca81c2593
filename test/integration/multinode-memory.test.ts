/**
 * Multi-node logic in one process: two nodes on a shared in-memory bus (no Redis), so routing, surveys, the node
 * registry and cross-node delivery are tested fast and deterministically. The Redis layer is tested for real
 * in test/cluster.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext } from 'centrifuge';
import { loadConfig } from '../../src/config/load.js';
import { MemoryBus } from '../../src/engine/memory/memory-broker.js';
import { createMemoryEngine } from '../../src/engine/memory/memory-engine.js';
import { MemoryPresence } from '../../src/engine/memory/memory-presence.js';
import { type ChorusServer, createChorusServer } from '../../src/server.js';
import { once, sdk, waitFor } from '../helpers/clients.js';
import { openChannels } from '../helpers/server.js';

describe('two nodes on an in-memory bus', () => {
  const shared = { bus: new MemoryBus(), presence: new MemoryPresence() };
  const servers: Array<{ s: ChorusServer; ws: string; url: string }> = [];
  const clients: Centrifuge[] = [];

  before(async () => {
    const { config } = loadConfig({
      base: {
        http_server: { port: 0, address: '127.0.0.1' },
        http_api: { key: 'k' },
        client: {
          allow_anonymous_connect_without_token: true,
          direct_messages: { enabled: true, allow_anonymous: true },
        },
        channel: { without_namespace: openChannels({ presence: true, history_size: 10, history_ttl: '60s' }) },
      },
    });
    for (let i = 0; i < 2; i++) {
      const s = await createChorusServer({ config, engine: createMemoryEngine(Date.now, shared) });
      const { port } = await s.listen();
      servers.push({ s, ws: `ws://127.0.0.1:${port}/connection/websocket`, url: `http://127.0.0.1:${port}` });
    }
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    for (const { s } of servers) await s.close();
  });

  async function connected(i: number): Promise<{ c: Centrifuge; id: string }> {
    const c = sdk(servers[i]!.ws);
    clients.push(c);
    const ok = once<{ client: string }>(c, 'connected');
    c.connect();
    return { c, id: (await ok).client };
  }

  // biome-ignore lint/suspicious/noExplicitAny: API replies are free-form JSON in these tests.
  async function call(i: number, method: string, params: unknown): Promise<Record<string, any>> {
    const r = await fetch(`${servers[i]!.url}/api/${method}`, {
      method: 'POST',
      headers: { 'X-API-Key': 'k' },
      body: JSON.stringify(params),
    });
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    return (await r.json()) as Record<string, any>;
  }

  test('both nodes know each other (info)', async () => {
    await waitFor(async () => (await call(0, 'info', {})).result.nodes.length === 2, 5000, 'two nodes in info');
  });

  test('a publication on node 0 reaches a subscriber on node 1; history is shared', async () => {
    const { c } = await connected(1);
    const sub = c.newSubscription('bus');
    const ok = once(sub, 'subscribed');
    sub.subscribe();
    await ok;
    const got = once<PublicationContext>(sub, 'publication');
    await call(0, 'publish', { channel: 'bus', data: { via: 'bus' } });
    assert.deepEqual((await got).data, { via: 'bus' });
    const h = await call(1, 'history', { channel: 'bus', limit: 10 });
    assert.equal(h.result.publications.length, 1);
  });

  test('API send on node 0 reaches a connection on node 1; channels counts both nodes', async () => {
    const { c, id } = await connected(1);
    const msg = once<{ data: unknown }>(c, 'message');
    await call(0, 'send', { client: id, data: { hop: 1 } });
    assert.deepEqual((await msg).data, { hop: 1 });
    const a = await connected(0);
    for (const x of [a.c, c]) {
      const s = x.newSubscription('counted');
      const ok = once(s, 'subscribed');
      s.subscribe();
      await ok;
    }
    const ch = await call(0, 'channels', { pattern: 'counted' });
    assert.deepEqual(ch.result.channels, { counted: { num_clients: 2 } });
  });

  test('a direct message to a user on the other node is delivered; an unknown user is 404', async () => {
    const alice = await connected(0);
    const bob = sdk(servers[1]!.ws, { token: '' });
    clients.push(bob);
    // Anonymous users are all "": target bob by connection id instead.
    const ok = once<{ client: string }>(bob, 'connected');
    bob.connect();
    const bobId = (await ok).client;
    const msg = once<{ data: { from: { client: string }; data: unknown } }>(bob, 'message');
    await alice.c.rpc('chorus.send', { client: bobId, data: 'hi' });
    const m = await msg;
    assert.equal(m.data.from.client, alice.id);
    await assert.rejects(
      alice.c.rpc('chorus.send', { client: 'nobody', data: 1 }),
      (e: { code: number }) => e.code === 404,
    );
  });
});
