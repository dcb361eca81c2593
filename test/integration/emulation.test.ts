/**
 * HTTP-streaming, SSE and the emulation endpoint at the protocol level, with raw HTTP clients: the framing and
 * headers on the wire, what every kind of bad request is answered, the disconnect written as a push before the
 * stream ends, heartbeats, a slow reader closed with 3008, backpressure held on emulation requests, origins and
 * connection limits shared with WebSocket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { Disconnects } from '../../src/protocol/codes.js';
import { once, RawClient, sleep, waitFor } from '../helpers/clients.js';
import { RawStream } from '../helpers/raw-stream.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';
import { withHttpTransports } from '../helpers/transports.js';

const ORIGIN = 'https://app.example';

const config = withHttpTransports({
  client: { allow_anonymous_connect_without_token: true, allowed_origins: [ORIGIN] },
  channel: { without_namespace: openChannels({ history_size: 10, history_ttl: '60s' }) },
});

const streams: RawStream[] = [];
async function httpStream(s: TestServer, connect: unknown = {}, headers: Record<string, string> = {}) {
  const r = await RawStream.httpStream(s.url, { id: 1, connect }, headers);
  streams.push(r);
  return r;
}
async function sse(s: TestServer, connect: unknown = {}, headers: Record<string, string> = {}) {
  const r = await RawStream.sse(s.url, { id: 1, connect }, headers);
  streams.push(r);
  return r;
}
function closeStreams(): void {
  for (const r of streams.splice(0)) r.destroy();
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('the streams on the wire', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(config);
  });
  after(async () => {
    closeStreams();
    await s.close();
  });

  test('HTTP-streaming: 200, newline-framed JSON, headers that keep proxies from buffering', async () => {
    const r = await httpStream(s);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/x-ndjson');
    assert.equal(r.headers['x-accel-buffering'], 'no');
    assert.match(String(r.headers['cache-control']), /no-cache/);
    assert.match(String(r.headers['cache-control']), /no-transform/);
    const c = await r.connected();
    assert.match(r.text, /^\{"id":1,"connect":\{.*\}\}\n$/);
    // The session names this node and a secret session id, never the client id others see.
    assert.equal(c.node, s.server.node.uid);
    assert.match(c.session, /^[0-9a-f-]{36}$/);
    assert.notEqual(c.session, c.client);
  });

  test('SSE: text/event-stream, one data: event per message', async () => {
    const r = await sse(s);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(r.headers['x-accel-buffering'], 'no');
    const c = await r.connected();
    assert.equal(c.node, s.server.node.uid);
    assert.equal(r.events.length, 1);
    assert.match(r.text, /^\r\ndata: \{"id":1,"connect":\{.*\}\}\n\n$/);
  });

  test('commands POSTed to /emulation are answered 204 and their replies arrive on the stream', async () => {
    for (const open of [httpStream, sse]) {
      const r = await open(s);
      assert.equal(await r.send([{ id: 2, subscribe: { channel: 'wire' } }]), 204);
      assert.ok((await r.reply(2)).subscribe, 'subscribed');
      assert.equal(await r.send([{ id: 3, publish: { channel: 'wire', data: { n: 1 } } }]), 204);
      await r.reply(3);
      await waitFor(() => r.pushes().some((p) => p.channel === 'wire'), 5000, 'the publication');
    }
  });

  test('SSE: a payload with line breaks keeps the event stream intact', async () => {
    const r = await sse(s);
    assert.equal(await r.send([{ id: 2, subscribe: { channel: 'pretty' } }]), 204);
    await r.reply(2);
    // Pretty-printed JSON from the server API: its line breaks must not end the data: field.
    await s.server.node.ops.publish({ channel: 'pretty', data: Buffer.from('{\n  "a": 1\r\n}') });
    await s.server.node.ops.publish({ channel: 'pretty', data: Buffer.from('{"b":2}') });
    await waitFor(() => r.events.length === 4, 5000, 'both publication events');
    // JSON payloads travel on one line: each CR or LF (whitespace in JSON) became a space.
    assert.match(r.events[2] ?? '', /^\{"push":\{"channel":"pretty","pub":\{"data":\{ {3}"a": 1 {2}\},"offset":1,/);
    assert.match(r.events[3] ?? '', /^\{"push":\{"channel":"pretty","pub":\{"data":\{"b":2\},"offset":2,/);
  });

  test('the disconnect is written as a push, then the stream ends', async () => {
    for (const open of [httpStream, sse]) {
      const r = await open(s);
      const c = await r.connected();
      s.server.node.clients.get(c.client)?.close(Disconnects.forceNoReconnect);
      await r.waitEnded();
      const last = r.messages.at(-1);
      assert.deepEqual(last, { push: { disconnect: { code: 3503, reason: 'force disconnect' } } });
    }
  });

  test('a client that goes away ends its session (presence and the registry are cleaned up)', async () => {
    const before = s.server.node.sessions.size;
    const r = await httpStream(s);
    await r.connected();
    assert.equal(s.server.node.sessions.size, before + 1);
    r.destroy();
    await waitFor(() => s.server.node.sessions.size === before, 5000, 'the session to end');
    // Its session id is gone: a command for it reaches nothing (204, as Centrifugo answers for a gone session).
    assert.equal(await r.send([{ id: 2, subscribe: { channel: 'x' } }]), 204);
  });

  test('a bad connect command gets a disconnect push (3501) and the end of the stream', async () => {
    const r = await RawStream.httpStream(s.url, 'not a command');
    await r.waitEnded();
    assert.equal((r.pushes()[0]?.disconnect as { code?: number } | undefined)?.code, 3501);
  });
});

describe('what the endpoints answer', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(config);
  });
  after(async () => {
    closeStreams();
    await s.close();
  });

  test('emulation: 400 for what is not an emulation request, 405 for GET, 413 over the body limit', async () => {
    const url = `${s.url}/emulation`;
    assert.equal((await post(url, 'not json')).status, 400);
    assert.equal((await post(url, '{"session":"s","node":"n","data":{}}')).status, 400);
    assert.equal((await post(url, '{"session":"s","data":""}')).status, 400);
    assert.match((await post(url, '[]')).text, /bad emulation request: expected a JSON object/);
    const get = await fetch(url);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST, OPTIONS');
    const r = await httpStream(s);
    const c = await r.connected();
    const big = JSON.stringify({ session: c.session, node: c.node, data: 'x'.repeat(70_000) });
    const tooLarge = await post(url, big);
    assert.equal(tooLarge.status, 413);
    assert.match(tooLarge.text, /emulation\.max_request_body_size/);
    // The session is untouched by a refused request.
    assert.equal(await r.send([{ id: 2, subscribe: { channel: 'after-413' } }]), 204);
    await r.reply(2);
  });

  test('emulation: 404 for a node that is not in the cluster (the SDK reconnects), 204 for a gone session', async () => {
    const r = await httpStream(s);
    await r.connected();
    assert.equal(await r.send([{ id: 2, subscribe: { channel: 'x' } }], { node: 'no-such-node' }), 404);
    assert.equal(await r.send([{ id: 2, subscribe: { channel: 'x' } }], { session: 'no-such-session' }), 204);
  });

  test('streams: 405 for the wrong method, 400 for SSE without cf_connect, 413 over the body limit', async () => {
    assert.equal((await fetch(`${s.url}/connection/http_stream`)).status, 405);
    const noConnect = await fetch(`${s.url}/connection/sse`);
    assert.equal(noConnect.status, 400);
    assert.match(await noConnect.text(), /cf_connect/);
    const tooLarge = await post(
      `${s.url}/connection/http_stream`,
      JSON.stringify({ id: 1, connect: { data: 'x'.repeat(70_000) } }),
    );
    assert.equal(tooLarge.status, 413);
    assert.match(tooLarge.text, /http_stream\.max_request_body_size/);
    assert.equal((await fetch(`${s.url}/connection/sse`, { method: 'PUT' })).status, 405);
  });

  test('a foreign origin is refused (403) on every endpoint; an allowed one gets CORS headers and preflights', async () => {
    const evil = { origin: 'https://evil.example' };
    assert.equal((await post(`${s.url}/connection/http_stream`, '{"id":1,"connect":{}}', evil)).status, 403);
    assert.equal((await fetch(`${s.url}/connection/sse?cf_connect=%7B%7D`, { headers: evil })).status, 403);
    assert.equal((await post(`${s.url}/emulation`, '{}', evil)).status, 403);

    const r = await httpStream(s, {}, { origin: ORIGIN });
    assert.equal(r.headers['access-control-allow-origin'], ORIGIN);
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    const preflight = await fetch(`${s.url}/emulation`, {
      method: 'OPTIONS',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'content-type');
    const c = await r.connected();
    const res = await post(
      `${s.url}/emulation`,
      JSON.stringify({ session: c.session, node: c.node, data: '{"id":2,"subscribe":{"channel":"cors"}}' }),
      { origin: ORIGIN },
    );
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
  });

  test('Protobuf over HTTP-streaming: a binary connect gets varint-delimited replies', async () => {
    const { protobufCodec } = await import('../../src/protocol/protobuf/protobuf-codec.js');
    const { CommandType } = await import('../../src/protocol/protobuf/schema.js');
    const connect = CommandType.encodeDelimited(CommandType.create({ id: 1, connect: {} })).finish();
    const res = await fetch(`${s.url}/connection/http_stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from(connect),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    const reader = res.body?.getReader();
    const { value } = (await reader?.read()) ?? {};
    await reader?.cancel();
    // The first bytes are one Reply, prefixed with its varint length: id 1 and a connect result.
    const { ReplyType } = await import('../../src/protocol/protobuf/schema.js');
    const reply = ReplyType.decodeDelimited(value as Uint8Array) as unknown as {
      id: number;
      connect?: { node: string };
    };
    assert.equal(reply.id, 1);
    assert.equal(reply.connect?.node, s.server.node.uid);
    assert.ok(protobufCodec.binary, 'the codec is binary');
  });
});

describe('heartbeats, slow readers and backpressure', () => {
  test('pings arrive as {} on the stream; a client that never answers is closed with 3012', async () => {
    const s = await startServer({
      ...config,
      client: { allow_anonymous_connect_without_token: true, ping_interval: '400ms', pong_timeout: '200ms' },
    });
    try {
      for (const open of [httpStream, sse]) {
        const r = await open(s);
        const c = await r.connected();
        assert.equal(c.pong, true, 'the client is told to answer pings');
        await r.waitEnded(3000);
        assert.ok(
          r.messages.some((m) => Object.keys(m).length === 0),
          'a ping ({}) arrived',
        );
        assert.equal((r.pushes().at(-1)?.disconnect as { code?: number } | undefined)?.code, 3012);
      }
      // Answering through the emulation endpoint keeps the stream open.
      const r = await httpStream(s);
      await r.connected();
      let pongs = 0;
      const answer = setInterval(() => {
        const pings = r.messages.filter((m) => Object.keys(m).length === 0).length;
        if (pings > pongs) {
          pongs = pings;
          void r.send([{}]);
        }
      }, 20);
      await sleep(1500);
      clearInterval(answer);
      assert.ok(pongs >= 2, `answered ${pongs} pings`);
      assert.equal(r.ended, false);
    } finally {
      closeStreams();
      await s.close();
    }
  });

  test('client.queue_max_size: a stream reader that cannot keep up is closed with 3008; others keep receiving', async () => {
    const codes: number[] = [];
    const s = await startServer(
      { ...config, client: { allow_anonymous_connect_without_token: true, queue_max_size: 64 * 1024 } },
      { hooks: { onDisconnect: (_ctx, d) => void codes.push(d.code) } },
    );
    try {
      const fast = await httpStream(s);
      assert.equal(await fast.send([{ id: 2, subscribe: { channel: 'flood' } }]), 204);
      await fast.reply(2);
      const slow = await sse(s);
      assert.equal(await slow.send([{ id: 2, subscribe: { channel: 'flood' } }]), 204);
      await slow.reply(2);
      slow.stopReading();
      const payload = JSON.stringify('z'.repeat(4 * 1024));
      let sent = 0;
      for (; sent < 20_000 && s.server.node.clients.size > 1; sent++) {
        await s.server.node.ops.publish({ channel: 'flood', data: Buffer.from(payload) });
        if (sent % 4 === 0) await sleep(1);
      }
      await waitFor(() => s.server.node.clients.size === 1, 5000, 'slow client dropped');
      await waitFor(() => codes.includes(3008), 2000, 'closed with 3008');
      assert.equal(fast.ended, false);
      await waitFor(() => fast.pushes().length === sent, 10000, 'every publication at the fast client');
    } finally {
      closeStreams();
      await s.close();
    }
  });

  test('a session with too many commands waiting holds the emulation answer until it caught up', async () => {
    // Each command takes a millisecond or so (an RPC whose handler waits): they pile up in the session.
    const slow = async () => {
      await sleep(1);
      return {};
    };
    const s = await startServer(config, { hooks: { rpc: new Map([['slow', slow]]) } });
    try {
      const r = await httpStream(s);
      await r.connected();
      const calls = (from: number, n: number) =>
        Array.from({ length: n }, (_, i) => ({ id: from + i, rpc: { method: 'slow' } }));
      const replied = () => r.messages.filter((m) => typeof m.id === 'number' && m.id >= 10).length;
      // 1,100 commands waiting: past 1,024 the session stops taking more until it is down to 256, and the
      // request that brought it over is answered only then.
      assert.equal(await r.send(calls(10, 1000)), 204);
      assert.ok(replied() < 200, `the first request is answered at once (${replied()} replied by then)`);
      assert.equal(await r.send(calls(2000, 100)), 204);
      assert.ok(replied() >= 1100 - 256 - 16, `answered once caught up (${replied()} of 1100 replied by then)`);
      await waitFor(() => replied() === 1100, 10_000, 'every reply');
    } finally {
      closeStreams();
      await s.close();
    }
  });
});

describe('long-lived streams and the HTTP timeouts', () => {
  test('http_server.request_timeout limits receiving a request, never how long a stream lasts', async () => {
    const s = await startServer({ ...config, http_server: { request_timeout: '1s', headers_timeout: '500ms' } });
    try {
      const open = [await httpStream(s), await sse(s)];
      for (const r of open) {
        await r.connected();
        assert.equal(await r.send([{ id: 2, subscribe: { channel: 'long' } }]), 204);
        await r.reply(2);
      }
      await sleep(2500);
      await s.server.node.ops.publish({ channel: 'long', data: Buffer.from('{"late":true}') });
      for (const r of open) {
        await waitFor(() => r.pushes().some((p) => p.channel === 'long'), 5000, 'a publication after the timeouts');
        assert.equal(r.ended, false);
      }
    } finally {
      closeStreams();
      await s.close();
    }
  });
});

describe('connection limits are shared with WebSocket', () => {
  test('client.address_connection_limit counts streams and WebSocket connections together (429 with Retry-After)', async () => {
    const s = await startServer({
      ...config,
      client: { allow_anonymous_connect_without_token: true, address_connection_limit: 2 },
    });
    try {
      const a = await httpStream(s);
      await a.connected();
      const ws = await RawClient.open(s.wsUrl);
      const refused = await fetch(`${s.url}/connection/sse?cf_connect=${encodeURIComponent('{"id":1,"connect":{}}')}`);
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After says when to try again');
      await refused.text();
      const wsRefused = new WebSocket(s.wsUrl);
      wsRefused.on('error', () => {});
      const status = await new Promise<number>((resolve) => {
        wsRefused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        wsRefused.on('open', () => resolve(101));
      });
      assert.equal(status, 429);
      // A stream that ends gives its slot back.
      a.destroy();
      await waitFor(
        async () => {
          const r = await RawStream.sse(s.url, { id: 1, connect: {} });
          streams.push(r);
          return r.status === 200;
        },
        5000,
        'a slot freed',
      );
      ws.close();
      await once(ws.ws, 'close');
    } finally {
      closeStreams();
      await s.close();
    }
  });
});
