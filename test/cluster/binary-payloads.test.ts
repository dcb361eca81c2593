/**
 * Binary payloads end to end across two nodes on the shared Redis (own key prefix): every byte value 0–255 and a
 * 60 KB random buffer, published by a Protobuf SDK client or through the server API's `b64data`, reach Protobuf
 * subscribers on the other node byte for byte — live, from history and through recovery — and JSON subscribers
 * get the same bytes as a base64 string (never a frame that is not JSON).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext, Subscription } from 'centrifuge';
import { Redis } from 'ioredis';
import { Disconnects } from '../../src/protocol/codes.js';
import { once, waitFor } from '../helpers/clients.js';
import { JSON_SDK, PROTOBUF_SDK, type SdkEncoding, sdkClient } from '../helpers/sdk-encodings.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';
import { needRedis, REDIS_URL } from '../helpers/services.js';

const skip = await needRedis();
const prefix = `binary-${randomUUID().slice(0, 8)}`;
const API_KEY = 'binary-api-key';

const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const RANDOM_60K = randomBytes(60 * 1024);

describe('binary payloads across two nodes on Redis', skip, () => {
  const nodes: TestServer[] = [];
  const clients: Centrifuge[] = [];

  before(async () => {
    for (let i = 0; i < 2; i++) {
      nodes.push(
        await startServer({
          engine: { type: 'redis', redis: { address: REDIS_URL, prefix } },
          http_api: { key: API_KEY },
          client: { allow_anonymous_connect_without_token: true },
          channel: {
            without_namespace: openChannels({
              history_size: 100,
              history_ttl: '300s',
              force_recovery: true,
              allow_publish_for_client: true,
              allow_history_for_client: true,
            }),
          },
        }),
      );
    }
  });
  after(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    for (const n of nodes) await n.close();
    const probe = new Redis(REDIS_URL);
    const keys = await probe.keys(`${prefix}.*`);
    if (keys.length > 0) await probe.del(...keys);
    probe.disconnect();
  });

  function client(enc: SdkEncoding, node: TestServer, opts: Parameters<typeof sdkClient>[2] = {}): Centrifuge {
    const c = sdkClient(enc, node.wsUrl, opts);
    clients.push(c);
    return c;
  }

  /** A connected client subscribed to `channel`, collecting the data of every publication. */
  async function subscriber(enc: SdkEncoding, node: TestServer, channel: string, opts = {}) {
    const c = client(enc, node, opts);
    const received: unknown[] = [];
    let clientId = '';
    c.on('connected', (ctx) => {
      clientId = ctx.client;
    });
    const sub: Subscription = c.newSubscription(channel);
    sub.on('publication', (ctx: PublicationContext) => received.push(ctx.data));
    sub.subscribe();
    c.connect();
    await once(sub, 'subscribed');
    return { c, sub, received, id: () => clientId };
  }

  async function api(node: TestServer, method: string, params: Record<string, unknown>) {
    const res = await fetch(`${node.url}/api/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-API-Key': API_KEY },
      body: JSON.stringify(params),
    });
    const body = (await res.json()) as { result?: Record<string, unknown>; error?: unknown };
    assert.equal(body.error, undefined, `API ${method}: ${JSON.stringify(body.error)}`);
    return body.result as Record<string, unknown>;
  }

  function bytes(data: unknown): Buffer {
    assert.ok(data instanceof Uint8Array, `a Protobuf client gets bytes, got ${typeof data}`);
    return Buffer.from(data);
  }

  test('a Protobuf client publishes; Protobuf subscribers on both nodes get every byte, JSON ones base64', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const far = await subscriber(PROTOBUF_SDK, b, 'bin-live');
    const near = await subscriber(PROTOBUF_SDK, a, 'bin-live');
    const json = await subscriber(JSON_SDK, b, 'bin-live');
    const publisher = client(PROTOBUF_SDK, a);
    publisher.connect();
    await once(publisher, 'connected');
    await publisher.publish('bin-live', new Uint8Array(EVERY_BYTE));
    await publisher.publish('bin-live', new Uint8Array(RANDOM_60K));
    await waitFor(() => far.received.length === 2 && near.received.length === 2 && json.received.length === 2);
    for (const s of [far, near]) {
      assert.deepEqual(bytes(s.received[0]), EVERY_BYTE);
      assert.deepEqual(bytes(s.received[1]), RANDOM_60K);
    }
    assert.deepEqual(json.received, [EVERY_BYTE.toString('base64'), RANDOM_60K.toString('base64')]);
  });

  test("the API's b64data reaches Protobuf subscribers on the other node byte for byte", async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const far = await subscriber(PROTOBUF_SDK, b, 'bin-api');
    await api(a, 'publish', { channel: 'bin-api', b64data: EVERY_BYTE.toString('base64') });
    await api(a, 'publish', { channel: 'bin-api', b64data: RANDOM_60K.toString('base64') });
    await waitFor(() => far.received.length === 2);
    assert.deepEqual(bytes(far.received[0]), EVERY_BYTE);
    assert.deepEqual(bytes(far.received[1]), RANDOM_60K);
  });

  test('history on the other node returns the bytes intact; the JSON API returns them as base64', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    await api(a, 'publish', { channel: 'bin-hist', b64data: EVERY_BYTE.toString('base64') });
    const publisher = client(PROTOBUF_SDK, a);
    publisher.connect();
    await once(publisher, 'connected');
    await publisher.publish('bin-hist', new Uint8Array(RANDOM_60K));
    const reader = client(PROTOBUF_SDK, b);
    reader.connect();
    await once(reader, 'connected');
    const h = await reader.history('bin-hist', { limit: 10 });
    assert.deepEqual(
      h.publications.map((p) => bytes(p.data)),
      [EVERY_BYTE, RANDOM_60K],
    );
    const viaApi = (await api(b, 'history', { channel: 'bin-hist', limit: 10 })) as {
      publications: Array<{ data: unknown }>;
    };
    assert.deepEqual(
      viaApi.publications.map((p) => p.data),
      [EVERY_BYTE.toString('base64'), RANDOM_60K.toString('base64')],
    );
  });

  test("a JSON client's payload is not checked again on the other node (the stored record says it is JSON)", async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const far = await subscriber(JSON_SDK, b, 'bin-json');
    const publisher = client(JSON_SDK, a);
    publisher.connect();
    await once(publisher, 'connected');
    const text = JSON.stringify({ marker: randomUUID() });
    const parse = JSON.parse;
    let checks = 0;
    JSON.parse = function countingParse(t: string, reviver?: Parameters<typeof parse>[1]) {
      if (t === text) checks++;
      return parse.call(JSON, t, reviver);
    };
    try {
      await publisher.publish('bin-json', parse(text));
      await waitFor(() => far.received.length === 1);
    } finally {
      JSON.parse = parse;
    }
    assert.deepEqual(far.received[0], parse(text));
    assert.equal(checks, 0, 'both nodes run in this process: neither parsed the payload on its own');
  });

  test('a Protobuf subscriber away while binary publications arrive on the other node recovers them intact', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const away = await subscriber(PROTOBUF_SDK, b, 'bin-rec', { minReconnectDelay: 500, maxReconnectDelay: 500 });
    await api(a, 'publish', { channel: 'bin-rec', b64data: Buffer.from([0xff]).toString('base64') });
    await waitFor(() => away.received.length === 1);
    const reconnecting = once<{ code: number }>(away.c, 'connecting');
    b.server.node.clients.get(away.id())?.close(Disconnects.forceReconnect);
    assert.equal((await reconnecting).code, Disconnects.forceReconnect.code);
    await api(a, 'publish', { channel: 'bin-rec', b64data: EVERY_BYTE.toString('base64') });
    await api(a, 'publish', { channel: 'bin-rec', b64data: RANDOM_60K.toString('base64') });
    const resubscribed = await once<{ recovered: boolean; wasRecovering: boolean }>(away.sub, 'subscribed');
    assert.equal(resubscribed.wasRecovering, true);
    assert.equal(resubscribed.recovered, true);
    await waitFor(() => away.received.length === 3);
    assert.deepEqual(
      away.received.map((d) => bytes(d)),
      [Buffer.from([0xff]), EVERY_BYTE, RANDOM_60K],
    );
  });
});
