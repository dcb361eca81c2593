/**
 * Properties of the JSON codec over generated input: decoding any text either yields well-typed commands whose
 * raw payloads are exactly the JSON that was sent, or a DisconnectError (3501), never another exception; every
 * encoder produces valid JSON for any typed input, with raw payloads embedded byte for byte; and what is encoded
 * reads back as it was.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DisconnectError } from '../../src/protocol/codes.js';
import { decodeCommand, decodeFrame } from '../../src/protocol/json/decode.js';
import { encodePush, encodeReply } from '../../src/protocol/json/encode.js';
import { markJson } from '../../src/protocol/json-payload.js';
import type { ClientInfo, Command, ConnectResult, Publication, SubscribeResult } from '../../src/protocol/messages.js';
import { rawValueAt } from '../../src/protocol/raw-json.js';
import { announce, check, jsonEqual } from './fuzz-options.js';
import { deepJSON, FIELDS, hostileLine, METHODS, mutate, ODD_VALUES, Rng } from './hostile-inputs.js';

announce('codec');

const MAX_UINT32 = 0xffffffff;
/** With the u flag, only an unpaired surrogate is a code point of category Cs. */
const LONE_SURROGATE = /\p{Cs}/u;

// --- arbitraries ---------------------------------------------------------------------------------------------

/** Any string, lone surrogates and control characters included. */
const anyString = fc.string({ unit: 'binary', maxLength: 40 });

/** JSON text of any value, compact or spread over whitespace, sometimes with numbers JSON.stringify never writes. */
const rawJSON: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.json({ maxDepth: 4, stringUnit: 'binary' }) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(0, 1, 2, '\t', ' \r\n '))
      .map(([v, indent]) => JSON.stringify(v, null, indent)),
  },
  { weight: 1, arbitrary: fc.constantFrom(...ODD_VALUES, '12345678901234567890', '1.50', '1E+2', ' [ 1 , 2 ] ') },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((d) => deepJSON(d, new Rng(d))) },
);

/** Payload bytes: the UTF-8 of JSON text, as a JSON client sends them. */
const payloadBytes = rawJSON.map((t) => Buffer.from(t));

const clientInfo: fc.Arbitrary<ClientInfo> = fc.record(
  { user: anyString, client: anyString, connInfo: payloadBytes, chanInfo: payloadBytes },
  { requiredKeys: ['user', 'client'], noNullPrototype: true },
);

const offset = fc.oneof(fc.constant(0), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER));

const publication: fc.Arbitrary<Publication> = fc.record(
  {
    data: payloadBytes,
    info: clientInfo,
    offset,
    tags: fc.dictionary(anyString, anyString, { maxKeys: 4, noNullPrototype: true }),
    time: fc.nat(),
  },
  { requiredKeys: ['data', 'offset'], noNullPrototype: true },
);

const position = fc.record({ offset, epoch: anyString }, { noNullPrototype: true });

// --- helpers -------------------------------------------------------------------------------------------------

const utf8 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
// Not valid JSON on its own (raw control characters), so it is marked as JSON-sourced: the encoder embeds it as is.
/** JSON payloads are kept on one line (messages are newline-separated); a raw CR or LF in JSON is whitespace. */
const oneLine = (text: string) => text.replace(/[\r\n]/g, ' ');
const MARKER = markJson(Buffer.from('"\u0001raw-payload-marker\u0002"'));

/**
 * Byte-for-byte passthrough (line breaks aside): encoding with `payload` gives exactly what encoding with a
 * unique marker gives, with the payload's bytes put in the marker's place. So the payload is neither
 * re-serialised nor moved.
 */
