/**
 * uni_websocket specifics: the connect request as the first message or in `cf_connect`, what happens to a bad
 * one and to messages after it, one push per frame (or joined), the message size limit, WebSocket pings and the
 * close options Centrifugo has (`disable_disconnect_push`, `disable_closing_handshake`), the origin rule, and the
 * endpoint in an embedding app.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { createChorus } from '../../src/chorus.js';
import { hsToken, sleep, waitFor } from '../helpers/clients.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { apiPublish, connected, disconnected, openUni, uniConfig } from '../helpers/uni.js';

/** A raw uni_websocket client that keeps frames as they came. */
function rawSocket(url: string, opts: WebSocket.ClientOptions = {}) {
  const ws = new WebSocket(url, opts);
  const frames: string[] = [];
  ws.on('message', (d) => frames.push(d.toString()));
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return { ws, frames, closed, opened };
}

describe('uni_websocket', () => {
  let s: TestServer;
  let url: string;
  before(async () => {
    s = await startServer(uniConfig({ uni_websocket: { enabled: true, message_size_limit: 1024 } }));
    url = `${s.wsUrl.replace('/connection/websocket', '')}/connection/uni_websocket`;
  });
  after(() => s.close());

  test('cf_connect in the URL connects without a first message (Centrifugo 6.3)', async () => {
    const c = await openUni('uni_websocket', s.url, { token: await hsToken({ sub: 'gil' }) }, { alternate: true });
    const result = await connected(c);
    assert.equal(s.server.node.clients.get(String(result.client))?.user, 'gil');
    c.close();
  });

  test('a cf_connect that is not a connect request refuses the upgrade with 400', async () => {
    const r = rawSocket(`${url}?cf_connect=${encodeURIComponent('{"subs":1}')}`);
    await assert.rejects(r.opened, /HTTP 400/);
  });

  test('a first message that is not a connect request: disconnect push 3501, close 3501', async () => {
    const r = rawSocket(url);
    await r.opened;
    r.ws.send('{"connect":');
    const closed = await r.closed;
    assert.deepEqual(closed, { code: 3501, reason: 'bad request' });
    assert.deepEqual(r.frames, ['{"disconnect":{"code":3501,"reason":"bad request"}}']);
  });

  test('messages after the connect request are read and dropped; pushes keep flowing, one per frame', async () => {
    const r = rawSocket(url);
    await r.opened;
    r.ws.send(JSON.stringify({ subs: { frames: {} } }));
    await waitFor(() => r.frames.length === 1, 3000, 'the connect push');
    r.ws.send('{"id":1,"publish":{"channel":"frames","data":{}}}');
    r.ws.send('anything at all');
    await apiPublish(s.url, 'frames', { n: 1 });
    await apiPublish(s.url, 'frames', { n: 2 });
    await waitFor(() => r.frames.length === 3, 3000, 'two publications');
    assert.deepEqual(
      r.frames.slice(1).map((f) => JSON.parse(f).pub.data),
      [{ n: 1 }, { n: 2 }],
      'each publication is a frame of its own, and nothing the client sent was published',
    );
    r.ws.close();
  });

  test('a message over uni_websocket.message_size_limit closes with 1009', async () => {
    const r = rawSocket(url);
    await r.opened;
    r.ws.send(JSON.stringify({ token: 'x'.repeat(2000) }));
    assert.equal((await r.closed).code, 1009);
  });

  test('no subprotocol is chosen, whatever the client offers (JSON only)', async () => {
    const offered = new WebSocket(url, ['centrifuge-protobuf']);
    const failure = await new Promise<Error>((resolve) => offered.once('error', resolve));
    assert.match(failure.message, /Server sent no subprotocol/);
    const plain = rawSocket(url);
    await plain.opened;
    assert.equal(plain.ws.protocol, '');
    plain.ws.close();
  });

  test('a foreign origin is refused with 403 (client.allowed_origins, as the bidirectional endpoint)', async () => {
    const r = rawSocket(url, { headers: { origin: 'https://evil.example' } });
    await assert.rejects(r.opened, /HTTP 403/);
  });
});

describe('uni_websocket: limits', () => {
  test('client.address_connection_limit counts every unidirectional connection of an address: 429 past it', async () => {
    const s = await startServer(uniConfig({ client: { address_connection_limit: 1 } }));
    try {
      const sse = await openUni('uni_sse', s.url, {});
      await connected(sse);
      const r = rawSocket(`${s.url.replace('http', 'ws')}/connection/uni_websocket`);
      await assert.rejects(r.opened, /HTTP 429/);
      sse.close();
      await waitFor(() => s.server.node.sessions.size === 0, 2000, 'the stream to end');
      const ok = rawSocket(`${s.url.replace('http', 'ws')}/connection/uni_websocket`);
      await ok.opened;
      ok.ws.close();
    } finally {
      await s.close();
    }
  });
});

