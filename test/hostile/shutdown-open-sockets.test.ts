/**
 * Graceful shutdown must finish even while peers hold TCP connections that never complete a request: a browser's
 * preconnected socket, a scanner that sends half a request line, a keep-alive connection left open. Node stops
 * enforcing headers_timeout once the server is closing and closeIdleConnections() does not drop a connection
 * that has not sent a request yet, so without an explicit cut these kept close() waiting forever.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { startServer } from '../helpers/server.js';

/** Opens a raw socket, writes `request` (if any) and resolves once it is connected; it is never ended by us. */
function holdOpen(port: number, request = ''): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      if (request !== '') s.write(request);
      resolve(s);
    });
    s.on('error', reject);
  });
}

function closedBy(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}

test('close() finishes while sockets with no request, a half-sent request and an idle keep-alive are open', async () => {
  const s = await startServer({});
  const silent = await holdOpen(s.port);
  const halfSent = await holdOpen(s.port, 'GET /health HTTP/1.1\r\nHost: x\r\n');
  const keptAlive = await holdOpen(s.port, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
  await new Promise<void>((r) => keptAlive.once('data', () => r()));

  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    s.close().then(() => 'closed'),
    new Promise((r) => {
      timer = setTimeout(() => r('still waiting'), 10_000);
    }),
  ]);
  clearTimeout(timer);
  assert.equal(outcome, 'closed', 'close() must not wait on connections that never send a request');
  assert.ok(Date.now() - started < 8_000, `close() took ${Date.now() - started} ms`);
  await Promise.all([closedBy(silent), closedBy(halfSent), closedBy(keptAlive)]);
});
