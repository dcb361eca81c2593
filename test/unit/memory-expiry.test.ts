/**
 * The memory engine's expiry (issue 11, case 4): streams, positions and idempotency results are released when
 * they are due, in time order, without scanning everything — on an injected clock, so the test is exact.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PublishOptions } from '../../src/core/ports/engine.js';
import { ExpiryQueue } from '../../src/engine/memory/expiry-queue.js';
import { MemoryBroker } from '../../src/engine/memory/memory-broker.js';

describe('ExpiryQueue', () => {
  test('pops entries in time order, only those due', () => {
    const q = new ExpiryQueue<number>();
    const times = Array.from({ length: 2000 }, (_, i) => (i * 7919) % 1000);
    for (const [i, t] of times.entries()) q.push(i, t);
    assert.equal(q.size, 2000);
    assert.equal(q.nextAt, 0);
    const popped: number[] = [];
    for (let e = q.popDue(499); e !== undefined; e = q.popDue(499)) popped.push(e.at);
    assert.equal(popped.length, times.filter((t) => t <= 499).length);
    assert.deepEqual(
      popped,
      [...popped].sort((a, b) => a - b),
      'in time order',
    );
    assert.ok(q.nextAt >= 500, 'what is not due stays');
    // Its arrays were reallocated smaller on the way (more than 3/4 popped): order still holds after more pushes.
    for (let i = 0; i < 300; i++) q.push(-i, 500 + ((i * 31) % 700));
    const rest: number[] = [];
    for (let e = q.popDue(10_000); e !== undefined; e = q.popDue(10_000)) rest.push(e.at);
    assert.deepEqual(
      rest,
      [...rest].sort((a, b) => a - b),
    );
    assert.equal(rest.length, 2000 - popped.length + 300);
    assert.equal(q.size, 0);
    assert.equal(q.nextAt, Number.POSITIVE_INFINITY);
  });
});

describe('memory broker expiry on an injected clock', () => {
  const opts: PublishOptions = { historySize: 10, historyTtlMs: 1_000, historyMetaTtlMs: 5_000 };

  async function setup() {
    let now = 1_000_000;
    const broker = new MemoryBroker(() => now);
    await broker.start({ onPublication() {}, onJoin() {}, onLeave() {}, onControl() {} });
    return { broker, advance: (ms: number) => (now += ms) };
  }

  test('publications go after history_ttl, positions after history_meta_ttl, and the memory with them', async () => {
    const { broker, advance } = await setup();
    for (let i = 0; i < 10_000; i++) await broker.publish(`one-off-${i}`, { data: Buffer.from(`{"i":${i}}`) }, opts);
    assert.equal(broker.numStreams, 10_000);
    advance(1_001);
    broker.expire();
    assert.equal(broker.numStreams, 10_000, 'positions outlive their publications');
    const h = await broker.history('one-off-1', { limit: -1, reverse: false, historyMetaTtlMs: 5_000 });
    assert.deepEqual(h.publications, [], 'publications are gone');
    assert.equal(h.position.offset, 1);
    advance(4_000);
    broker.expire();
    // one-off-1 was read 4 s after the others were last used: its position lives on.
    assert.equal(broker.numStreams, 1, 'every position past history_meta_ttl is released');
    advance(1_001);
    broker.expire();
    assert.equal(broker.numStreams, 0);
    await broker.close();
  });

  test('a stream still in use is kept: each use moves its expiry', async () => {
    const { broker, advance } = await setup();
    for (let step = 0; step < 10; step++) {
      await broker.publish('busy', { data: Buffer.from(`{"step":${step}}`) }, opts);
      advance(900);
      broker.expire();
    }
    const h = await broker.history('busy', { limit: -1, reverse: false, historyMetaTtlMs: 5_000 });
    assert.equal(h.position.offset, 10, 'the same stream throughout');
    assert.equal(h.publications.length, 10, 'no publication expired while they kept coming');
    await broker.close();
  });

  test('idempotency results are released after their window', async () => {
    const { broker, advance } = await setup();
    for (let i = 0; i < 1_000; i++) {
      await broker.publish(
        `ch-${i}`,
        { data: Buffer.from('{}') },
        { ...opts, historySize: 0, idempotencyKey: `k${i}`, idempotencyTtlMs: 2_000 },
      );
    }
    assert.equal(broker.numIdempotencyKeys, 1_000);
    advance(2_001);
    broker.expire();
    assert.equal(broker.numIdempotencyKeys, 0);
    await broker.close();
  });
});