function assertRawPassthrough(encodeWith: (payload: Uint8Array) => Uint8Array, payload: Uint8Array): void {
  const withMarker = Buffer.from(encodeWith(MARKER));
  const at = withMarker.indexOf(MARKER);
  assert.ok(at >= 0 && withMarker.indexOf(MARKER, at + 1) < 0, 'the marker appears exactly once');
  // JSON text goes out on one line (messages are newline-separated): a raw CR or LF, whitespace in JSON, is a space.
  const oneLine = Buffer.from(payload).map((b) => (b === 0x0a || b === 0x0d ? 0x20 : b));
  const expected = Buffer.concat([withMarker.subarray(0, at), oneLine, withMarker.subarray(at + MARKER.length)]);
  assert.ok(Buffer.from(encodeWith(payload)).equals(expected), 'the payload is embedded as sent');
}

function parses(bytes: Uint8Array, what: string): unknown {
  const text = utf8(bytes);
  try {
    return JSON.parse(text);
  } catch (e) {
    assert.fail(`${what} is not valid JSON (${(e as Error).message}): ${text.slice(0, 300)}`);
  }
}

function sameJSON(actual: unknown, expected: unknown, what = 'value'): void {
  assert.ok(jsonEqual(actual, expected), `${what} reads back as it was given`);
}

function expectedInfo(i: ClientInfo): Record<string, unknown> {
  const o: Record<string, unknown> = { user: i.user, client: i.client };
  if (i.connInfo !== undefined) o.conn_info = JSON.parse(utf8(i.connInfo));
  if (i.chanInfo !== undefined) o.chan_info = JSON.parse(utf8(i.chanInfo));
  return o;
}

function expectedPublication(p: Publication): Record<string, unknown> {
  const o: Record<string, unknown> = { data: JSON.parse(utf8(p.data)) };
  if (p.info !== undefined) o.info = expectedInfo(p.info);
  if (p.offset > 0) o.offset = p.offset;
  if (p.tags !== undefined && Object.keys(p.tags).length > 0) o.tags = { ...p.tags };
  if (p.time !== undefined && p.time > 0) o.time = p.time;
  return o;
}

/** Lines of a frame as the protocol defines them: split on \n, trimmed, blank ones skipped. */
function frameLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** Checks one decoded command against the JSON line it came from. */
function assertWellTyped(cmd: Command, line: string): void {
  assert.ok(Number.isInteger(cmd.id) && cmd.id >= 0 && cmd.id <= MAX_UINT32, `id ${cmd.id} is a uint32`);
  const o = JSON.parse(line) as Record<string, unknown>;
  if (cmd.method === 'pong' || cmd.method === 'unknown') {
    assert.ok(
      METHODS.every((m) => o[m] === undefined),
      'pong/unknown only without a method',
    );
    return;
  }
  const p = (o[cmd.method] ?? {}) as Record<string, unknown>;
  const req = cmd.req as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(req)) {
    if (k === 'data') {
      if (v === undefined) assert.equal(p.data, undefined, 'data is kept when sent');
      // A frame's text always comes from validated UTF-8 (WebSocket text frames, HTTP bodies), so it never holds
      // a lone surrogate; for such text only the "no exception but DisconnectError" promise is checked.
      else if (!LONE_SURROGATE.test(line)) {
        assert.ok(v instanceof Uint8Array, 'a payload is bytes');
        assert.ok(jsonEqual(JSON.parse(utf8(v)), p.data), 'the payload is the JSON that was sent');
      }
      continue;
    }
    if (typeof v === 'number') {
      assert.ok(Number.isSafeInteger(v), `${cmd.method}.${k} = ${v} is a safe integer`);
      if (k !== 'flag' && k !== 'limit') assert.ok(v >= 0, `${cmd.method}.${k} is not negative`);
    }
  }
  if ('channel' in req) assert.ok(typeof req.channel === 'string' && req.channel !== '', 'a channel is required');
}

