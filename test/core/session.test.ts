/**
 * The client session without sockets: a node from the composition root on the memory engine and a manual clock,
 * sessions on fake transports. Every timer (heartbeats, pong deadlines, stale connections, token expiry,
 * presence refresh) is driven by moving the clock, so these run in milliseconds and never wait for real time.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Node } from '../../src/core/node.js';
import { createMemoryEngine } from '../../src/engine/memory/memory-engine.js';
import { protobufCodec } from '../../src/protocol/protobuf/protobuf-codec.js';
import { hsToken, SECRET } from '../helpers/clients.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { Conn, FakeTransport, flushed, publishText, testNode } from '../helpers/session.js';

const open = {
  allow_subscribe_for_client: true,
  allow_subscribe_for_anonymous: true,
  allow_publish_for_client: true,
  allow_publish_for_anonymous: true,
  allow_presence_for_client: true,
  allow_presence_for_anonymous: true,
  allow_history_for_client: true,
  allow_history_for_anonymous: true,
};

function config(client: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client: { token: { hmac_secret_key: SECRET }, allow_anonymous_connect_without_token: true, ...client },
    channel: {
      without_namespace: open,
      namespaces: [
        { name: 'room', ...open, presence: true, join_leave: true, force_push_join_leave: true },
        { name: 'feed', ...open, history_size: 10, history_ttl: '60s', force_recovery: true },
      ],
    },
  };
}

const nodes: Node[] = [];
async function node(client: Record<string, unknown> = {}, clock = new ManualClock()): Promise<Node> {
  // The memory engine on the same clock: history TTLs move with it too.
  const n = await testNode(config(client), { clock, engine: createMemoryEngine(() => clock.now()) });
  nodes.push(n);
  return n;
}

after(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});

describe('session: connect', () => {
  test('a token connects as its user; the result carries client id, version, ping and pong', async () => {
    const n = await node();
    const c = new Conn(n);
    const r = await c.connect('alice');
    const result = r.connect as { client: string; version: string; ping: number; pong: boolean };
    assert.equal(result.client, c.id);
    assert.equal(result.ping, 25);
    assert.equal(result.pong, true);
    assert.equal(n.clients.get(c.id)?.user, 'alice');
  });

  test('a command before connect closes with 3501; an invalid token with 3500', async () => {
    const n = await node();
    const early = new Conn(n);
    early.send({ subscribe: { channel: 'news' } });
    assert.equal(early.closedWith, 3501);
    const forged = new Conn(n);
    forged.send({ connect: { token: await hsToken({ sub: 'x' }, 'another-secret-that-is-long-enough-!!') } });
    await flushed();
    assert.equal(forged.closedWith, 3500);
  });

  test('a connection that never sends connect is closed as stale (3502) after client.stale_close_delay', async () => {
    const clock = new ManualClock();
    const n = await node({}, clock);
    const c = new Conn(n);
    clock.advance(9_900);
    assert.equal(c.closedWith, undefined, 'not yet');
    clock.advance(300);
    assert.equal(c.closedWith, 3502);
  });

  test('client.connection_limit refuses the next connection with 3504', async () => {
    const n = await node({ connection_limit: 1 });
    await new Conn(n).connect('a');
    const second = new Conn(n);
    second.send({ connect: { token: await hsToken({ sub: 'b' }) } });
    await flushed();
    assert.equal(second.closedWith, 3504);
  });
});

describe('session: heartbeats and expiry', () => {
  test('pings go out every ping_interval; a client that does not answer is closed with 3012', async () => {
    const clock = new ManualClock();
    const n = await node({ ping_interval: '10s', pong_timeout: '3s' }, clock);
    const c = new Conn(n);
    await c.connect('alice');
    const pings = () => c.messages.filter((m) => Object.keys(m).length === 0).length;
    /** Moves time in 100 ms steps until the next ping arrives; returns how long that took. */
    const untilPing = async () => {
      const before = pings();
      const start = clock.now();
      while (pings() === before && clock.now() - start <= 10_300) {
        clock.advance(100);
        await flushed();
      }
      return clock.now() - start;
    };
    // The first ping comes within one interval (at a random point of its second half, as Centrifugo spreads them).
    const first = await untilPing();
    assert.ok(first >= 4_900 && first <= 10_200, `the first ping within the interval (${first} ms)`);
    c.frame('{}');
    const second = await untilPing();
    assert.ok(second >= 9_800 && second <= 10_200, `answered: the next ping one interval later (${second} ms)`);
    assert.equal(pings(), 2);
    assert.equal(c.closedWith, undefined);
    // This one is not answered: closed once pong_timeout passes (within a bucket of the timer wheel).
    clock.advance(2_800);
    assert.equal(c.closedWith, undefined, 'not before pong_timeout');
    clock.advance(400);
    assert.equal(c.closedWith, 3012, 'not answered within pong_timeout');
  });

  test('a connection token that expires without refresh closes with 3005 after expired_close_delay', async () => {
    const clock = new ManualClock(Date.now());
    // No heartbeats: this test moves time past several ping intervals without answering.
    const n = await node({ expired_close_delay: '5s', ping_interval: '0s' }, clock);
    const c = new Conn(n);
    const exp = Math.floor(clock.now() / 1000) + 60;
    const r = await c.call({ connect: { token: await hsToken({ sub: 'alice', exp }) } });
    assert.equal((r.connect as { expires?: boolean }).expires, true);
    clock.advance(60_000);
    assert.equal(c.closedWith, undefined, 'the grace period runs');
    clock.advance(6_000);
    assert.equal(c.closedWith, 3005);
  });
});

