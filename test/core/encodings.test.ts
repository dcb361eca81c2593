/**
 * JSON and Protobuf sessions side by side, without sockets: payloads are bytes end to end, every subscriber gets
 * every publication in its own encoding, each publication is encoded once per encoding present (never once per
 * subscriber), and a JSON client never receives a frame that is not JSON — bytes that are not JSON reach it as a
 * base64 string, checked once per payload.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Node } from '../../src/core/node.js';
import type { Hooks } from '../../src/embedding/app-hooks.js';
import type { ClientCodec } from '../../src/protocol/codec.js';
import { jsonCodec } from '../../src/protocol/json/json-codec.js';
import type { Push } from '../../src/protocol/messages.js';
import { protobufCodec } from '../../src/protocol/protobuf/protobuf-codec.js';
import { hsToken, SECRET } from '../helpers/clients.js';
import { Conn, FakeTransport, flushed, ProtobufConn, testNode, waitFor } from '../helpers/session.js';

const open = {
  allow_subscribe_for_client: true,
  allow_publish_for_client: true,
  allow_presence_for_client: true,
  allow_history_for_client: true,
  presence: true,
  history_size: 10,
  history_ttl: '60s',
};

const nodes: Node[] = [];
async function node(hooks: Partial<Hooks> = {}): Promise<Node> {
  const n = await testNode(
    {
      client: { token: { hmac_secret_key: SECRET }, allow_anonymous_connect_without_token: true },
      channel: { without_namespace: open },
    },
    { hooks },
  );
  nodes.push(n);
  return n;
}
after(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});

/** A codec that counts the pushes it encodes (the hub's work per publication). */
function counting(base: ClientCodec): ClientCodec & { pushes: number } {
  const c = {
    ...base,
    pushes: 0,
    encodePush(push: Push) {
      c.pushes++;
      return base.encodePush(push);
    },
  };
  return c;
}

/** Counts JSON.parse calls on exactly `text` while `f` runs: how often a payload was checked. */
async function parsesOf(text: string, f: () => Promise<void>): Promise<number> {
  const parse = JSON.parse;
  let n = 0;
  JSON.parse = function countingParse(t: string, reviver?: Parameters<typeof parse>[1]) {
    if (t === text) n++;
    return parse.call(JSON, t, reviver);
  };
  try {
    await f();
  } finally {
    JSON.parse = parse;
  }
  return n;
}

const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function pubData(push: Record<string, unknown> | undefined): unknown {
  return (push?.pub as { data?: unknown } | undefined)?.data;
}

describe('encodings: mixed channels', () => {
  test('each publication is encoded once per encoding present, however many subscribers each has', async () => {
    const n = await node();
    const jsonCounted = counting(jsonCodec);
    const pbCounted = counting(protobufCodec);
    const jsons = Array.from({ length: 5 }, () => new Conn(n, new FakeTransport({ codec: jsonCounted })));
    const pbs = Array.from({ length: 5 }, () => new ProtobufConn(n, pbCounted));
    for (const c of jsons) {
      await c.connect('j');
      await c.subscribe('mixed');
    }
    for (const c of pbs) {
      await c.connect('p');
      await c.subscribe('mixed');
    }
    for (let i = 1; i <= 3; i++) await n.ops.publish({ channel: 'mixed', data: Buffer.from(`{"n":${i}}`) });
    await flushed();
    assert.equal(jsonCounted.pushes, 3, 'JSON: once per publication');
    assert.equal(pbCounted.pushes, 3, 'Protobuf: once per publication');
    for (const c of jsons) {
      assert.deepEqual(c.pushes('mixed').map(pubData), [{ n: 1 }, { n: 2 }, { n: 3 }]);
    }
    for (const c of pbs) {
      assert.deepEqual(
        c.pushes('mixed').map((p) => Buffer.from(pubData(p) as Uint8Array).toString()),
        ['{"n":1}', '{"n":2}', '{"n":3}'],
      );
    }
  });

  test('binary from a Protobuf client: Protobuf subscribers get the bytes, JSON subscribers a base64 string', async () => {
    const n = await node();
    const publisher = new ProtobufConn(n);
    const pb = new ProtobufConn(n);
    const json = new Conn(n);
    for (const c of [publisher, pb]) {
      await c.connect('p');
      await c.subscribe('bin');
    }
    await json.connect('j');
    await json.subscribe('bin');
    const r = await publisher.call({ publish: { channel: 'bin', data: EVERY_BYTE } });
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    await flushed();
    assert.deepEqual(Buffer.from(pubData(pb.pushes('bin')[0]) as Uint8Array), EVERY_BYTE);
    assert.equal(pubData(json.pushes('bin')[0]), EVERY_BYTE.toString('base64'));
    // History too: the same publication in each client's encoding.
    const h = await json.call({ history: { channel: 'bin', limit: 10 } });
    const pubs = (h.history as { publications: Array<{ data: unknown }> }).publications;
    assert.deepEqual(
      pubs.map((p) => p.data),
      [EVERY_BYTE.toString('base64')],
    );
    const hp = await pb.call({ history: { channel: 'bin', limit: 10 } });
    const pbPubs = (hp.history as { publications: Array<{ data: Uint8Array }> }).publications;
    assert.deepEqual(Buffer.from(pbPubs[0]?.data as Uint8Array), EVERY_BYTE);
  });

  test('a payload that is not JSON is checked once per publication, not once per JSON subscriber', async () => {
    const n = await node();
    const jsons = Array.from({ length: 20 }, () => new Conn(n));
    for (const c of jsons) {
      await c.connect('j');
      await c.subscribe('text');
    }
    const text = 'plain text, not JSON';
    const checks = await parsesOf(text, async () => {
      await n.ops.publish({ channel: 'text', data: Buffer.from(text) });
      await flushed();
    });
    assert.equal(checks, 1);
    for (const c of jsons) assert.equal(pubData(c.pushes('text')[0]), Buffer.from(text).toString('base64'));
  });

  test("payloads from JSON clients and the API's data are never checked again", async () => {
    const n = await node();
    const publisher = new Conn(n);
    const subs = Array.from({ length: 5 }, () => new Conn(n));
    const pb = new ProtobufConn(n);
    await publisher.connect('j');
    for (const c of subs) {
      await c.connect('j');
      await c.subscribe('json');
    }
    await pb.connect('p');
    await pb.subscribe('json');
    const payload = '{"from":"a JSON client","list":[1,2,3]}';
    const value = JSON.parse(payload);
    const checks = await parsesOf(payload, async () => {
      const r = await publisher.call({ publish: { channel: 'json', data: value } });
      assert.equal(r.error, undefined);
      await flushed();
    });
    assert.equal(checks, 0);
    for (const c of subs) assert.deepEqual(pubData(c.pushes('json')[0]), value);
    assert.equal(Buffer.from(pubData(pb.pushes('json')[0]) as Uint8Array).toString(), payload);
  });

  test('a Protobuf client may publish empty bytes (as in Centrifugo); JSON subscribers get ""', async () => {
    const n = await node();
    const publisher = new ProtobufConn(n);
    const json = new Conn(n);
    await publisher.connect('p');
    await publisher.subscribe('empty');
    await json.connect('j');
    await json.subscribe('empty');
    const r = await publisher.call({ publish: { channel: 'empty', data: new Uint8Array(0) } });
    assert.equal(publisher.closedWith, undefined, 'the publisher stays connected');
    assert.equal(r.error, undefined);
    await flushed();
    assert.equal(publisher.pushes('empty').length, 1);
    assert.equal(pubData(json.pushes('empty')[0]), '');
  });
});