/** Decodes a frame: commands (each checked) or a DisconnectError with 3501; anything else fails the property. */
function decodeChecked(text: string): void {
  let cmds: Command[];
  try {
    cmds = decodeFrame(text);
  } catch (e) {
    assert.ok(e instanceof DisconnectError, `only DisconnectError may escape decodeFrame, got ${String(e)}`);
    assert.equal(e.disconnect.code, 3501, 'a bad frame is a bad request');
    return;
  }
  const lines = frameLines(text);
  assert.equal(cmds.length, lines.length, 'one command per non-blank line');
  cmds.forEach((c, i) => {
    assertWellTyped(c, lines[i] as string);
  });
}

// --- properties ----------------------------------------------------------------------------------------------

describe('decodeFrame over any input', () => {
  test('any string: commands or DisconnectError 3501', () => {
    check(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 200 })), (s) => {
        decodeChecked(s);
      }),
      3000,
    );
  });

  test('any JSON value, and objects with method keys holding any value', () => {
    const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(...ODD_VALUES.map((v) => JSON.parse(v))));
    const commandLike = fc
      .record({ id: anyValue, method: fc.constantFrom(...METHODS), params: anyValue, extra: fc.option(anyValue) })
      .map(({ id, method, params: p, extra }) =>
        JSON.stringify(extra === null ? { id, [method]: p } : { id, [method]: p, extra }),
      );
    // Built as text, so keys may repeat (the last one counts, as in JSON.parse): values mostly of the right type
    // for their field, so that most commands decode and their fields are checked, sometimes odd.
    const typed: Record<string, fc.Arbitrary<string>> = {
      channel: fc.constantFrom('"c"', '"ns:c"', '"$p"'),
      token: fc.constantFrom('""', '"t"'),
      epoch: fc.constantFrom('""', '"e"'),
      name: fc.constant('"n"'),
      version: fc.constant('"v"'),
      method: fc.constant('"m"'),
      data: rawJSON,
      offset: fc.constantFrom('0', '5', '"18446744073709551615"', '18446744073709551615'),
      flag: fc.constantFrom('0', '-3', '4294967295'),
      limit: fc.constantFrom('0', '-1', '100'),
      since: fc.constantFrom('{"offset":1,"epoch":"e"}', '{}', 'null'),
      subs: fc.constantFrom('{"c":{"recover":true,"offset":3}}', '{}'),
    };
    const fieldValue = (k: string) =>
      fc.oneof({ weight: 5, arbitrary: typed[k] ?? fc.constantFrom('true', 'false') }, fc.constantFrom(...ODD_VALUES));
    const fields = fc
      .array(
        fc.constantFrom(...FIELDS).chain((k) => fieldValue(k).map((v) => `"${k}":${v}`)),
        { maxLength: 6 },
      )
      .map((entries) => `{"channel":"c",${entries.join(',')}}`.replace(/,}$/, '}'));
    const repeatedKeys = fc
      .tuple(
        fc.oneof({ weight: 5, arbitrary: fc.constant('1') }, fc.constantFrom(...ODD_VALUES)),
        fc.constantFrom(...METHODS),
        fields,
      )
      .map(([id, m, p]) => `{"id":${id},"${m}":${p}}`);
    check(
      fc.property(fc.oneof(fc.json({ maxDepth: 4 }), commandLike, repeatedKeys), (s) => {
        decodeChecked(s);
      }),
      3000,
    );
  });

  test('mutated valid commands, several per frame, with any line endings', () => {
    const frame = fc
      .tuple(fc.integer(), fc.integer({ min: 1, max: 8 }), fc.constantFrom('\n', '\r\n', '\n\n', ' \n\t'))
      .map(([seed, n, sep]) => {
        const rng = new Rng(seed);
        return Array.from({ length: n }, (_, i) => hostileLine(rng, i + 1)).join(sep);
      });
    check(
      fc.property(frame, (s) => {
        decodeChecked(s);
      }),
      4000,
    );
  });

  test('deep nesting in every position', () => {
    const deep = fc
      .tuple(fc.integer({ min: 1, max: 20_000 }), fc.integer(), fc.constantFrom('data', 'subs', 'since', 'id', 'top'))
      .map(([depth, seed, where]) => {
        const d = deepJSON(depth, new Rng(seed));
        if (where === 'top') return d;
        if (where === 'id') return `{"id":${d},"ping":{}}`;
        if (where === 'data') return `{"id":1,"publish":{"channel":"c","data":${d}}}`;
        if (where === 'subs') return `{"id":1,"connect":{"subs":{"c":${d}}}}`;
        return `{"id":1,"history":{"channel":"c","since":${d}}}`;
      });
    check(
      fc.property(deep, (s) => {
        decodeChecked(s);
      }),
      150,
    );
  });

  test('a frame over the command limit is a bad request, never partly run', () => {
    check(
      fc.property(fc.integer({ min: 1025, max: 10_000 }), (n) => {
        assert.throws(
          () => decodeFrame('{}\n'.repeat(n)),
          (e: unknown) => e instanceof DisconnectError && e.disconnect.code === 3501,
          `${n} commands in one frame`,
        );
      }),
      20,
    );
  });
});

