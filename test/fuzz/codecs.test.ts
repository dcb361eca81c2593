/**
 * Property-based round trips of the client codecs (fast-check): whatever a client may send or the server may
 * push, Protobuf decodes what was encoded, field for field and byte for byte; arbitrary bytes never make the
 * decoder throw anything but a 3501 bad request; and the JSON encoding of any payload bytes is always JSON that
 * gives back the value (JSON text) or the bytes (base64 string).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DisconnectError } from '../../src/protocol/codes.js';
import { jsonCodec } from '../../src/protocol/json/json-codec.js';
import { markJson } from '../../src/protocol/json-payload.js';
import type { ClientInfo, Command, Publication, Push } from '../../src/protocol/messages.js';
import { decodeCommands, encodeBarePush, encodePush } from '../../src/protocol/protobuf/protobuf-codec.js';
import { CommandType, PushType, ReplyType } from '../../src/protocol/protobuf/schema.js';

const RUNS = { numRuns: 300 };

const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const nonEmptyBytes = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a));
const id = fc.integer({ min: 1, max: 0xffffffff });
const channel = fc.string({ minLength: 1, maxLength: 40 });
const text = fc.string({ maxLength: 40 });
const offset = fc.maxSafeNat();

/** A command as the core sees it, and its Protobuf fields as an SDK would set them (zero values left out). */
const commands: fc.Arbitrary<[Command, Record<string, unknown>]> = fc.oneof(
  fc.record({ id, channel, data: bytes }).map(({ id, channel, data }): [Command, Record<string, unknown>] => [
    { id, method: 'publish', req: { channel, data } },
    { id, publish: { channel, data } },
  ]),
  fc
    .record({
      id,
      channel,
      token: text,
      recover: fc.boolean(),
      offset,
      epoch: text,
      data: nonEmptyBytes,
      positioned: fc.boolean(),
      recoverable: fc.boolean(),
      joinLeave: fc.boolean(),
      flag: fc.integer({ min: 0, max: 0xffff }),
    })
    .map((r): [Command, Record<string, unknown>] => [
      {
        id: r.id,
        method: 'subscribe',
        req: {
          channel: r.channel,
          token: r.token,
          recover: r.recover,
          offset: r.offset,
          epoch: r.epoch,
          data: r.data,
          positioned: r.positioned,
          recoverable: r.recoverable,
          joinLeave: r.joinLeave,
          flag: r.flag,
        },
      },
      {
        id: r.id,
        subscribe: {
          channel: r.channel,
          token: r.token,
          recover: r.recover,
          offset: r.offset,
          epoch: r.epoch,
          data: r.data,
          positioned: r.positioned,
          recoverable: r.recoverable,
          join_leave: r.joinLeave,
          flag: r.flag,
        },
      },
    ]),
  fc
    .record({
      id,
      token: text,
      data: nonEmptyBytes,
      name: text,
      version: text,
      subs: fc.dictionary(
        fc.string({ minLength: 1, maxLength: 10 }),
        fc.record({ recover: fc.boolean(), offset, epoch: text }, { noNullPrototype: true }),
        { maxKeys: 3, noNullPrototype: true },
      ),
    })
    .map((r): [Command, Record<string, unknown>] => [
      {
        id: r.id,
        method: 'connect',
        req: {
          token: r.token,
          data: r.data,
          subs: new Map(Object.entries(r.subs)),
          name: r.name,
          version: r.version,
          headers: undefined,
        },
      },
      { id: r.id, connect: { token: r.token, data: r.data, subs: r.subs, name: r.name, version: r.version } },
    ]),
  fc
    .record({
      id,
      channel,
      limit: fc.integer({ min: -1, max: 1000 }),
      since: fc.option(fc.record({ offset, epoch: text }, { noNullPrototype: true }), { nil: undefined }),
      reverse: fc.boolean(),
    })
    .map((r): [Command, Record<string, unknown>] => [
      { id: r.id, method: 'history', req: { channel: r.channel, limit: r.limit, since: r.since, reverse: r.reverse } },
      { id: r.id, history: { channel: r.channel, limit: r.limit, since: r.since, reverse: r.reverse } },
    ]),
  fc.record({ id, method: text, data: nonEmptyBytes }).map((r): [Command, Record<string, unknown>] => [
    { id: r.id, method: 'rpc', req: { method: r.method, data: r.data } },
    { id: r.id, rpc: { method: r.method, data: r.data } },
  ]),
  nonEmptyBytes.map((data): [Command, Record<string, unknown>] => [
    { id: 0, method: 'send', req: { data } },
    { send: { data } },
  ]),
  fc.record({ id, channel, token: text }).map((r): [Command, Record<string, unknown>] => [
    { id: r.id, method: 'sub_refresh', req: { channel: r.channel, token: r.token } },
    { id: r.id, sub_refresh: { channel: r.channel, token: r.token } },
  ]),
);