describe('session: channels', () => {
  test('publish reaches every subscriber once, encoded once, with the publisher as info', async () => {
    const n = await node();
    const [a, b] = [new Conn(n), new Conn(n)];
    await a.connect('alice');
    await b.connect('bob');
    await a.subscribe('news');
    await b.subscribe('news');
    const r = await a.call({ publish: { channel: 'news', data: { text: 'hi' } } });
    assert.deepEqual(r.publish, {});
    await flushed();
    for (const c of [a, b]) {
      const pubs = c.pushes('news').map((p) => p.pub as { data: unknown; info: { user: string } });
      assert.deepEqual(
        pubs.map((p) => p.data),
        [{ text: 'hi' }],
      );
      assert.equal(pubs[0]?.info.user, 'alice');
    }
    // The hub encoded the push once: both sessions got the very same bytes (the same buffer).
    const pushOf = (c: Conn) => c.transport.raw.find((m) => Buffer.from(m).includes('"pub"'));
    assert.ok(pushOf(a) !== undefined && pushOf(a) === pushOf(b), 'one encoded push, shared');
  });

  test('presence, presence_stats and join/leave', async () => {
    const n = await node();
    const [a, b] = [new Conn(n), new Conn(n)];
    await a.connect('alice');
    await b.connect('bob');
    await a.subscribe('room:1');
    await b.subscribe('room:1');
    const p = await a.call({ presence: { channel: 'room:1' } });
    assert.deepEqual(Object.keys((p.presence as { presence: object }).presence).sort(), [a.id, b.id].sort());
    const s = await a.call({ presence_stats: { channel: 'room:1' } });
    assert.deepEqual(s.presence_stats, { num_clients: 2, num_users: 2 });
    b.vanish();
    await flushed();
    await flushed();
    assert.deepEqual(a.presenceEvents('room:1', b.id), ['join', 'leave']);
  });

  test('a resubscribe recovers exactly the publications missed', async () => {
    const n = await node();
    const c = new Conn(n);
    await c.connect('alice');
    const first = await c.subscribe('feed:a');
    const { epoch, offset } = first.subscribe as { epoch: string; offset?: number };
    await c.call({ unsubscribe: { channel: 'feed:a' } });
    for (let i = 1; i <= 3; i++) await publishText(n, 'feed:a', `{"n":${i}}`);
    const again = await c.subscribe('feed:a', { recover: true, epoch, offset: offset ?? 0 });
    const res = again.subscribe as { recovered: boolean; publications: Array<{ data: { n: number }; offset: number }> };
    assert.equal(res.recovered, true);
    assert.deepEqual(
      res.publications.map((p) => [p.offset, p.data.n]),
      [
        [1, 1],
        [2, 2],
        [3, 3],
      ],
    );
  });

  test('client.channel_limit answers 106', async () => {
    const n = await node({ channel_limit: 2 });
    const c = new Conn(n);
    await c.connect('alice');
    await c.subscribe('a');
    await c.subscribe('b');
    const r = await c.call({ subscribe: { channel: 'c' } });
    assert.equal((r.error as { code: number }).code, 106);
  });

  test('history TTLs run on the injected clock: after history_ttl the stream holds nothing', async () => {
    const clock = new ManualClock(Date.now());
    const n = await node({ ping_interval: '0s' }, clock);
    const c = new Conn(n);
    await c.connect('alice');
    await publishText(n, 'feed:ttl', '{"n":1}');
    const before = await c.call({ history: { channel: 'feed:ttl', limit: 10 } });
    assert.equal((before.history as { publications: unknown[] }).publications.length, 1);
    clock.advance(61_000);
    const afterTtl = await c.call({ history: { channel: 'feed:ttl', limit: 10 } });
    assert.equal((afterTtl.history as { publications?: unknown[] }).publications, undefined, 'expired');
  });
});

