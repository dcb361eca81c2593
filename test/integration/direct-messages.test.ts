/** Client-to-client direct messages through the built-in RPC method (Chorus extension). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { hsToken, once, SECRET, sdk, sleep, waitFor } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

describe('direct messages (chorus.send)', () => {
  let s: TestServer;
  const clients: Centrifuge[] = [];
  async function user(sub: string | undefined): Promise<Centrifuge> {
    const c = sdk(s.wsUrl, sub === undefined ? {} : { token: await hsToken({ sub }) });
    clients.push(c);
    const connected = once(c, 'connected');
    c.connect();
    await connected;
    return c;
  }
  const idOf = (c: Centrifuge) => (c as unknown as { _client: string })._client;

  before(async () => {
    s = await startServer({
      client: {
        token: { hmac_secret_key: SECRET },
        allow_anonymous_connect_without_token: true,
        direct_messages: { enabled: true, rate_limit: 5 },
      },
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await s.close();
  });

  test('a message to a user reaches all of their connections with the true sender, and nobody else', async () => {
    const alice = await user('alice');
    const bob1 = await user('bob');
    const bob2 = await user('bob');
    const carol = await user('carol');
    let carolGot = 0;
    carol.on('message', () => carolGot++);
    const m1 = once<{ data: { from: { user: string; client: string }; data: unknown } }>(bob1, 'message');
    const m2 = once<{ data: { from: { user: string; client: string }; data: unknown } }>(bob2, 'message');
    // The sender tries to forge its identity inside the payload: the server's "from" is what counts.
    await alice.rpc('chorus.send', { user: 'bob', data: { text: 'hi bob', from: 'mallory' } });
    for (const m of [await m1, await m2]) {
      assert.deepEqual(m.data.from, { user: 'alice', client: idOf(alice) });
      assert.deepEqual(m.data.data, { text: 'hi bob', from: 'mallory' });
    }
    await sleep(100);
    assert.equal(carolGot, 0);
  });

  test('a message to one connection reaches exactly that connection', async () => {
    const sender = await user('dan');
    const t1 = await user('erin');
    const t2 = await user('erin');
    const got: string[] = [];
    t1.on('message', () => got.push('t1'));
    t2.on('message', () => got.push('t2'));
    await sender.rpc('chorus.send', { client: idOf(t2), data: 1 });
    await waitFor(() => got.length === 1, 2000, 'delivery');
    await sleep(100);
    assert.deepEqual(got, ['t2']);
  });

  test('an offline target is a clear error (404 target not connected)', async () => {
    const sender = await user('frank');
    await assert.rejects(
      sender.rpc('chorus.send', { user: 'nobody', data: 1 }),
      (e: { code: number; message: string }) => {
        return e.code === 404 && /not connected/.test(e.message);
      },
    );
    await assert.rejects(sender.rpc('chorus.send', { data: 1 }), (e: { code: number }) => e.code === 107);
  });

  test('anonymous senders are refused by default; the rate limit applies (111)', async () => {
    const anon = await user(undefined);
    await user('gina');
    await assert.rejects(anon.rpc('chorus.send', { user: 'gina', data: 1 }), (e: { code: number }) => e.code === 103);
    const fast = await user('hank');
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => fast.rpc('chorus.send', { user: 'gina', data: 'x' })),
    );
    const limited = results.filter((r) => r.status === 'rejected' && (r.reason as { code: number }).code === 111);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
    assert.equal(limited.length, 3);
  });
});
