/**
 * Defaults must never break an official SDK's normal use (issue 14): what other SDKs do on the wire, reproduced
 * with the JS SDK and raw sockets since their own runtimes are not available here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { once, RawClient, sdk } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

describe('SDK-facing defaults', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      client: { allow_anonymous_connect_without_token: true },
      channel: { without_namespace: openChannels() },
    });
  });
  after(async () => {
    await s.close();
  });

  test('an empty Sec-WebSocket-Protocol header (centrifuge-python) is accepted as "no subprotocol"', async () => {
    const ws = new WebSocket(s.wsUrl, { headers: { 'Sec-WebSocket-Protocol': '' } });
    const c = new RawClient(s.wsUrl, ws);
    await c.opened;
    const reply = await c.connect();
    assert.ok(reply.connect, 'the JSON connect succeeds over the socket opened with an empty header');
    c.close();
  });

  test('a tight loop of 3,000 publishes from one SDK connection is not rate limited by default', async () => {
    const c = sdk(s.wsUrl);
    let disconnects = 0;
    c.on('disconnected', () => {
      disconnects++;
    });
    try {
      c.connect();
      await once(c, 'connected');
      const sub = c.newSubscription('loop');
      let received = 0;
      sub.on('publication', () => {
        received++;
      });
      sub.subscribe();
      await once(sub, 'subscribed');
      // The SDK writes these 3,000 commands in a few frames at once: far more than are run at a time.
      const results = await Promise.allSettled(Array.from({ length: 3000 }, (_, i) => c.publish('loop', { i })));
      const failed = results.filter((r) => r.status === 'rejected');
      assert.equal(failed.length, 0, `no publish refused (first error: ${JSON.stringify(failed[0])})`);
      const deadline = Date.now() + 5000;
      while (received < 3000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(received, 3000, 'every publication came back to the subscriber');
      assert.equal(disconnects, 0, 'the connection was never dropped');
    } finally {
      c.disconnect();
    }
  });
});
