/**
 * The legacy server API endpoint (`POST /api`, one `{"method","params"}` per line) answers every line. A line that
 * is valid JSON but not an object (`null`, `[]`, `5`, `"x"`) used to throw inside the handler: HTTP 500 with error
 * 100 (temporary, so clients retry it forever), a stack trace in the log, and no reply for the other lines.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
before(async () => {
  s = await startServer({ channel: { without_namespace: openChannels() }, http_api: { key: 'k' } });
});
after(async () => {
  await s?.close();
});

test('a legacy API line that is JSON but not an object is a bad request; the other lines still run', async () => {
  const lines = ['null', '[]', '5', '"publish"', '{"method":"publish","params":{"channel":"news","data":{"n":1}}}'];
  const res = await fetch(`${s.url}/api`, { method: 'POST', headers: { 'x-api-key': 'k' }, body: lines.join('\n') });
  assert.equal(res.status, 200, 'the request is answered, not failed');
  const replies = (await res.text()).split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(replies.length, lines.length, 'one reply per line');
  for (const r of replies.slice(0, 4)) {
    assert.equal(
      (r.error as { code?: number } | undefined)?.code,
      107,
      `a non-object line is error 107: ${JSON.stringify(r)}`,
    );
  }
  assert.deepEqual(replies[4], { result: {} }, 'the valid publish after them ran');
});
