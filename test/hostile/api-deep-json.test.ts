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
  s = await startServer({
    channel: { without_namespace: openChannels({ history_size: 10, history_ttl: '60s' }) },
    http_api: { key: 'k' },
  });
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

  test('the legacy endpoint is held to the same depth', async () => {
    const legacy = await post('/api', `{"method":"publish","params":{"channel":"c","data":${nested(20_000)}}}`);
    assert.equal((legacy.reply.error as { code?: number }).code, 107, `legacy: ${JSON.stringify(legacy.reply)}`);
  });

  test('a base64 payload nested a million deep is opaque bytes: JSON answers carry it as base64, promptly', async () => {
    // b64data is any bytes (Protobuf clients get them as they are). Shown to a JSON reader, bytes that are JSON
    // text are embedded as they are; these are too deep to try parsing, so they go out as a base64 string.
    const bytes = Buffer.from(nested(1_000_000));
    const r = await post('/api/publish', `{"channel":"deep-b64","b64data":"${bytes.toString('base64')}"}`);
    assert.equal(r.reply.error, undefined, `published: ${JSON.stringify(r.reply).slice(0, 200)}`);
    const monitor = new LoopMonitor();
    monitor.start();
    const history = await post('/api/history', '{"channel":"deep-b64","limit":1}');
    monitor.stop();
    const pubs = (history.reply.result as { publications: { data: unknown }[] }).publications;
    assert.equal(pubs[0]?.data, bytes.toString('base64'), 'a JSON answer holds the bytes as a base64 string');
    const held = monitor.worst().ms;
    assert.ok(held < 100, `the event loop was held ${Math.round(held)} ms`);
  });

  test('10,000 levels are still accepted, and brackets inside strings do not count', async () => {
    const deep = await post('/api/publish', `{"channel":"c","data":${nested(9_990)}}`);
    assert.ok(deep.reply.result !== undefined && deep.reply.error === undefined, 'a body 10,000 deep is published');
    const text = await post('/api/publish', `{"channel":"c","data":"${'['.repeat(50_000)}"}`);
    assert.ok(text.reply.result !== undefined && text.reply.error === undefined, 'brackets in a string are text');
  });
});
