/** How `connect_code_to_http_response` turns a refused connect on a unidirectional HTTP stream into an HTTP answer. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectRefusalAnswer } from '../../src/transport/uni/connect-response.js';

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
