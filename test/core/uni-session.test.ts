/**
 * Unidirectional sessions without sockets: a fake transport that declares itself unidirectional (and, like the
 * HTTP streams, without a close frame of its own). The client sends one connect request and then only receives
 * bare pushes — the connect result, publications, join/leave, pings, refreshes and the disconnect — exactly as
 * Centrifugo's unidirectional protocol describes them. Time moves by hand.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Node } from '../../src/core/node.js';
import { Client, type ConnectRefusal } from '../../src/core/session/client.js';
import { createMemoryEngine } from '../../src/engine/memory/memory-engine.js';
import { decodeConnectRequest } from '../../src/protocol/json/decode.js';
import { hsToken, SECRET } from '../helpers/clients.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { FakeTransport, flushed, type Message, publishText, testNode, waitFor } from '../helpers/session.js';

const open = {
  allow_subscribe_for_client: true,
  allow_subscribe_for_anonymous: true,
  allow_history_for_client: true,
  allow_history_for_anonymous: true,
  allow_presence_for_client: true,
  allow_presence_for_anonymous: true,
};

function config(client: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client: { token: { hmac_secret_key: SECRET }, allow_anonymous_connect_without_token: true, ...client },
    channel: {
      without_namespace: open,
      namespaces: [
        { name: 'room', ...open, presence: true, join_leave: true, force_push_join_leave: true },
        { name: 'feed', ...open, history_size: 10, history_ttl: '60s', force_recovery: true },
        { name: 'closed' },
      ],
    },
  };
}

const nodes: Node[] = [];
async function node(client: Record<string, unknown> = {}, clock = new ManualClock()): Promise<Node> {
  const n = await testNode(config(client), { clock, engine: createMemoryEngine(() => clock.now()) });
  nodes.push(n);
  return n;
}

after(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});

/** A unidirectional connection: one connect request in, bare pushes out. */
class Uni {
  readonly transport: FakeTransport;
  readonly client: Client;
  refusal: ConnectRefusal | undefined;

  constructor(node: Node, opts: { closeAsPush?: boolean } = {}) {
    this.transport = new FakeTransport({ unidirectional: true, closeAsPush: opts.closeAsPush ?? true });
    this.client = new Client(node, this.transport, { transport: 'fake_uni' });
  }

  get messages(): Message[] {
    return this.transport.messages;
  }

  get closedWith(): number | undefined {
    return this.transport.closed?.code;
  }

  async connect(request: Record<string, unknown> = {}): Promise<void> {
    await this.client.connectUnidirectional(decodeConnectRequest(JSON.stringify(request)), (r) => {
      this.refusal = r;
    });
    await flushed();
  }

  /** The connect push, asserted to be the first message. */
  connectPush(): Record<string, unknown> {
    const first = this.messages[0];
    assert.ok(first?.connect !== undefined, `first message is not a connect push: ${JSON.stringify(first)}`);
    return first.connect as Record<string, unknown>;
  }

  of(kind: string, channel?: string): Message[] {
    return this.messages.filter((m) => m[kind] !== undefined && (channel === undefined || m.channel === channel));
  }
}

