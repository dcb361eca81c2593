/**
 * Every HTTP request gets an answer, whatever goes wrong behind the route. The admin API once left a request
 * unanswered when a route failed after reading the body (e.g. `publish` with data nested 6,000 deep: the client
 * waited forever); a synchronous failure in a route could escape Node's request dispatch and end the process.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startServerProcess } from '../fuzz/live/server-process.js';
import { RawClient, waitFor } from '../helpers/clients.js';
import { openChannels } from '../helpers/server.js';
import { type LoggedServer, startLoggedServer } from './capture-log.js';

function nested(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

async function request(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: r.status, body };
}

describe('every request gets an answer', () => {
  let s: LoggedServer;
  before(async () => {
    s = await startLoggedServer({
      client: { allow_anonymous_connect_without_token: true },
      channel: { without_namespace: openChannels() },
      http_api: { key: 'k' },
      admin: { enabled: true, insecure: true },
      prometheus: { enabled: true },
    });
  });
  after(async () => {
    await s?.close();
  });

  test('admin publish with data nested 6,000 deep is published as sent', async () => {
    const c = await RawClient.open(s.wsUrl);
    await c.connect();
    c.send({ id: 2, subscribe: { channel: 'deep' } });
    await c.reply(2);
    const data = nested(6000);
    const r = await request(`${s.url}/admin/api/publish`, {
      method: 'POST',
      body: `{"channel":"deep","data":${data}}`,
    });
    assert.equal(r.status, 200, `answered: ${JSON.stringify(r.body)}`);
    await waitFor(() => c.frames.some((f) => f.includes(data)), 5000, 'the publication, byte for byte');
    c.close();
  });

  test('an admin route that fails after reading its body answers 500', async () => {
    const ops = s.server.node.ops;
    const isOnline = ops.isOnline;
    ops.isOnline = async () => {
      throw new Error('injected failure');
    };
    try {
      const r = await request(`${s.url}/admin/api/disconnect`, { method: 'POST', body: '{"user":"u"}' });
      assert.equal(r.status, 500);
      assert.equal((r.body as { error: { code: number } }).error.code, 100);
      assert.ok(
        s.log.lines.some((l) => l.level === 'error' && /admin API request failed/.test(l.msg)),
        'the failure is logged',
      );
    } finally {
      ops.isOnline = isOnline;
    }
  });

  test('an admin body over the limit is answered 413, not reset', async () => {
    const r = await request(`${s.url}/admin/api/publish`, {
      method: 'POST',
      body: new ReadableStream({
        start(ctl) {
          ctl.enqueue(new TextEncoder().encode(`{"channel":"x","data":"${'a'.repeat(100_000)}"}`));
          ctl.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(r.status, 413, 'a chunked body past 64 KiB');
  });

  test('a route that throws synchronously answers 500 and the process keeps serving', async () => {
    const engine = s.server.node.engine;
    const ready = engine.ready;
    engine.ready = () => {
      throw new Error('injected failure');
    };
    try {
      const r = await request(`${s.url}/health`);
      assert.equal(r.status, 500);
    } finally {
      engine.ready = ready;
    }
    assert.equal((await request(`${s.url}/health`)).status, 200, 'still serving');
  });

  test('metrics that fail to collect answer 500', async () => {
    const hub = s.server.node.hub;
    const original = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(hub), 'numChannels');
    Object.defineProperty(hub, 'numChannels', {
      configurable: true,
      get() {
        throw new Error('injected failure');
      },
    });
    try {
      const r = await request(`${s.url}/metrics`);
      assert.equal(r.status, 500);
    } finally {
      delete (hub as unknown as Record<string, unknown>).numChannels;
    }
    assert.ok(original !== undefined, 'numChannels is a getter of the hub');
    assert.equal((await request(`${s.url}/metrics`)).status, 200, 'metrics recover');
  });

  test('the server API answers a failing command with error 100', async () => {
    const ops = s.server.node.ops;
    const publish = ops.publish;
    ops.publish = async () => {
      throw new Error('injected failure');
    };
    try {
      const r = await request(`${s.url}/api/publish`, {
        method: 'POST',
        headers: { 'x-api-key': 'k' },
        body: '{"channel":"x","data":1}',
      });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { error: { code: 100, message: 'internal server error' } });
    } finally {
      ops.publish = publish;
    }
  });
});

/** Writes a raw request; the status line of the answer ('' when none came before the connection ended). */
function answerHead(port: number, request: string): Promise<string> {
  return new Promise<string>((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1').split('\r\n')[0] ?? ''));
    socket.once('connect', () => socket.write(request));
    setTimeout(() => socket.destroy(), 5000).unref();
  });
}

describe('an oversized body', () => {
  test('a body announced over the limit is answered 413 every time, a big body with a wrong key 401, not lost to a reset', async () => {
    // The server in a process of its own answers while the client is still sending, as a remote one would. Answered
    // before the body was read, the 413 was lost about two times in three: the socket closed with the body unread
    // in its buffer, which sends a reset, and the client's kernel dropped the answer it had not read.
    const body = `{"channel":"x","data":"${'z'.repeat(4 * 1024 * 1024)}"}`;
    const req = `POST /api/publish HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: k\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const server = await startServerProcess({ http_api: { key: 'k' } });
    const heads: string[] = [];
    for (let i = 0; i < 10; i++) heads.push(await answerHead(server.port, req));
    // Refused before reading the body at all: a wrong key (401), another verb than POST (405).
    const small = `{"channel":"x","data":"${'z'.repeat(4 * 1024 * 1024 - 200)}"}`;
    const refused: string[] = [];
    for (let i = 0; i < 10; i++) {
      const verb = i % 2 === 0 ? 'POST' : 'PUT';
      refused.push(
        await answerHead(
          server.port,
          `${verb} /api/publish HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: wrong\r\nContent-Length: ${small.length}\r\n\r\n${small}`,
        ),
      );
    }
    await server.close();
    assert.deepEqual(heads, Array(10).fill('HTTP/1.1 413 Payload Too Large'));
    assert.deepEqual(
      refused,
      Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0 ? 'HTTP/1.1 401 Unauthorized' : 'HTTP/1.1 405 Method Not Allowed',
      ),
    );
  });
});
