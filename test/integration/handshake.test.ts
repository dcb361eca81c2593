/**
 * Which encoding a WebSocket connection speaks, decided at the handshake as Centrifugo decides it, and what
 * happens to a frame of the wrong kind afterwards. Raw sockets: each case is what some SDK sends on the wire.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { CommandType, ReplyType } from '../../src/protocol/protobuf/schema.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

interface Opened {
  ws: WebSocket;
  /** The subprotocol the server chose ('' for none). */
  protocol: string;
  messages: Buffer[];
  binary: boolean[];
  closed: Promise<{ code: number; reason: string }>;
}

function open(url: string, protocols?: string | string[], headers?: Record<string, string>): Promise<Opened> {
  const ws = new WebSocket(url, protocols, headers === undefined ? {} : { headers });
  const messages: Buffer[] = [];
  const binary: boolean[] = [];
  ws.on('message', (data, isBinary) => {
    messages.push(Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]));
    binary.push(isBinary);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, protocol: ws.protocol, messages, binary, closed }));
    ws.once('error', reject);
  });
}

/** The HTTP status and body of a refused upgrade. */
function refused(url: string, protocols?: string | string[]): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url, protocols);
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Connects in JSON and returns the reply. */
async function jsonConnect(c: Opened): Promise<Record<string, unknown>> {
  c.ws.send('{"id":1,"connect":{}}');
  await until(() => c.messages.length > 0, 'the connect reply');
  assert.equal(c.binary[0], false, 'JSON replies are text frames');
  return JSON.parse((c.messages[0] as Buffer).toString()) as Record<string, unknown>;
}

/** Connects in Protobuf and returns the decoded reply. */
async function protobufConnect(c: Opened): Promise<Record<string, unknown>> {
  c.ws.send(CommandType.encodeDelimited({ id: 1, connect: {} }).finish());
  await until(() => c.messages.length > 0, 'the connect reply');
  assert.equal(c.binary[0], true, 'Protobuf replies are binary frames');
  return ReplyType.toObject(ReplyType.decodeDelimited(c.messages[0] as Buffer)) as Record<string, unknown>;
}

describe('WebSocket handshake: the encoding', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      client: { allow_anonymous_connect_without_token: true },
      channel: { without_namespace: openChannels() },
    });
  });
  after(async () => {
    await s.close();
  });

  test('no Sec-WebSocket-Protocol header: JSON, no subprotocol chosen', async () => {
    const c = await open(s.wsUrl);
    assert.equal(c.protocol, '');
    assert.ok((await jsonConnect(c)).connect, 'connected in JSON');
    c.ws.close();
  });

  test('an empty header (centrifuge-python): JSON, no subprotocol chosen', async () => {
    const c = await open(s.wsUrl, undefined, { 'Sec-WebSocket-Protocol': '' });
    assert.equal(c.protocol, '');
    assert.ok((await jsonConnect(c)).connect, 'connected in JSON');
    c.ws.close();
  });

  test('centrifuge-json: JSON, and the server echoes the subprotocol', async () => {
    const c = await open(s.wsUrl, 'centrifuge-json');
    assert.equal(c.protocol, 'centrifuge-json');
    assert.ok((await jsonConnect(c)).connect, 'connected in JSON');
    c.ws.close();
  });

  test('centrifuge-protobuf: Protobuf, and the server echoes the subprotocol', async () => {
    const c = await open(s.wsUrl, 'centrifuge-protobuf');
    assert.equal(c.protocol, 'centrifuge-protobuf');
    const reply = await protobufConnect(c);
    assert.equal(reply.id, 1);
    assert.match((reply.connect as { client: string }).client, /^[0-9a-f-]{36}$/);
    c.ws.close();
  });

  test('cf_protocol=protobuf (and format=protobuf) in the URL: Protobuf without a subprotocol', async () => {
    for (const query of ['cf_protocol=protobuf', 'format=protobuf']) {
      const c = await open(`${s.wsUrl}?${query}`);
      assert.equal(c.protocol, '');
      assert.ok((await protobufConnect(c)).connect, `connected in Protobuf with ${query}`);
      c.ws.close();
    }
  });

  test('of several offered subprotocols the first one supported is chosen', async () => {
    const c = await open(s.wsUrl, ['mqtt', 'centrifuge-protobuf', 'centrifuge-json']);
    assert.equal(c.protocol, 'centrifuge-protobuf');
    c.ws.close();
  });

  test('an unknown subprotocol is refused with HTTP 400 naming what is supported', async () => {
    const r = await refused(s.wsUrl, 'centrifuge-msgpack');
    assert.equal(r.status, 400);
    assert.match(r.body, /centrifuge-msgpack/);
    assert.match(r.body, /centrifuge-json/);
    assert.match(r.body, /centrifuge-protobuf/);
  });

  test('an unknown cf_protocol is refused with HTTP 400 naming what is supported', async () => {
    const r = await refused(`${s.wsUrl}?cf_protocol=xml`);
    assert.equal(r.status, 400);
    assert.match(r.body, /xml/);
    assert.match(r.body, /centrifuge-protobuf/);
  });

  test('a binary frame to a JSON connection closes with 3501 and a reason that says so', async () => {
    const c = await open(s.wsUrl, 'centrifuge-json');
    await jsonConnect(c);
    c.ws.send(CommandType.encodeDelimited({ id: 2, ping: {} }).finish());
    const closed = await c.closed;
    assert.equal(closed.code, 3501);
    assert.match(closed.reason, /binary frame on a JSON connection/);
  });

  test('a text frame to a Protobuf connection closes with 3501 and a reason that says so', async () => {
    const c = await open(s.wsUrl, 'centrifuge-protobuf');
    await protobufConnect(c);
    c.ws.send('{"id":2,"ping":{}}');
    const closed = await c.closed;
    assert.equal(closed.code, 3501);
    assert.match(closed.reason, /text frame on a Protobuf connection/);
  });

  test('a malformed Protobuf frame closes with 3501, never a crash; others stay connected', async () => {
    const bystander = await open(s.wsUrl, 'centrifuge-protobuf');
    await protobufConnect(bystander);
    const c = await open(s.wsUrl, 'centrifuge-protobuf');
    // A length prefix promising 100 bytes, followed by 3.
    c.ws.send(Buffer.from([100, 1, 2, 3]));
    assert.equal((await c.closed).code, 3501);
    bystander.ws.send(CommandType.encodeDelimited({ id: 2, ping: {} }).finish());
    await until(() => bystander.messages.length === 2, 'the bystander ping reply');
    assert.equal(bystander.ws.readyState, WebSocket.OPEN);
    bystander.ws.close();
  });
});