describe('session: output', () => {
  test('a client over client.queue_max_size is closed with 3008', async () => {
    const n = await node({ queue_max_size: 2000 });
    const c = new Conn(n);
    await c.connect('alice');
    await c.subscribe('news');
    c.transport.bufferedAmount = 1_900;
    await publishText(n, 'news', JSON.stringify({ text: 'x'.repeat(200) }));
    await flushed();
    assert.equal(c.closedWith, 3008);
  });

  test('a client pipelining more than 1,024 commands is paused, not closed, and every command is answered', async () => {
    const n = await node();
    const c = new Conn(n);
    await c.connect('alice');
    await c.subscribe('news');
    const lines = Array.from({ length: 3000 }, (_, i) =>
      JSON.stringify({ id: 1000 + i, publish: { channel: 'news', data: i } }),
    );
    for (let i = 0; i < lines.length; i += 1000) c.frame(lines.slice(i, i + 1000).join('\n'));
    assert.equal(c.transport.paused, true, 'reading paused while thousands wait');
    const deadline = Date.now() + 5000;
    while (c.messages.filter((m) => m.publish !== undefined).length < 3000 && Date.now() < deadline) await flushed();
    assert.equal(c.messages.filter((m) => m.publish !== undefined).length, 3000);
    assert.equal(c.transport.paused, false, 'reading again');
    assert.equal(c.closedWith, undefined);
  });
});

describe('session: encodings', () => {
  test('a Protobuf session and a JSON session on one channel each get the publication in their own encoding', async () => {
    const n = await node();
    const json = new Conn(n);
    const pb = new Conn(n, new FakeTransport({ codec: protobufCodec }));
    await json.connect('alice');
    await json.subscribe('news');
    // Protobuf commands are written with the same codec the SDK's generated code matches (see codec tests).
    const { CommandType } = await import('../../src/protocol/protobuf/schema.js');
    const frame = Buffer.concat([
      CommandType.encodeDelimited({ id: 1, connect: {} }).finish(),
      CommandType.encodeDelimited({ id: 2, subscribe: { channel: 'news' } }).finish(),
    ]);
    pb.client.handleFrame(frame);
    await flushed();
    await flushed();
    assert.equal(pb.closedWith, undefined, 'the Protobuf session is open');
    await publishText(n, 'news', '{"text":"hi"}');
    await flushed();
    assert.deepEqual(json.pushes('news').at(-1)?.pub, { data: { text: 'hi' } });
    const { ReplyType } = await import('../../src/protocol/protobuf/schema.js');
    const last = pb.transport.raw.at(-1) as Uint8Array;
    const reply = ReplyType.decodeDelimited(last) as unknown as {
      push: { channel: string; pub: { data: Uint8Array } };
    };
    assert.equal(reply.push.channel, 'news');
    assert.equal(Buffer.from(reply.push.pub.data).toString(), '{"text":"hi"}', 'the payload bytes, untouched');
  });
});
