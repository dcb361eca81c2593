/** How messages are framed on streamed HTTP responses (http_stream, sse, uni_http_stream, uni_sse). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sharedFrames } from '../../src/core/shared-frames.js';
import { encodePush } from '../../src/protocol/json/encode.js';
import { markJson } from '../../src/protocol/json-payload.js';
import { delimitedFraming, ndjsonFraming, sseFraming } from '../../src/transport/stream-framing.js';

describe('stream framing', () => {
  test('SSE: each message is one data event; NDJSON: one line; Protobuf: the delimited messages back to back', () => {
    const m = Buffer.from('{"channel":"a","pub":{"data":1}}');
    assert.equal(sseFraming.one(m).toString(), `data: ${m}\n\n`);
    assert.equal(ndjsonFraming.one(m).toString(), `${m}\n`);
    assert.equal(sseFraming.many([m, Buffer.from('{}')]).toString(), `data: ${m}\n\ndata: {}\n\n`);
    assert.equal(ndjsonFraming.many([m, Buffer.from('{}')]).toString(), `${m}\n{}\n`);
    const a = Buffer.from([3, 1, 2, 3]);
    const b = Buffer.from([1, 9]);
    assert.deepEqual([...delimitedFraming.many([a, b])], [3, 1, 2, 3, 1, 9]);
  });

  test('a pretty-printed payload stays one NDJSON line and one SSE event, meaning the same value', () => {
    const data = markJson(Buffer.from('{\r\n  "x": "line\\nbreak",\n  "y": 2\n}'));
    const push = encodePush({ type: 'pub', channel: 'a', pub: { data, offset: 0 } });
    const line = ndjsonFraming.one(push).toString();
    assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
    assert.deepEqual(JSON.parse(line).push.pub.data, { x: 'line\nbreak', y: 2 });
    const sse = sseFraming.one(push).toString();
    assert.equal(sse.split('\n\n').length, 2, 'one event');
    // A message that did hold a line break would continue on further data: lines (EventSource joins them).
    const raw = sseFraming.one(Buffer.from('{"a":\n1}')).toString();
    assert.equal(raw, 'data: {"a":\ndata: 1}\n\n');
  });

  test('a message shared by many connections is framed once', () => {
    const shared = Buffer.from('{"channel":"a","pub":{"data":2}}');
    sharedFrames.add(shared);
    assert.equal(sseFraming.one(shared), sseFraming.one(shared), 'same bytes for every connection');
    const own = Buffer.from('{}');
    assert.notEqual(sseFraming.one(own), sseFraming.one(own), 'an unshared message is not cached');
  });
});
