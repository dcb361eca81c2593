/**
 * V8's JSON.parse slows down faster than linearly with nesting depth: a 2 MB server API body of a million nested
 * arrays held the event loop for about 1.5 s (every client's pings and deliveries waited). The API refuses bodies
 * nested deeper than Go's encoding/json allows (10,000 levels, so Centrifugo refuses them too) with error 107,
 * after a linear scan, before parsing anything.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LoopMonitor } from '../fuzz/live/checks.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
before(async () => {
  s = await startServer({ channel: { without_namespace: openChannels() }, http_api: { key: 'k' } });
});
after(async () => {
  await s?.close();
});

async function post(path: string, body: string): Promise<{ status: number; reply: Record<string, unknown> }> {
  const res = await fetch(`${s.url}${path}`, { method: 'POST', headers: { 'x-api-key': 'k' }, body });
  const text = await res.text();
  return { status: res.status, reply: JSON.parse(text.split('\n')[0] as string) };
}

const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

describe('server API bodies nested too deep', () => {
  test('a million-deep body is refused with 107 without holding the event loop', async () => {
    const monitor = new LoopMonitor();
    monitor.start();
    const { status, reply } = await post('/api/publish', `{"channel":"c","data":${nested(1_000_000)}}`);
    monitor.stop();
    assert.equal(status, 400, `refused as a bad request: ${JSON.stringify(reply)}`);
    assert.equal((reply.error as { code?: number }).code, 107, 'error 107');
    assert.match(String((reply.error as { message?: string }).message), /nest/, 'the message says why');
    const held = monitor.worst().ms;
    assert.ok(held < 100, `the event loop was held ${Math.round(held)} ms`);
  });

  test('the legacy endpoint and base64 payloads are held to the same depth', async () => {
    const legacy = await post('/api', `{"method":"publish","params":{"channel":"c","data":${nested(20_000)}}}`);
    assert.equal((legacy.reply.error as { code?: number }).code, 107, `legacy: ${JSON.stringify(legacy.reply)}`);
    const b64 = Buffer.from(nested(20_000)).toString('base64');
    const r = await post('/api/publish', `{"channel":"c","b64data":"${b64}"}`);
    assert.equal((r.reply.error as { code?: number }).code, 107, `b64data: ${JSON.stringify(r.reply)}`);
  });

  test('10,000 levels are still accepted, and brackets inside strings do not count', async () => {
    const deep = await post('/api/publish', `{"channel":"c","data":${nested(9_990)}}`);
    assert.deepEqual(deep.reply, { result: {} }, 'a body 10,000 deep is published');
    const text = await post('/api/publish', `{"channel":"c","data":"${'['.repeat(50_000)}"}`);
    assert.deepEqual(text.reply, { result: {} }, 'brackets in a string are text');
  });
});
