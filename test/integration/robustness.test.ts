/**
 * Regressions found in review: inputs from hooks, proxies and clients that used to crash the process, leak
 * state or let a client around the application's decisions.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { createChorus } from '../../src/chorus.js';
import { DisconnectError } from '../../src/protocol/codes.js';
import { hsToken, RawClient, SECRET, sleep, waitFor } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

/** An embedded Chorus on a plain http.Server for one test: `fn` gets the WebSocket URL. */
async function withChorus(
  opts: Parameters<typeof createChorus>[0],
  fn: (url: string, chorus: Awaited<ReturnType<typeof createChorus>>) => Promise<void>,
): Promise<void> {
  const http = createServer();
  const chorus = await createChorus(opts);
  chorus.attach(http);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  try {
    await fn(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/connection/websocket`, chorus);
  } finally {
    await chorus.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  }
}

describe('robustness', () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  test('a hook disconnect with a reason over 123 bytes and an invalid code closes the client, not the process', async () => {
    await withChorus(
      {
        config: {
          client: { allow_anonymous_connect_without_token: true },
          channel: { without_namespace: openChannels() },
        },
        hooks: {
          onSubscribe: () => {
            throw new DisconnectError({ code: 12, reason: `banned: ${'x'.repeat(200)}` });
          },
        },
      },
      async (url, chorus) => {
        const c = await RawClient.open(url);
        await c.connect();
        c.send({ id: 2, subscribe: { channel: 'x' } });
        assert.equal(await c.waitClose(), 3004, 'an invalid close code becomes 3004');
        assert.ok(Buffer.byteLength(c.closeReason) <= 123, 'the reason was cut to fit a close frame');
        await waitFor(() => chorus.node.clients.size === 0, 2000, 'the client cleaned up');
        // Still serving.
        const d = await RawClient.open(url);
        assert.ok((await d.connect()).connect, 'a new client connects');
        d.close();
      },
    );
  });

  test('an async onDisconnect that rejects is logged, the server keeps running', async () => {
    await withChorus(
      {
        config: { client: { allow_anonymous_connect_without_token: true } },
        hooks: {
          onDisconnect: async () => {
            throw new Error('database down');
          },
        },
      },
      async (url) => {
        const c = await RawClient.open(url);
        await c.connect();
        c.close();
        await sleep(100);
        const d = await RawClient.open(url);
        assert.ok((await d.connect()).connect, 'still serving after the hook failed');
        d.close();
      },
    );
  });

  test('connect.subs cannot subscribe around an onSubscribe hook that refuses', async () => {
    await withChorus(
      {
        config: {
          client: { allow_anonymous_connect_without_token: true },
          channel: { without_namespace: openChannels() },
        },
        hooks: { onSubscribe: ({ channel }) => channel !== 'secret' },
      },
      async (url) => {
        const c = await RawClient.open(url);
        const r = (await c.connect({ subs: { secret: {} } })).connect as { subs?: Record<string, unknown> };
        assert.equal(r.subs?.secret, undefined, 'no server-side subscription to the refused channel');
        c.send({ id: 2, subscribe: { channel: 'secret' } });
        assert.equal(((await c.reply(2)).error as { code: number }).code, 103);
        c.close();
      },
    );
  });

  test('with pong_timeout 0 a pong is accepted, not a bad request', async () => {
    const s = await startServer({
      client: { allow_anonymous_connect_without_token: true, ping_interval: '300ms', pong_timeout: '0s' },
    });
    servers.push(s);
    const c = await RawClient.open(s.wsUrl);
    c.ws.on('message', (d) => {
      if (d.toString() === '{}') c.ws.send('{}');
    });
    await c.connect();
    await waitFor(() => c.frames.filter((f) => f === '{}').length >= 2, 3000, 'two pings');
    assert.equal(c.closeCode, undefined, 'still connected after answering pings');
    c.close();
  });

  test('a direct message to user "" is refused (it would reach every anonymous connection)', async () => {
    const s = await startServer({
      client: {
        allow_anonymous_connect_without_token: true,
        token: { hmac_secret_key: SECRET },
        direct_messages: { enabled: true },
      },
    });
    servers.push(s);
    const anon = await RawClient.open(s.wsUrl);
    await anon.connect();
    const sender = await RawClient.open(s.wsUrl);
    await sender.connect({ token: await hsToken({ sub: 'alice' }) });
    sender.send({ id: 2, rpc: { method: 'chorus.send', data: { user: '', data: 'spam' } } });
    assert.equal(((await sender.reply(2)).error as { code: number }).code, 107);
    await sleep(100);
    assert.equal(anon.pushes().length, 0, 'the anonymous client got nothing');
    anon.close();
    sender.close();
  });

  test('history_meta_ttl shorter than history_ttl is refused at start', async () => {
    await assert.rejects(
      startServer({
        channel: { without_namespace: { history_size: 10, history_ttl: '60s', history_meta_ttl: '10s' } },
      }),
      /history_meta_ttl must not be shorter than/,
    );
  });

  test('publications reach subscribers with and without permessage-deflate (shared frames are off with it)', async () => {
    for (const compression of [false, true]) {
      const s = await startServer({
        websocket: { compression },
        client: { allow_anonymous_connect_without_token: true },
        channel: { without_namespace: openChannels() },
      });
      servers.push(s);
      const readers = await Promise.all([RawClient.open(s.wsUrl), RawClient.open(s.wsUrl)]);
      for (const r of readers) {
        await r.connect();
        r.send({ id: 2, subscribe: { channel: 'z' } });
        await r.reply(2);
      }
      for (let i = 0; i < 3; i++)
        await s.server.node.ops.publish({ channel: 'z', data: Buffer.from(JSON.stringify({ i, compression })) });
      for (const r of readers) {
        await waitFor(() => r.pushes().length === 3, 2000, `three publications (compression ${compression})`);
        assert.deepEqual(
          r.pushes().map((p) => (p.pub as { data: { i: number } }).data.i),
          [0, 1, 2],
        );
        r.close();
      }
    }
  });
});
