import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DisconnectError } from '../../src/protocol/codes.js';
import { decodeCommand, decodeFrame } from '../../src/protocol/json/decode.js';
import { encodePush, encodeReply, encodeResult } from '../../src/protocol/json/encode.js';
import { jsonCodec } from '../../src/protocol/json/json-codec.js';
import type { Command, Publication, Reply } from '../../src/protocol/messages.js';

/** Bytes (a payload, an encoded message) as the UTF-8 text they carry. */
function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** Payload bytes holding the JSON text `json`. */
const b = (json: string): Buffer => Buffer.from(json);

/**
 * A decoded command with its payload (`req.data`) as text, so expectations read as the JSON the client sent.
 * The payload must be bytes: a string (or anything else) fails here rather than compare equal.
 */
function textual(cmd: Command): unknown {
  const req = cmd.req as Record<string, unknown>;
  if (!('data' in req) || req.data === undefined) return cmd;
  assert.ok(req.data instanceof Uint8Array, `data of ${cmd.method} must be bytes, got ${typeof req.data}`);
  return { ...cmd, req: { ...req, data: text(req.data) } };
}

/** Decodes a frame that must hold exactly one command. */
function one(frame: string): Command {
  const cmds = decodeFrame(frame);
  assert.equal(cmds.length, 1, `expected one command in ${JSON.stringify(frame)}`);
  return cmds[0] as Command;
}

/** The one command of `frame`, payload as text (see textual). */
function decoded(frame: string): unknown {
  return textual(one(frame));
}

/** Asserts that decoding `frame` throws DisconnectError 3501 whose detail matches `detail`. */
function assertBadRequest(frame: string, detail: RegExp, maxCommands?: number): void {
  let thrown: unknown;
  try {
    decodeFrame(frame, maxCommands);
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown !== undefined, `expected ${JSON.stringify(frame)} to be rejected`);
  assert.ok(thrown instanceof DisconnectError, `expected a DisconnectError, got ${String(thrown)}`);
  assert.equal(thrown.disconnect.code, 3501);
  assert.equal(thrown.disconnect.reason, 'bad request');
  assert.match(thrown.detail ?? '', detail);
  assert.match(thrown.message, /^bad request: /);
}

type SuccessReply = Exclude<Reply, { method: 'error' }>;

/**
 * The JSON text of a reply's result object. It is also checked to be exactly what the reply to the client
 * carries under its method, so both the result alone and the whole reply are pinned byte for byte.
 */
function resultText(reply: SuccessReply): string {
  const result = text(encodeResult(reply));
  assert.equal(text(encodeReply(reply)), `{"id":${reply.id},${JSON.stringify(reply.method)}:${result}}`);
  return result;
}

/** The publication push of `pub` on `channel`, as text. */
function pubPush(channel: string, pub: Publication): string {
  return text(encodePush({ type: 'pub', channel, pub }));
}

describe('decodeFrame: framing', () => {
  test('one command', () => {
    assert.deepEqual(decodeFrame('{"id":1,"presence":{"channel":"a"}}'), [
      { id: 1, method: 'presence', req: { channel: 'a' } },
    ]);
  });

  test('several newline-separated commands keep their order', () => {
    const frame = [
      '{"id":1,"subscribe":{"channel":"a"}}',
      '{"id":2,"unsubscribe":{"channel":"b"}}',
      '{"id":3,"presence_stats":{"channel":"c"}}',
    ].join('\n');
    const cmds = decodeFrame(frame);
    assert.deepEqual(
      cmds.map((c) => [c.id, c.method]),
      [
        [1, 'subscribe'],
        [2, 'unsubscribe'],
        [3, 'presence_stats'],
      ],
    );
    assert.deepEqual(cmds[1], { id: 2, method: 'unsubscribe', req: { channel: 'b' } });
  });

  test('a trailing newline adds no command', () => {
    const cmds = decodeFrame('{"id":1,"presence":{"channel":"a"}}\n{"id":2,"presence":{"channel":"b"}}\n');
    assert.deepEqual(
      cmds.map((c) => c.id),
      [1, 2],
    );
  });

  test('CRLF line endings', () => {
    const cmds = decodeFrame('{"id":1,"presence":{"channel":"a"}}\r\n\r\n{"id":2,"presence":{"channel":"b"}}\r\n');
    assert.deepEqual(cmds, [
      { id: 1, method: 'presence', req: { channel: 'a' } },
      { id: 2, method: 'presence', req: { channel: 'b' } },
    ]);
  });

  test('blank and whitespace-only lines are skipped', () => {
    const cmds = decodeFrame(
      '\n\n{"id":1,"presence":{"channel":"a"}}\n   \n\t\n{"id":2,"presence":{"channel":"b"}}\n\n',
    );
    assert.deepEqual(
      cmds.map((c) => c.id),
      [1, 2],
    );
  });

  test('an empty frame decodes to no commands', () => {
    assert.deepEqual(decodeFrame(''), []);
    assert.deepEqual(decodeFrame('\n'), []);
  });

  test('exactly maxCommands commands are accepted, one more is a bad request', () => {
    const frame = (n: number) =>
      Array.from({ length: n }, (_, i) => `{"id":${i + 1},"presence":{"channel":"c"}}`).join('\n');
    assert.equal(decodeFrame(frame(3), 3).length, 3);
    assertBadRequest(frame(4), /too many commands/, 3);
    // Blank lines do not count towards the limit.
    assert.equal(decodeFrame(`${frame(3)}\n\n\n`, 3).length, 3);
    // The default limit is 1024.
    assert.equal(decodeFrame(frame(1024)).length, 1024);
    assertBadRequest(frame(1025), /too many commands/);
  });
});

