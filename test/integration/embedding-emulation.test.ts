/**
 * HTTP connection endpoints in an embedding app: `chorus.connectionMiddleware()` on an Express app serves
 * HTTP-streaming, SSE and the emulation endpoint (the SDK works over them) and the unidirectional uni_sse and
 * uni_http_stream, next to the app's own routes and after its body parser.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { type Chorus, createChorus } from '../../src/index.js';
import { once } from '../helpers/clients.js';
import { sdkOver } from '../helpers/transports.js';
import { connected, openUni } from '../helpers/uni.js';

describe('chorus.connectionMiddleware() in an Express app', () => {
  let chorus: Chorus;
  let server: Server;
  let url = '';
  before(async () => {
    chorus = await createChorus({
      config: {
        http_stream: { enabled: true },
        sse: { enabled: true },
        uni_sse: { enabled: true },
        uni_http_stream: { enabled: true },
        client: { allow_anonymous_connect_without_token: true },
        channel: { without_namespace: { allow_subscribe_for_anonymous: true, allow_subscribe_for_client: true } },
      },
    });
    const app = express();
    app.use(express.json());
    app.use(chorus.connectionMiddleware());
    app.get('/hello', (_req, res) => {
      res.send('from the app');
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    chorus.attach(server);
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await chorus.close();
    await new Promise((r) => server.close(r));
  });

  for (const transport of ['http_stream', 'sse'] as const) {
    test(`the SDK over ${transport} subscribes and receives what the app publishes`, async () => {
      const c = sdkOver(transport, url);
      try {
        const connected = once<{ transport: string }>(c, 'connected');
        c.connect();
        assert.equal((await connected).transport, transport);
        const sub = c.newSubscription('embedded');
        sub.subscribe();
        await once(sub, 'subscribed');
        const got = once<{ data: unknown }>(sub, 'publication');
        await chorus.publish('embedded', { from: 'app' });
        assert.deepEqual((await got).data, { from: 'app' });
      } finally {
        c.disconnect();
      }
    });
  }

  for (const kind of ['uni_sse', 'uni_http_stream'] as const) {
    test(`${kind}: a client without an SDK connects, subscribes on connect and gets what the app publishes`, async () => {
      const conn = await openUni(kind, url, { subs: { 'embedded-uni': {} } });
      try {
        assert.equal(conn.status, 200);
        assert.ok((await connected(conn)).client, 'the connect push names the client');
        const from = conn.messages.length;
        const got = conn.next(
          'the publication',
          (p) => p.channel === 'embedded-uni' && p.pub !== undefined,
          5000,
          from,
        );
        await chorus.publish('embedded-uni', { to: kind });
        assert.deepEqual(((await got).pub as { data: unknown }).data, { to: kind });
      } finally {
        conn.close();
      }
    });
  }

  test("the app's own routes still answer", async () => {
    assert.equal(await (await fetch(`${url}/hello`)).text(), 'from the app');
  });
});
