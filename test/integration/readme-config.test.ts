/**
 * README's minimal config works as a chat: the exact JSON block from README.md (parsed out of the file, so the
 * two cannot drift) is started, and two users with tokens signed with its secret chat through the real SDK —
 * subscribe, publish, presence, history, join and leave.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, JoinContext, LeaveContext, PublicationContext, Subscription } from 'centrifuge';
import { hsToken, once, sdk, waitFor } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

const README = new URL('../../README.md', import.meta.url);
const MARKER = 'test/integration/readme-config.test.ts';

/** The first ```json block after the line that names this test. */
export function readmeConfig(markdown: string): Record<string, unknown> {
  const at = markdown.indexOf(MARKER);
  assert.ok(at >= 0, `README.md marks its minimal config with a comment naming ${MARKER}`);
  const block = /```json\n([\s\S]*?)\n```/.exec(markdown.slice(at));
  assert.ok(block, 'a ```json block follows the marker');
  return JSON.parse(block[1] as string) as Record<string, unknown>;
}

describe("README's minimal config", () => {
  const config = readmeConfig(readFileSync(README, 'utf8'));
  const secret = (config.client as { token: { hmac_secret_key: string } }).token.hmac_secret_key;
  let s: TestServer;
  const clients: Centrifuge[] = [];

  async function user(sub: string): Promise<Centrifuge> {
    const c = sdk(s.wsUrl, { token: await hsToken({ sub }, secret) });
    clients.push(c);
    const ok = once(c, 'connected');
    c.connect();
    await ok;
    return c;
  }

  async function join(c: Centrifuge, room: string): Promise<Subscription> {
    const sub = c.newSubscription(room);
    const ok = once(sub, 'subscribed');
    sub.subscribe();
    await ok;
    return sub;
  }

  before(async () => {
    s = await startServer(config);
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await s?.close();
  });

  test('two users chat in a room: messages, presence, history, join and leave', async () => {
    const alice = await user('alice');
    const bob = await user('bob');
    const room = 'chat:lobby';
    const aliceRoom = await join(alice, room);
    const joins: string[] = [];
    const leaves: string[] = [];
    aliceRoom.on('join', (ctx: JoinContext) => joins.push(ctx.info.user));
    aliceRoom.on('leave', (ctx: LeaveContext) => leaves.push(ctx.info.user));

    const bobRoom = await join(bob, room);
    await waitFor(() => joins.includes('bob'), 3000, 'alice to be told bob joined');

    const heard = once<PublicationContext>(aliceRoom, 'publication');
    await bobRoom.publish({ text: 'hi alice' });
    const msg = await heard;
    assert.deepEqual(msg.data, { text: 'hi alice' });
    assert.equal(msg.info?.user, 'bob', 'the message says who wrote it');

    const here = await aliceRoom.presence();
    assert.deepEqual(
      Object.values(here.clients)
        .map((c) => c.user)
        .sort(),
      ['alice', 'bob'],
    );
    assert.equal((await bobRoom.presenceStats()).numUsers, 2);

    const history = await aliceRoom.history({ limit: 10 });
    assert.deepEqual(
      history.publications.map((p) => p.data),
      [{ text: 'hi alice' }],
      'the room keeps its messages',
    );

    bobRoom.unsubscribe();
    await waitFor(() => leaves.includes('bob'), 3000, 'alice to be told bob left');
  });

  test('a token signed with another secret is refused', async () => {
    const c = sdk(s.wsUrl, { token: await hsToken({ sub: 'mallory' }, 'not-the-readme-secret-not-the-readme-secret') });
    clients.push(c);
    c.connect();
    assert.equal((await once<{ code: number }>(c, 'disconnected')).code, 3500);
  });
});