describe('decodeFrame: methods', () => {
  test('connect with token, data, name, version and a subs map', () => {
    const cmd = one(
      JSON.stringify({
        id: 1,
        connect: {
          token: 'tok',
          data: { hello: 'world' },
          name: 'js',
          version: '5.0.0',
          subs: {
            news: { recover: true, offset: 17, epoch: 'ep1' },
            'ns:chat': { offset: '42' },
            empty: {},
          },
        },
      }),
    );
    assert.deepEqual(textual(cmd), {
      id: 1,
      method: 'connect',
      req: {
        token: 'tok',
        data: '{"hello":"world"}',
        subs: new Map([
          ['news', { recover: true, offset: 17, epoch: 'ep1' }],
          ['ns:chat', { recover: false, offset: 42, epoch: '' }],
          ['empty', { recover: false, offset: 0, epoch: '' }],
        ]),
        name: 'js',
        version: '5.0.0',
        // Emulated headers (new with the transport seam): absent from the frame, so undefined.
        headers: undefined,
      },
    });
  });

  test('connect with no params and with null params gives defaults', () => {
    const expected = {
      id: 1,
      method: 'connect',
      req: { token: '', data: undefined, subs: new Map(), name: '', version: '', headers: undefined },
    };
    assert.deepEqual(one('{"id":1,"connect":{}}'), expected);
    assert.deepEqual(one('{"id":1,"connect":null}'), expected);
  });

  test('connect subs entries must be objects, subs must be an object', () => {
    assertBadRequest('{"id":1,"connect":{"subs":{"a":5}}}', /subs entries must be objects/);
    assertBadRequest('{"id":1,"connect":{"subs":[]}}', /subs must be an object/);
    assertBadRequest('{"id":1,"connect":{"subs":{"a":{"recover":"yes"}}}}', /recover must be a boolean/);
  });

  test('subscribe with every field, join_leave mapped to joinLeave', () => {
    const cmd = one(
      '{"id":7,"subscribe":{"channel":"ns:a","token":"t","recover":true,"offset":12,"epoch":"e",' +
        '"data":{"x":[1,2]},"positioned":true,"recoverable":true,"join_leave":true,"flag":3}}',
    );
    assert.deepEqual(textual(cmd), {
      id: 7,
      method: 'subscribe',
      req: {
        channel: 'ns:a',
        token: 't',
        recover: true,
        offset: 12,
        epoch: 'e',
        data: '{"x":[1,2]}',
        positioned: true,
        recoverable: true,
        joinLeave: true,
        flag: 3,
      },
    });
  });

  test('subscribe with only a channel gives zero values', () => {
    assert.deepEqual(one('{"id":2,"subscribe":{"channel":"a"}}'), {
      id: 2,
      method: 'subscribe',
      req: {
        channel: 'a',
        token: '',
        recover: false,
        offset: 0,
        epoch: '',
        data: undefined,
        positioned: false,
        recoverable: false,
        joinLeave: false,
        flag: 0,
      },
    });
  });

  test('null fields count as absent', () => {
    const cmd = one('{"id":2,"subscribe":{"channel":"a","token":null,"recover":null,"offset":null,"flag":null}}');
    assert.equal(cmd.method, 'subscribe');
    if (cmd.method !== 'subscribe') return;
    assert.equal(cmd.req.token, '');
    assert.equal(cmd.req.recover, false);
    assert.equal(cmd.req.offset, 0);
    assert.equal(cmd.req.flag, 0);
  });

  test('subscribe offset given as a decimal string (protobuf-JSON uint64)', () => {
    const cmd = one('{"id":3,"subscribe":{"channel":"a","recover":true,"offset":"9007199254740991","epoch":"x"}}');
    assert.equal(cmd.method, 'subscribe');
    if (cmd.method !== 'subscribe') return;
    assert.equal(cmd.req.offset, Number.MAX_SAFE_INTEGER);
    assertBadRequest('{"id":3,"subscribe":{"channel":"a","offset":"12a"}}', /offset must be a non-negative integer/);
    assertBadRequest('{"id":3,"subscribe":{"channel":"a","offset":"-1"}}', /offset must be a non-negative integer/);
    assertBadRequest('{"id":3,"subscribe":{"channel":"a","offset":-1}}', /offset out of range/);
    // A uint64 beyond 2^53 is valid protocol but no real position: clamped, so recovery reports recovered=false.
    const huge = one('{"id":3,"subscribe":{"channel":"a","offset":"18446744073709551615"}}');
    assert.ok(
      huge.method === 'subscribe' && huge.req.offset === Number.MAX_SAFE_INTEGER,
      "huge.method === 'subscribe' && huge.req.offset === Number.MAX_SAFE_INTEGER",
    );
    assertBadRequest('{"id":3,"subscribe":{"channel":"a","offset":"18446744073709551616"}}', /offset out of range/);
  });

  test('subscribe flag must be an integer', () => {
    assertBadRequest('{"id":3,"subscribe":{"channel":"a","flag":1.5}}', /flag must be an integer/);
    assertBadRequest('{"id":3,"subscribe":{"channel":"a","flag":"1"}}', /flag must be an integer/);
  });

  test('unsubscribe, presence, presence_stats', () => {
    assert.deepEqual(one('{"id":1,"unsubscribe":{"channel":"a"}}'), {
      id: 1,
      method: 'unsubscribe',
      req: { channel: 'a' },
    });
    assert.deepEqual(one('{"id":2,"presence":{"channel":"$b"}}'), {
      id: 2,
      method: 'presence',
      req: { channel: '$b' },
    });
    assert.deepEqual(one('{"id":3,"presence_stats":{"channel":"ns:c"}}'), {
      id: 3,
      method: 'presence_stats',
      req: { channel: 'ns:c' },
    });
  });

  test('publish keeps object, array, string, number, boolean and null data as JSON text', () => {
    const cases: [string, string][] = [
      ['{"input":"hello","n":1}', '{"input":"hello","n":1}'],
      ['[1,"two",{"three":3}]', '[1,"two",{"three":3}]'],
      ['"just a string"', '"just a string"'],
      ['"quote \\" and newline \\n"', '"quote \\" and newline \\n"'],
      ['42', '42'],
      ['-1.5', '-1.5'],
      ['true', 'true'],
      ['null', 'null'],
    ];
    for (const [input, raw] of cases) {
      const cmd = one(`{"id":5,"publish":{"channel":"a","data":${input}}}`);
      assert.deepEqual(textual(cmd), { id: 5, method: 'publish', req: { channel: 'a', data: raw } }, input);
      if (cmd.method === 'publish') assert.deepEqual(JSON.parse(text(cmd.req.data)), JSON.parse(input));
    }
  });

  test('publish data keeps non-ASCII text intact', () => {
    const cmd = one('{"id":5,"publish":{"channel":"a","data":{"text":"héllo ✓ 😀"}}}');
    assert.equal(cmd.method, 'publish');
    if (cmd.method === 'publish') assert.deepEqual(JSON.parse(text(cmd.req.data)), { text: 'héllo ✓ 😀' });
  });

  test('publish data with an integer above 2^53 is relayed byte-exactly', {}, () => {
    const cmd = one('{"id":5,"publish":{"channel":"a","data":{"id":9007199254740993}}}');
    assert.equal(cmd.method, 'publish');
    if (cmd.method === 'publish') assert.equal(text(cmd.req.data), '{"id":9007199254740993}');
  });

  test('history with limit, since and reverse', () => {
    assert.deepEqual(
      one('{"id":4,"history":{"channel":"a","limit":10,"since":{"offset":5,"epoch":"e"},"reverse":true}}'),
      {
        id: 4,
        method: 'history',
        req: { channel: 'a', limit: 10, since: { offset: 5, epoch: 'e' }, reverse: true },
      },
    );
    assert.deepEqual(one('{"id":4,"history":{"channel":"a"}}'), {
      id: 4,
      method: 'history',
      req: { channel: 'a', limit: 0, since: undefined, reverse: false },
    });
    assert.deepEqual(one('{"id":4,"history":{"channel":"a","since":{"offset":"7"}}}'), {
      id: 4,
      method: 'history',
      req: { channel: 'a', limit: 0, since: { offset: 7, epoch: '' }, reverse: false },
    });
    assertBadRequest('{"id":4,"history":{"channel":"a","since":5}}', /since must be an object/);
    assertBadRequest('{"id":4,"history":{"channel":"a","limit":"10"}}', /limit must be an integer/);
    assertBadRequest('{"id":4,"history":{"channel":"a","reverse":1}}', /reverse must be a boolean/);
  });

  test('rpc with method and data, and without data', () => {
    assert.deepEqual(decoded('{"id":8,"rpc":{"method":"getUser","data":{"id":1}}}'), {
      id: 8,
      method: 'rpc',
      req: { method: 'getUser', data: '{"id":1}' },
    });
    assert.deepEqual(one('{"id":8,"rpc":{}}'), { id: 8, method: 'rpc', req: { method: '', data: undefined } });
    assertBadRequest('{"id":8,"rpc":{"method":1}}', /method must be a string/);
  });

  test('send without id', () => {
    assert.deepEqual(decoded('{"send":{"data":{"async":true}}}'), {
      id: 0,
      method: 'send',
      req: { data: '{"async":true}' },
    });
  });

  test('refresh and sub_refresh', () => {
    assert.deepEqual(one('{"id":9,"refresh":{"token":"new"}}'), { id: 9, method: 'refresh', req: { token: 'new' } });
    assert.deepEqual(one('{"id":10,"sub_refresh":{"channel":"$a","token":"sub"}}'), {
      id: 10,
      method: 'sub_refresh',
      req: { channel: '$a', token: 'sub' },
    });
    assertBadRequest('{"id":9,"refresh":{"token":5}}', /token must be a string/);
  });

  test('ping (legacy) decodes', () => {
    assert.deepEqual(one('{"id":11,"ping":{}}'), { id: 11, method: 'ping', req: {} });
  });

  test('{} is a pong, also with id 0', () => {
    assert.deepEqual(one('{}'), { id: 0, method: 'pong', req: {} });
    assert.deepEqual(one('{"id":0}'), { id: 0, method: 'pong', req: {} });
  });

  test('an id without a known method is method "unknown"', () => {
    assert.deepEqual(one('{"id":5}'), { id: 5, method: 'unknown', req: {} });
    assert.deepEqual(one('{"id":6,"frobnicate":{"x":1}}'), { id: 6, method: 'unknown', req: {} });
  });

  test('unknown fields are ignored', () => {
    assert.deepEqual(one('{"id":1,"extra":true,"presence":{"channel":"a","future_field":[1]}}'), {
      id: 1,
      method: 'presence',
      req: { channel: 'a' },
    });
  });

  test('id bounds: 1 and 2^32-1 are accepted', () => {
    assert.equal(one('{"id":1,"presence":{"channel":"a"}}').id, 1);
    assert.equal(one('{"id":4294967295,"presence":{"channel":"a"}}').id, 4294967295);
  });

  test('decodeCommand decodes one line', () => {
    assert.deepEqual(decodeCommand('{"id":3,"presence":{"channel":"a"}}'), {
      id: 3,
      method: 'presence',
      req: { channel: 'a' },
    });
  });
});

