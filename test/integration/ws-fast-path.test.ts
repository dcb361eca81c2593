/**
 * The fan-out fast path frames a shared message once and writes the same bytes to every socket, through ws
 * internals (`Sender.frame`, `websocket._sender.sendFrame`). A ws release that renamed them would silently fall
 * back to framing per socket: this fails instead, so the upgrade is noticed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fastPath } from '../../src/transport/websocket/frames.js';
import { RawClient, waitFor } from '../helpers/clients.js';
import { openChannels, startServer } from '../helpers/server.js';

test('publications to several sockets go out through the pre-framed fast path', async () => {
  const s = await startServer({
    client: { allow_anonymous_connect_without_token: true },
    channel: { without_namespace: openChannels() },
  });
  try {
    const clients = await Promise.all([RawClient.open(s.wsUrl), RawClient.open(s.wsUrl)]);
    for (const c of clients) {
      await c.connect();
      c.send({ id: 2, subscribe: { channel: 'fast' } });
    }
    await Promise.all(clients.map((c) => c.reply(2)));
    await s.server.node.ops.publish({ channel: 'fast', data: Buffer.from('{"n":1}') });
    for (const c of clients) await waitFor(() => c.pushes().some((p) => p.pub !== undefined), 5000, 'the publication');
    assert.equal(fastPath.inUse, true, `the fast path is not in use: ws lacks ${fastPath.missing}`);
    for (const c of clients) c.close();
  } finally {
    await s.close();
  }
});
