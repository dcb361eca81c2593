/**
 * Pure parts of the unidirectional HTTP transports: how pushes are framed on the stream (SSE events, NDJSON
 * lines) and how `connect_code_to_http_response` turns a refused connect into an HTTP answer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sharedFrames } from '../../src/core/shared-frames.js';
import { connectRefusalAnswer } from '../../src/transport/uni/connect-response.js';
import { frameMessage, frameMessages, oneLine } from '../../src/transport/uni/stream-framing.js';

describe('stream framing', () => {
  test('SSE: each push is one data event; NDJSON: one line', () => {
    const m = Buffer.from('{"channel":"a","pub":{"data":1}}');
    assert.equal(frameMessage(m, 'sse').toString(), 'data: {"channel":"a","pub":{"data":1}}\n\n');
    assert.equal(frameMessage(m, 'ndjson').toString(), '{"channel":"a","pub":{"data":1}}\n');
    assert.equal(frameMessages([m, Buffer.from('{}')], 'sse').toString(), `data: ${m}\n\ndata: {}\n\n`);
    assert.equal(frameMessages([m, Buffer.from('{}')], 'ndjson').toString(), `${m}\n{}\n`);
  });

  test('a payload published with line breaks stays one event / one line, and parses to the same value', () => {
    const pretty = Buffer.from('{"channel":"a","pub":{"data":{\r\n  "x": "line\\nbreak",\n  "y": 2\n}}}');
    const sse = frameMessage(pretty, 'sse').toString();
    assert.equal(sse.split('\n\n').length, 2, 'one event');
    assert.deepEqual(JSON.parse(sse.slice('data: '.length).trim()), JSON.parse(pretty.toString()));
    const line = frameMessage(pretty, 'ndjson').toString();
    assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
    assert.deepEqual(JSON.parse(line), JSON.parse(pretty.toString()));
    const plain = Buffer.from('{}');
    assert.equal(oneLine(plain), plain, 'a message without line breaks is not copied');
  });

  test('a push shared by many connections is framed once', () => {
    const shared = Buffer.from('{"channel":"a","pub":{"data":2}}');
    sharedFrames.add(shared);
    assert.equal(frameMessage(shared, 'sse'), frameMessage(shared, 'sse'), 'same bytes for every connection');
    const own = Buffer.from('{}');
    assert.notEqual(frameMessage(own, 'sse'), frameMessage(own, 'sse'), 'an unshared message is not cached');
  });
});

describe('connect_code_to_http_response', () => {
  const transforms = [
    { code: 3500, to: { status_code: 401, body: '' } },
    { code: 109, to: { status_code: 403, body: 'token expired, log in again' } },
  ];

  test('the transform for the code gives the status; an empty body is the error message', () => {
    assert.deepEqual(connectRefusalAnswer({ code: 3500, message: 'invalid token' }, transforms), {
      status: 401,
      body: 'invalid token',
    });
    assert.deepEqual(connectRefusalAnswer({ code: 109, message: 'token expired' }, transforms), {
      status: 403,
      body: 'token expired, log in again',
    });
  });

  test('a code no transform names, and an unexpected failure (0), are 500', () => {
    const internal = { status: 500, body: 'Internal Server Error' };
    assert.deepEqual(connectRefusalAnswer({ code: 3504, message: 'connection limit' }, transforms), internal);
    assert.deepEqual(connectRefusalAnswer({ code: 0, message: 'internal server error' }, transforms), internal);
  });
});