const info: fc.Arbitrary<ClientInfo> = fc.record({
  user: text,
  client: text,
  connInfo: fc.option(nonEmptyBytes, { nil: undefined }),
  chanInfo: fc.option(nonEmptyBytes, { nil: undefined }),
});

const publication: fc.Arbitrary<Publication> = fc.record({
  data: bytes,
  info: fc.option(info, { nil: undefined }),
  offset,
  tags: fc.option(fc.dictionary(text, text, { maxKeys: 3, noNullPrototype: true }), { nil: undefined }),
  time: fc.option(offset, { nil: undefined }),
});

describe('fuzz: the Protobuf codec', () => {
  test('any command an SDK may encode decodes to the same command; several per frame keep their order', () => {
    fc.assert(
      fc.property(fc.array(commands, { minLength: 1, maxLength: 5 }), (cases) => {
        const frame = Buffer.concat(cases.map(([, fields]) => CommandType.encodeDelimited(fields).finish()));
        assert.deepEqual(
          decodeCommands(frame),
          cases.map(([command]) => command),
        );
      }),
      RUNS,
    );
  });

  test('any publication pushed decodes back field for field, the data byte for byte', () => {
    fc.assert(
      fc.property(channel, publication, (ch, pub) => {
        const push: Push = { type: 'pub', channel: ch, pub };
        const wrapped = ReplyType.toObject(ReplyType.decodeDelimited(encodePush(push)), { longs: Number });
        const bare = PushType.toObject(PushType.decodeDelimited(encodeBarePush(push)), { longs: Number });
        for (const p of [wrapped.push, bare]) {
          assert.equal(p.channel, ch);
          assert.deepEqual(Buffer.from(p.pub.data ?? []), Buffer.from(pub.data));
          assert.equal(p.pub.offset ?? 0, pub.offset);
          assert.equal(p.pub.time ?? 0, pub.time ?? 0);
          assert.deepEqual(p.pub.tags ?? {}, pub.tags ?? {});
          assert.equal(p.pub.info?.user ?? '', pub.info?.user ?? '');
          assert.equal(p.pub.info?.client ?? '', pub.info?.client ?? '');
          assert.deepEqual(Buffer.from(p.pub.info?.conn_info ?? []), Buffer.from(pub.info?.connInfo ?? []));
        }
      }),
      RUNS,
    );
  });

  test('arbitrary bytes are commands or a 3501 bad request, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (frame) => {
        try {
          decodeCommands(frame);
        } catch (e) {
          assert.ok(e instanceof DisconnectError && e.disconnect.code === 3501, `unexpected ${String(e)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('fuzz: payloads in the JSON encoding', () => {
  function pubData(frame: Uint8Array): unknown {
    const text = Buffer.from(frame).toString('utf8');
    const parsed = JSON.parse(text) as { push: { pub: { data: unknown } } };
    return parsed.push.pub.data;
  }

  test('any bytes give a JSON frame; bytes that are not JSON come as their base64', () => {
    fc.assert(
      fc.property(bytes, (data) => {
        const got = pubData(jsonCodec.encodePush({ type: 'pub', channel: 'c', pub: { data, offset: 0 } }));
        let value: unknown;
        let isJson = data.length > 0;
        try {
          value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
        } catch {
          isJson = false;
        }
        if (isJson) assert.deepEqual(got, value);
        else assert.deepEqual(Buffer.from(got as string, 'base64'), data);
      }),
      { numRuns: 1000 },
    );
  });

  test('any JSON value published as JSON text is delivered as that value', () => {
    fc.assert(
      fc.property(fc.json(), (json) => {
        const data = markJson(Buffer.from(json));
        assert.deepEqual(
          pubData(jsonCodec.encodePush({ type: 'pub', channel: 'c', pub: { data, offset: 1 } })),
          JSON.parse(json),
        );
      }),
      RUNS,
    );
  });
});
