/**
 * ReplyError is how a refused command is answered, and a client can have thousands refused in one burst (1,024
 * commands a frame, several frames a socket read). Capturing a stack trace for each cost more than answering the
 * command: 8 frames of 1,024 refused commands held the event loop for 150–370 ms (found by
 * test/fuzz/transports.test.ts). It carries none; DisconnectError and real failures keep theirs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DisconnectError, Disconnects, Errors, ReplyError } from '../../src/protocol/codes.js';

test('a ReplyError carries no stack frames, and leaves the stack trace limit as it was', () => {
  const limit = Error.stackTraceLimit;
  const e = new ReplyError(Errors.notAvailable, 'presence off');
  assert.equal(e.message, 'not available: presence off');
  assert.equal(e.error, Errors.notAvailable);
  assert.ok(!/\n\s+at /.test(e.stack ?? ''), `stack captured: ${e.stack}`);
  assert.equal(Error.stackTraceLimit, limit);
  assert.ok(/\n\s+at /.test(new DisconnectError(Disconnects.badRequest).stack ?? ''), 'other errors keep theirs');
  assert.ok(/\n\s+at /.test(new Error('x').stack ?? ''));
});