describe('uni session: connect', () => {
  test('a token connects: the result is a bare connect push with client, session and ping, without pong', async () => {
    const n = await node();
    const u = new Uni(n);
    await u.connect({ token: await hsToken({ sub: 'alice' }) });
    const c = u.connectPush();
    assert.equal(c.client, u.client.id);
    assert.equal(c.ping, 25);
    assert.equal(c.pong, undefined, 'a unidirectional client cannot answer pings');
    assert.match(String(c.session), /^[0-9a-f-]{36}$/, 'a session id, as Centrifugo gives unidirectional clients');
    assert.equal(u.messages[0]?.id, undefined, 'no reply id');
    assert.equal(u.messages[0]?.push, undefined, 'not wrapped in a reply');
    assert.equal(n.clients.get(u.client.id)?.user, 'alice');
  });

  test('anonymous without a token where allowed; refused with a disconnect push 3501 where not', async () => {
    const allowed = new Uni(await node());
    await allowed.connect({});
    assert.equal(allowed.connectPush().client, allowed.client.id);

    const strict = new Uni(await node({ allow_anonymous_connect_without_token: false }));
    await strict.connect({});
    assert.deepEqual(strict.messages, [{ disconnect: { code: 3501, reason: 'bad request' } }]);
    assert.equal(strict.closedWith, 3501);
    assert.equal(strict.refusal?.code, 3501);
  });

  test('an invalid token: disconnect push 3500 then close; the transport hears 3500 first', async () => {
    const u = new Uni(await node());
    await u.connect({ token: await hsToken({ sub: 'x' }, 'another-secret-which-is-long-enough-!!') });
    assert.deepEqual(u.messages, [{ disconnect: { code: 3500, reason: 'invalid token' } }]);
    assert.equal(u.closedWith, 3500);
    assert.deepEqual(u.refusal, { code: 3500, message: 'invalid token' });
  });

  test('connect error codes become the disconnects Centrifugo maps them to: an expired token is 3005', async () => {
    const u = new Uni(await node());
    await u.connect({ token: await hsToken({ sub: 'x', exp: 1 }) });
    assert.equal(u.closedWith, 3005);
    assert.deepEqual(u.refusal, { code: 109, message: 'token expired' });
    assert.deepEqual(u.messages, [{ disconnect: { code: 3005, reason: 'connection expired' } }]);
  });

  test('client.connect_code_to_unidirectional_disconnect maps an error code to the configured disconnect', async () => {
    const n = await node({
      connect_code_to_unidirectional_disconnect: {
        enabled: true,
        transforms: [{ code: 109, to: { code: 4109, reason: 'log in again' } }],
      },
    });
    const u = new Uni(n);
    await u.connect({ token: await hsToken({ sub: 'x', exp: 1 }) });
    assert.equal(u.closedWith, 4109);
    assert.deepEqual(u.messages, [{ disconnect: { code: 4109, reason: 'log in again' } }]);
  });

  test('with closeAsPush off (uni_websocket.disable_disconnect_push) only the close carries the code', async () => {
    const u = new Uni(await node({ allow_anonymous_connect_without_token: false }), { closeAsPush: false });
    await u.connect({});
    assert.deepEqual(u.messages, []);
    assert.equal(u.closedWith, 3501);
  });

  test('a connection that never gets its connect request is closed as stale (3502)', async () => {
    const clock = new ManualClock();
    const u = new Uni(await node({}, clock));
    clock.advance(10_100);
    assert.equal(u.closedWith, 3502);
  });
});

describe('uni session: server-side subscriptions', () => {
  test("the token's channels and the request's subs (where the client may subscribe) become subscriptions", async () => {
    const n = await node();
    const u = new Uni(n);
    await u.connect({
      token: await hsToken({ sub: 'alice', channels: ['closed:granted'] }),
      subs: { news: {}, 'closed:asked': {} },
    });
    const subs = u.connectPush().subs as Record<string, unknown>;
    assert.deepEqual(Object.keys(subs).sort(), ['closed:granted', 'news'], 'closed:asked is not the client’s to take');
    await publishText(n, 'news', '{"text":"hi"}');
    await publishText(n, 'closed:granted', '{"n":1}');
    await publishText(n, 'other', '{"n":2}');
    await flushed();
    assert.deepEqual(
      u.of('pub').map((m) => [m.channel, (m.pub as { data: unknown }).data]),
      [
        ['news', { text: 'hi' }],
        ['closed:granted', { n: 1 }],
      ],
    );
  });

  test('subs with an offset recover exactly the publications missed, inside the connect push', async () => {
    const n = await node();
    for (let i = 1; i <= 4; i++) await publishText(n, 'feed:a', `{"i":${i}}`);
    const first = new Uni(n);
    await first.connect({ subs: { 'feed:a': {} } });
    const epoch = (first.connectPush().subs as Record<string, { epoch: string; offset: number }>)['feed:a']?.epoch;
    assert.ok(epoch, 'the subscription is recoverable and tells its epoch');

    const back = new Uni(n);
    await back.connect({ subs: { 'feed:a': { recover: true, offset: 2, epoch } } });
    const sub = (back.connectPush().subs as Record<string, Record<string, unknown>>)['feed:a'] as {
      recovered: boolean;
      was_recovering: boolean;
      publications: { data: { i: number }; offset: number }[];
    };
    assert.equal(sub.recovered, true);
    assert.equal(sub.was_recovering, true);
    assert.deepEqual(
      sub.publications.map((p) => [p.offset, p.data.i]),
      [
        [3, 3],
        [4, 4],
      ],
    );

    const lost = new Uni(n);
    await lost.connect({ subs: { 'feed:a': { recover: true, offset: 1, epoch: 'another-epoch' } } });
    const gone = (lost.connectPush().subs as Record<string, Record<string, unknown>>)['feed:a'] ?? {};
    assert.equal(gone.recovered, undefined, 'another epoch cannot be recovered: the client must reload');
    assert.equal(gone.was_recovering, true);
  });

  test('join and leave pushes where the namespace pushes them', async () => {
    const n = await node();
    const watcher = new Uni(n);
    await watcher.connect({ token: await hsToken({ sub: 'w' }), subs: { 'room:1': {} } });
    const other = new Uni(n);
    await other.connect({ token: await hsToken({ sub: 'o' }), subs: { 'room:1': {} } });
    other.client.handleTransportClosed();
    await waitFor('the leave', () => watcher.of('leave').length > 0);
    const events = [...watcher.of('join'), ...watcher.of('leave')].map((m) => {
      const kind = m.join ? 'join' : 'leave';
      return `${kind}:${(m[kind] as { info: { user: string } }).info.user}`;
    });
    assert.deepEqual(events, ['join:w', 'join:o', 'leave:o']);
  });

  test('a server API subscribe adds a subscription with a subscribe push; unsubscribe ends it', async () => {
    const n = await node();
    const u = new Uni(n);
    await u.connect({ token: await hsToken({ sub: 'bob' }) });
    await n.ops.subscribe({ user: 'bob', channel: 'closed:late' });
    await waitFor('the subscribe push', () => u.of('subscribe', 'closed:late').length === 1);
    await publishText(n, 'closed:late', '{"late":true}');
    await waitFor('the publication', () => u.of('pub', 'closed:late').length === 1);
    await n.ops.unsubscribe('bob', 'closed:late');
    await waitFor('the unsubscribe push', () => u.of('unsubscribe', 'closed:late').length === 1);
    assert.deepEqual(u.of('unsubscribe', 'closed:late')[0]?.unsubscribe, { code: 2000, reason: 'server unsubscribe' });
  });
});

