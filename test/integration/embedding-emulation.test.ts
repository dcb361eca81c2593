/**
 * The WebSocket fallbacks in an embedding app: `chorus.connectionMiddleware()` on an Express app serves
 * HTTP-streaming, SSE and the emulation endpoint next to the app's own routes, and the SDK works over them.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { type Chorus, createChorus } from '../../src/index.js';
import { once } from '../helpers/clients.js';
import { sdkOver } from '../helpers/transports.js';

describe('chorus.connectionMiddleware() in an Express app', () => {
  let chorus: Chorus;
  let server: Server;
  let url = '';
  before(async () => {
    chorus = await createChorus({
      config: {
        http_stream: { enabled: true },
        sse: { enabled: true },
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

  test("the app's own routes still answer", async () => {
    assert.equal(await (await fetch(`${url}/hello`)).text(), 'from the app');
  });
});