describe('decodeFrame: bad requests (3501)', () => {
  test('malformed JSON', () => {
    assertBadRequest('{"id":1,', /malformed JSON/);
    assertBadRequest('not json', /malformed JSON/);
    assertBadRequest("{'id':1}", /malformed JSON/);
    // One bad line spoils the frame.
    assertBadRequest('{"id":1,"presence":{"channel":"a"}}\n{oops}', /malformed JSON/);
  });

  test('a JSON array, string, number, boolean or null instead of an object', () => {
    for (const frame of ['[]', '[{"id":1}]', '"hello"', '42', 'true', 'null']) {
      assertBadRequest(frame, /command must be a JSON object/);
    }
  });

  test('bad ids: negative, fractional, too large, non-numeric string, boolean', () => {
    assertBadRequest('{"id":-1,"presence":{"channel":"a"}}', /id out of range/);
    assertBadRequest('{"id":1.5,"presence":{"channel":"a"}}', /id out of range/);
    assertBadRequest('{"id":4294967296,"presence":{"channel":"a"}}', /id out of range/);
    assertBadRequest('{"id":1e20,"presence":{"channel":"a"}}', /id out of range/);
    assertBadRequest('{"id":"abc","presence":{"channel":"a"}}', /id must be a non-negative integer/);
    assertBadRequest('{"id":"","presence":{"channel":"a"}}', /id must be a non-negative integer/);
    assertBadRequest('{"id":true,"presence":{"channel":"a"}}', /id must be a non-negative integer/);
  });

  test('id given as a numeric string is a bad request', {}, () => {
    assertBadRequest('{"id":"7","presence":{"channel":"a"}}', /id/);
  });

  test('channel not a string', () => {
    assertBadRequest('{"id":1,"subscribe":{"channel":5}}', /channel must be a string/);
    assertBadRequest('{"id":1,"publish":{"channel":["a"],"data":1}}', /channel must be a string/);
    assertBadRequest('{"id":1,"presence":{"channel":{}}}', /channel must be a string/);
  });

  test('missing or empty channel for every channel method', () => {
    const methods: [string, string][] = [
      ['subscribe', ''],
      ['unsubscribe', ''],
      ['publish', ',"data":{}'],
      ['presence', ''],
      ['presence_stats', ''],
      ['history', ''],
      ['sub_refresh', ',"token":"t"'],
    ];
    for (const [method, extra] of methods) {
      const detail = new RegExp(`channel required for ${method}$`);
      assertBadRequest(`{"id":1,"${method}":{${extra.slice(1)}}}`, detail);
      assertBadRequest(`{"id":1,"${method}":{"channel":""${extra}}}`, detail);
      assertBadRequest(`{"id":1,"${method}":{"channel":null${extra}}}`, detail);
      assertBadRequest(`{"id":1,"${method}":null}`, detail);
    }
  });

  test('publish without data', () => {
    assertBadRequest('{"id":1,"publish":{"channel":"a"}}', /data required for publish/);
  });

  test('two methods in one command', () => {
    assertBadRequest('{"id":1,"subscribe":{"channel":"a"},"publish":{"channel":"a","data":1}}', /more than one method/);
    // Even a null second method counts as present.
    assertBadRequest('{"id":1,"presence":{"channel":"a"},"history":null}', /more than one method/);
  });

  test('params not an object', () => {
    assertBadRequest('{"id":1,"subscribe":5}', /subscribe must be an object/);
    assertBadRequest('{"id":1,"connect":"token"}', /connect must be an object/);
    assertBadRequest('{"id":1,"publish":[]}', /publish must be an object/);
    assertBadRequest('{"send":true}', /send must be an object/);
  });

  test('boolean fields given as strings or numbers', () => {
    assertBadRequest('{"id":1,"subscribe":{"channel":"a","recover":"true"}}', /recover must be a boolean/);
    assertBadRequest('{"id":1,"subscribe":{"channel":"a","join_leave":1}}', /join_leave must be a boolean/);
    assertBadRequest('{"id":1,"subscribe":{"channel":"a","positioned":"false"}}', /positioned must be a boolean/);
    assertBadRequest('{"id":1,"subscribe":{"channel":"a","recoverable":0}}', /recoverable must be a boolean/);
  });

  test('string fields given as other types', () => {
    assertBadRequest('{"id":1,"subscribe":{"channel":"a","epoch":1}}', /epoch must be a string/);
    assertBadRequest('{"id":1,"connect":{"token":{}}}', /token must be a string/);
    assertBadRequest('{"id":1,"connect":{"name":true}}', /name must be a string/);
  });

  test('the error is a DisconnectError carrying the 3501 disconnect', () => {
    try {
      decodeFrame('{"id":1,"subscribe":5}');
      assert.fail('expected a throw');
    } catch (e) {
      assert.ok(e instanceof DisconnectError, 'e instanceof DisconnectError');
      assert.ok(e instanceof Error, 'e instanceof Error');
      assert.deepEqual(e.disconnect, { code: 3501, reason: 'bad request' });
      assert.equal(e.detail, 'subscribe must be an object');
      assert.equal(e.message, 'bad request: subscribe must be an object');
    }
  });

  test('deeply nested data never crashes the decoder: it passes through byte for byte', () => {
    const depth = 20_000;
    const data = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const frame = `{"id":1,"publish":{"channel":"a","data":${data}}}`;
    let cmds: ReturnType<typeof decodeFrame> | undefined;
    try {
      cmds = decodeFrame(frame);
    } catch (e) {
      assert.ok(e instanceof DisconnectError, `only a bad request may be thrown, got ${(e as Error).name}`);
      return;
    }
    const cmd = cmds[0];
    assert.ok(cmd !== undefined && cmd.method === 'publish', "cmd !== undefined && cmd.method === 'publish'");
    assert.equal(text(cmd.req.data), data);
  });
});

