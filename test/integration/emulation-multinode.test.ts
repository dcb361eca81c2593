/**
 * Emulation routing between nodes in one process, on a shared in-memory bus (the Redis case runs for real in
 * test/cluster/emulation-routing.test.ts): a request reaching the node that does not hold the session is routed
 * to the one that does; a node that is listed but never answers costs the client a 504 after the route timeout,
 * not a hang; a node that left is 404 at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { EMULATION_ROUTE_TIMEOUT_MS } from '../../src/core/control-plane.js';
import { MemoryBroker, MemoryBus } from '../../src/engine/memory/memory-broker.js';
import { createMemoryEngine } from '../../src/engine/memory/memory-engine.js';
import { MemoryPresence } from '../../src/engine/memory/memory-presence.js';
import { type ChorusServer, createChorusServer } from '../../src/server.js';
import { waitFor } from '../helpers/clients.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { RawStream } from '../helpers/raw-stream.js';
import { openChannels } from '../helpers/server.js';
import { withHttpTransports } from '../helpers/transports.js';

describe('emulation routing between two nodes on an in-memory bus', () => {
  const shared = { bus: new MemoryBus(), presence: new MemoryPresence() };
  const clock = new ManualClock(Date.now());
  const servers: Array<{ s: ChorusServer; url: string }> = [];
  const streams: RawStream[] = [];
  let config: Config;

  before(async () => {
    config = loadConfig({
      base: withHttpTransports({
        http_server: { port: 0, address: '127.0.0.1' },
        client: { allow_anonymous_connect_without_token: true },
        channel: { without_namespace: openChannels() },
      }),
    }).config;
    for (let i = 0; i < 2; i++) {
      // The second node runs on a clock the test moves: its route timeout passes without waiting 10 s.
      const s = await createChorusServer({
        config,
        engine: createMemoryEngine(Date.now, shared),
        clock: i === 1 ? clock : undefined,
      });
      const { port } = await s.listen();
      servers.push({ s, url: `http://127.0.0.1:${port}` });
    }
  });
  after(async () => {
    for (const r of streams) r.destroy();
    for (const { s } of servers) await s.close();
  });

  async function streamOnFirst(): Promise<RawStream> {
    const r = await RawStream.httpStream(servers[0]!.url, { id: 1, connect: {} });
    streams.push(r);
    await r.connected();
    return r;
  }

  test('a request at the other node is routed to the session and answered 204 once taken', async () => {
    const r = await streamOnFirst();
    assert.equal(await r.send([{ id: 2, subscribe: { channel: 'm' } }], { base: servers[1]!.url }), 204);
    assert.ok((await r.reply(2)).subscribe, 'the subscribe ran on the first node');
  });

  test('a listed node that never answers: 504 after the route timeout, and nothing waits on afterwards', async () => {
    // A node that announces itself and then says nothing (frozen, or cut off from the bus one way).
    const ghost = new MemoryBroker(Date.now, shared.bus);
    await ghost.publishControl({
      op: 'node',
      info: {
        uid: 'ghost',
        name: 'ghost',
        version: '0',
        num_clients: 1,
        num_users: 1,
        num_channels: 0,
        num_subs: 0,
        uptime: 0,
      },
    });
    const r = await streamOnFirst();
    let status = 0;
    const sent = r
      .send([{ id: 2, subscribe: { channel: 'g' } }], { base: servers[1]!.url, node: 'ghost' })
      .then((s) => {
        status = s;
      });
    // The request is waiting for the ghost's answer; the time it may take passes on the second node's clock.
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(status, 0, 'still waiting for the ghost');
    clock.advance(EMULATION_ROUTE_TIMEOUT_MS);
    await sent;
    assert.equal(status, 504);
    // Once the ghost's heartbeat is older than the node TTL it is no longer listed: 404 at once.
    clock.advance(10_000);
    assert.equal(await r.send([{ id: 3, subscribe: { channel: 'g' } }], { base: servers[1]!.url, node: 'ghost' }), 404);
  });

  test('a node stopping while it waits for an answer ends that request at once (504), not after the timeout', async () => {
    const fourth = await createChorusServer({ config, engine: createMemoryEngine(Date.now, shared) });
    const { port } = await fourth.listen();
    await new MemoryBroker(Date.now, shared.bus).publishControl({
      op: 'node',
      info: {
        uid: 'mute',
        name: 'mute',
        version: '0',
        num_clients: 1,
        num_users: 1,
        num_channels: 0,
        num_subs: 0,
        uptime: 0,
      },
    });
    const r = await streamOnFirst();
    let status = 0;
    const sent = r
      .send([{ id: 2, subscribe: { channel: 'm' } }], { base: `http://127.0.0.1:${port}`, node: 'mute' })
      .then((s) => {
        status = s;
      });
    await new Promise((res) => setTimeout(res, 50));
    const started = Date.now();
    await fourth.close();
    await sent;
    assert.equal(status, 504);
    assert.ok(Date.now() - started < 3000, `shutdown took ${Date.now() - started} ms`);
  });

  test('a node that stopped is unknown at once (404), so its clients reconnect without waiting', async () => {
    const third = await createChorusServer({
      config,
      engine: createMemoryEngine(Date.now, shared),
    });
    await third.listen();
    const uid = third.node.uid;
    await waitFor(() => servers[1]!.s.node.ops.info().some((n) => n.uid === uid), 5000, 'the third node listed');
    await third.close();
    const r = await streamOnFirst();
    assert.equal(await r.send([{ id: 2, subscribe: { channel: 'x' } }], { base: servers[1]!.url, node: uid }), 404);
  });
});
