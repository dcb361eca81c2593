/**
 * The protocol at the wire, with a raw WebSocket: bad input, limits and close codes. Each case checks what a
 * client sees (a reply error or a close code) and that other connections are unaffected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { hsToken, RawClient, SECRET, sleep, stalledSubscriber, waitFor } from '../helpers/clients.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const baseConfig = {
  client: { allow_anonymous_connect_without_token: true, token: { hmac_secret_key: SECRET } },
  channel: { without_namespace: openChannels(), namespaces: [{ name: 'ns', ...openChannels() }] },
};

async function connected(s: TestServer, params: Record<string, unknown> = {}): Promise<RawClient> {
  const c = await RawClient.open(s.wsUrl);
  const r = await c.connect(params);
  assert.ok(r.connect, `connect failed: ${JSON.stringify(r)}`);
  return c;
}

function errorCode(reply: Record<string, unknown>): number | undefined {
  return (reply.error as { code?: number } | undefined)?.code;
}

describe('protocol: bad input', () => {
  let s: TestServer;
  let bystander: RawClient;
  before(async () => {
    s = await startServer(baseConfig);
    bystander = await connected(s);
    bystander.send({ id: 2, subscribe: { channel: 'watch' } });
    await bystander.reply(2);
  });
  after(async () => {
    // Nothing that happened to the other connections touched this one.
    bystander.send({ id: 99, publish: { channel: 'watch', data: { still: 'alive' } } });
    await bystander.reply(99);
    await waitFor(() => bystander.pushes().some((p) => p.channel === 'watch'), 2000, 'bystander publication');
    assert.equal(bystander.closeCode, undefined);
    bystander.close();
    await s.close();
  });

  const closeCases: Array<[string, string | string[], number]> = [
    ['malformed JSON', '{"id":1,"connect":', 3501],
    ['a JSON array instead of a command', '[1,2,3]', 3501],
    ['a command before connect', '{"id":1,"subscribe":{"channel":"x"}}', 3501],
    ['a connect without id', '{"connect":{}}', 3501],
    ['a field of the wrong type', '{"id":1,"connect":{"token":5}}', 3501],
    ['two methods in one command', '{"id":1,"connect":{},"subscribe":{"channel":"a"}}', 3501],
    ['repeated ids in one frame', ['{"id":1,"connect":{}}', '{"id":1,"ping":{}}'], 3501],
    ['an unrequested pong right after connect', ['{"id":1,"connect":{}}', '{}'], 3501],
  ];
  for (const [name, frame, code] of closeCases) {
    test(`${name} closes with ${code}`, async () => {
      const c = await RawClient.open(s.wsUrl);
      c.send(...(Array.isArray(frame) ? frame : [frame]));
      assert.equal(await c.waitClose(), code);
    });
  }

  test('a command without id after connect closes with 3501', async () => {
    const c = await connected(s);
    c.send({ subscribe: { channel: 'x' } });
    assert.equal(await c.waitClose(), 3501);
  });

  test('a binary frame in the JSON protocol closes with 3501', async () => {
    const c = await connected(s);
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal(await c.waitClose(), 3501);
  });

  test('invalid UTF-8 in a text frame closes with 1007 (WebSocket rule)', async () => {
    const c = await connected(s);
    // ws refuses to send invalid UTF-8 as text, so write a raw masked text frame with bytes 0xff 0xfe.
    const payload = Buffer.from([0xff, 0xfe]);
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
    const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    assert.equal(await c.waitClose(), 1007);
  });

  test('an unknown method is answered with 104 and the connection stays', async () => {
    const c = await connected(s);
    c.send({ id: 2, frobnicate: {} });
    assert.equal(errorCode(await c.reply(2)), 104);
    c.send({ id: 3, subscribe: { channel: 'ok' } });
    assert.deepEqual((await c.reply(3)).subscribe, {});
    c.close();
  });

  test('a duplicate subscribe is answered with 105', async () => {
    const c = await connected(s);
    c.send({ id: 2, subscribe: { channel: 'dup' } });
    await c.reply(2);
    c.send({ id: 3, subscribe: { channel: 'dup' } });
    assert.equal(errorCode(await c.reply(3)), 105);
    c.close();
  });

  test('an unknown namespace is answered with 102; a too long or non-ASCII channel name with 107', async () => {
    const c = await connected(s);
    c.send(
      { id: 2, subscribe: { channel: 'missing:room' } },
      { id: 3, subscribe: { channel: 'x'.repeat(256) } },
      { id: 4, subscribe: { channel: 'café' } },
      { id: 5, publish: { channel: 'missing:room', data: {} } },
    );
    assert.equal(errorCode(await c.reply(2)), 102);
    assert.equal(errorCode(await c.reply(3)), 107);
    assert.equal(errorCode(await c.reply(4)), 107);
    assert.equal(errorCode(await c.reply(5)), 102);
    c.close();
  });

  test('a huge array in publish data is carried as data, bounded by the message size limit', async () => {
    const c = await connected(s);
    c.send(
      { id: 2, subscribe: { channel: 'big' } },
      { id: 3, publish: { channel: 'big', data: new Array(5000).fill(7) } },
    );
    assert.deepEqual((await c.reply(3)).publish, {});
    await waitFor(() => c.pushes().some((p) => p.channel === 'big'), 2000, 'publication');
    c.close();
  });

  test('send without a server handler closes with 3508', async () => {
    const c = await connected(s);
    c.send({ send: { data: { hello: 1 } } });
    assert.equal(await c.waitClose(), 3508);
  });

  test('a connection that never sends connect is closed as stale (3502)', async () => {
    const quick = await startServer({ ...baseConfig, client: { ...baseConfig.client, stale_close_delay: '300ms' } });
    try {
      const c = await RawClient.open(quick.wsUrl);
      assert.equal(await c.waitClose(2000), 3502);
    } finally {
      await quick.close();
    }
  });

  test('the connect result carries a UUID client id, version, ping interval and pong', async () => {
    const c = await RawClient.open(s.wsUrl);
    const r = (await c.connect()).connect as Record<string, unknown>;
    assert.match(String(r.client), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(typeof r.version, 'string');
    assert.equal(r.ping, 25);
    assert.equal(r.pong, true);
    c.close();
  });
});

describe('protocol: limits', () => {
  test('a frame over websocket.message_size_limit closes with 1009', async () => {
    const s = await startServer({ ...baseConfig, websocket: { message_size_limit: 1024 } });
    try {
      const c = await connected(s);
      c.send({ id: 2, publish: { channel: 'x', data: 'y'.repeat(2000) } });
      assert.equal(await c.waitClose(), 1009);
    } finally {
      await s.close();
    }
  });

  test('client.channel_limit: the subscription over the limit is answered with 106', async () => {
    const s = await startServer({ ...baseConfig, client: { ...baseConfig.client, channel_limit: 2 } });
    try {
      const c = await connected(s);
      c.send(
        { id: 2, subscribe: { channel: 'a' } },
        { id: 3, subscribe: { channel: 'b' } },
        { id: 4, subscribe: { channel: 'c' } },
      );
      assert.deepEqual((await c.reply(3)).subscribe, {});
      assert.equal(errorCode(await c.reply(4)), 106);
      // Server-side subscriptions over the limit at connect close with 3505.
      const token = await hsToken({ sub: 'u', channels: ['a', 'b', 'c'] });
      const d = await RawClient.open(s.wsUrl);
      d.send({ id: 1, connect: { token } });
      assert.equal(await d.waitClose(), 3505);
      c.close();
    } finally {
      await s.close();
    }
  });

  test('command rate limit: over the rate → 111; keeps flooding → closed with 3013', async () => {
    const s = await startServer({
      ...baseConfig,
      client: { ...baseConfig.client, command_rate_limit: 10, command_rate_burst: 5 },
    });
    try {
      const c = await connected(s);
      const cmds = Array.from({ length: 8 }, (_, i) => ({ id: i + 2, subscribe: { channel: `r${i}` } }));
      c.send(...cmds);
      assert.deepEqual((await c.reply(2)).subscribe, {});
      const limited = (await c.reply(9)).error as { code: number; temporary?: boolean };
      assert.equal(limited.code, 111);
      assert.equal(limited.temporary, true, 'the SDK retries temporary errors');
      const flood = Array.from({ length: 20 }, (_, i) => ({ id: i + 100, subscribe: { channel: `f${i}` } }));
      c.send(...flood);
      assert.equal(await c.waitClose(), 3013);
    } finally {
      await s.close();
    }
  });

  test('client.connection_limit: the connection over the limit closes with 3504', async () => {
    const s = await startServer({ ...baseConfig, client: { ...baseConfig.client, connection_limit: 2 } });
    try {
      const a = await connected(s);
      const b = await connected(s);
      const c = await RawClient.open(s.wsUrl);
      c.send({ id: 1, connect: {} });
      assert.equal(await c.waitClose(), 3504);
      a.close();
      await waitFor(() => s.server.node.clients.size === 1, 2000, 'slot freed');
      const d = await connected(s);
      b.close();
      d.close();
    } finally {
      await s.close();
    }
  });

  test('client.user_connection_limit: a user over the limit closes with 3504, other users unaffected', async () => {
    const s = await startServer({ ...baseConfig, client: { ...baseConfig.client, user_connection_limit: 1 } });
    try {
      const t1 = await hsToken({ sub: 'one' });
      await connected(s, { token: t1 });
      const again = await RawClient.open(s.wsUrl);
      again.send({ id: 1, connect: { token: t1 } });
      assert.equal(await again.waitClose(), 3504);
      await connected(s, { token: await hsToken({ sub: 'two' }) });
    } finally {
      await s.close();
    }
  });

  test('client.queue_max_size: a reader that cannot keep up is closed with 3008; others keep receiving', async () => {
    const s = await startServer({ ...baseConfig, client: { ...baseConfig.client, queue_max_size: 64 * 1024 } });
    try {
      const fast = await connected(s);
      fast.send({ id: 2, subscribe: { channel: 'flood' } });
      await fast.reply(2);
      const slow = await stalledSubscriber(s.port, 'flood');
      const slowClosed = new Promise<void>((r) => slow.once('close', () => r()));
      // Loopback kernel buffers absorb a few MiB before the queue limit can bite. Publish in small steps so
      // that only the stalled reader, not the burst itself, exceeds the limit.
      const payload = JSON.stringify('z'.repeat(4 * 1024));
      let sent = 0;
      for (; sent < 20_000 && s.server.node.clients.size > 1; sent++) {
        await s.server.node.ops.publish({ channel: 'flood', data: Buffer.from(payload) });
        if (sent % 4 === 0) await sleep(1);
      }
      await waitFor(() => s.server.node.clients.size === 1, 5000, 'slow client dropped');
      slow.resume();
      await slowClosed;
      assert.equal(fast.closeCode, undefined);
      await waitFor(() => fast.pushes().length === sent, 10000, 'every publication at the fast client');
      fast.close();
    } finally {
      await s.close();
    }
  });

  test('client.allowed_origins: a browser origin not allowed gets HTTP 403 at upgrade', async () => {
    const s = await startServer({
      ...baseConfig,
      client: { ...baseConfig.client, allowed_origins: ['https://app.example.com'] },
    });
    try {
      const refused = new WebSocket(s.wsUrl, { headers: { Origin: 'https://evil.example.net' } });
      const status = await new Promise<number>((resolve) => {
        refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        refused.on('open', () => resolve(101));
        refused.on('error', () => {});
      });
      assert.equal(status, 403);
      const allowed = new RawClient(
        s.wsUrl,
        new WebSocket(s.wsUrl, { headers: { Origin: 'https://app.example.com' } }),
      );
      await allowed.opened;
      allowed.close();
      // No Origin at all (a server-side client) is allowed.
      const native = await RawClient.open(s.wsUrl);
      native.close();
    } finally {
      await s.close();
    }
  });

  test('without allowed_origins only same-origin browser upgrades pass', async () => {
    const s = await startServer(baseConfig);
    try {
      const same = new WebSocket(s.wsUrl, { headers: { Origin: `http://127.0.0.1:${s.port}` } });
      await new Promise<void>((resolve, reject) => {
        same.on('open', () => resolve());
        same.on('unexpected-response', () => reject(new Error('refused')));
      });
      same.close();
      const other = new WebSocket(s.wsUrl, { headers: { Origin: 'http://other.example' } });
      const status = await new Promise<number>((resolve) => {
        other.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        other.on('open', () => resolve(101));
        other.on('error', () => {});
      });
      assert.equal(status, 403);
    } finally {
      await s.close();
    }
  });
});

describe('protocol: heartbeats, expiry and shutdown', () => {
  test('the server pings; a client that answers stays, one that does not is closed with 3012', async () => {
    const s = await startServer({
      ...baseConfig,
      client: { ...baseConfig.client, ping_interval: '400ms', pong_timeout: '300ms' },
    });
    try {
      const good = await connected(s);
      good.ws.on('message', (data) => {
        if (data.toString() === '{}') good.ws.send('{}');
      });
      const bad = await connected(s);
      assert.equal(await bad.waitClose(3000), 3012);
      assert.ok(bad.frames.includes('{}'), 'the silent client was pinged');
      // The answering client outlives several ping rounds.
      await waitFor(() => good.frames.filter((f) => f === '{}').length >= 3, 5000, 'three pings answered');
      assert.equal(good.closeCode, undefined, 'the answering client stays connected');
      good.close();
    } finally {
      await s.close();
    }
  });

  test('a connection whose token expires without refresh is closed with 3005', async () => {
    const s = await startServer({ ...baseConfig, client: { ...baseConfig.client, expired_close_delay: '0s' } });
    try {
      const c = await connected(s, { token: await hsToken({ sub: 'x', exp: Math.floor(Date.now() / 1000) + 1 }) });
      const r = c.messages.find((m) => m.id === 1)?.connect as { expires?: boolean; ttl?: number };
      assert.equal(r.expires, true);
      assert.ok((r.ttl ?? 0) >= 0 && (r.ttl ?? 0) <= 1, '(r.ttl ?? 0) >= 0 && (r.ttl ?? 0) <= 1');
      assert.equal(await c.waitClose(4000), 3005);
    } finally {
      await s.close();
    }
  });

  test('refresh with a fresh token extends the connection; a wrong user in the token closes with 3500', async () => {
    // The connection's expiry runs on the server's clock, moved by hand past the first token's expiry.
    const clock = new ManualClock(Date.now());
    const s = await startServer(
      { ...baseConfig, client: { ...baseConfig.client, expired_close_delay: '0s' } },
      { clock },
    );
    try {
      const c = await connected(s, { token: await hsToken({ sub: 'r', exp: Math.floor(Date.now() / 1000) + 1 }) });
      c.send({ id: 2, refresh: { token: await hsToken({ sub: 'r', exp: Math.floor(Date.now() / 1000) + 60 }) } });
      const res = (await c.reply(2)).refresh as { expires: boolean; ttl: number };
      assert.equal(res.expires, true);
      assert.ok(res.ttl > 50, 'res.ttl > 50');
      clock.advance(2200);
      assert.equal(c.closeCode, undefined);
      c.send({ id: 3, refresh: { token: await hsToken({ sub: 'someone-else' }) } });
      assert.equal(await c.waitClose(), 3500);
    } finally {
      await s.close();
    }
  });

  test('an expired connection token is answered with 109, the connection stays for a retry', async () => {
    const s = await startServer(baseConfig);
    try {
      const c = await RawClient.open(s.wsUrl);
      c.send({ id: 1, connect: { token: await hsToken({ sub: 'x', exp: Math.floor(Date.now() / 1000) - 5 }) } });
      assert.equal(errorCode(await c.reply(1)), 109);
      c.send({ id: 2, connect: { token: await hsToken({ sub: 'x' }) } });
      assert.ok((await c.reply(2)).connect, '(await c.reply(2)).connect');
      c.close();
    } finally {
      await s.close();
    }
  });

  test('shutdown closes every client with 3001 (reconnect) and refuses new upgrades', async () => {
    const s = await startServer(baseConfig);
    const a = await connected(s);
    const b = await RawClient.open(s.wsUrl); // not yet connected: closed too
    const closing = s.close();
    assert.equal(await a.waitClose(), 3001);
    assert.equal(await b.waitClose(), 3001);
    await closing;
  });
});