describe('encode', () => {
  test('the ping (jsonCodec.ping, formerly PING_FRAME) is the empty command', () => {
    assert.equal(text(jsonCodec.ping), '{}');
  });

  test('encodeReply wraps the result with id and method, embedding payloads as-is', () => {
    assert.equal(text(encodeReply({ id: 3, method: 'publish', result: {} })), '{"id":3,"publish":{}}');
    assert.equal(
      text(encodeReply({ id: 4, method: 'rpc', result: { data: b('{"a":1}') } })),
      '{"id":4,"rpc":{"data":{"a":1}}}',
    );
    assert.equal(
      text(encodeReply({ id: 5, method: 'presence_stats', result: { numClients: 2, numUsers: 1 } })),
      '{"id":5,"presence_stats":{"num_clients":2,"num_users":1}}',
    );
  });

  test('an error reply writes temporary only when set', () => {
    assert.equal(
      text(encodeReply({ id: 7, method: 'error', error: { code: 103, message: 'permission denied' } })),
      '{"id":7,"error":{"code":103,"message":"permission denied"}}',
    );
    assert.equal(
      text(
        encodeReply({ id: 7, method: 'error', error: { code: 103, message: 'permission denied', temporary: false } }),
      ),
      '{"id":7,"error":{"code":103,"message":"permission denied"}}',
    );
    assert.equal(
      text(
        encodeReply({
          id: 8,
          method: 'error',
          error: { code: 100, message: 'internal server error', temporary: true },
        }),
      ),
      '{"id":8,"error":{"code":100,"message":"internal server error","temporary":true}}',
    );
    assert.deepEqual(
      JSON.parse(text(encodeReply({ id: 9, method: 'error', error: { code: 107, message: 'a "quoted"\nmessage' } }))),
      { id: 9, error: { code: 107, message: 'a "quoted"\nmessage' } },
    );
  });

  test('publication push: minimal publication omits offset 0, info and tags', () => {
    assert.equal(
      pubPush('news', { data: b('{"a":1}'), offset: 0 }),
      '{"push":{"channel":"news","pub":{"data":{"a":1}}}}',
    );
    assert.equal(
      pubPush('news', { data: b('"s"'), offset: 0, tags: {} }),
      '{"push":{"channel":"news","pub":{"data":"s"}}}',
    );
  });

  test('publication push: info with raw conn_info/chan_info, offset, tags', () => {
    const s = pubPush('ns:chat', {
      data: b('[1,2]'),
      info: { user: 'u1', client: 'c1', connInfo: b('{"name":"Alice"}'), chanInfo: b('{"role":"admin"}') },
      offset: 42,
      tags: { kind: 'msg', 'x-y': 'z' },
    });
    assert.equal(
      s,
      '{"push":{"channel":"ns:chat","pub":{"data":[1,2],' +
        '"info":{"user":"u1","client":"c1","conn_info":{"name":"Alice"},"chan_info":{"role":"admin"}},' +
        '"offset":42,"tags":{"kind":"msg","x-y":"z"}}}}',
    );
  });

  test('publication push: info without conn_info/chan_info, time, escaping of the channel', () => {
    const s = pubPush('we"ird\\ch', {
      data: b('null'),
      info: { user: '', client: 'c2' },
      offset: 1,
      time: 1700000000000,
    });
    assert.deepEqual(JSON.parse(s), {
      push: {
        channel: 'we"ird\\ch',
        pub: { data: null, info: { user: '', client: 'c2' }, offset: 1, time: 1700000000000 },
      },
    });
  });

  test('join and leave pushes', () => {
    const info = { user: '42', client: 'abc', connInfo: b('{"n":1}') };
    assert.equal(
      text(encodePush({ type: 'join', channel: 'room', info })),
      '{"push":{"channel":"room","join":{"info":{"user":"42","client":"abc","conn_info":{"n":1}}}}}',
    );
    assert.deepEqual(
      JSON.parse(
        text(encodePush({ type: 'leave', channel: 'room', info: { user: '', client: 'x', chanInfo: b('"ci"') } })),
      ),
      { push: { channel: 'room', leave: { info: { user: '', client: 'x', chan_info: 'ci' } } } },
    );
  });

  test('unsubscribe push', () => {
    assert.equal(
      text(encodePush({ type: 'unsubscribe', channel: 'a', code: 2000, reason: 'server unsubscribe' })),
      '{"push":{"channel":"a","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}',
    );
  });

  test('message push has no channel', () => {
    assert.equal(
      text(encodePush({ type: 'message', data: b('{"hi":true}') })),
      '{"push":{"message":{"data":{"hi":true}}}}',
    );
    assert.deepEqual(JSON.parse(text(encodePush({ type: 'message', data: b('"text"') }))), {
      push: { message: { data: 'text' } },
    });
  });

  test('connect result: non-expiring, no subs', () => {
    assert.equal(
      resultText({
        id: 1,
        method: 'connect',
        result: { client: 'c1', version: '0.1.0', expires: false, ttl: 0, ping: 25, pong: true },
      }),
      '{"client":"c1","version":"0.1.0","ping":25,"pong":true}',
    );
    // ttl is not written unless the connection expires; ping 0 and pong false are omitted.
    assert.deepEqual(
      JSON.parse(
        resultText({
          id: 1,
          method: 'connect',
          result: { client: 'c1', version: 'v', expires: false, ttl: 60, ping: 0, pong: false },
        }),
      ),
      { client: 'c1', version: 'v' },
    );
  });

  test('connect result: expiring, data, subs map, node, time', () => {
    const s = resultText({
      id: 1,
      method: 'connect',
      result: {
        client: 'c1',
        version: '1',
        expires: true,
        ttl: 120,
        data: b('{"welcome":1}'),
        subs: new Map([
          ['news', { recoverable: true, position: { offset: 3, epoch: 'ep' } }],
          ['$priv', {}],
        ]),
        ping: 25,
        pong: true,
        node: 'n1',
        time: 1700000000000,
      },
    });
    assert.deepEqual(JSON.parse(s), {
      client: 'c1',
      version: '1',
      expires: true,
      ttl: 120,
      data: { welcome: 1 },
      subs: { news: { recoverable: true, epoch: 'ep', offset: 3 }, $priv: {} },
      ping: 25,
      pong: true,
      node: 'n1',
      time: 1700000000000,
    });
  });

  test('connect result: an empty subs map is omitted', () => {
    const s = resultText({
      id: 1,
      method: 'connect',
      result: { client: 'c', version: 'v', expires: false, ttl: 0, subs: new Map(), ping: 0, pong: false },
    });
    assert.equal(s, '{"client":"c","version":"v"}');
  });

  test('subscribe result: empty result is {}', () => {
    assert.equal(resultText({ id: 1, method: 'subscribe', result: {} }), '{}');
    assert.equal(
      resultText({ id: 1, method: 'subscribe', result: { position: { offset: 0, epoch: '' }, publications: [] } }),
      '{}',
    );
  });

  test('subscribe result: every field', () => {
    const s = resultText({
      id: 1,
      method: 'subscribe',
      result: {
        expires: true,
        ttl: 30,
        recoverable: true,
        position: { offset: 10, epoch: 'xyz' },
        publications: [
          { data: b('{"n":9}'), offset: 9 },
          { data: b('{"n":10}'), offset: 10, info: { user: 'u', client: 'c' } },
        ],
        recovered: true,
        wasRecovering: true,
        positioned: true,
        data: b('{"sub":"data"}'),
      },
    });
    assert.deepEqual(JSON.parse(s), {
      expires: true,
      ttl: 30,
      recoverable: true,
      epoch: 'xyz',
      offset: 10,
      publications: [
        { data: { n: 9 }, offset: 9 },
        { data: { n: 10 }, offset: 10, info: { user: 'u', client: 'c' } },
      ],
      recovered: true,
      positioned: true,
      data: { sub: 'data' },
      was_recovering: true,
    });
  });

  test('subscribe result: recovery that failed writes was_recovering without recovered', () => {
    const s = resultText({
      id: 1,
      method: 'subscribe',
      result: { recoverable: true, position: { offset: 0, epoch: 'e' }, recovered: false, wasRecovering: true },
    });
    assert.equal(s, '{"recoverable":true,"epoch":"e","was_recovering":true}');
  });

  test('history result', () => {
    assert.equal(
      resultText({ id: 1, method: 'history', result: { publications: [], position: { offset: 0, epoch: '' } } }),
      '{}',
    );
    assert.equal(
      resultText({ id: 1, method: 'history', result: { publications: [], position: { offset: 5, epoch: 'e1' } } }),
      '{"epoch":"e1","offset":5}',
    );
    const s = resultText({
      id: 1,
      method: 'history',
      result: {
        publications: [
          { data: b('1'), offset: 4, tags: { t: 'v' } },
          { data: b('2'), offset: 5 },
        ],
        position: { offset: 5, epoch: 'e1' },
      },
    });
    assert.deepEqual(JSON.parse(s), {
      publications: [
        { data: 1, offset: 4, tags: { t: 'v' } },
        { data: 2, offset: 5 },
      ],
      epoch: 'e1',
      offset: 5,
    });
  });

  test('presence result keys entries by client id', () => {
    assert.equal(resultText({ id: 1, method: 'presence', result: { presence: [] } }), '{"presence":{}}');
    const s = resultText({
      id: 1,
      method: 'presence',
      result: {
        presence: [
          { user: 'u1', client: 'c1', connInfo: b('{"a":1}') },
          { user: '', client: 'c2', chanInfo: b('[true]') },
        ],
      },
    });
    assert.deepEqual(JSON.parse(s), {
      presence: {
        c1: { user: 'u1', client: 'c1', conn_info: { a: 1 } },
        c2: { user: '', client: 'c2', chan_info: [true] },
      },
    });
    // Any iterable works (e.g. a Map's values).
    const map = new Map([['c3', { user: 'u3', client: 'c3' }]]);
    assert.equal(
      text(encodeResult({ id: 1, method: 'presence', result: { presence: map.values() } })),
      '{"presence":{"c3":{"user":"u3","client":"c3"}}}',
    );
  });

  test('presence_stats result writes zeros too', () => {
    assert.equal(
      resultText({ id: 1, method: 'presence_stats', result: { numClients: 0, numUsers: 0 } }),
      '{"num_clients":0,"num_users":0}',
    );
    assert.deepEqual(
      JSON.parse(resultText({ id: 1, method: 'presence_stats', result: { numClients: 3, numUsers: 2 } })),
      { num_clients: 3, num_users: 2 },
    );
  });

  test('decode → encode round trip: published data reaches the push unchanged', () => {
    const cmd = one('{"id":1,"publish":{"channel":"chat","data":{"text":"hi","list":[1,{"x":null}]}}}');
    assert.equal(cmd.method, 'publish');
    if (cmd.method !== 'publish') return;
    const push = pubPush(cmd.req.channel, { data: cmd.req.data, offset: 0 });
    assert.deepEqual(JSON.parse(push), {
      push: { channel: 'chat', pub: { data: { text: 'hi', list: [1, { x: null }] } } },
    });
  });
});

