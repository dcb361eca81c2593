/**
 * A user's personal channel is only ever that user's. Bob attacks Alice's personal channel through every path a
 * client or an API caller has — client subscribe (plain, with a subscription token, through a subscribe hook,
 * in insecure mode), connect-time `subs`, token `channels`/`subs` claims, the server API `subscribe`, publish,
 * history and presence — under namespace options that open everything else. Alice still gets her channel at
 * connect and the server API still reaches her through it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, Subscription } from 'centrifuge';
import { loadConfig } from '../../src/config/load.js';
import type { Hooks } from '../../src/embedding/app-hooks.js';
import { createChorusServer } from '../../src/server.js';
import { hsToken, once, RawClient, SECRET, sdk, sleep, waitFor } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const KEY = 'personal-test-api-key';

/** Everything open to every client: the options that made the attack possible. */
const WIDE_OPEN = openChannels({
  allow_publish_for_client: true,
  allow_history_for_client: true,
  allow_presence_for_client: true,
  presence: true,
  history_size: 10,
  history_ttl: '60s',
});

function config(namespace: string, extra: { insecure?: boolean } = {}): Record<string, unknown> {
  return {
    http_api: { key: KEY },
    client: {
      insecure: extra.insecure ?? false,
      token: { hmac_secret_key: SECRET },
      subscription_token: { enabled: false },
      allow_anonymous_connect_without_token: true,
      subscribe_to_user_personal_channel: { enabled: true, personal_channel_namespace: namespace },
    },
    channel: {
      without_namespace: WIDE_OPEN,
      namespaces: namespace === '' ? [] : [{ name: namespace, ...WIDE_OPEN }],
    },
  };
}

async function api(s: TestServer, method: string, params: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${s.url}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'X-API-Key': KEY },
    body: JSON.stringify(params),
  });
  return (await res.json()) as Record<string, unknown>;
}

/** Subscribes with the SDK and resolves with the outcome: "subscribed", or the code the subscription ended with. */
async function trySubscribe(c: Centrifuge, channel: string, opts = {}): Promise<string | number> {
  const sub = c.newSubscription(channel, opts);
  const outcome = new Promise<string | number>((resolve) => {
    sub.once('subscribed', () => resolve('subscribed'));
    sub.once('unsubscribed', (ctx) => resolve(ctx.code));
  });
  sub.subscribe();
  const r = await Promise.race([outcome, sleep(5000).then(() => 'no answer')]);
  c.removeSubscription(sub as Subscription);
  return r;
}