describe('encodings: info, RPC results and messages', () => {
  test('binary connection info (b64info) reaches Protobuf clients as bytes and JSON clients as base64', async () => {
    const n = await node();
    const info = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]);
    const owner = new ProtobufConn(n);
    const token = await hsToken({ sub: 'bin-user', b64info: info.toString('base64') });
    await owner.call({ connect: { token } });
    await owner.subscribe('who');
    const json = new Conn(n);
    await json.connect('j');
    await json.subscribe('who');
    const pbPresence = await owner.call({ presence: { channel: 'who' } });
    const pbEntries = Object.values(
      (pbPresence.presence as { presence: Record<string, { conn_info?: Uint8Array }> }).presence,
    );
    assert.deepEqual(
      pbEntries.flatMap((e) => (e.conn_info === undefined ? [] : [Buffer.from(e.conn_info)])),
      [info],
    );
    const jsonPresence = await json.call({ presence: { channel: 'who' } });
    const entries = Object.values(
      (jsonPresence.presence as { presence: Record<string, { conn_info?: unknown }> }).presence,
    );
    assert.deepEqual(
      entries.flatMap((e) => (e.conn_info === undefined ? [] : [e.conn_info])),
      [info.toString('base64')],
    );
  });

  test('an RPC handler returning bytes: Protobuf clients get them, JSON clients a base64 string', async () => {
    const result = Uint8Array.from([1, 2, 3, 250]);
    let seen: unknown;
    const n = await node({
      rpc: new Map([
        [
          'bytes',
          (_ctx, data) => {
            seen = data;
            return result;
          },
        ],
      ]),
    });
    const pb = new ProtobufConn(n);
    await pb.connect('p');
    const r = await pb.call({ rpc: { method: 'bytes', data: Uint8Array.from([0xff, 0x00]) } });
    assert.deepEqual(Buffer.from((r.rpc as { data: Uint8Array }).data), Buffer.from(result));
    assert.ok(seen instanceof Uint8Array, 'the handler got the binary request as bytes');
    assert.deepEqual(Buffer.from(seen), Buffer.from([0xff, 0x00]));
    const json = new Conn(n);
    await json.connect('j');
    const jr = await json.call({ rpc: { method: 'bytes', data: {} } });
    assert.deepEqual(jr.rpc, { data: Buffer.from(result).toString('base64') });
  });

  test("the API's send with binary data: a message push in each client's encoding", async () => {
    const n = await node();
    const pb = new ProtobufConn(n);
    const json = new Conn(n);
    await pb.connect('u');
    await json.connect('u');
    await n.ops.send({ user: 'u', data: EVERY_BYTE });
    await waitFor('both messages', () => pb.pushes().length === 1 && json.pushes().length === 1);
    const message = pb.pushes()[0]?.message as { data: Uint8Array };
    assert.deepEqual(Buffer.from(message.data), EVERY_BYTE);
    assert.deepEqual(json.pushes()[0]?.message, { data: EVERY_BYTE.toString('base64') });
  });
});