// --- property-style fuzzing ---------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failure is reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID_FRAMES = [
  '{"id":1,"connect":{"token":"t","data":{"a":1},"subs":{"ch":{"recover":true,"offset":3,"epoch":"e"}},"name":"js"}}',
  '{"id":2,"subscribe":{"channel":"ns:a","recover":true,"offset":"5","epoch":"e","join_leave":true,"flag":1}}',
  '{"id":3,"unsubscribe":{"channel":"a"}}',
  '{"id":4,"publish":{"channel":"a","data":{"text":"hi","n":[1,2,3]}}}',
  '{"id":5,"presence":{"channel":"a"}}',
  '{"id":6,"presence_stats":{"channel":"a"}}',
  '{"id":7,"history":{"channel":"a","limit":10,"since":{"offset":1,"epoch":"e"},"reverse":true}}',
  '{"id":8,"rpc":{"method":"m","data":[1]}}',
  '{"send":{"data":"x"}}',
  '{"id":9,"refresh":{"token":"t"}}',
  '{"id":10,"sub_refresh":{"channel":"$a","token":"t"}}',
  '{}',
  '{"id":1,"presence":{"channel":"a"}}\n{"id":2,"presence":{"channel":"b"}}\n',
];

const METHODS = new Set([
  'connect',
  'subscribe',
  'unsubscribe',
  'publish',
  'presence',
  'presence_stats',
  'history',
  'rpc',
  'send',
  'refresh',
  'sub_refresh',
  'ping',
  'pong',
  'unknown',
]);

