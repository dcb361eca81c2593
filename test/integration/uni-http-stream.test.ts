/**
 * uni_http_stream specifics: POST only, the response headers that keep proxies from buffering, the request
 * checks before a session exists (method, origin, body size, malformed request, connection limits), the
 * `connect_code_to_http_response` option, and a reader too slow for its queue.
 */
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { hsToken, waitFor } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { apiPublish, connected, disconnected, openUni, uniConfig } from '../helpers/uni.js';

describe('uni_http_stream: requests', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(
      uniConfig({
        client: { allowed_origins: ['https://app.example'] },
        uni_http_stream: { enabled: true, max_request_body_size: 1024 },
      }),
    );
  });
  after(() => s.close());
  const endpoint = () => `${s.url}/connection/uni_http_stream`;

  test('the stream is newline-delimited JSON with headers that defeat caches and proxy buffering', async () => {
    const c = await openUni('uni_http_stream', s.url, {});
    await connected(c);
    assert.equal(c.status, 200);
    assert.equal(c.headers['content-type'], 'application/x-ndjson');
    assert.equal(c.headers['x-accel-buffering'], 'no');
    assert.match(String(c.headers['cache-control']), /no-store/);
    assert.equal(c.headers['transfer-encoding'], 'chunked');
    assert.match(c.raw(), /^\{"connect":\{.*\}\}\n$/);
    c.close();
  });

  test('only POST: GET is 405 with Allow; OPTIONS answers a CORS preflight', async () => {
    const get = await fetch(endpoint());
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST, OPTIONS');
    const pre = await fetch(endpoint(), {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(pre.headers.get('access-control-allow-headers'), 'content-type');
    assert.equal(pre.headers.get('access-control-allow-methods'), 'POST, OPTIONS');
  });

  test('a page of an allowed origin may read the stream; another origin is refused with 403 and no session', async () => {
    const ok = await openUni('uni_http_stream', s.url, {}, { headers: { origin: 'https://app.example' } });
    await connected(ok);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    ok.close();
    await waitFor(() => s.server.node.sessions.size === 0, 2000, 'the stream to end');
    const foreign = await fetch(endpoint(), {
      method: 'POST',
      body: '{}',
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(foreign.status, 403);
    assert.match(await foreign.text(), /client\.allowed_origins/);
    assert.equal(s.server.node.sessions.size, 0, 'no session was created');
  });

  test('a body over max_request_body_size is 413; malformed JSON or a wrong field type is 400 saying why', async () => {
    const big = await fetch(endpoint(), { method: 'POST', body: JSON.stringify({ token: 'x'.repeat(2000) }) });
    assert.equal(big.status, 413);
    const broken = await fetch(endpoint(), { method: 'POST', body: '{"token":' });
    assert.equal(broken.status, 400);
    assert.match(await broken.text(), /invalid connect request: connect request is not valid JSON/);
    const wrong = await fetch(endpoint(), { method: 'POST', body: '{"subs":[]}' });
    assert.equal(wrong.status, 400);
    assert.match(await wrong.text(), /subs must be an object/);
  });

  test('pretty-printed JSON published through the API still arrives as one line', async () => {
    const c = await openUni('uni_http_stream', s.url, { subs: { pretty: {} } });
    await connected(c);
    const res = await fetch(`${s.url}/api/publish`, {
      method: 'POST',
      body: '{"channel":"pretty","data":{\n  "a": 1,\r\n  "b": [2]\n}}',
    });
    assert.equal(res.status, 200);
    const pub = await c.next('the publication', (p) => p.pub !== undefined);
    assert.deepEqual((pub.pub as { data: unknown }).data, { a: 1, b: [2] });
    c.close();
  });
});

describe('uni_http_stream: connect_code_to_http_response', () => {
  test('enabled: a refused connect is the transform’s status and body (its message when empty), else 500', async () => {
    const s = await startServer(
      uniConfig({
        client: { disallow_anonymous_connection_tokens: true },
        uni_http_stream: {
          enabled: true,
          connect_code_to_http_response: {
            enabled: true,
            transforms: [
              { code: 3500, to: { status_code: 401, body: '' } },
              { code: 109, to: { status_code: 403, body: 'token expired: log in again' } },
            ],
          },
        },
      }),
    );
    try {
      const url = `${s.url}/connection/uni_http_stream`;
      const forged = await hsToken({ sub: 'x' }, 'another-secret-which-is-long-enough-!!');
      const invalid = await fetch(url, { method: 'POST', body: JSON.stringify({ token: forged }) });
      assert.equal(invalid.status, 401);
      assert.equal(await invalid.text(), 'invalid token');
      const expired = await fetch(url, {
        method: 'POST',
        body: JSON.stringify({ token: await hsToken({ sub: 'x', exp: 1 }) }),
      });
      assert.equal(expired.status, 403);
      assert.equal(await expired.text(), 'token expired: log in again');
      const anonymous = await fetch(url, { method: 'POST', body: JSON.stringify({ token: await hsToken({}) }) });
      assert.equal(anonymous.status, 500, 'a refusal no transform names (3507)');
      assert.equal(await anonymous.text(), 'Internal Server Error');
      await waitFor(() => s.server.node.sessions.size === 0, 2000, 'refused sessions to be gone');
    } finally {
      await s.close();
    }
  });

  test('disabled (the default): the refusal is a disconnect push in a 200 stream', async () => {
    const s = await startServer(uniConfig());
    try {
      const c = await openUni('uni_http_stream', s.url, { token: await hsToken({ sub: 'x', exp: 1 }) });
      assert.equal(c.status, 200);
      assert.deepEqual(await disconnected(c), { code: 3005, reason: 'connection expired' });
      await c.ended;
    } finally {
      await s.close();
    }
  });
});

describe('uni_http_stream: limits', () => {
  test('client.address_connection_limit refuses one stream too many with 429 and Retry-After', async () => {
    const s = await startServer(uniConfig({ client: { address_connection_limit: 2 } }));
    try {
      const a = await openUni('uni_http_stream', s.url, {});
      const b = await openUni('uni_http_stream', s.url, {});
      await connected(a);
      await connected(b);
      const third = await fetch(`${s.url}/connection/uni_http_stream`, { method: 'POST', body: '{}' });
      assert.equal(third.status, 429);
      assert.ok(third.headers.get('retry-after'), 'Retry-After');
      a.close();
      await waitFor(() => s.server.node.sessions.size === 1, 2000, 'the closed stream to free its place');
      const again = await openUni('uni_http_stream', s.url, {});
      await connected(again);
      again.close();
      b.close();
    } finally {
      await s.close();
    }
  });

  test('a reader that stops reading is closed once its queue passes client.queue_max_size (3008)', async () => {
    const codes: number[] = [];
    const s = await startServer(uniConfig({ client: { queue_max_size: 256 * 1024 } }), {
      hooks: { onDisconnect: (_ctx, d) => void codes.push(d.code) },
    });
    try {
      // A raw connection that sends its request and then never reads: the kernel buffers fill, then the queue.
      const sock = tcpConnect(s.port, '127.0.0.1');
      const body = JSON.stringify({ subs: { firehose: {} } });
      sock.write(
        `POST /connection/uni_http_stream HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      sock.pause();
      await waitFor(() => s.server.node.clients.size === 1, 3000, 'the stream to connect');
      const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
      const chunk = 'x'.repeat(60_000);
      for (let i = 0; i < 200 && s.server.node.clients.size > 0; i++) await apiPublish(s.url, 'firehose', { chunk });
      await waitFor(() => s.server.node.clients.size === 0, 5000, 'the slow reader to be closed');
      await waitFor(() => codes.length === 1, 2000, 'the disconnect hook');
      assert.deepEqual(codes, [3008]);
      sock.resume();
      sock.on('data', () => {});
      await closed;
      const other = await openUni('uni_http_stream', s.url, {});
      await connected(other);
      other.close();
    } finally {
      await s.close();
    }
  });
});
