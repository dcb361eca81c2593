/**
 * A client that resets its connection while its request body is being read (an aborted upload) has gone away:
 * nothing failed in the server. The stream and emulation endpoints used to treat it as an unexpected failure —
 * logged at error level ("request failed: aborted") with a 500 written to the dead socket — so any client could
 * fill the error log. Found by test/fuzz/transports.test.ts.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { sleep, waitFor } from '../helpers/clients.js';
import { type LoggedServer, startLoggedServer } from './capture-log.js';

let s: LoggedServer;
before(async () => {
  s = await startLoggedServer({
    client: { allow_anonymous_connect_without_token: true },
    http_stream: { enabled: true },
    sse: { enabled: true },
    uni_sse: { enabled: true },
    uni_http_stream: { enabled: true },
  });
});
after(() => s?.close());

for (const path of [
  '/connection/http_stream',
  '/connection/sse',
  '/emulation',
  '/connection/uni_http_stream',
  '/connection/uni_sse',
]) {
  test(`a reset in the middle of the body of POST ${path} is not logged as an error`, async () => {
    const before = s.log.lines.length;
    const socket = connect(s.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    let closed = false;
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"id":1`);
    await sleep(50);
    socket.resetAndDestroy();
    socket.once('close', () => {
      closed = true;
    });
    await waitFor(() => closed, 2000, 'the socket to close');
    // The server hears the reset on its next turns.
    await sleep(100);
    const errors = s.log.lines.slice(before).filter((l) => l.level === 'error');
    assert.deepEqual(
      errors.map((l) => `${l.msg}: ${String((l.obj.err as Error | undefined)?.message)}`),
      [],
      'a client going away is not a server failure',
    );
  });
}
