/**
 * A peer that resets its TCP connection at any stage of an HTTP request or upgrade must never take the process
 * down (issue: an upgrade Chorus refused, then a reset, raised an unhandled write ECONNRESET). Each case runs many
 * times against one server; an unhandled 'error' would end this test process, so the final "still serving"
 * checks only pass if every reset was handled.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { RawClient, sleep } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const UPGRADE_HEADERS =
  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

/** Opens a connection, writes `request`, then resets (RST) either at once or after `delayMs`. */
function resetAfter(port: number, request: string, delayMs = 0): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(request);
      const reset = () => {
        s.resetAndDestroy();
        resolve();
      };
      if (delayMs === 0) reset();
      else setTimeout(reset, delayMs);
    });
    s.on('error', () => resolve());
  });
}

async function storm(port: number, request: string, n = 40): Promise<void> {
  const runs: Promise<void>[] = [];
  for (let i = 0; i < n; i++) runs.push(resetAfter(port, request, i % 3 === 0 ? 0 : i % 7));
  await Promise.all(runs);
  await sleep(50);
}

async function stillServing(s: TestServer): Promise<void> {
  const health = await fetch(`${s.url}/health`);
  assert.equal(health.status, 200, 'health answers after the resets');
  const c = await RawClient.open(s.wsUrl);
  const reply = await c.connect();
  assert.ok(reply.connect, 'a WebSocket client still connects');
  c.close();
}

describe('connection resets at every stage', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      client: { allow_anonymous_connect_without_token: true, allowed_origins: ['http://good.example'] },
      channel: { without_namespace: openChannels() },
      http_api: { key: 'k', max_body_size: 64 * 1024 },
      admin: { enabled: true, insecure: true },
      prometheus: { enabled: true },
      http_server: { headers_timeout: '300ms', request_timeout: '600ms' },
    });
  });
  after(async () => {
    await s?.close();
  });

  test('mid-headers', async () => {
    await storm(s.port, 'GET /connection/websocket HTTP/1.1\r\nHost: x\r\nUpgr');
    await stillServing(s);
  });

  test('after an upgrade refused for its path (404)', async () => {
    await storm(s.port, `GET /nowhere HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEADERS}\r\n`);
    await stillServing(s);
  });

  test('after an upgrade refused for its origin (403)', async () => {
    await storm(
      s.port,
      `GET /connection/websocket HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n${UPGRADE_HEADERS}\r\n`,
    );
    await stillServing(s);
  });

  test('after a malformed request (400)', async () => {
    await storm(s.port, 'GARBAGE\r\n\r\n');
    await stillServing(s);
  });

  test('in the middle of an accepted upgrade', async () => {
    await storm(s.port, `GET /connection/websocket HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEADERS}\r\n`);
    await stillServing(s);
  });

  test('on the server API, mid-body and after the request', async () => {
    const body = '{"channel":"x","data":{"a":1}}';
    await storm(
      s.port,
      `POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    );
    await storm(
      s.port,
      `POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await stillServing(s);
  });

  test('while a large batch is being run, slice by slice', async () => {
    const cmds = Array.from({ length: 2000 }, (_, i) => `{"publish":{"channel":"r${i % 10}","data":${i}}}`);
    const body = `{"commands":[${cmds.join(',')}]}`;
    await storm(
      s.port,
      `POST /api/batch HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      10,
    );
    await stillServing(s);
  });

  test('while a 413 is being answered', async () => {
    const head = 'POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nTransfer-Encoding: chunked\r\n\r\n';
    const chunk = 'x'.repeat(70 * 1024);
    await storm(s.port, `${head}${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    await storm(s.port, 'POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nContent-Length: 99999999\r\n\r\n');
    await stillServing(s);
  });

  test('on the admin API, mid-body and after the request', async () => {
    const body = '{"channel":"x","data":{"a":1}}';
    const head = `POST /admin/api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`;
    await storm(s.port, `${head}${body.slice(0, 10)}`);
    await storm(s.port, `${head}${body}`);
    await storm(s.port, 'GET /admin/api/state HTTP/1.1\r\nHost: x\r\n\r\n');
    await stillServing(s);
  });

  test('on metrics and malformed URLs', async () => {
    await storm(s.port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    await storm(s.port, 'GET /assets/%zz HTTP/1.1\r\nHost: x\r\n\r\n');
    await stillServing(s);
  });

  test('while a slow request is timed out (408)', async () => {
    const runs: Promise<void>[] = [];
    for (let i = 0; i < 20; i++)
      runs.push(resetAfter(s.port, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: a', 250 + i * 10));
    await Promise.all(runs);
    await stillServing(s);
  });

  test('on static pages and health', async () => {
    await storm(s.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await storm(s.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await stillServing(s);
  });
});

describe('connection resets during shutdown', () => {
  test('an upgrade refused with 503 while the server stops', async () => {
    const s = await startServer({ client: { allow_anonymous_connect_without_token: true } });
    const held = await RawClient.open(s.wsUrl);
    await held.connect();
    const closing = s.close();
    await storm(s.port, `GET /connection/websocket HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEADERS}\r\n`, 20);
    await closing;
    assert.equal(await held.waitClose(), 3001, 'the held client was told to reconnect elsewhere');
  });
});