describe('uni_websocket: options', () => {
  test('join_push_messages: several pushes share a frame, one per line', async () => {
    const s = await startServer(uniConfig({ uni_websocket: { enabled: true, join_push_messages: true } }));
    try {
      const r = rawSocket(`${s.url.replace('http', 'ws')}/connection/uni_websocket`);
      await r.opened;
      r.ws.send(JSON.stringify({ subs: { joined: {} } }));
      await waitFor(() => r.frames.length === 1, 3000, 'the connect push');
      await Promise.all(
        [1, 2, 3].map((n) => s.server.node.ops.publish({ channel: 'joined', data: Buffer.from(`{"n":${n}}`) })),
      );
      await waitFor(() => r.frames.join('\n').split('\n').length >= 4, 3000, 'three publications');
      assert.ok(r.frames.length < 4, `fewer frames than pushes: ${JSON.stringify(r.frames)}`);
      const lines = r.frames.slice(1).join('\n').split('\n');
      assert.deepEqual(lines.map((l) => JSON.parse(l).pub.data.n).sort(), [1, 2, 3]);
      r.ws.close();
    } finally {
      await s.close();
    }
  });

  test('disable_disconnect_push: the close frame alone says why', async () => {
    const s = await startServer(uniConfig({ uni_websocket: { enabled: true, disable_disconnect_push: true } }));
    try {
      const r = rawSocket(`${s.url.replace('http', 'ws')}/connection/uni_websocket`);
      await r.opened;
      r.ws.send(JSON.stringify({ token: 'not-a-jwt' }));
      assert.deepEqual(await r.closed, { code: 3500, reason: 'invalid token' });
      assert.deepEqual(r.frames, []);
    } finally {
      await s.close();
    }
  });

  test('disable_closing_handshake: the disconnect push, then the connection drops without a close frame', async () => {
    const s = await startServer(uniConfig({ uni_websocket: { enabled: true, disable_closing_handshake: true } }));
    try {
      const r = rawSocket(`${s.url.replace('http', 'ws')}/connection/uni_websocket`);
      await r.opened;
      r.ws.send(JSON.stringify({ token: 'not-a-jwt' }));
      assert.equal((await r.closed).code, 1006, 'no close frame');
      assert.deepEqual(r.frames, ['{"disconnect":{"code":3500,"reason":"invalid token"}}']);
    } finally {
      await s.close();
    }
  });
});

describe('uni_websocket: WebSocket pings (manual clock)', () => {
  test('WebSocket pings every ping_interval besides the `{}` pushes; no pong within pong_timeout closes with 3012', async () => {
    const clock = new ManualClock(Date.now());
    const s = await startServer(uniConfig(), { clock });
    try {
      const base = `${s.url.replace('http', 'ws')}/connection/uni_websocket`;
      const alive = rawSocket(base);
      let pings = 0;
      alive.ws.on('ping', () => pings++);
      await alive.opened;
      alive.ws.send('{}');
      const deaf = rawSocket(base, { autoPong: false });
      await deaf.opened;
      deaf.ws.send('{}');
      await waitFor(() => alive.frames.length === 1 && deaf.frames.length === 1, 3000, 'both connected');
      for (let t = 0; t < 25_000 + 8_000 + 200; t += 1000) {
        clock.advance(1000);
        await sleep(2);
      }
      await waitFor(() => pings >= 1, 3000, 'a WebSocket ping');
      assert.deepEqual(await deaf.closed, { code: 3012, reason: 'no pong' });
      assert.equal(alive.ws.readyState, WebSocket.OPEN, 'the connection that answers stays');
      assert.ok(alive.frames.includes('{}'), 'the `{}` ping push as well');
      alive.ws.close();
    } finally {
      await s.close();
    }
  });
});

describe('uni_websocket: embedding', () => {
  test('createChorus().attach serves uni_websocket on the app’s server when enabled', async () => {
    const chorus = await createChorus({
      config: { client: { allow_anonymous_connect_without_token: true }, uni_websocket: { enabled: true } },
    });
    const server = createServer((_req, res) => res.end('app'));
    chorus.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const c = await openUni('uni_websocket', `http://127.0.0.1:${port}`, {});
      await connected(c);
      const closing = chorus.close();
      assert.deepEqual(await disconnected(c), { code: 3001, reason: 'shutdown' });
      await closing;
    } finally {
      server.close();
    }
  });
});
