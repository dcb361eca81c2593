/**
 * What docs/protocol.md promises about broken framing: a WebSocket framing violation closes with 1002 (protocol
 * error), and a command id repeated in one frame closes with 3501. Frames are written byte for byte on a bare TCP
 * socket, since a WebSocket library would refuse to send them.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { RawClient } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const MASK = Buffer.from([1, 2, 3, 4]);

/** A client frame: first byte (FIN, RSV, opcode) as given, masked unless `masked` is false. */
function frame(first: number, payload: Buffer, masked = true): Buffer {
  if (payload.length > 125) throw new Error('short payloads only');
  if (!masked) return Buffer.concat([Buffer.from([first, payload.length]), payload]);
  const body = Buffer.from(payload.map((b, i) => b ^ (MASK[i % 4] as number)));
  return Buffer.concat([Buffer.from([first, 0x80 | payload.length]), MASK, body]);
}

/** An upgraded bare socket; resolves with the close code the server sends (or undefined if it only hangs up). */
async function rawWebSocket(port: number): Promise<{ socket: net.Socket; closeCode: Promise<number | undefined> }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    'GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let data = Buffer.alloc(0);
  let upgraded: () => void = () => {};
  const ready = new Promise<void>((r) => {
    upgraded = r;
  });
  const closeCode = new Promise<number | undefined>((resolve) => {
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      const head = data.indexOf('\r\n\r\n');
      if (head === -1) return;
      upgraded();
      // Server frames after the handshake: find the close frame (opcode 8).
      let at = head + 4;
      while (at + 2 <= data.length) {
        const opcode = (data[at] as number) & 0x0f;
        let len = (data[at + 1] as number) & 0x7f;
        let start = at + 2;
        if (len === 126) {
          len = data.readUInt16BE(at + 2);
          start = at + 4;
        }
        if (start + len > data.length) return;
        if (opcode === 8) resolve(len >= 2 ? data.readUInt16BE(start) : undefined);
        at = start + len;
      }
    });
    socket.on('close', () => resolve(undefined));
  });
  await ready;
  return { socket, closeCode };
}

describe('WebSocket framing violations', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      client: { allow_anonymous_connect_without_token: true },
      channel: { without_namespace: openChannels() },
    });
  });
  after(async () => {
    await s?.close();
  });

  const text = Buffer.from('{"id":1,"connect":{}}');
  const violations: Array<[string, Buffer]> = [
    ['an unmasked client frame', frame(0x81, text, false)],
    ['a reserved opcode', frame(0x83, text)],
    ['RSV1 set without an extension', frame(0xc1, text)],
    ['a fragmented control frame', frame(0x09, Buffer.alloc(0))],
    ['a continuation frame with nothing to continue', frame(0x80, text)],
  ];
  for (const [what, bytes] of violations) {
    test(`${what}: close 1002`, async () => {
      const ws = await rawWebSocket(s.port);
      ws.socket.write(bytes);
      assert.equal(await ws.closeCode, 1002);
      ws.socket.destroy();
    });
  }

  test('a command id repeated in one frame: close 3501, also after connect', async () => {
    const c = await RawClient.open(s.wsUrl);
    await c.connect();
    c.send({ id: 2, subscribe: { channel: 'a' } }, { id: 3, presence_stats: { channel: 'a' } }, { id: 2, ping: {} });
    assert.equal(await c.waitClose(), 3501);
  });

  test('the server still serves well-framed clients', async () => {
    const c = await RawClient.open(s.wsUrl);
    assert.ok((await c.connect()).connect, 'a well-framed client connects');
    c.close();
  });
});