for (const namespace of ['', 'personal']) {
  const channelOf = (user: string) => (namespace === '' ? `#${user}` : `${namespace}:#${user}`);
  const ALICE = channelOf('alice');

  describe(`personal channel "${ALICE}" is Alice's alone`, () => {
    let s: TestServer;
    const clients: Centrifuge[] = [];
    const raws: RawClient[] = [];

    async function connect(user: string, claims: Record<string, unknown> = {}): Promise<Centrifuge> {
      const token = user === '' ? '' : await hsToken({ sub: user, ...claims });
      const c = sdk(s.wsUrl, { token });
      clients.push(c);
      const connected = once(c, 'connected');
      c.connect();
      await connected;
      return c;
    }

    /** Alice, connected, with every publication that reaches her personal channel. */
    async function alice(): Promise<{ c: Centrifuge; got: unknown[] }> {
      const c = await connect('alice');
      const got: unknown[] = [];
      c.on('publication', (ctx) => {
        if (ctx.channel === ALICE) got.push(ctx.data);
      });
      return { c, got };
    }

    before(async () => {
      s = await startServer(config(namespace));
    });
    after(async () => {
      for (const c of clients) c.disconnect();
      for (const r of raws) r.close();
      await s.close();
    });

    test('the owner is subscribed at connect and the API publishes to her; nobody else receives it', async () => {
      const a = await alice();
      const bob = await connect('bob');
      const bobGot: string[] = [];
      bob.on('publication', (ctx) => bobGot.push(ctx.channel));
      const r = await api(s, 'publish', { channel: ALICE, data: { code: '123456' } });
      assert.equal(r.error, undefined, JSON.stringify(r));
      await waitFor(() => a.got.length === 1, 5000, 'Alice gets her message');
      assert.deepEqual(a.got[0], { code: '123456' });
      assert.deepEqual(bobGot, [], 'Bob got nothing of Alice');
    });

    test('client subscribe by Bob (namespace open to every client) → 103', async () => {
      const bob = await connect('bob');
      assert.equal(await trySubscribe(bob, ALICE), 103);
    });

    test('client subscribe by an anonymous client → 103', async () => {
      const anon = await connect('');
      assert.equal(await trySubscribe(anon, ALICE), 103);
    });

    test('client subscribe by Bob with a valid subscription token for the channel → 103', async () => {
      const bob = await connect('bob');
      const token = await hsToken({ sub: 'bob', channel: ALICE });
      assert.equal(await trySubscribe(bob, ALICE, { token }), 103);
    });

    test('publish by Bob into Alice’s channel → 103, and Alice receives nothing', async () => {
      const a = await alice();
      const bob = await connect('bob');
      await assert.rejects(bob.publish(ALICE, { text: 'fake reset link' }), (e: { code?: number }) => e.code === 103);
      await sleep(200);
      assert.deepEqual(a.got, [], 'nothing reached Alice');
      // Alice herself may publish into her own channel (the namespace allows subscribers to publish).
      await a.c.publish(ALICE, { note: 'to myself' });
      await waitFor(() => a.got.length === 1, 5000, 'Alice’s own publication');
    });

    test('history and presence of Alice’s channel by Bob → 103 (Alice may read them)', async () => {
      const a = await alice();
      await api(s, 'publish', { channel: ALICE, data: { code: 'secret-in-history' } });
      const bob = await connect('bob');
      await assert.rejects(bob.history(ALICE, { limit: 10 }), (e: { code?: number }) => e.code === 103);
      await assert.rejects(bob.presence(ALICE), (e: { code?: number }) => e.code === 103);
      await assert.rejects(bob.presenceStats(ALICE), (e: { code?: number }) => e.code === 103);
      const h = await a.c.history(ALICE, { limit: 10 });
      assert.ok(h.publications.length >= 1, 'Alice reads her own history');
    });

    test('connect-time subs asking for Alice’s channel: not subscribed', async () => {
      const raw = await RawClient.open(s.wsUrl);
      raws.push(raw);
      const token = await hsToken({ sub: 'bob' });
      const reply = (await raw.connect({ token, subs: { [ALICE]: {}, news: {} } })) as {
        connect?: { subs?: Record<string, unknown> };
      };
      const subs = Object.keys(reply.connect?.subs ?? {});
      assert.ok(subs.includes('news'), `an open channel is granted: ${subs}`);
      assert.ok(subs.includes(channelOf('bob')), `Bob's own personal channel: ${subs}`);
      assert.ok(!subs.includes(ALICE), `Alice's channel is not: ${subs}`);
    });

    test('a connection token granting Bob Alice’s channel (channels and subs claims): not subscribed', async () => {
      const bob = await connect('bob', { channels: [ALICE], subs: { [ALICE]: {} } });
      const subscribed: string[] = [];
      bob.on('subscribed', (ctx) => subscribed.push(ctx.channel));
      const a = await alice();
      await api(s, 'publish', { channel: ALICE, data: { code: '777' } });
      await waitFor(() => a.got.length === 1, 5000, 'Alice receives');
      await sleep(100);
      assert.ok(!subscribed.includes(ALICE), `Bob is not subscribed to ${ALICE}: ${subscribed}`);
      const raw = await RawClient.open(s.wsUrl);
      raws.push(raw);
      const reply = (await raw.connect({ token: await hsToken({ sub: 'bob', channels: [ALICE] }) })) as {
        connect?: { subs?: Record<string, unknown> };
      };
      assert.deepEqual(Object.keys(reply.connect?.subs ?? {}), [channelOf('bob')]);
    });

    test('server API subscribe of Bob (by user, or by his connection id) to Alice’s channel → 103', async () => {
      const raw = await RawClient.open(s.wsUrl);
      raws.push(raw);
      const reply = (await raw.connect({ token: await hsToken({ sub: 'bob' }) })) as {
        connect?: { client?: string };
      };
      const bobClient = reply.connect?.client as string;
      for (const params of [
        { user: 'bob', channel: ALICE },
        { user: '', client: bobClient, channel: ALICE },
      ]) {
        const r = await api(s, 'subscribe', params);
        assert.equal((r.error as { code?: number } | undefined)?.code, 103, JSON.stringify(r));
      }
      // Alice's connection may be subscribed to her channel through the API (it already is: a no-op).
      assert.equal((await api(s, 'subscribe', { user: 'alice', channel: ALICE })).error, undefined);
      await sleep(100);
      assert.ok(
        !raw.pushes().some((p) => p.channel === ALICE),
        `no subscribe push for Alice's channel: ${JSON.stringify(raw.pushes())}`,
      );
    });
  });
}

describe('personal channels in insecure mode and behind application hooks', () => {
  test('client.insecure does not open someone else’s personal channel', async () => {
    const s = await startServer(config('', { insecure: true }));
    const clients: Centrifuge[] = [];
    try {
      const c = sdk(s.wsUrl);
      clients.push(c);
      c.connect();
      await once(c, 'connected');
      assert.equal(await trySubscribe(c, '#alice'), 103);
      await assert.rejects(c.publish('#alice', { x: 1 }), (e: { code?: number }) => e.code === 103);
      // Everything else stays open in insecure mode.
      await c.publish('anything', { x: 1 });
    } finally {
      for (const c of clients) c.disconnect();
      await s.close();
    }
  });

  test('subscribe and publish hooks (or proxies) that allow everything cannot hand it out', async () => {
    const base = structuredClone(config('')) as Record<string, Record<string, unknown>>;
    base.http_server = { port: 0, address: '127.0.0.1' };
    const hooks: Partial<Hooks> = { onSubscribe: () => true, onPublish: () => true };
    const server = await createChorusServer({ config: loadConfig({ base }).config, hooks });
    const { port } = await server.listen();
    const c = sdk(`ws://127.0.0.1:${port}/connection/websocket`, { token: await hsToken({ sub: 'bob' }) });
    try {
      c.connect();
      await once(c, 'connected');
      assert.equal(await trySubscribe(c, '#alice'), 103);
      await assert.rejects(c.publish('#alice', { x: 1 }), (e: { code?: number }) => e.code === 103);
    } finally {
      c.disconnect();
      await server.close();
    }
  });
});