const TOKENS = ['{', '}', '[', ']', ':', ',', '"', '\\', '\n', '\r\n', ' ', '0', '-', '.', 'e', 'null', 'true', '"id"'];

function randomJsonValue(rand: () => number, depth = 0): unknown {
  const pick = Math.floor(rand() * (depth >= 2 ? 8 : 10));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return Math.floor(rand() * 10) - 3;
    case 3:
      return [1.5, -1, 2 ** 32, 2 ** 53 + 2, 1e300, -0][Math.floor(rand() * 6)];
    case 4:
      return ['', 'a', '12', '-1', '$x', 'ns:a', 'é', '\u0000'][Math.floor(rand() * 8)];
    case 5:
      return String(Math.floor(rand() * 1e6));
    case 6:
      return {};
    case 7:
      return [];
    case 8:
      return Array.from({ length: Math.floor(rand() * 3) }, () => randomJsonValue(rand, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      const keys = ['channel', 'data', 'offset', 'recover', 'epoch', 'token', 'subs', 'since', 'limit', 'flag', 'x'];
      for (let i = Math.floor(rand() * 3); i > 0; i--) {
        o[keys[Math.floor(rand() * keys.length)] as string] = randomJsonValue(rand, depth + 1);
      }
      return o;
    }
  }
}

