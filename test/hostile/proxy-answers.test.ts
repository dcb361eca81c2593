/**
 * Proxy answers are bounded and redirects are not followed. A connect proxy that answered 300 MiB took the
 * process from 80 to 772 MiB (the whole answer was read, then parsed); after a redirect, the redirect's target
 * decided who the user was. Now an answer past `max_response_size` is not read further and fails the hook, and a
 * redirect fails it with a log line that says which endpoint to fix.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { RawClient } from '../helpers/clients.js';
import { type LoggedServer, startLoggedServer } from './capture-log.js';

const MiB = 1024 * 1024;
const HUGE = 300 * MiB;

type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** Streams `total` bytes of a JSON answer that never ends in time, honouring backpressure; counts what it sent. */
function streamHuge(total: number, declare: boolean, sent: { bytes: number; closed: boolean }): Route {
  return (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', ...(declare ? { 'content-length': String(total) } : {}) });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    res.write('{"result":{"user":"huge","data":"');
    res.on('close', () => {
      sent.closed = true;
    });
    const pump = () => {
      while (!res.destroyed && sent.bytes < total) {
        sent.bytes += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end('"}}');
    };
    pump();
  };
}

describe('proxy answers', () => {
  let backend: Server;
  let base = '';
  let s: LoggedServer;
  let connect: Route = (_req, res) => res.end('{"result":{"user":"u"}}');
  const calls: string[] = [];

  before(async () => {
    backend = createServer((req, res) => {
      calls.push(req.url ?? '');
      if (req.url === '/connect') connect(req, res);
      else if (req.url === '/elsewhere') {
        req.resume();
        res.end('{"result":{"user":"chosen-by-the-redirect"}}');
      } else {
        req.resume();
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    s = await startLoggedServer({
      // A long timeout: the limit, not the clock, must stop a huge answer.
      client: { proxy: { connect: { enabled: true, endpoint: `${base}/connect`, timeout: '20s' } } },
    });
  });
  after(async () => {
    await s?.close();
    backend?.closeAllConnections();
    await new Promise<void>((r) => backend?.close(() => r()));
  });

  async function connectReply(): Promise<Record<string, unknown>> {
    const c = await RawClient.open(s.wsUrl);
    try {
      return await c.connect({}, 15_000);
    } finally {
      c.close();
    }
  }

  function proxyErrors(): string[] {
    return s.log.lines.filter((l) => l.msg === 'proxy request failed').map((l) => String(l.obj.err));
  }

  test('a 300 MiB streamed answer is cut at max_response_size; memory does not follow it', async () => {
    const sent = { bytes: 0, closed: false };
    connect = streamHuge(HUGE, false, sent);
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 20);
    const reply = await connectReply();
    clearInterval(sampler);
    assert.equal((reply.error as { code: number } | undefined)?.code, 100, `connect refused: ${JSON.stringify(reply)}`);
    assert.ok(sent.closed, 'the backend connection was closed');
    assert.ok(sent.bytes < 32 * MiB, `the backend could send only ${(sent.bytes / MiB).toFixed(1)} MiB`);
    assert.ok(rssPeak - rssBefore < 100 * MiB, `RSS grew by ${((rssPeak - rssBefore) / MiB).toFixed(0)} MiB`);
    assert.match(proxyErrors().at(-1) ?? '', /over client\.proxy\.connect\.max_response_size \(4194304\)/);
  });

  test('an answer declaring a size over the limit is refused unread', async () => {
    const sent = { bytes: 0, closed: false };
    connect = streamHuge(HUGE, true, sent);
    const reply = await connectReply();
    assert.equal((reply.error as { code: number } | undefined)?.code, 100);
    assert.ok(sent.bytes < 32 * MiB, `the backend could send only ${(sent.bytes / MiB).toFixed(1)} MiB`);
    assert.match(
      proxyErrors().at(-1) ?? '',
      /answer of 314572800 bytes, over client\.proxy\.connect\.max_response_size/,
    );
  });

  test('a redirect is not followed: the hook fails and the log says which endpoint to fix', async () => {
    calls.length = 0;
    connect = (req, res) => {
      req.resume();
      res.writeHead(302, { location: `${base}/elsewhere` }).end();
    };
    const reply = await connectReply();
    assert.equal((reply.error as { code: number } | undefined)?.code, 100, `not connected: ${JSON.stringify(reply)}`);
    assert.deepEqual(calls, ['/connect'], 'the redirect target was never asked');
    assert.match(
      proxyErrors().at(-1) ?? '',
      /answered a redirect \(HTTP 302 to http:\/\/127\.0\.0\.1:\d+\/elsewhere\).*set client\.proxy\.connect\.endpoint/,
    );
  });

  test('an ordinary answer still connects', async () => {
    connect = (req, res) => {
      req.resume();
      res.end('{"result":{"user":"u"}}');
    };
    const reply = await connectReply();
    assert.equal((reply.connect as { client?: string } | undefined)?.client !== undefined, true, JSON.stringify(reply));
  });
});
