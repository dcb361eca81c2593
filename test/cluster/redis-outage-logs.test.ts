/**
 * A Redis outage reads well in the logs: a node on a Redis of this test's own logs one line when Redis goes away
 * (with the cause) and one when it is back (with how long it was away) — not a line or a stack trace per retry,
 * heartbeat or presence refresh in between.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { once, sdk, sleep, waitFor } from '../helpers/clients.js';
import { type NodeProcess, startNode } from '../helpers/cluster.js';
import { needRedis, type OwnRedis, startOwnRedis } from '../helpers/services.js';

const skip = await needRedis();

interface LogLine {
  level: number;
  msg: string;
  err?: unknown;
  [k: string]: unknown;
}

function lines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

describe('Redis outage logs', skip, () => {
  let redis: OwnRedis;
  let node: NodeProcess;
  let client: Centrifuge | undefined;

  before(async () => {
    redis = await startOwnRedis();
    node = await startNode({
      engine: { type: 'redis', redis: { address: redis.url, prefix: `outage-${randomUUID().slice(0, 8)}` } },
      client: { allow_anonymous_connect_without_token: true, presence_update_interval: '1s' },
      channel: {
        without_namespace: { allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true, presence: true },
      },
    });
  });

  after(async () => {
    client?.disconnect();
    await node?.kill();
    redis?.stop();
  });

  test('one line when Redis goes away (with the cause), one when it is back (with the duration)', async () => {
    // A subscriber with presence refreshing every second, so per-client failures would show if they were logged.
    client = sdk(node.wsUrl);
    const sub = client.newSubscription('watched');
    const ok = once(sub, 'subscribed');
    sub.subscribe();
    client.connect();
    await ok;
    await waitFor(async () => (await fetch(`${node.url}/ready`)).status === 200, 5000, 'ready');
    const before = node.output().length;

    redis.stop();
    const stoppedAt = Date.now();
    // Longer than a heartbeat (3 s) and several presence refreshes and reconnect attempts.
    await sleep(4500);
    await redis.start();
    await waitFor(async () => (await fetch(`${node.url}/ready`)).status === 200, 15_000, 'ready again');
    await sleep(1500);
    const outage = Date.now() - stoppedAt;

    const logged = lines(node.output().slice(before));
    const text = logged.map((l) => `${l.msg}`).join('\n');
    assert.equal(logged.length, 2, `exactly two lines for one outage, got:\n${text}`);
    const [down, back] = logged as [LogLine, LogLine];
    assert.match(down.msg, /^redis \S+ unreachable \((connect ECONNREFUSED|connection closed)[^)]*\)/, down.msg);
    assert.equal(down.level, 40, 'the outage is a warning');
    assert.match(back.msg, /^redis \S+ reachable again after \d+(\.\d)? s$/, back.msg);
    const seconds = Number(/after ([\d.]+) s/.exec(back.msg)?.[1]);
    assert.ok(seconds >= 4 && seconds * 1000 <= outage + 500, `the duration (${seconds} s) matches the outage`);
    assert.ok(!JSON.stringify(logged).includes('"stack"'), 'no stack traces');
  });

  test('a Redis refusing the credentials: one line naming the cause, the password masked', async () => {
    const wrong = await startNode({
      engine: { type: 'redis', redis: { address: `redis://nobody:not-the-password@127.0.0.1:${redis.port}` } },
    });
    try {
      await sleep(2500);
      const logged = lines(wrong.output()).filter((l) => /redis/i.test(l.msg));
      assert.equal(logged.length, 1, `one line, got:\n${logged.map((l) => l.msg).join('\n')}`);
      assert.match(
        logged[0]!.msg,
        /^redis redis:\/\/nobody:\*\*\*@127\.0\.0\.1:\d+ unreachable \(WRONGPASS/,
        logged[0]!.msg,
      );
      assert.ok(!wrong.output().includes('not-the-password'), 'the password is never logged');
      assert.equal((await fetch(`${wrong.url}/ready`)).status, 503, 'not ready without Redis');
    } finally {
      await wrong.kill();
    }
  });
});