/** Replaces one random value somewhere inside a parsed frame, or adds/removes a key. */
function mutateStructure(rand: () => number, value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return randomJsonValue(rand);
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o);
  const r = rand();
  if (keys.length === 0 || r < 0.2) {
    const newKeys = ['id', 'subscribe', 'publish', 'connect', 'channel', 'data', 'subs', 'since', 'send', 'zzz'];
    o[newKeys[Math.floor(rand() * newKeys.length)] as string] = randomJsonValue(rand);
    return o;
  }
  const k = keys[Math.floor(rand() * keys.length)] as string;
  if (r < 0.3) delete o[k];
  else if (r < 0.6) o[k] = mutateStructure(rand, o[k]);
  else o[k] = randomJsonValue(rand);
  return o;
}

function mutateText(rand: () => number, s: string): string {
  const n = 1 + Math.floor(rand() * 4);
  let out = s;
  for (let i = 0; i < n; i++) {
    const pos = Math.floor(rand() * (out.length + 1));
    const r = rand();
    if (r < 0.3) out = out.slice(0, pos) + out.slice(pos + 1);
    else if (r < 0.6) out = out.slice(0, pos) + (TOKENS[Math.floor(rand() * TOKENS.length)] as string) + out.slice(pos);
    else if (r < 0.8) out = out.slice(0, pos) + String.fromCharCode(Math.floor(rand() * 0x10000)) + out.slice(pos + 1);
    else {
      const end = Math.min(out.length, pos + Math.floor(rand() * 10));
      out = out.slice(0, end) + out.slice(pos, end) + out.slice(end);
    }
  }
  return out;
}

function randomBytes(rand: () => number): string {
  const len = Math.floor(rand() * 64);
  let s = '';
  for (let i = 0; i < len; i++) {
    const r = rand();
    if (r < 0.5) s += TOKENS[Math.floor(rand() * TOKENS.length)];
    else if (r < 0.8) s += String.fromCharCode(32 + Math.floor(rand() * 95));
    else s += String.fromCharCode(Math.floor(rand() * 0x10000));
  }
  return s;
}

