/**
 * The `channels` API filters channel names with a glob. It used to be turned into a RegExp, and
 * `*a*a*a*a*a*a*a*b` against one 60-character name backtracked for 25 s with every client frozen. Patterns are now
 * matched without regular expressions, in time bounded by name × pattern; an invalid pattern is error 107.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compileGlob, GlobError } from '../../src/core/glob.js';
import { RawClient } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const KEY = 'k';

describe('channels API patterns', () => {
  let s: TestServer;
  let holder: RawClient;
  /** Channels of 20 to 45 "a"s, and a few ordinary ones. */
  const runs = Array.from({ length: 26 }, (_, i) => 'a'.repeat(20 + i));
  const ordinary = ['chat:1', 'chat:2', 'chat:10', 'news', 'b[1]', 'x*y', 'ключ', '😀room'];

  async function channels(
    pattern: string,
  ): Promise<{ result?: { channels: Record<string, unknown> }; error?: { code: number; message: string } }> {
    const r = await fetch(`${s.url}/api/channels`, {
      method: 'POST',
      headers: { 'x-api-key': KEY },
      body: JSON.stringify({ pattern }),
    });
    return r.json();
  }

  before(async () => {
    s = await startServer({
      client: { allow_anonymous_connect_without_token: true, command_rate_limit: 0 },
      channel: {
        without_namespace: openChannels({ channel_regex: '^[\\s\\S]*$' }),
        namespaces: [{ name: 'chat', ...openChannels() }],
      },
      http_api: { key: KEY },
    });
    holder = await RawClient.open(s.wsUrl);
    await holder.connect();
    const names = [...runs, ...ordinary];
    holder.send(...names.map((channel, i) => ({ id: 10 + i, subscribe: { channel } })));
    for (let i = 0; i < names.length; i++) {
      const r = await holder.reply(10 + i);
      assert.equal(r.error, undefined, `subscribed to ${names[i]}: ${JSON.stringify(r.error)}`);
    }
  });
  after(async () => {
    holder?.close();
    await s?.close();
  });

  test('a pathological pattern is answered at once', async () => {
    const t = performance.now();
    const r = await channels('*a*a*a*a*a*a*a*b');
    const ms = performance.now() - t;
    assert.deepEqual(r.result?.channels, {}, 'nothing ends with b');
    assert.ok(ms < 500, `answered in ${ms.toFixed(0)} ms`);
    const all = await channels('*a*a*a*a*a*a*a*a');
    assert.equal(Object.keys(all.result?.channels ?? {}).length, runs.length, 'every run of a matches');
  });

  test('a long pattern against long names stays cheap', async () => {
    const t = performance.now();
    for (let i = 0; i < 20; i++) await channels(`*${'a'.repeat(19)}?${'a'.repeat(i)}b`);
    const ms = performance.now() - t;
    assert.ok(ms < 1000, `20 requests in ${ms.toFixed(0)} ms`);
  });

  test('globs select the channels Centrifugo would', async () => {
    const names = async (pattern: string) => Object.keys((await channels(pattern)).result?.channels ?? {}).sort();
    assert.deepEqual(await names('chat:*'), ['chat:1', 'chat:10', 'chat:2']);
    assert.deepEqual(await names('chat:?'), ['chat:1', 'chat:2']);
    assert.deepEqual(await names('chat:[12]'), ['chat:1', 'chat:2']);
    assert.deepEqual(await names('chat:[!1]*'), ['chat:2']);
    assert.deepEqual(await names('b\\[1]'), ['b[1]']);
    assert.deepEqual(await names('x\\*y'), ['x*y']);
    assert.deepEqual(await names('????'), ['b[1]', 'news', 'ключ']);
    assert.deepEqual(await names('?room'), ['😀room'], 'an emoji is one character');
    assert.equal((await names('')).length, runs.length + ordinary.length, 'no pattern: every channel');
  });

  test('an invalid pattern is error 107 saying what is wrong', async () => {
    const reversed = await channels('[z-a]');
    assert.equal(reversed.error?.code, 107);
    assert.match(reversed.error?.message ?? '', /pattern: range "z-a" is reversed/);
    const unclosed = await channels('chat:[ab');
    assert.equal(unclosed.error?.code, 107);
    assert.match(unclosed.error?.message ?? '', /never closed/);
    const dangling = await channels('chat\\');
    assert.equal(dangling.error?.code, 107);
  });
});

describe('compileGlob', () => {
  const cases: Array<[string, string, boolean]> = [
    ['*', '', true],
    ['', '', true],
    ['', 'a', false],
    ['a*', 'a', true],
    ['*a', 'ba', true],
    ['*a', 'ab', false],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXcYb', false],
    ['a**b', 'ab', true],
    ['[a-c]x', 'bx', true],
    ['[a-c]x', 'dx', false],
    ['[!a-c]x', 'dx', true],
    ['[-a]', '-', true],
    ['[a-]', '-', true],
    ['[\\]]', ']', true],
    ['?', '😀', true],
    ['??', '😀', false],
  ];
  for (const [pattern, name, expected] of cases) {
    test(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(name)}`, () => {
      assert.equal(compileGlob(pattern).matches(name), expected);
    });
  }

  test('invalid patterns throw a GlobError', () => {
    for (const p of ['[z-a]', '[', '[ab', '[]', '[!]', 'a\\']) {
      assert.throws(() => compileGlob(p), GlobError, p);
    }
  });
});
