/**
 * How output reaches the wire: by default what one event-loop turn produced for a connection goes out together;
 * with `client.write_delay` a connection's pushes wait up to the delay and share frames of at most
 * `client.max_messages_in_frame` messages, while replies are never delayed. Checked at the frame level with a raw
 * WebSocket, and end to end with the real SDK (order and completeness).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { once, RawClient, sdk, waitFor } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const DELAY_MS = 300;

function config(client: Record<string, unknown>) {
  return {
    client: { allow_anonymous_connect_without_token: true, command_rate_limit: 0, ...client },
    channel: { without_namespace: openChannels() },
    http_api: { key: 'k' },
  };
}

async function subscribed(s: TestServer, channel: string): Promise<RawClient> {
  const c = await RawClient.open(s.wsUrl);
  const r = await c.connect();
  assert.ok(r.connect, `connect failed: ${JSON.stringify(r)}`);
  c.send({ id: 2, subscribe: { channel } });
  const sub = await c.reply(2);
  assert.ok(sub.subscribe, `subscribe failed: ${JSON.stringify(sub)}`);
  c.frames.length = 0;
  return c;
}

async function api(s: TestServer, method: string, body: unknown): Promise<void> {
  const res = await fetch(`${s.url}/api/${method}`, {
    method: 'POST',
    headers: { 'X-API-Key': 'k', 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${method}: HTTP ${res.status}`);
}

/** Publishes `n` messages in one API batch, so they reach the hub in one turn. */
function publishMany(s: TestServer, channel: string, n: number, from = 0): Promise<void> {
  const commands = Array.from({ length: n }, (_, i) => ({ publish: { channel, data: { i: from + i } } }));
  return api(s, 'batch', { commands });
}

const indexes = (c: RawClient) =>
  c.pushes().map((p) => ((p.pub as { data: { i: number } } | undefined)?.data ?? { i: -1 }).i);

describe('write batching: client.write_delay', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(config({ write_delay: `${DELAY_MS}ms`, max_messages_in_frame: 4 }));
  });
  after(() => s.close());

  test('pushes wait for the delay and share frames of at most max_messages_in_frame', async () => {
    const c = await subscribed(s, 'batched');
    const t0 = Date.now();
    await publishMany(s, 'batched', 3);
    await publishMany(s, 'batched', 7, 3);
    await waitFor(() => c.pushes().length === 10, 3000, '10 publications');
    const waited = Date.now() - t0;
    assert.ok(waited >= DELAY_MS * 0.8, `publications arrived after ${waited} ms, before the ${DELAY_MS} ms delay`);
    assert.deepEqual(indexes(c), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'every publication once, in order');
    // Ten messages, four per frame at most: three frames, all written together.
    const sizes = c.frames.map((f) => f.split('\n').length);
    assert.deepEqual(sizes, [4, 4, 2], `messages per frame: ${JSON.stringify(sizes)}`);
    c.close();
  });

  test('replies are not delayed', async () => {
    const c = await subscribed(s, 'replies');
    const t0 = Date.now();
    c.send({ id: 3, presence_stats: { channel: 'replies' } });
    await c.reply(3);
    const took = Date.now() - t0;
    assert.ok(took < DELAY_MS / 2, `a reply took ${took} ms with a ${DELAY_MS} ms write delay`);
    c.close();
  });

  test('a reply takes the pushes queued before it along, in order', async () => {
    const c = await subscribed(s, 'mixed');
    c.send({ id: 3, publish: { channel: 'mixed', data: { i: 0 } } });
    await c.reply(3);
    // The publication was queued before the publish reply; both arrive together, the push first.
    assert.equal(indexes(c).length, 1, 'the push arrived with the reply');
    c.close();
  });

  test('the SDK receives every publication in order under a steady stream', async () => {
    const client = sdk(s.wsUrl);
    const sub = client.newSubscription('stream');
    const got: number[] = [];
    sub.on('publication', (ctx) => got.push((ctx.data as { i: number }).i));
    client.connect();
    sub.subscribe();
    await once(sub, 'subscribed');
    for (let i = 0; i < 50; i++) {
      await api(s, 'publish', { channel: 'stream', data: { i } });
    }
    await waitFor(() => got.length === 50, 5000, '50 publications');
    assert.deepEqual(
      got,
      Array.from({ length: 50 }, (_, i) => i),
      'in order, none lost or doubled',
    );
    client.disconnect();
  });

  test('what waits is written before a server-side disconnect closes the connection', async () => {
    const c = await subscribed(s, 'closing');
    const id = ((c.messages.find((m) => m.id === 1)?.connect ?? {}) as { client?: string }).client;
    assert.ok(id, 'connect reply carries the client id');
    await publishMany(s, 'closing', 2);
    await api(s, 'disconnect', { user: '', client: id, disconnect: { code: 4000, reason: 'bye' } });
    assert.equal(await c.waitClose(), 4000, 'closed with the code given');
    assert.equal(c.pushes().length, 2, 'both pushes were written before the close');
  });
});

describe('write batching: default (no delay)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(config({}));
  });
  after(() => s.close());

  test('what one turn produced for a connection goes out at once, up to 16 messages per frame', async () => {
    const c = await subscribed(s, 'turn');
    const t0 = Date.now();
    // Published in-process within one turn: the API's batch is paced into slices of time, so on a loaded machine
    // it may itself span several turns.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        s.server.node.ops.publish({ channel: 'turn', data: Buffer.from(JSON.stringify({ i })) }),
      ),
    );
    await waitFor(() => c.pushes().length === 20, 3000, '20 publications');
    assert.ok(Date.now() - t0 < 1000, 'no delay without client.write_delay');
    assert.deepEqual(
      indexes(c),
      Array.from({ length: 20 }, (_, i) => i),
      'in order',
    );
    const sizes = c.frames.map((f) => f.split('\n').length);
    assert.deepEqual(sizes, [16, 4], `messages per frame: ${JSON.stringify(sizes)}`);
    c.close();
  });
});
