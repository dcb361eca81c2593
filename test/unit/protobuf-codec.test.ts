/**
 * The Protobuf codec against the wire format of Centrifugo's official protocol definitions
 * (github.com/centrifugal/protocol, definitions/client.proto), which the SDKs are generated from. Every literal
 * below was produced once by protobufjs from that official .proto (the .proto itself is not kept here): a
 * length-delimited Command as an SDK writes it, or the Reply an SDK expects to read. Decoding must give the typed
 * command; encoding must give those bytes exactly (Chorus writes no field at its zero value, as Centrifugo does).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DisconnectError } from '../../src/protocol/codes.js';
import type { Command, Push, Reply } from '../../src/protocol/messages.js';
import {
  decodeCommands,
  encodeBarePush,
  encodePush,
  encodeReply,
  protobufCodec,
} from '../../src/protocol/protobuf/protobuf-codec.js';

/** Official encodings, hex, each one length-delimited message. */
const OFFICIAL = {
  connect:
    '39080122350a03746f6b12077b2261223a317d1a100a046e6577731208180132026570380522026a732a05352e382e3032080a03782d68120176',
  connectUnknown: '110801220d0a0174380742036162634a0170',
  subscribe:
    '4308022a3f0a0463686174120273741801320265313880808080802042032278224801500158016206666f7373696c6a110a03616e64320a12016b1a0265712201767002',
  unsubscribe: '0a080332060a0463686174',
  publish: '1008043a0c0a046368617412040001feff',
  publishEmpty: '0a08053a060a0463686174',
  presence: '0a080642060a0463686174',
  presenceStats: '0a08074a060a0463686174',
  history: '16080852120a0463686174380a42060803120265314801',
  ping: '0408095a00',
  send: '0762050a03090807',
  rpc: '0c080a6a080a0101120373756d',
  refresh: '09080b72050a036e6577',
  subRefresh: '0f080c7a0b0a04636861741203737432',
  pong: '00',
  historyNegativeLimit: '15080d52110a046368617438ffffffffffffffffff01',
  errorReply: '1908031215086712117065726d697373696f6e2064656e696564',
  errorTemporary: '1f0804121b08641215696e7465726e616c20736572766572206572726f721801',
  connectResult:
    '4308012a3f0a0263311205302e312e301801203c2a077b2264223a317d32120a046e657773120a18013202657048075001381940014a02733152026e315880d095ffbc31',
  connectResultPlain: '1308012a0f0a0263311205302e312e3038194001',
  subscribeResult:
    '47080232430801101e1801320265313a29220201022a120a01751201631a077b226e223a317d2201ff30063a060a016b1201764881d095ffbc314001480650015a04227364226001',
  subscribeEmpty: '0408023200',
  publishReply: '0408044200',
  unsubscribeReply: '0408033a00',
  pingReply: '0408096200',
  presenceResult: '1d08064a190a170a02633112110a027531120263311a077b2278223a317d',
  presenceStatsResult: '080807520408031002',
  historyResult: '1e08085a1a0a0b22077b226e223a317d30010a052201003002120265311802',
  rpcResult: '08080a6a040a02cafe',
  rpcEmpty: '04080a6a00',
  refreshResult: '13080b720f0a0263311205302e312e3018012078',
  subRefreshResult: '08080c7a040801105a',
  pubPush: '272225120463686174221d220200ff2a060a0175120163302a3a060a01611201624882d095ffbc31',
  joinPush: '1b22191204636861742a110a0f0a017512016322077b2272223a317d',
  leavePush: '12221012046368617432080a060a0175120163',
  unsubscribePush: '21221f1204636861743a1710d00f1a1273657276657220756e737562736372696265',
  messagePush: '09220742050a03010203',
  subscribePush: '1c221a12046e6577734a120801220165280330013a077b2277223a317d',
  disconnectPush: '1322115a0f08b917120873687574646f776e1801',
  refreshPush: '08220662040801103c',
  connectPush: '132211520f0a0263311205302e312e3038194001',
  barePubPush: '0d12046368617422052201073001',
};

type Name = keyof typeof OFFICIAL;

