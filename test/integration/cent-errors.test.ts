/**
 * What docs/api.md says about errors seen through cent.js holds: it rejects with a CentException whose message is
 * "[object Object]" (code and message lost), a failed command of a pipeline comes back as undefined, and the
 * wire carries the real error for those who call the API themselves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CentClient, CentException, CentMethods } from 'cent.js';
import { startServer, type TestServer } from '../helpers/server.js';

describe('errors through cent.js, as docs/api.md describes them', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ http_api: { key: 'api-key' } });
  });
  after(async () => {
    await s?.close();
  });

  test('an API error rejects with CentException "[object Object]", for every error alike', async () => {
    const cent = new CentClient({ url: `${s.url}/api`, apiKey: 'api-key' });
    const unknownChannel = await cent.publish({ channel: 'nowhere:x', data: {} }).catch((e: unknown) => e);
    const wrongKey = await new CentClient({ url: `${s.url}/api`, apiKey: 'wrong' }).getInfo().catch((e: unknown) => e);
    for (const e of [unknownChannel, wrongKey]) {
      assert.ok(e instanceof CentException, 'a CentException');
      assert.equal((e as Error).message, '[object Object]');
      assert.equal(String(e), 'Error: [object Object]');
      assert.equal((e as { code?: unknown }).code, undefined, 'no code on it');
    }
  });

  test('a failed command of a pipeline is undefined among the results; the wire has the error', async () => {
    const cent = new CentClient({ url: `${s.url}/api`, apiKey: 'api-key' });
    const results = await cent.pipeline([
      { method: CentMethods.Publish, params: { channel: 'nowhere:x', data: {} } },
      { method: CentMethods.Info, params: {} },
    ]);
    assert.equal(results[0], undefined);
    assert.ok(Array.isArray((results[1] as { nodes?: unknown[] }).nodes), 'the other command’s result is there');
    const raw = await fetch(`${s.url}/api/publish`, {
      method: 'POST',
      headers: { 'X-API-Key': 'api-key' },
      body: JSON.stringify({ channel: 'nowhere:x', data: {} }),
    });
    assert.deepEqual((await raw.json()).error.code, 102, 'with fetch, the code is there');
  });

  test('an unreachable server rejects with TypeError: fetch failed', async () => {
    const e = await new CentClient({ url: 'http://127.0.0.1:1/api', apiKey: 'api-key' }).getInfo().catch((x) => x);
    assert.equal(String(e), 'TypeError: fetch failed');
  });
});