describe('encoders over any typed input', () => {
  const subscribeResult: fc.Arbitrary<SubscribeResult> = fc.record(
    {
      expires: fc.boolean(),
      ttl: fc.nat(),
      recoverable: fc.boolean(),
      position,
      publications: fc.array(publication, { maxLength: 4 }),
      recovered: fc.boolean(),
      wasRecovering: fc.boolean(),
      positioned: fc.boolean(),
      data: payloadBytes,
    },
    { requiredKeys: [], noNullPrototype: true },
  );
  const connectResult: fc.Arbitrary<ConnectResult> = fc.record(
    {
      client: anyString,
      version: anyString,
      expires: fc.boolean(),
      ttl: fc.nat(),
      data: payloadBytes,
      subs: fc.array(fc.tuple(anyString, subscribeResult), { maxLength: 3 }).map((e) => new Map(e)),
      ping: fc.nat(),
      pong: fc.boolean(),
      node: anyString,
      time: fc.nat(),
    },
    { requiredKeys: ['client', 'version', 'expires', 'ttl', 'ping', 'pong'], noNullPrototype: true },
  );

  test('publication, join, leave, unsubscribe and message pushes: fields as given, payloads byte for byte', () => {
    check(
      fc.property(
        anyString,
        publication,
        clientInfo,
        fc.integer({ min: 0, max: 4999 }),
        anyString,
        payloadBytes,
        (ch, pub, info, code, reason, data) => {
          const p = parses(encodePush({ type: 'pub', channel: ch, pub }), 'publication push') as {
            push: { channel: string; pub: unknown };
          };
          assert.equal(p.push.channel, ch);
          sameJSON(p.push.pub, expectedPublication(pub), 'publication');
          assertRawPassthrough((d) => encodePush({ type: 'pub', channel: ch, pub: { ...pub, data: d } }), pub.data);
          if (pub.info?.connInfo !== undefined) {
            const i = pub.info;
            assertRawPassthrough(
              (d) => encodePush({ type: 'pub', channel: ch, pub: { ...pub, info: { ...i, connInfo: d } } }),
              i.connInfo as Uint8Array,
            );
          }
          sameJSON(
            parses(encodePush({ type: 'join', channel: ch, info }), 'join'),
            { push: { channel: ch, join: { info: expectedInfo(info) } } },
            'join',
          );
          sameJSON(
            parses(encodePush({ type: 'leave', channel: ch, info }), 'leave'),
            { push: { channel: ch, leave: { info: expectedInfo(info) } } },
            'leave',
          );
          sameJSON(
            parses(encodePush({ type: 'unsubscribe', channel: ch, code, reason }), 'unsubscribe'),
            { push: { channel: ch, unsubscribe: { code, reason } } },
            'unsubscribe',
          );
          sameJSON(
            parses(encodePush({ type: 'message', data }), 'message'),
            { push: { message: { data: JSON.parse(utf8(data)) } } },
            'message',
          );
          assertRawPassthrough((d) => encodePush({ type: 'message', data: d }), data);
        },
      ),
      1500,
    );
  });

  test('error replies, and connect, subscribe, history, presence and stats results', () => {
    const error = fc.record(
      { code: fc.integer({ min: 0, max: 65535 }), message: anyString, temporary: fc.boolean() },
      { requiredKeys: ['code', 'message'], noNullPrototype: true },
    );
    check(
      fc.property(
        fc.integer({ min: 1, max: MAX_UINT32 }),
        error,
        connectResult,
        subscribeResult,
        fc.array(publication, { maxLength: 4 }),
        position,
        fc.array(clientInfo, { maxLength: 4 }),
        fc.tuple(fc.nat(), fc.nat()),
        (id, err, cr, sr, pubs, pos, infos, [nc, nu]) => {
          sameJSON(parses(encodeReply({ id, method: 'error', error: err }), 'error reply'), {
            id,
            error: { code: err.code, message: err.message, ...(err.temporary ? { temporary: true } : {}) },
          });
          const c = parses(encodeReply({ id, method: 'connect', result: cr }), 'connect reply') as {
            id: number;
            connect: Record<string, unknown>;
          };
          assert.equal(c.id, id);
          assert.equal(c.connect.client, cr.client);
          if (cr.data !== undefined)
            assertRawPassthrough((d) => encodeReply({ id, method: 'connect', result: { ...cr, data: d } }), cr.data);
          if (cr.subs !== undefined && cr.subs.size > 0) {
            assert.deepEqual(Object.keys(c.connect.subs as object).sort(), [...cr.subs.keys()].sort());
          }
          const s = parses(encodeReply({ id, method: 'subscribe', result: sr }), 'subscribe reply') as {
            subscribe: Record<string, unknown>;
          };
          if (sr.publications !== undefined && sr.publications.length > 0) {
            sameJSON(s.subscribe.publications, sr.publications.map(expectedPublication), 'recovered publications');
          }
          if (sr.data !== undefined)
            assertRawPassthrough((d) => encodeReply({ id, method: 'subscribe', result: { ...sr, data: d } }), sr.data);
          parses(encodePush({ type: 'subscribe', channel: 'c', sub: sr }), 'subscribe push');
          const h = parses(
            encodeReply({ id, method: 'history', result: { publications: pubs, position: pos } }),
            'history',
          ) as { history: Record<string, unknown> };
          sameJSON(h.history.publications ?? [], pubs.map(expectedPublication), 'history');
          const p = parses(encodeReply({ id, method: 'presence', result: { presence: infos } }), 'presence') as {
            presence: { presence: Record<string, unknown> };
          };
          // Later entries with the same client id win, as in a JSON object.
          const expected: Record<string, unknown> = Object.create(null);
          for (const i of infos) expected[i.client] = expectedInfo(i);
          sameJSON(p.presence.presence, expected, 'presence');
          sameJSON(
            parses(encodeReply({ id, method: 'presence_stats', result: { numClients: nc, numUsers: nu } }), 'stats'),
            {
              id,
              presence_stats: { num_clients: nc, num_users: nu },
            },
          );
        },
      ),
      800,
    );
  });
});