const bytes = (name: Name) => Buffer.from(OFFICIAL[name], 'hex');
const text = (s: string) => Buffer.from(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function decodeOne(name: Name): Command {
  const commands = decodeCommands(bytes(name));
  assert.equal(commands.length, 1, `${name}: one command`);
  return commands[0] as Command;
}

describe('protobuf codec: commands as the official SDKs encode them', () => {
  test('connect with token, data, subs (recovery positions), name, version and headers', () => {
    assert.deepEqual(decodeOne('connect'), {
      id: 1,
      method: 'connect',
      req: {
        token: 'tok',
        data: text('{"a":1}'),
        subs: new Map([['news', { recover: true, offset: 5, epoch: 'ep' }]]),
        name: 'js',
        version: '5.8.0',
        headers: { 'x-h': 'v' },
      },
    });
  });

  test('fields of newer protocol versions (connect flag, dict, profile) are skipped, not refused', () => {
    const c = decodeOne('connectUnknown');
    assert.equal(c.method, 'connect');
    assert.equal(c.method === 'connect' && c.req.token, 't');
  });

  test('subscribe with every field; a 2^40 offset survives; tag filters and delta are skipped', () => {
    assert.deepEqual(decodeOne('subscribe'), {
      id: 2,
      method: 'subscribe',
      req: {
        channel: 'chat',
        token: 'st',
        recover: true,
        offset: 2 ** 40,
        epoch: 'e1',
        data: text('"x"'),
        positioned: true,
        recoverable: true,
        joinLeave: true,
        flag: 2,
      },
    });
  });

  test('publish carries arbitrary bytes; empty data (not on the wire in proto3) is an empty payload', () => {
    assert.deepEqual(decodeOne('publish'), {
      id: 4,
      method: 'publish',
      req: { channel: 'chat', data: Buffer.from([0, 1, 0xfe, 0xff]) },
    });
    assert.deepEqual(decodeOne('publishEmpty'), {
      id: 5,
      method: 'publish',
      req: { channel: 'chat', data: Buffer.alloc(0) },
    });
  });

  test('unsubscribe, presence, presence_stats, ping, refresh, sub_refresh', () => {
    assert.deepEqual(decodeOne('unsubscribe'), { id: 3, method: 'unsubscribe', req: { channel: 'chat' } });
    assert.deepEqual(decodeOne('presence'), { id: 6, method: 'presence', req: { channel: 'chat' } });
    assert.deepEqual(decodeOne('presenceStats'), { id: 7, method: 'presence_stats', req: { channel: 'chat' } });
    assert.deepEqual(decodeOne('ping'), { id: 9, method: 'ping', req: {} });
    assert.deepEqual(decodeOne('refresh'), { id: 11, method: 'refresh', req: { token: 'new' } });
    assert.deepEqual(decodeOne('subRefresh'), {
      id: 12,
      method: 'sub_refresh',
      req: { channel: 'chat', token: 'st2' },
    });
  });

  test('history with limit, since and reverse; a negative limit decodes as such', () => {
    assert.deepEqual(decodeOne('history'), {
      id: 8,
      method: 'history',
      req: { channel: 'chat', limit: 10, since: { offset: 3, epoch: 'e1' }, reverse: true },
    });
    const negative = decodeOne('historyNegativeLimit');
    assert.equal(negative.method === 'history' && negative.req.limit, -1);
  });

  test('rpc and send (send has no id)', () => {
    assert.deepEqual(decodeOne('rpc'), { id: 10, method: 'rpc', req: { method: 'sum', data: Buffer.from([1]) } });
    assert.deepEqual(decodeOne('send'), { id: 0, method: 'send', req: { data: Buffer.from([9, 8, 7]) } });
  });

  test('an empty command is the pong', () => {
    assert.deepEqual(decodeOne('pong'), { id: 0, method: 'pong', req: {} });
  });

  test('several commands in one frame keep their order', () => {
    const frame = Buffer.concat([bytes('connect'), bytes('subscribe'), bytes('publish'), bytes('pong')]);
    assert.deepEqual(
      decodeCommands(frame).map((c) => c.method),
      ['connect', 'subscribe', 'publish', 'pong'],
    );
  });

  test('payloads are copies: they never keep the frame alive (nor change with it)', () => {
    const frame = bytes('publish');
    const [c] = decodeCommands(frame);
    frame.fill(0);
    assert.deepEqual(c?.method === 'publish' && Buffer.from(c.req.data), Buffer.from([0, 1, 0xfe, 0xff]));
  });

  test('malformed frames are 3501 (bad request), never another exception', () => {
    const cases: Array<[string, Buffer]> = [
      ['a length past the end', Buffer.from([100, 1, 2, 3])],
      ['a truncated official command', bytes('connect').subarray(0, 20)],
      ['an invalid wire type', Buffer.from([1, 0x0f])],
      ['a channel-less subscribe', Buffer.from('04080a2a00', 'hex')],
      ['two methods in one command', Buffer.from('0e08012200' + '2a060a0463686174', 'hex')],
    ];
    for (const [what, frame] of cases) {
      assert.throws(
        () => decodeCommands(frame),
        (e: unknown) => e instanceof DisconnectError && e.disconnect.code === 3501,
        what,
      );
    }
  });

  test('at most maxCommands commands per frame', () => {
    const frame = Buffer.concat(Array.from({ length: 3 }, () => bytes('ping')));
    assert.equal(decodeCommands(frame, 3).length, 3);
    assert.throws(
      () => decodeCommands(frame, 2),
      (e: unknown) => e instanceof DisconnectError && e.disconnect.code === 3501,
    );
  });
});

/** Replies as the core builds them, and the official bytes an SDK expects for each. */
const REPLIES: Array<[Name, Reply]> = [
  ['errorReply', { id: 3, method: 'error', error: { code: 103, message: 'permission denied' } }],
  [
    'errorTemporary',
    { id: 4, method: 'error', error: { code: 100, message: 'internal server error', temporary: true } },
  ],
  [
    'connectResult',
    {
      id: 1,
      method: 'connect',
      result: {
        client: 'c1',
        version: '0.1.0',
        expires: true,
        ttl: 60,
        data: text('{"d":1}'),
        subs: new Map([['news', { recoverable: true, position: { epoch: 'ep', offset: 7 }, positioned: true }]]),
        ping: 25,
        pong: true,
        session: 's1',
        node: 'n1',
        time: 1_700_000_000_000,
      },
    },
  ],
  [
    'connectResultPlain',
    {
      id: 1,
      method: 'connect',
      result: { client: 'c1', version: '0.1.0', expires: false, ttl: 0, ping: 25, pong: true },
    },
  ],
  [
    'subscribeResult',
    {
      id: 2,
      method: 'subscribe',
      result: {
        expires: true,
        ttl: 30,
        recoverable: true,
        position: { epoch: 'e1', offset: 6 },
        publications: [
          {
            data: Buffer.from([1, 2]),
            offset: 6,
            info: { user: 'u', client: 'c', connInfo: text('{"n":1}'), chanInfo: Buffer.from([0xff]) },
            tags: { k: 'v' },
            time: 1_700_000_000_001,
          },
        ],
        recovered: true,
        positioned: true,
        data: text('"sd"'),
        wasRecovering: true,
      },
    },
  ],
  ['subscribeEmpty', { id: 2, method: 'subscribe', result: {} }],
  ['publishReply', { id: 4, method: 'publish', result: {} }],
  ['unsubscribeReply', { id: 3, method: 'unsubscribe', result: {} }],
  ['pingReply', { id: 9, method: 'ping', result: {} }],
  [
    'presenceResult',
    { id: 6, method: 'presence', result: { presence: [{ user: 'u1', client: 'c1', connInfo: text('{"x":1}') }] } },
  ],
  ['presenceStatsResult', { id: 7, method: 'presence_stats', result: { numClients: 3, numUsers: 2 } }],
  [
    'historyResult',
    {
      id: 8,
      method: 'history',
      result: {
        publications: [
          { data: text('{"n":1}'), offset: 1 },
          { data: Buffer.from([0]), offset: 2 },
        ],
        position: { epoch: 'e1', offset: 2 },
      },
    },
  ],
  ['rpcResult', { id: 10, method: 'rpc', result: { data: Buffer.from([0xca, 0xfe]) } }],
  ['rpcEmpty', { id: 10, method: 'rpc', result: {} }],
  ['refreshResult', { id: 11, method: 'refresh', result: { client: 'c1', version: '0.1.0', expires: true, ttl: 120 } }],
  ['subRefreshResult', { id: 12, method: 'sub_refresh', result: { expires: true, ttl: 90 } }],
];

const PUSHES: Array<[Name, Push]> = [
  [
    'pubPush',
    {
      type: 'pub',
      channel: 'chat',
      pub: {
        data: Buffer.from([0, 255]),
        info: { user: 'u', client: 'c' },
        offset: 42,
        tags: { a: 'b' },
        time: 1_700_000_000_002,
      },
    },
  ],
  ['joinPush', { type: 'join', channel: 'chat', info: { user: 'u', client: 'c', chanInfo: text('{"r":1}') } }],
  ['leavePush', { type: 'leave', channel: 'chat', info: { user: 'u', client: 'c' } }],
  ['unsubscribePush', { type: 'unsubscribe', channel: 'chat', code: 2000, reason: 'server unsubscribe' }],
  ['messagePush', { type: 'message', data: Buffer.from([1, 2, 3]) }],
  [
    'subscribePush',
    {
      type: 'subscribe',
      channel: 'news',
      sub: { recoverable: true, position: { epoch: 'e', offset: 3 }, positioned: true, data: text('{"w":1}') },
    },
  ],
  ['disconnectPush', { type: 'disconnect', code: 3001, reason: 'shutdown', reconnect: true }],
  ['refreshPush', { type: 'refresh', expires: true, ttl: 60 }],
  [
    'connectPush',
    { type: 'connect', connect: { client: 'c1', version: '0.1.0', expires: false, ttl: 0, ping: 25, pong: true } },
  ],
];

describe('protobuf codec: replies and pushes byte for byte as the official definitions encode them', () => {
  for (const [name, reply] of REPLIES) {
    test(`reply: ${name}`, () => {
      assert.equal(hex(encodeReply(reply)), OFFICIAL[name]);
    });
  }
  for (const [name, push] of PUSHES) {
    test(`push: ${name}`, () => {
      assert.equal(hex(encodePush(push)), OFFICIAL[name]);
    });
  }

  test('a bare push (unidirectional transports) is the Push message alone', () => {
    const push: Push = { type: 'pub', channel: 'chat', pub: { data: Buffer.from([7]), offset: 1 } };
    assert.equal(hex(encodeBarePush(push)), OFFICIAL.barePubPush);
  });

  test('the server ping is an empty Reply (a zero length)', () => {
    assert.equal(hex(protobufCodec.ping), '00');
  });
});