/** Runs `decode` on `frame`; returns 'ok' or 'rejected', and fails the test on anything else. */
function outcome(frame: string, decode: () => Command[]): 'ok' | 'rejected' {
  let cmds: Command[];
  try {
    cmds = decode();
  } catch (e) {
    assert.ok(e instanceof DisconnectError, `non-DisconnectError ${String(e)} for ${JSON.stringify(frame)}`);
    assert.equal(e.disconnect.code, 3501, `code for ${JSON.stringify(frame)}`);
    assert.ok(typeof e.detail === 'string' && e.detail.length > 0, `detail for ${JSON.stringify(frame)}`);
    return 'rejected';
  }
  // What does decode must be well-formed.
  for (const c of cmds) {
    assert.ok(METHODS.has(c.method), `method ${c.method}`);
    assert.ok(Number.isInteger(c.id) && c.id >= 0 && c.id <= 0xffffffff, `id ${c.id}`);
    if (c.method === 'publish') {
      assert.ok(c.req.channel !== '', "c.req.channel !== ''");
      JSON.parse(text(c.req.data));
    }
    if ((c.method === 'subscribe' || c.method === 'presence' || c.method === 'history') && c.req.channel === '') {
      assert.fail(`empty channel accepted in ${JSON.stringify(frame)}`);
    }
  }
  return 'ok';
}

/**
 * Decodes `frame` as text (decodeFrame) and as the bytes a transport hands the session (the JSON codec); both
 * must either decode well-formed commands or reject with 3501, and agree on which.
 */
function decodeOrReject(frame: string): 'ok' | 'rejected' {
  const asText = outcome(frame, () => decodeFrame(frame, 8));
  const asBytes = outcome(frame, () => jsonCodec.decodeCommands(Buffer.from(frame), 8));
  assert.equal(asBytes, asText, `text and bytes decoding disagree on ${JSON.stringify(frame)}`);
  return asText;
}

describe('encode: every number is a JSON number', () => {
  const absurd = [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, -5, 1e300, 2.5];
  const numbersIn = (text: string) => text.match(/-?[\d.]+(e[+-]?\d+)?|Infinity|NaN/gi) ?? [];
  const one = Buffer.from('1');
  const str = (b: Uint8Array) => Buffer.from(b).toString();

  test('ttl, offsets, times and counts never come out as Infinity, NaN, negative or fractional', () => {
    for (const n of absurd) {
      const texts = [
        str(
          encodeReply({
            id: 1,
            method: 'connect',
            result: { client: 'c', version: 'v', expires: true, ttl: n, ping: n, pong: true, time: n },
          }),
        ),
        str(encodeReply({ id: 1, method: 'refresh', result: { client: 'c', version: 'v', expires: true, ttl: n } })),
        str(encodeReply({ id: 1, method: 'sub_refresh', result: { expires: true, ttl: n } })),
        str(
          encodeReply({
            id: 1,
            method: 'subscribe',
            result: { expires: true, ttl: n, recoverable: true, position: { offset: n, epoch: 'e' } },
          }),
        ),
        str(
          encodeReply({
            id: 1,
            method: 'history',
            result: { publications: [{ data: one, offset: n, time: n }], position: { offset: n, epoch: 'e' } },
          }),
        ),
        str(encodePush({ type: 'pub', channel: 'ch', pub: { data: one, offset: n, time: n } })),
        str(encodeReply({ id: 1, method: 'presence_stats', result: { numClients: n, numUsers: n } })),
        str(encodeReply({ id: n, method: 'ping', result: {} })),
      ];
      for (const text of texts) {
        assert.doesNotThrow(() => JSON.parse(text), `valid JSON for ${n}: ${text}`);
        for (const num of numbersIn(text)) {
          assert.match(num, /^\d+$/, `${num} in ${text} (from ${n}) is a non-negative integer`);
        }
      }
    }
  });

  test('ttl is the protocol uint32: a longer one is clamped, not wrapped', () => {
    const r = JSON.parse(
      str(
        encodeReply({
          id: 1,
          method: 'connect',
          result: { client: 'c', version: 'v', expires: true, ttl: 1e15, ping: 25, pong: true },
        }),
      ),
    );
    assert.equal(r.connect.ttl, 4294967295);
    const sr = JSON.parse(
      str(encodeReply({ id: 1, method: 'sub_refresh', result: { expires: true, ttl: Number.POSITIVE_INFINITY } })),
    );
    assert.equal(sr.sub_refresh.ttl, 4294967295);
  });
});

describe('decodeFrame: fuzz', () => {
  test('2,000 random strings never throw anything but DisconnectError 3501', () => {
    const rand = prng(0xc0ffee);
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      if (decodeOrReject(randomBytes(rand)) === 'rejected') rejected++;
    }
    // Random text is almost never a valid frame: the decoder must actually reject it.
    assert.ok(rejected > 1500, `only ${rejected} of 2000 rejected`);
  });

  test('2,000 textual mutations of valid frames never throw anything but DisconnectError 3501', () => {
    const rand = prng(1234567);
    const outcomes = { ok: 0, rejected: 0 };
    for (let i = 0; i < 2000; i++) {
      const base = VALID_FRAMES[Math.floor(rand() * VALID_FRAMES.length)] as string;
      outcomes[decodeOrReject(mutateText(rand, base))]++;
    }
    // Both paths are exercised: some mutations stay valid (e.g. inside strings), most break the frame.
    assert.ok(outcomes.ok > 0 && outcomes.rejected > 0, JSON.stringify(outcomes));
  });

  test('2,000 structural mutations of valid frames never throw anything but DisconnectError 3501', () => {
    const rand = prng(42);
    const outcomes = { ok: 0, rejected: 0 };
    for (let i = 0; i < 2000; i++) {
      const base = VALID_FRAMES[Math.floor(rand() * (VALID_FRAMES.length - 1))] as string;
      let value: unknown = JSON.parse(base);
      for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) value = mutateStructure(rand, value);
      outcomes[decodeOrReject(JSON.stringify(value))]++;
    }
    assert.ok(outcomes.ok > 100 && outcomes.rejected > 100, JSON.stringify(outcomes));
  });

  test('the valid seed frames all decode', () => {
    for (const frame of VALID_FRAMES) assert.equal(decodeOrReject(frame), 'ok', frame);
  });
});