describe('round trips', () => {
  test('a typed command written as JSON (any spacing) decodes to the same command', () => {
    const channel = anyString.filter((c) => c !== '');
    const cmd = fc.oneof(
      fc.record({
        id: fc.integer({ min: 1, max: MAX_UINT32 }),
        method: fc.constant('publish' as const),
        channel,
        data: rawJSON,
      }),
      fc.record({
        id: fc.integer({ min: 1, max: MAX_UINT32 }),
        method: fc.constant('history' as const),
        channel,
        limit: fc.integer({ min: -MAX_UINT32, max: MAX_UINT32 }),
        reverse: fc.boolean(),
        since: fc.option(position),
      }),
      fc.record({
        id: fc.integer({ min: 1, max: MAX_UINT32 }),
        method: fc.constant('subscribe' as const),
        channel,
        offset,
        epoch: anyString,
        recover: fc.boolean(),
        data: fc.option(rawJSON),
        flag: fc.integer({ min: -MAX_UINT32, max: MAX_UINT32 }),
      }),
    );
    check(
      fc.property(cmd, fc.constantFrom('', ' ', '\n\t '), (c, ws) => {
        const q = JSON.stringify;
        let text: string;
        if (c.method === 'publish') {
          text = `{${ws}"id"${ws}:${ws}${c.id},"publish":{"channel":${q(c.channel)},${ws}"data":${ws}${c.data}${ws}}}`;
          const d = decodeCommand(text);
          assert.deepEqual(d, {
            id: c.id,
            method: 'publish',
            req: { channel: c.channel, data: Buffer.from(oneLine(c.data.trim())) },
          });
        } else if (c.method === 'history') {
          const since = c.since === null ? '' : `,"since":{"offset":${c.since.offset},"epoch":${q(c.since.epoch)}}`;
          text = `{"id":${c.id},${ws}"history":{"channel":${q(c.channel)},"limit":${c.limit},"reverse":${c.reverse}${since}}}`;
          assert.deepEqual(decodeCommand(text), {
            id: c.id,
            method: 'history',
            req: { channel: c.channel, limit: c.limit, reverse: c.reverse, since: c.since ?? undefined },
          });
        } else {
          const data = c.data === null ? '' : `,"data":${ws}${c.data}`;
          text = `{"id":${c.id},"subscribe":{"channel":${q(c.channel)},"offset":${c.offset},"epoch":${q(c.epoch)},"recover":${c.recover},"flag":${c.flag}${data}}}`;
          assert.deepEqual(decodeCommand(text), {
            id: c.id,
            method: 'subscribe',
            req: {
              channel: c.channel,
              token: '',
              recover: c.recover,
              offset: c.offset,
              epoch: c.epoch,
              data: c.data === null ? undefined : Buffer.from(oneLine(c.data.trim())),
              positioned: false,
              recoverable: false,
              joinLeave: false,
              flag: c.flag,
            },
          });
        }
      }),
      1500,
    );
  });

  test('rawValueAt finds the exact text of any value at any key of any document', () => {
    const doc = fc.tuple(
      fc.array(fc.tuple(anyString, rawJSON), { minLength: 1, maxLength: 5 }),
      fc.nat(),
      fc.constantFrom('', ' ', '\r\n\t'),
    );
    check(
      fc.property(doc, ([entries, pick, ws]) => {
        const text = `{${ws}${entries.map(([k, v]) => `${JSON.stringify(k)}${ws}:${ws}${v}`).join(`${ws},${ws}`)}${ws}}`;
        const key = (entries[pick % entries.length] as [string, string])[0];
        // The last occurrence of a key wins, as in JSON.parse.
        const last = [...entries].reverse().find(([k]) => k === key) as [string, string];
        assert.equal(rawValueAt(text, [key]), last[1].trim(), 'the exact text, without the whitespace around it');
        const parsed = (JSON.parse(text) as Record<string, unknown>)[key];
        assert.ok(jsonEqual(JSON.parse(rawValueAt(text, [key]) as string), parsed), 'the same value JSON.parse sees');
      }),
      1500,
    );
  });

  test('mutations of a valid frame never escape as anything but DisconnectError', () => {
    check(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 30 }), (seed, n) => {
        const rng = new Rng(seed);
        let text = '{"id":1,"connect":{"token":"t","data":{"a":[1,2,{"b":null}]},"subs":{"c":{"offset":"5"}}}}';
        for (let i = 0; i < n; i++) text = mutate(text, rng);
        decodeChecked(text);
      }),
      3000,
    );
  });
});
