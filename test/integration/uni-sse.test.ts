/**
 * uni_sse specifics: the connect request in `cf_connect` (GET, what `EventSource` can send) or as a POST body,
 * none at all (an empty request), the event-stream framing, the checks before a session exists, and
 * `connect_code_to_http_response`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hsToken } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connected, disconnected, openUni, uniConfig } from '../helpers/uni.js';

describe('uni_sse', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(uniConfig({ uni_sse: { enabled: true, max_request_body_size: 512 } }));
  });
  after(() => s.close());
  const endpoint = () => `${s.url}/connection/uni_sse`;

  test('GET with cf_connect: an event stream of `data:` events, one push each', async () => {
    const c = await openUni('uni_sse', s.url, { token: await hsToken({ sub: 'eve' }), subs: { news: {} } });
    const result = await connected(c);
    assert.equal(c.status, 200);
    assert.equal(c.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(c.headers['x-accel-buffering'], 'no');
    assert.match(c.raw(), /^data: \{"connect":\{.*\}\}\n\n$/);
    assert.equal(s.server.node.clients.get(String(result.client))?.user, 'eve');
    c.close();
  });

  test('GET without cf_connect is an empty connect request (anonymous where allowed)', async () => {
    const res = await fetch(endpoint());
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /^data: \{"connect":\{"client":/);
    await reader.cancel();
  });

  test('POST with the connect request as the body works too (clients that are not browsers)', async () => {
    const c = await openUni('uni_sse', s.url, { token: await hsToken({ sub: 'frank' }) }, { alternate: true });
    const result = await connected(c);
    assert.equal(s.server.node.clients.get(String(result.client))?.user, 'frank');
    c.close();
  });

  test('a cf_connect that is not a connect request is 400; a POST body over max_request_body_size is 413', async () => {
    const bad = await fetch(`${endpoint()}?cf_connect=${encodeURIComponent('{"token":1}')}`);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /token must be a string/);
    const notJson = await fetch(`${endpoint()}?cf_connect=hello`);
    assert.equal(notJson.status, 400);
    const big = await fetch(endpoint(), { method: 'POST', body: JSON.stringify({ token: 'x'.repeat(600) }) });
    assert.equal(big.status, 413);
  });

  test('other methods are 405 with Allow', async () => {
    const res = await fetch(endpoint(), { method: 'PUT', body: '{}' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, POST, OPTIONS');
  });

  test('a refused connect is a disconnect event, then the stream ends', async () => {
    const c = await openUni('uni_sse', s.url, { token: 'not-a-jwt' });
    assert.equal(c.status, 200);
    assert.deepEqual(await disconnected(c), { code: 3500, reason: 'invalid token' });
    await c.ended;
  });
});

describe('uni_sse: connect_code_to_http_response', () => {
  test('maps a refused connect to the configured status, so EventSource fails instead of reconnecting', async () => {
    const s = await startServer(
      uniConfig({
        client: { allow_anonymous_connect_without_token: false },
        uni_sse: {
          enabled: true,
          connect_code_to_http_response: {
            enabled: true,
            transforms: [{ code: 3501, to: { status_code: 401, body: 'log in first' } }],
          },
        },
      }),
    );
    try {
      const res = await fetch(`${s.url}/connection/uni_sse`);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(await res.text(), 'log in first');
    } finally {
      await s.close();
    }
  });
});