describe('uni session: pings, refresh, expiry, limits, shutdown', () => {
  test('pings are empty pushes `{}`; a client that never answers is not closed for it', async () => {
    const clock = new ManualClock();
    const u = new Uni(await node({}, clock));
    await u.connect({});
    for (let i = 0; i < 4; i++) {
      clock.advance(25_000);
      await flushed();
    }
    assert.ok(u.messages.filter((m) => Object.keys(m).length === 0).length >= 3, 'pings arrived');
    assert.equal(u.closedWith, undefined, 'no 3012 for a client that cannot answer');
  });

  test('a server API refresh is told to the client as a refresh push with the new ttl', async () => {
    // Tokens are checked against the real time: the clock starts there.
    const clock = new ManualClock(Date.now());
    const n = await node({}, clock);
    const u = new Uni(n);
    const now = Math.floor(clock.now() / 1000);
    await u.connect({ token: await hsToken({ sub: 'carol', exp: now + 60 }) });
    assert.equal(u.connectPush().ttl, 60);
    await n.ops.refresh({ user: 'carol', expireAt: now + 3600 });
    await waitFor('the refresh push', () => u.of('refresh').length > 0);
    assert.deepEqual(u.of('refresh'), [{ refresh: { expires: true, ttl: 3600 } }]);
    clock.advance(61_000 + 25_000);
    assert.equal(u.closedWith, undefined, 'the refresh extended the connection');
  });

  test('a connection whose token runs out is closed with 3005 after expired_close_delay, as a push', async () => {
    const clock = new ManualClock(Date.now());
    const u = new Uni(await node({}, clock));
    await u.connect({ token: await hsToken({ sub: 'dan', exp: Math.floor(clock.now() / 1000) + 10 }) });
    assert.equal(u.connectPush().ttl, 10);
    clock.advance(10_000 + 24_000);
    assert.equal(u.closedWith, undefined, 'the grace period runs');
    clock.advance(1_100);
    assert.equal(u.closedWith, 3005);
    assert.deepEqual(u.messages.at(-1), { disconnect: { code: 3005, reason: 'connection expired' } });
  });

  test('a client over client.queue_max_size is closed with 3008, its queue dropped', async () => {
    const n = await node({ queue_max_size: 2000 });
    const u = new Uni(n);
    await u.connect({ subs: { news: {} } });
    u.transport.bufferedAmount = 1990;
    await publishText(n, 'news', `{"pad":"${'x'.repeat(100)}"}`);
    await flushed();
    assert.equal(u.closedWith, 3008);
    assert.equal(u.of('disconnect').length, 0, 'nothing more is queued to a reader that cannot keep up');
  });

  test('shutdown closes with 3001 written as a push before the close', async () => {
    const n = await testNode(config());
    const u = new Uni(n);
    await u.connect({});
    await n.shutdown();
    assert.equal(u.closedWith, 3001);
    assert.deepEqual(u.messages.at(-1), { disconnect: { code: 3001, reason: 'shutdown' } });
  });
});
