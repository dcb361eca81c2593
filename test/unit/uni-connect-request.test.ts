/**
 * The connect request of the unidirectional transports (a ConnectRequest object alone, not a command), decoded
 * by the pure JSON decoder: every field, payloads byte for byte, and every malformed input a 3501 (bad request).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DisconnectError } from '../../src/protocol/codes.js';
import { decodeConnectRequest } from '../../src/protocol/json/decode.js';

function badRequest(input: string): string {
  try {
    decodeConnectRequest(input);
  } catch (e) {
    assert.ok(e instanceof DisconnectError, `expected a DisconnectError for ${input}, got ${String(e)}`);
    assert.equal(e.disconnect.code, 3501, `code for ${input}`);
    return e.detail ?? '';
  }
  assert.fail(`${input} decoded without error`);
}

describe('decodeConnectRequest', () => {
  test('reads token, name, version, headers and subs with their recovery positions', () => {
    const r = decodeConnectRequest(
      '{"token":"T","name":"py","version":"1.0","headers":{"x-a":"b"},' +
        '"subs":{"news":{"recover":true,"offset":12,"epoch":"xD5R"},"feed":{}}}',
    );
    assert.equal(r.token, 'T');
    assert.equal(r.name, 'py');
    assert.equal(r.version, '1.0');
    assert.deepEqual(r.headers, { 'x-a': 'b' });
    assert.deepEqual(r.subs.get('news'), { recover: true, offset: 12, epoch: 'xD5R' });
    assert.deepEqual(r.subs.get('feed'), { recover: false, offset: 0, epoch: '' });
    assert.equal(r.data, undefined);
  });

  test('data is the raw JSON text as written (big integers and formatting survive)', () => {
    const r = decodeConnectRequest(Buffer.from('{"data": {"n": 12345678901234567890,  "s":"é"}, "token":""}'));
    assert.equal(Buffer.from(r.data as Uint8Array).toString(), '{"n": 12345678901234567890,  "s":"é"}');
  });

  test('an empty object and a literal null are empty requests (as Centrifugo)', () => {
    for (const input of ['{}', 'null', ' null ']) {
      const r = decodeConnectRequest(input);
      assert.equal(r.token, '', input);
      assert.equal(r.subs.size, 0, input);
    }
  });

  test('offsets as decimal strings (64-bit protobuf JSON) are accepted; 2^64-1 is clamped, not refused', () => {
    const r = decodeConnectRequest(
      '{"subs":{"a":{"recover":true,"offset":"42"},"b":{"offset":"18446744073709551615"}}}',
    );
    assert.equal(r.subs.get('a')?.offset, 42);
    assert.equal(r.subs.get('b')?.offset, Number.MAX_SAFE_INTEGER);
  });

  test('malformed input of every kind is a bad request (3501) that says what is wrong', () => {
    assert.match(badRequest(''), /not valid JSON/);
    assert.match(badRequest('{"token":'), /not valid JSON/);
    assert.match(badRequest('[]'), /must be a JSON object/);
    assert.match(badRequest('"token"'), /must be a JSON object/);
    assert.match(badRequest('{"token":5}'), /token must be a string/);
    assert.match(badRequest('{"subs":[]}'), /subs must be an object/);
    assert.match(badRequest('{"subs":{"a":1}}'), /subs entries must be objects/);
    assert.match(badRequest('{"subs":{"a":{"offset":-1}}}'), /offset/);
    assert.match(badRequest('{"subs":{"a":{"recover":"yes"}}}'), /recover must be a boolean/);
    assert.match(badRequest('{"headers":{"a":1}}'), /headers values must be strings/);
    assert.match(badRequest(`${'['.repeat(20_000)}${']'.repeat(20_000)}`), /JSON object|nested/);
  });

  test('a deeply nested data payload is taken raw, without recursion', () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const r = decodeConnectRequest(`{"data":${deep}}`);
    assert.equal((r.data as Uint8Array).length, deep.length);
  });
});
