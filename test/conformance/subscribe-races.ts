/**
 * Subscribe races, on every engine: a client that vanishes, or is unsubscribed, at each asynchronous step of a
 * subscribe (subscribe hook or proxy, subscription token check, broker subscribe, history read and recovery,
 * presence write, join publish, presence refresh). A node runs on a SlowEngine around the engine under test, so
 * the test decides when each engine call completes and drives every interleaving deterministically.
 *
 * After each one: presence lists the client exactly when it is subscribed, the hub holds nothing of it, and every
 * join pushed to another subscriber is followed by its leave (in that order) once the client is gone.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import type { Node } from '../../src/core/node.js';
import { hsToken, SECRET } from '../helpers/clients.js';
import { Conn, publishText, testNode, waitFor } from '../helpers/session.js';
import type { EngineFactory } from './engine-suite.js';
import { type Landing, SlowEngine } from './slow-engine.js';

/** A promise the test opens when it chooses. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

const allow = {
  allow_subscribe_for_client: true,
  allow_presence_for_subscriber: true,
  allow_history_for_subscriber: true,
};

export function runSubscribeRaces(name: string, factory: EngineFactory, opts: { skip?: string } = {}): void {
  describe(`subscribe races: ${name}`, opts, () => {
    let node: Node | undefined;
    let slow: SlowEngine;

    afterEach(async () => {
      await node?.shutdown();
      node = undefined;
    });

    /** A node on a slow engine, with "room:" (presence, join/leave pushed to all) and "feed:" (also recovery). */
    async function start(client: Record<string, unknown> = {}): Promise<Node> {
      const { engine } = await factory.create();
      slow = new SlowEngine(engine);
      const room = { presence: true, join_leave: true, force_push_join_leave: true, ...allow };
      node = await testNode(
        {
          client: { token: { hmac_secret_key: SECRET }, ...client },
          channel: {
            namespaces: [
              { name: 'room', ...room },
              { name: 'feed', ...room, history_size: 10, history_ttl: '60s', force_recovery: true },
            ],
          },
        },
        { engine: slow },
      );
      return node;
    }

    async function connected(n: Node, user: string): Promise<Conn> {
      const c = new Conn(n);
      await c.connect(user);
      return c;
    }

    /** Bob watches the channel: every join and leave is pushed to him. */
    async function observer(n: Node, channel: string): Promise<Conn> {
      const bob = await connected(n, 'bob');
      await bob.subscribe(channel);
      return bob;
    }

    /**
     * Once everything the node started has landed: `who` is listed in presence and in the hub exactly when
     * `subscribed`, and the join/leave pushes the observer got about it alternate, a join first, ending with a
     * leave unless it is still subscribed.
     */
    async function check(n: Node, channel: string, who: Conn, watcher: Conn, subscribed: boolean): Promise<void> {
      await slow.quiet();
      assert.equal(slow.held.length, 0, `engine calls left held: ${slow.held.map((c) => c.op).join(', ')}`);
      const listed = await slow.inner.presence.presence(channel);
      assert.equal(listed.has(who.id), subscribed, `presence ${subscribed ? 'lacks' : 'still lists'} the client`);
      const inHub = [...n.hub.subscribers(channel)].some((s) => s.session === who.client);
      assert.equal(inHub, subscribed, `the hub ${subscribed ? 'lacks' : 'still holds'} the client's subscription`);
      assert.equal(who.client.channels.has(channel), subscribed, 'the client session disagrees');
      // A sentinel publication goes through the broker after every join and leave: once the watcher has it, it
      // has every one of them too.
      const marker = randomUUID();
      await publishText(n, channel, JSON.stringify({ marker }));
      await waitFor('the sentinel publication', () =>
        watcher
          .pushes(channel)
          .some((p) => (p.pub as { data?: { marker?: string } } | undefined)?.data?.marker === marker),
      );
      const events = watcher.presenceEvents(channel, who.id);
      const expected = events.map((_, i) => (i % 2 === 0 ? 'join' : 'leave'));
      assert.deepEqual(events, expected, 'join and leave pushes must alternate, a join first');
      assert.equal(events.at(-1) === 'join', subscribed, `join/leave pushes end wrong: ${events.join(', ')}`);
    }

    for (const lands of ['at-once', 'on-release'] as Landing[]) {
      test(`a client vanishing while its presence entry is written (write lands ${lands}) is not listed`, async () => {
        const n = await start();
        const ch = `room:${randomUUID()}`;
        const bob = await observer(n, ch);
        const alice = await connected(n, 'alice');
        slow.hold('addPresence', lands);
        alice.send({ subscribe: { channel: ch } });
        const write = await slow.next('addPresence', ch);
        alice.vanish();
        await write.release();
        await check(n, ch, alice, bob, false);
      });
    }

    test('a client vanishing during the history read that recovers it is not listed', async () => {
      const n = await start();
      const ch = `feed:${randomUUID()}`;
      const bob = await observer(n, ch);
      const { epoch } = await publishText(n, ch, '{"n":1}');
      const alice = await connected(n, 'alice');
      slow.hold('history');
      alice.send({ subscribe: { channel: ch, recover: true, offset: 0, epoch } });
      const read = await slow.next('history', ch);
      alice.vanish();
      await read.release();
      await check(n, ch, alice, bob, false);
    });

    test('a client vanishing during the history read of its stream position is not listed', async () => {
      const n = await start();
      const ch = `feed:${randomUUID()}`;
      const bob = await observer(n, ch);
      const alice = await connected(n, 'alice');
      slow.hold('history');
      alice.send({ subscribe: { channel: ch } });
      const read = await slow.next('history', ch);
      alice.vanish();
      await read.release();
      await check(n, ch, alice, bob, false);
    });

    test('a client vanishing during the broker subscribe is not listed; the other subscriber stays served', async () => {
      const n = await start();
      const ch = `room:${randomUUID()}`;
      const alice = await connected(n, 'alice');
      const bob = await connected(n, 'bob');
      slow.hold('subscribe');
      alice.send({ subscribe: { channel: ch } });
      const brokerSubscribe = await slow.next('subscribe', ch);
      // Bob arrives while the node's broker subscribe (started for alice) is under way: he waits for it.
      const bobSubscribed = bob.send({ subscribe: { channel: ch } });
      alice.vanish();
      await brokerSubscribe.release();
      assert.ok((await bob.reply(bobSubscribed)).subscribe !== undefined, 'bob is subscribed');
      await check(n, ch, alice, bob, false);
      assert.ok(n.hub.hasSubscribers(ch), 'the node still holds the channel for bob');
    });

    test('a lone client vanishing during the broker subscribe leaves the node unsubscribed from the broker', async () => {
      const n = await start();
      const ch = `room:${randomUUID()}`;
      const alice = await connected(n, 'alice');
      slow.hold('subscribe');
      alice.send({ subscribe: { channel: ch } });
      const brokerSubscribe = await slow.next('subscribe', ch);
      alice.vanish();
      await brokerSubscribe.release();
      await slow.quiet();
      assert.equal(n.hub.hasSubscribers(ch), false, 'the hub still holds the channel');
      const changes = slow.log.filter((c) => c.channel === ch && (c.op === 'subscribe' || c.op === 'unsubscribe'));
      assert.equal(changes.at(-1)?.op, 'unsubscribe', 'the node stays subscribed to the broker for nobody');
      assert.equal((await slow.inner.presence.presence(ch)).has(alice.id), false, 'presence still lists the client');
    });

    test('a client vanishing while the subscribe hook (or proxy) decides is never listed', async () => {
      const n = await start();
      const ch = `room:${randomUUID()}`;
      const bob = await observer(n, ch);
      const alice = await connected(n, 'alice');
      const decided = gate();
      const asked = gate();
      n.hooks.onSubscribe = async () => {
        asked.open();
        await decided.opened;
        return true;
      };
      alice.send({ subscribe: { channel: ch } });
      await asked.opened;
      alice.vanish();
      decided.open();
      await check(n, ch, alice, bob, false);
    });

    test('a client vanishing while its subscription token is verified is never listed', async () => {
      const n = await start();
      const ch = `room:${randomUUID()}`;
      const bob = await observer(n, ch);
      const alice = await connected(n, 'alice');
      const verifier = n.subscribeTokens;
      const verify = verifier.verifySubscribe.bind(verifier);
      const verified = gate();
      const asked = gate();
      verifier.verifySubscribe = async (token) => {
        asked.open();
        await verified.opened;
        return verify(token);
      };
      alice.send({ subscribe: { channel: ch, token: await hsToken({ sub: 'alice', channel: ch }) } });
      await asked.opened;
      alice.vanish();
      verified.open();
      await check(n, ch, alice, bob, false);
    });

    test('a client vanishing during a server-side subscribe at connect is not listed', async () => {
      const n = await start();
      const ch = `room:${randomUUID()}`;
      const bob = await observer(n, ch);
      const alice = new Conn(n);
      slow.hold('addPresence');
      alice.send({ connect: { token: await hsToken({ sub: 'alice' }), subs: { [ch]: {} } } });
      const write = await slow.next('addPresence', ch);
      alice.vanish();
      await write.release();
      await check(n, ch, alice, bob, false);
    });

    test('a client vanishing while its join is published: the leave follows the join', async () => {
      const n = await start();
      const ch = `room:${randomUUID()}`;
      const bob = await observer(n, ch);
      const alice = await connected(n, 'alice');
      slow.hold('publishJoin');
      await alice.subscribe(ch);
      const join = await slow.next('publishJoin', ch);
      alice.vanish();
      // A leave published now would reach bob before the join.
      await slow.quiet();
      await join.release();
      await check(n, ch, alice, bob, false);
      assert.deepEqual(bob.presenceEvents(ch, alice.id), ['join', 'leave']);
    });

    test('a client unsubscribing while its join is published: the leave follows the join', async () => {
      const n = await start();
      const ch = `room:${randomUUID()}`;
      const bob = await observer(n, ch);
      const alice = await connected(n, 'alice');
      slow.hold('publishJoin');
      await alice.subscribe(ch);
      const join = await slow.next('publishJoin', ch);
      const unsubscribed = alice.send({ unsubscribe: { channel: ch } });
      await slow.quiet();
      await join.release();
      await alice.reply(unsubscribed);
      await check(n, ch, alice, bob, false);
      assert.deepEqual(bob.presenceEvents(ch, alice.id), ['join', 'leave']);
    });

    test('a client unsubscribing while its presence refresh is written is not listed', async () => {
      const n = await start({ presence_update_interval: '150ms' });
      const ch = `room:${randomUUID()}`;
      const bob = await observer(n, ch);
      const alice = await connected(n, 'alice');
      await alice.subscribe(ch);
      slow.hold('addPresence');
      const refresh = await slow.next('addPresence', ch, alice.id);
      slow.pass('addPresence');
      const unsubscribed = alice.send({ unsubscribe: { channel: ch } });
      await slow.quiet();
      await refresh.release();
      await alice.reply(unsubscribed);
      // Bob's refreshes held meanwhile.
      await slow.releaseAll();
      await check(n, ch, alice, bob, false);
    });

    test('a server API unsubscribe during a client subscribe: not listed, the client is told', async () => {
      const n = await start();
      const ch = `room:${randomUUID()}`;
      const bob = await observer(n, ch);
      const alice = await connected(n, 'alice');
      slow.hold('addPresence');
      const subscribed = alice.send({ subscribe: { channel: ch } });
      const write = await slow.next('addPresence', ch);
      await n.ops.unsubscribe('alice', ch);
      await waitFor('the unsubscribe push', () => alice.pushes(ch).some((p) => p.unsubscribe !== undefined));
      await write.release();
      const reply = await alice.reply(subscribed);
      assert.ok(reply.error !== undefined, `the subscribe must fail: ${JSON.stringify(reply)}`);
      assert.ok(
        alice.pushes(ch).some((p) => p.unsubscribe !== undefined),
        'the client gets the unsubscribe push',
      );
      await check(n, ch, alice, bob, false);
    });

    test('a client unsubscribe during a server API subscribe: not listed, no subscribe push', async () => {
      const n = await start();
      const ch = `room:${randomUUID()}`;
      const bob = await observer(n, ch);
      const alice = await connected(n, 'alice');
      slow.hold('addPresence');
      await n.ops.subscribe({ user: 'alice', channel: ch });
      const write = await slow.next('addPresence', ch);
      const unsubscribed = alice.send({ unsubscribe: { channel: ch } });
      await slow.quiet();
      await write.release();
      await alice.reply(unsubscribed);
      await check(n, ch, alice, bob, false);
      assert.equal(
        alice.pushes(ch).some((p) => p.subscribe !== undefined),
        false,
        'a subscribe push for a subscription the client ended',
      );
    });

    test('unsubscribed and subscribed again by the server API mid-subscribe: listed once, join after leave', async () => {
      const n = await start();
      const ch = `room:${randomUUID()}`;
      const bob = await observer(n, ch);
      const alice = await connected(n, 'alice');
      slow.hold('addPresence');
      await n.ops.subscribe({ user: 'alice', channel: ch });
      await slow.next('addPresence', ch);
      await n.ops.unsubscribe('alice', ch);
      await waitFor('the unsubscribe', () => !alice.client.channels.has(ch));
      await n.ops.subscribe({ user: 'alice', channel: ch });
      await waitFor('the second subscribe', () => alice.client.channels.has(ch));
      await slow.quiet();
      slow.pass('addPresence');
      // The newest write first: the first subscription's cleanup must not take the second one's entry away.
      await slow.releaseAll('latest-first');
      await check(n, ch, alice, bob, true);
      assert.ok(
        alice.pushes(ch).some((p) => p.subscribe !== undefined),
        'the client is told of the second subscription',
      );
    });
  });
}
