/**
 * Slowloris: TCP connections that never send a complete request head used to stay open for minutes (> 130 s),
 * each holding a file descriptor. `http_server.headers_timeout` (10 s) closes them, checked every second;
 * `http_server.request_timeout` bounds a whole request. Neither may cut what is slow for good reasons: an
 * upgraded WebSocket connection, an API body arriving at a normal pace, a response that streams for long.
 * The limits are shortened here so that the test runs in seconds; the defaults are checked separately.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { httpServerOptions } from '../../src/server.js';
import { RawClient, sleep } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const HEADERS_MS = 1000;
const REQUEST_MS = 3000;
/** The limit, plus the check interval, plus slack for a busy machine. */
const CLOSED_WITHIN_MS = HEADERS_MS + 1500;

/** Opens a connection and resolves, once it is closed by the server, with how long it lived and what it got. */
function slowConnection(port: number, behave: (s: net.Socket) => void): Promise<{ ms: number; got: string }> {
  return new Promise((resolve) => {
    const start = performance.now();
    let got = '';
    const s = net.connect(port, '127.0.0.1', () => behave(s));
    s.setEncoding('utf8');
    s.on('data', (d) => {
      got += d;
    });
    s.on('error', () => {});
    s.on('close', () => resolve({ ms: performance.now() - start, got }));
    // Give up after a while so that a failing test ends.
    setTimeout(() => s.destroy(), 10_000).unref();
  });
}

describe('slow connections', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      client: { allow_anonymous_connect_without_token: true, ping_interval: '0s' },
      channel: { without_namespace: openChannels() },
      http_api: { key: 'k' },
      http_server: { headers_timeout: `${HEADERS_MS}ms`, request_timeout: `${REQUEST_MS}ms` },
    });
  });
  after(async () => {
    await s?.close();
  });

  test('a connection that sends nothing is closed within the bound', async () => {
    const r = await slowConnection(s.port, () => {});
    assert.ok(r.ms < CLOSED_WITHIN_MS, `closed after ${r.ms.toFixed(0)} ms`);
  });

  test('a connection that trickles a header byte every 200 ms is closed within the bound', async () => {
    const head = `GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(1000)}`;
    let timer: NodeJS.Timeout | undefined;
    const r = await slowConnection(s.port, (sock) => {
      let i = 0;
      timer = setInterval(() => sock.write(head[i++] ?? 'a'), 200);
    });
    clearInterval(timer);
    assert.ok(r.ms < CLOSED_WITHIN_MS, `closed after ${r.ms.toFixed(0)} ms`);
    assert.match(r.got, /^HTTP\/1\.1 408/, 'told why');
  });

  test('an upgraded WebSocket connection idle for longer than both limits stays open', async () => {
    const c = await RawClient.open(s.wsUrl);
    await c.connect();
    await sleep(REQUEST_MS + 1000);
    c.send({ id: 2, subscribe: { channel: 'still-here' } });
    assert.deepEqual((await c.reply(2)).subscribe, {}, 'the connection still works');
    assert.equal(c.closeCode, undefined);
    c.close();
  });

  test('an API body arriving at a steady pace, for longer than the header limit, is served', async () => {
    const body = JSON.stringify({ channel: 'x', data: { text: 'y'.repeat(2000) } });
    const r = await slowConnection(s.port, (sock) => {
      sock.write(
        `POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      // 20 pieces over 2 s: the whole request takes longer than headers_timeout, less than request_timeout.
      const step = Math.ceil(body.length / 20);
      let at = 0;
      const t = setInterval(() => {
        sock.write(body.slice(at, at + step));
        at += step;
        if (at >= body.length) clearInterval(t);
      }, 100);
    });
    assert.ok(r.ms > HEADERS_MS, `the request lasted ${r.ms.toFixed(0)} ms`);
    assert.match(r.got, /^HTTP\/1\.1 200/, r.got.slice(0, 100));
    assert.match(r.got, /\{"result":\{\}\}$/);
  });

  test('a request whose body outlasts request_timeout is closed', async () => {
    const r = await slowConnection(s.port, (sock) => {
      sock.write('POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nContent-Length: 1000\r\n\r\n{');
    });
    assert.ok(r.ms < REQUEST_MS + 1500, `closed after ${r.ms.toFixed(0)} ms`);
  });
});

describe('slow responses', () => {
  let server: Server;
  let port = 0;
  before(async () => {
    // A server with Chorus's options (short limits) streaming one line every 250 ms for longer than both.
    const { config } = loadConfig({
      base: { http_server: { headers_timeout: `${HEADERS_MS}ms`, request_timeout: `${REQUEST_MS}ms` } },
    });
    server = createServer(httpServerOptions(config), (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const t = setInterval(() => {
        res.write(`line ${n}\n`);
        if (++n === 16) {
          clearInterval(t);
          res.end();
        }
      }, 250);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => {
    server?.closeAllConnections();
    server?.close();
  });

  test('a response that streams for longer than both limits is not cut', async () => {
    const start = performance.now();
    const text = await (await fetch(`http://127.0.0.1:${port}/stream`)).text();
    assert.ok(performance.now() - start > REQUEST_MS, 'it streamed past request_timeout');
    assert.equal(text.split('\n').filter(Boolean).length, 16, 'every line arrived');
  });
});

describe('slow-client defaults', () => {
  test('10 s for a request head, 60 s for a whole request, checked every second', () => {
    const { config } = loadConfig({});
    assert.deepEqual(httpServerOptions(config), {
      headersTimeout: 10_000,
      requestTimeout: 60_000,
      connectionsCheckingInterval: 1000,
    });
  });

  test('the server uses them', async () => {
    const s = await startServer({});
    try {
      assert.equal(s.server.http.headersTimeout, 10_000);
      assert.equal(s.server.http.requestTimeout, 60_000);
    } finally {
      await s.close();
    }
  });

  test('a headers_timeout longer than request_timeout is refused at start, naming both keys', () => {
    assert.throws(
      () => loadConfig({ base: { http_server: { headers_timeout: '2m', request_timeout: '1m' } } }),
      /http_server\.headers_timeout must not be longer than http_server\.request_timeout/,
    );
  });
});
