/**
 * The WebSocket fan-out fast path for both encodings: a shared message is framed once (binary frames for
 * Protobuf, text for JSON) and the very same bytes go to every socket; batches are framed with the codec's
 * separator (none for Protobuf). Mixed channels alternate encodings from socket to socket: each encoding's frame
 * is still built once.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sharedFrames } from '../../src/core/shared-frames.js';
import { batchWire, sharedWire } from '../../src/transport/websocket/frames.js';

function shared(bytes: number[]): Uint8Array {
  const m = Uint8Array.from(bytes);
  sharedFrames.add(m);
  return m;
}

describe('WebSocket frames for shared messages', () => {
  test('a Protobuf message is framed once as a binary frame; a JSON one as a text frame', () => {
    const pb = shared([0x05, 0x22, 0x03, 0x12, 0x01, 0x61]);
    const json = shared([...Buffer.from('{"push":{}}')]);
    const pbWire = sharedWire(pb, true);
    const jsonWire = sharedWire(json, false);
    assert.ok(pbWire !== undefined && jsonWire !== undefined, 'both are shared');
    const pbFrame = Buffer.concat(pbWire);
    assert.equal(pbFrame[0], 0x82, 'FIN + binary opcode');
    assert.equal(pbFrame[1], pb.length, 'unmasked, the payload length');
    assert.deepEqual(pbFrame.subarray(2), Buffer.from(pb));
    assert.equal(Buffer.concat(jsonWire)[0], 0x81, 'FIN + text opcode');
    // Alternating encodings (a mixed channel): every socket gets the frame built the first time.
    for (let i = 0; i < 4; i++) {
      assert.equal(sharedWire(pb, true), pbWire);
      assert.equal(sharedWire(json, false), jsonWire);
    }
  });

  test('a message that is not shared is left to ws', () => {
    assert.equal(sharedWire(Uint8Array.of(1, 2), true), undefined);
  });

  test('a Protobuf batch is one binary frame of the messages back to back; JSON joins them with newlines', () => {
    const a = shared([0x02, 0x08, 0x01]);
    const b = shared([0x02, 0x08, 0x02]);
    const pb = batchWire([a, b], 10, new Uint8Array(0), true);
    assert.deepEqual(pb, Buffer.from([0x82, 6, 0x02, 0x08, 0x01, 0x02, 0x08, 0x02]));
    const j1 = shared([...Buffer.from('{"a":1}')]);
    const j2 = shared([...Buffer.from('{"b":2}')]);
    const json = batchWire([j1, j2], 10, Buffer.from('\n'), false);
    assert.deepEqual(json, Buffer.concat([Buffer.from([0x81, 15]), Buffer.from('{"a":1}\n{"b":2}')]));
  });

  test('a mixed channel flushing the same batch to alternating encodings frames each batch once', () => {
    const pbBatch = [shared([0x02, 0x08, 0x03]), shared([0x02, 0x08, 0x04])];
    const jsonBatch = [shared([...Buffer.from('{"c":3}')]), shared([...Buffer.from('{"d":4}')])];
    const newline = Buffer.from('\n');
    const none = new Uint8Array(0);
    const pbWire = batchWire(pbBatch, 16, none, true);
    const jsonWire = batchWire(jsonBatch, 16, newline, false);
    for (let i = 0; i < 4; i++) {
      assert.equal(batchWire([...pbBatch], 16, none, true), pbWire, 'the Protobuf batch is not framed again');
      assert.equal(batchWire([...jsonBatch], 16, newline, false), jsonWire, 'the JSON batch is not framed again');
    }
  });
});
