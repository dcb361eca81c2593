/**
 * HTTP-streaming with Protobuf, as Centrifugo allows it: the SDK's Protobuf build POSTs a binary connect command,
 * reads varint-delimited replies from the stream and sends its commands as Protobuf EmulationRequests. Payloads
 * are bytes end to end.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Centrifuge } from 'centrifuge/build/protobuf';
import { once, sleep } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';
import { withHttpTransports } from '../helpers/transports.js';

describe('Protobuf over HTTP-streaming (the SDK protobuf build)', () => {
  let s: TestServer;
  const clients: Centrifuge[] = [];
  before(async () => {
    s = await startServer(
      withHttpTransports({
        client: { allow_anonymous_connect_without_token: true, ping_interval: '600ms', pong_timeout: '300ms' },
        channel: { without_namespace: openChannels({ presence: true, history_size: 10, history_ttl: '60s' }) },
      }),
    );
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
  });
  after(() => s.close());

  const ids = new Map<Centrifuge, string>();
  async function connected(): Promise<Centrifuge> {
    const c = new Centrifuge([{ transport: 'http_stream', endpoint: `${s.url}/connection/http_stream` }], {
      fetch,
      readableStream: ReadableStream,
      emulationEndpoint: `${s.url}/emulation`,
      minReconnectDelay: 50,
      maxReconnectDelay: 300,
    } as never);
    clients.push(c);
    const ok = once<{ transport: string; client: string }>(c, 'connected');
    c.connect();
    const ctx = await ok;
    assert.equal(ctx.transport, 'http_stream');
    ids.set(c, ctx.client);
    return c;
  }

  test('subscribe, publish and receive bytes; presence, history and rpc answer', async () => {
    const c = await connected();
    const sub = c.newSubscription('pb');
    sub.subscribe();
    await once(sub, 'subscribed');
    const got = once<{ data: Uint8Array }>(sub, 'publication');
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    await sub.publish(bytes);
    assert.deepEqual([...(await got).data], [...bytes]);
    assert.equal((await sub.presenceStats()).numClients, 1);
    assert.equal((await sub.history({ limit: 5 })).publications.length, 1);
    await assert.rejects(c.rpc('nothing', new Uint8Array()), (e: { code: number }) => e.code === 108);
  });

  test('server pings are answered with Protobuf emulation requests, so the stream stays', async () => {
    const c = await connected();
    let drops = 0;
    c.on('connecting', () => drops++);
    await sleep(2000);
    assert.equal(drops, 0);
    assert.equal(c.state, 'connected');
  });

  test('a disconnect from the server reaches the SDK as a push with its code', async () => {
    const c = await connected();
    const gone = once<{ code: number }>(c, 'disconnected');
    await s.server.node.ops.disconnect({
      client: ids.get(c),
      disconnect: { code: 4502, reason: 'bye' },
    });
    assert.equal((await gone).code, 4502);
  });
});
