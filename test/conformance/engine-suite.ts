/**
 * Engine conformance suite: the contracts stated in src/core/ports/engine.ts, written against the Engine interface
 * only, so every implementation (memory, Redis …) runs the same tests through its own factory.
 *
 * - Every test gets a fresh engine from `factory.create()` (closed in afterEach) and channels with a random
 *   suffix, so implementations backed by a shared store cannot leak state between tests.
 * - Time: when the factory provides `advance`, tests move the engine's clock; otherwise they really wait, so
 *   every TTL used with `passTime` is short (hundreds of milliseconds) and margins are generous.
 * - Delivery may be asynchronous (a real broker): positive checks poll with `waitFor`; negative checks publish a
 *   sentinel on a subscribed channel, wait for it, then let a short real interval pass.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import type { ControlMessage } from '../../src/core/ports/control.js';
import {
  type BrokerEventHandler,
  type Engine,
  type HistoryQuery,
  isStreamEpoch,
  type PublishOptions,
} from '../../src/core/ports/engine.js';
import type { ClientInfo, Payload, Publication } from '../../src/protocol/messages.js';

export interface EngineFactory {
  /** A fresh engine; `advance` moves its clock when the implementation runs on an injectable one. */
  create(): Promise<{ engine: Engine; advance?: (ms: number) => void }>;
  /** How many things (streams, positions, presence sets, keys …) the engine stores for a channel. */
  storedFor(engine: Engine, channel: string): Promise<number>;
  /**
   * Another engine on the same shared store as the last one `create()` returned (another node of that cluster),
   * on the same clock; the suite closes it.
   */
  createSibling(): Promise<Engine>;
  /** Called once after the whole suite (drop shared connections, flush test keys …). */
  cleanup?(): Promise<void>;
}

interface Recorder extends BrokerEventHandler {
  pubs: { channel: string; pub: Publication; epoch: string }[];
  joins: { channel: string; info: ClientInfo }[];
  leaves: { channel: string; info: ClientInfo }[];
  controls: ControlMessage[];
  /** The publications delivered for one channel, in delivery order. */
  on(channel: string): Publication[];
}

interface Harness {
  engine: Engine;
  rec: Recorder;
  /** Lets `ms` of engine time pass: moves the fake clock when there is one, otherwise sleeps. */
  passTime(ms: number): Promise<void>;
}

/** Long enough that nothing expires during a test that does not let time pass on purpose. */
const HIST: PublishOptions = { historySize: 100, historyTtlMs: 600_000, historyMetaTtlMs: 3_600_000 };
const NO_HIST: PublishOptions = { historySize: 0, historyTtlMs: 0, historyMetaTtlMs: 3_600_000 };
/** Short TTLs for the tests that let time pass (really, when the engine has no fake clock). */
const SHORT_TTL = 300;
const SHORT_META_TTL = 1_000;
/** How long a positive check waits for an asynchronous delivery. */
const DELIVERY_TIMEOUT = 3_000;
/** How long a negative check lets pass (real time) after its sentinel arrived. */
const SETTLE = 50;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Payload bytes of a JSON text, and back: the suite writes and compares payloads as text. */
function b(text: string): Payload {
  return Buffer.from(text);
}

function txt(p: Payload | undefined): string | undefined {
  return p === undefined ? undefined : Buffer.from(p).toString();
}

function chan(label: string): string {
  return `conformance:${label}:${randomUUID().slice(0, 12)}`;
}

function all(metaTtl = HIST.historyMetaTtlMs): HistoryQuery {
  return { limit: -1, reverse: false, historyMetaTtlMs: metaTtl };
}

function info(user: string, client: string): ClientInfo {
  return { user, client, connInfo: b(`{"name":"${user}"}`), chanInfo: b(`{"role":"${client}"}`) };
}

function offsets(pubs: readonly Publication[]): number[] {
  return pubs.map((p) => p.offset);
}

function newRecorder(): Recorder {
  const rec: Recorder = {
    pubs: [],
    joins: [],
    leaves: [],
    controls: [],
    on: (channel) => rec.pubs.filter((e) => e.channel === channel).map((e) => e.pub),
    onPublication(channel, pub, epoch) {
      rec.pubs.push({ channel, pub, epoch });
    },
    onJoin(channel, info) {
      rec.joins.push({ channel, info });
    },
    onLeave(channel, info) {
      rec.leaves.push({ channel, info });
    },
    onControl(message) {
      rec.controls.push(message);
    },
  };
  return rec;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = DELIVERY_TIMEOUT): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Publishes a sentinel on `channel` (which must be subscribed), waits for it, then lets SETTLE ms pass. */
async function settle(h: Harness, channel: string): Promise<void> {
  const marker = `{"sentinel":"${randomUUID()}"}`;
  await h.engine.broker.publish(channel, { data: b(marker) }, NO_HIST);
  await waitFor('the sentinel publication', () => h.rec.on(channel).some((p) => txt(p.data) === marker));
  await sleep(SETTLE);
}

export function runEngineConformance(name: string, factory: EngineFactory, opts: { skip?: string } = {}): void {
  describe(`engine conformance: ${name}`, opts, () => {
    let h: Harness;

    beforeEach(async () => {
      const { engine, advance } = await factory.create();
      const rec = newRecorder();
      await engine.broker.start(rec);
      h = {
        engine,
        rec,
        async passTime(ms) {
          if (advance !== undefined) advance(ms);
          else await sleep(ms);
        },
      };
    });

    afterEach(async () => {
      await h.engine.close();
    });

    after(async () => {
      await factory.cleanup?.();
    });

    describe('broker', () => {
      test('delivers publications of a subscribed channel with data, info and tags intact', async () => {
        const ch = chan('pub');
        await h.engine.broker.subscribe(ch);
        const pubInfo = info('alice', 'c1');
        const tags = { kind: 'greeting', lang: 'en' };
        const res = await h.engine.broker.publish(ch, { data: b('{"text":"hi"}'), info: pubInfo, tags }, NO_HIST);
        assert.equal(res.offset, 0);
        await waitFor('the publication', () => h.rec.on(ch).length === 1);
        const [got] = h.rec.pubs;
        assert.ok(got !== undefined, 'got !== undefined');
        assert.equal(got.channel, ch);
        assert.equal(txt(got.pub.data), '{"text":"hi"}');
        assert.deepEqual(got.pub.info, pubInfo);
        assert.deepEqual(got.pub.tags, tags);
        assert.equal(got.pub.offset, 0);
        assert.equal(got.epoch, res.epoch);
      });

      test('delivers a publication without info and tags', async () => {
        const ch = chan('pub-bare');
        await h.engine.broker.subscribe(ch);
        await h.engine.broker.publish(ch, { data: b('[1,2,3]') }, NO_HIST);
        await waitFor('the publication', () => h.rec.on(ch).length === 1);
        const pub = h.rec.on(ch)[0];
        assert.equal(txt(pub?.data), '[1,2,3]');
        assert.equal(pub?.info, undefined);
        assert.ok(pub?.tags === undefined || Object.keys(pub.tags).length === 0, 'no tags expected');
      });

      test('does not deliver publications of channels not subscribed', async () => {
        const subscribed = chan('sub');
        const other = chan('other');
        await h.engine.broker.subscribe(subscribed);
        await h.engine.broker.publish(other, { data: b('{"n":1}') }, NO_HIST);
        await h.engine.broker.publish(other, { data: b('{"n":2}') }, HIST);
        await settle(h, subscribed);
        assert.deepEqual(h.rec.on(other), []);
        assert.ok(
          h.rec.pubs.every((e) => e.channel === subscribed),
          'only the subscribed channel is delivered',
        );
      });

      test('stops delivering after unsubscribe', async () => {
        const ch = chan('unsub');
        const keep = chan('keep');
        await h.engine.broker.subscribe(ch);
        await h.engine.broker.subscribe(keep);
        await h.engine.broker.publish(ch, { data: b('{"n":1}') }, NO_HIST);
        await waitFor('the first publication', () => h.rec.on(ch).length === 1);
        await h.engine.broker.unsubscribe(ch);
        await h.engine.broker.publish(ch, { data: b('{"n":2}') }, NO_HIST);
        await h.engine.broker.publishJoin(ch, info('bob', 'c2'));
        await settle(h, keep);
        assert.deepEqual(
          h.rec.on(ch).map((p) => txt(p.data)),
          ['{"n":1}'],
        );
        assert.equal(h.rec.joins.length, 0);
      });

      test('delivers a channel again after resubscribing', async () => {
        const ch = chan('resub');
        await h.engine.broker.subscribe(ch);
        await h.engine.broker.unsubscribe(ch);
        await h.engine.broker.subscribe(ch);
        await h.engine.broker.publish(ch, { data: b('{"again":true}') }, NO_HIST);
        await waitFor('the publication after resubscribe', () => h.rec.on(ch).length === 1);
      });

      test('delivers join and leave of subscribed channels only', async () => {
        const ch = chan('presence-events');
        const other = chan('not-subscribed');
        await h.engine.broker.subscribe(ch);
        const a = info('alice', 'c1');
        const b = info('', 'anon-1');
        await h.engine.broker.publishJoin(ch, a);
        await h.engine.broker.publishJoin(other, a);
        await h.engine.broker.publishLeave(ch, b);
        await h.engine.broker.publishLeave(other, b);
        await waitFor('join and leave', () => h.rec.joins.length >= 1 && h.rec.leaves.length >= 1);
        await settle(h, ch);
        assert.deepEqual(h.rec.joins, [{ channel: ch, info: a }]);
        assert.deepEqual(h.rec.leaves, [{ channel: ch, info: b }]);
      });

      test('publishControl reaches onControl', async () => {
        const uid = randomUUID();
        const payload: ControlMessage = {
          op: 'send',
          user: 'alice',
          data: b(`{"id":"${uid}","bytes":"\u00ff"}`),
        };
        await h.engine.broker.publishControl(payload);
        const mine = (m: ControlMessage) => m.op === 'send' && txt(m.data)?.includes(uid) === true;
        await waitFor('the control message', () => h.rec.controls.some(mine));
        // A shared broker may carry control messages of other nodes; ours arrives exactly once, payload intact.
        assert.equal(h.rec.controls.filter(mine).length, 1);
        assert.deepEqual(h.rec.controls.find(mine), payload);
      });

      test('delivers the publications of one channel in publish (offset) order', async () => {
        const ch = chan('order');
        await h.engine.broker.subscribe(ch);
        const n = 200;
        const opts: PublishOptions = { ...HIST, historySize: n };
        const results = await Promise.all(
          Array.from({ length: n }, (_, i) => h.engine.broker.publish(ch, { data: b(`{"i":${i}}`) }, opts)),
        );
        assert.deepEqual(
          results.map((r) => r.offset).sort((x, y) => x - y),
          Array.from({ length: n }, (_, i) => i + 1),
          'every publish got its own offset, 1..n',
        );
        await waitFor(`${n} publications`, () => h.rec.on(ch).length >= n);
        const delivered = h.rec.on(ch);
        assert.deepEqual(
          offsets(delivered),
          Array.from({ length: n }, (_, i) => i + 1),
        );
        // Each delivered publication is the one whose publish returned that offset.
        const dataByOffset = new Map(results.map((r, i) => [r.offset, `{"i":${i}}`]));
        for (const p of delivered) assert.equal(txt(p.data), dataByOffset.get(p.offset), `data at offset ${p.offset}`);
      });
    });

    describe('history', () => {
      test('publish with history returns offsets 1, 2, 3 and a stable non-empty epoch', async () => {
        const ch = chan('offsets');
        const r1 = await h.engine.broker.publish(ch, { data: b('{"n":1}') }, HIST);
        const r2 = await h.engine.broker.publish(ch, { data: b('{"n":2}') }, HIST);
        const r3 = await h.engine.broker.publish(ch, { data: b('{"n":3}') }, HIST);
        assert.deepEqual([r1.offset, r2.offset, r3.offset], [1, 2, 3]);
        assert.equal(typeof r1.epoch, 'string');
        assert.notEqual(r1.epoch, '');
        assert.equal(r2.epoch, r1.epoch);
        assert.equal(r3.epoch, r1.epoch);
        assert.ok(
          !r1.suppressed && !r2.suppressed && !r3.suppressed,
          '!r1.suppressed && !r2.suppressed && !r3.suppressed',
        );
      });

      test('publish without history returns offset 0', async () => {
        const ch = chan('no-history');
        const r1 = await h.engine.broker.publish(ch, { data: b('{"n":1}') }, NO_HIST);
        const r2 = await h.engine.broker.publish(ch, { data: b('{"n":2}') }, NO_HIST);
        assert.equal(r1.offset, 0);
        assert.equal(r2.offset, 0);
        // history_size > 0 without a history_ttl keeps no history either.
        const r3 = await h.engine.broker.publish(ch, { data: b('{"n":3}') }, { ...HIST, historyTtlMs: 0 });
        assert.equal(r3.offset, 0);
        const hist = await h.engine.broker.history(ch, all());
        assert.deepEqual(hist.publications, []);
        assert.equal(hist.position.offset, 0);
      });

      test('delivered publications carry the returned offset, epoch and a time', async () => {
        const ch = chan('delivered-offset');
        await h.engine.broker.subscribe(ch);
        const r1 = await h.engine.broker.publish(ch, { data: b('{"n":1}') }, HIST);
        const r2 = await h.engine.broker.publish(ch, { data: b('{"n":2}') }, HIST);
        await waitFor('two publications', () => h.rec.on(ch).length === 2);
        const events = h.rec.pubs.filter((e) => e.channel === ch);
        assert.deepEqual(
          events.map((e) => e.pub.offset),
          [r1.offset, r2.offset],
        );
        assert.deepEqual(
          events.map((e) => e.epoch),
          [r1.epoch, r2.epoch],
        );
        for (const e of events) assert.equal(typeof e.pub.time, 'number', 'a publication kept in history has a time');
      });

      test('history with limit -1 returns all publications in order with their offsets', async () => {
        const ch = chan('all');
        const tags = { k: 'v' };
        const pubInfo = info('alice', 'c1');
        let epoch = '';
        for (let i = 1; i <= 5; i++) {
          epoch = (await h.engine.broker.publish(ch, { data: b(`{"n":${i}}`), info: pubInfo, tags }, HIST)).epoch;
        }
        const hist = await h.engine.broker.history(ch, all());
        assert.deepEqual(offsets(hist.publications), [1, 2, 3, 4, 5]);
        assert.deepEqual(
          hist.publications.map((p) => txt(p.data)),
          [1, 2, 3, 4, 5].map((i) => `{"n":${i}}`),
        );
        for (const p of hist.publications) {
          assert.deepEqual(p.info, pubInfo);
          assert.deepEqual(p.tags, tags);
        }
        assert.deepEqual(hist.position, { offset: 5, epoch });
      });

      test('history with limit N returns the first N', async () => {
        const ch = chan('limit');
        for (let i = 1; i <= 5; i++) await h.engine.broker.publish(ch, { data: b(`{"n":${i}}`) }, HIST);
        const hist = await h.engine.broker.history(ch, { ...all(), limit: 2 });
        assert.deepEqual(offsets(hist.publications), [1, 2]);
        assert.equal(hist.position.offset, 5, 'the position is the stream top, not the last returned');
      });

      test('history since a position returns only later publications', async () => {
        const ch = chan('since');
        let epoch = '';
        for (let i = 1; i <= 5; i++) epoch = (await h.engine.broker.publish(ch, { data: b(`{"n":${i}}`) }, HIST)).epoch;
        const since = await h.engine.broker.history(ch, { ...all(), since: { offset: 2, epoch } });
        assert.deepEqual(offsets(since.publications), [3, 4, 5]);
        const sinceLimited = await h.engine.broker.history(ch, { ...all(), limit: 1, since: { offset: 2, epoch } });
        assert.deepEqual(offsets(sinceLimited.publications), [3]);
        const atTop = await h.engine.broker.history(ch, { ...all(), since: { offset: 5, epoch } });
        assert.deepEqual(atTop.publications, []);
        assert.deepEqual(atTop.position, { offset: 5, epoch });
      });

      test('reverse history returns newest first; with since, the ones before the offset', async () => {
        const ch = chan('reverse');
        let epoch = '';
        for (let i = 1; i <= 5; i++) epoch = (await h.engine.broker.publish(ch, { data: b(`{"n":${i}}`) }, HIST)).epoch;
        const rev = await h.engine.broker.history(ch, { ...all(), reverse: true });
        assert.deepEqual(offsets(rev.publications), [5, 4, 3, 2, 1]);
        const revLimited = await h.engine.broker.history(ch, { ...all(), reverse: true, limit: 2 });
        assert.deepEqual(offsets(revLimited.publications), [5, 4]);
        const revSince = await h.engine.broker.history(ch, { ...all(), reverse: true, since: { offset: 4, epoch } });
        assert.deepEqual(offsets(revSince.publications), [3, 2, 1]);
        const revSinceLimited = await h.engine.broker.history(ch, {
          ...all(),
          reverse: true,
          limit: 2,
          since: { offset: 4, epoch },
        });
        assert.deepEqual(offsets(revSinceLimited.publications), [3, 2]);
        assert.deepEqual(revSinceLimited.position, { offset: 5, epoch });
      });

      test('history with limit 0 returns only the position', async () => {
        const ch = chan('limit0');
        let epoch = '';
        for (let i = 1; i <= 3; i++) epoch = (await h.engine.broker.publish(ch, { data: b(`{"n":${i}}`) }, HIST)).epoch;
        const hist = await h.engine.broker.history(ch, { ...all(), limit: 0 });
        assert.deepEqual(hist.publications, []);
        assert.deepEqual(hist.position, { offset: 3, epoch });
      });

      test('history is trimmed to historySize, keeping the newest', async () => {
        const ch = chan('trim');
        const opts: PublishOptions = { ...HIST, historySize: 3 };
        let last = { offset: 0, epoch: '' };
        for (let i = 1; i <= 7; i++) last = await h.engine.broker.publish(ch, { data: b(`{"n":${i}}`) }, opts);
        assert.equal(last.offset, 7, 'offsets keep growing past the size');
        const hist = await h.engine.broker.history(ch, all());
        assert.deepEqual(offsets(hist.publications), [5, 6, 7]);
        assert.deepEqual(
          hist.publications.map((p) => txt(p.data)),
          ['{"n":5}', '{"n":6}', '{"n":7}'],
        );
        assert.deepEqual(hist.position, { offset: 7, epoch: last.epoch });
      });

      test('ranges over a trimmed stream: since and reverse at and beyond both ends', async () => {
        const ch = chan('ranges');
        const opts: PublishOptions = { ...HIST, historySize: 5 };
        let epoch = '';
        for (let i = 1; i <= 12; i++)
          epoch = (await h.engine.broker.publish(ch, { data: b(`{"n":${i}}`) }, opts)).epoch;
        // Kept: 8 … 12.
        const q = (since: number | undefined, reverse: boolean, limit = -1) =>
          h.engine.broker
            .history(ch, {
              ...all(),
              limit,
              reverse,
              since: since === undefined ? undefined : { offset: since, epoch },
            })
            .then((r) => offsets(r.publications));
        assert.deepEqual(await q(undefined, false), [8, 9, 10, 11, 12]);
        assert.deepEqual(await q(2, false), [8, 9, 10, 11, 12], 'since before the first kept');
        assert.deepEqual(await q(9, false, 2), [10, 11]);
        assert.deepEqual(await q(12, false), [], 'since at the top');
        assert.deepEqual(await q(40, false), [], 'since beyond the top');
        assert.deepEqual(await q(undefined, true, 2), [12, 11]);
        assert.deepEqual(await q(10, true), [9, 8]);
        assert.deepEqual(await q(8, true), [], 'reverse since the first kept');
        assert.deepEqual(await q(3, true), [], 'reverse since before the first kept');
        assert.deepEqual(await q(40, true, 3), [12, 11, 10], 'reverse since beyond the top');
      });

      test('maxBytes: what comes back is the first publications in order, at least those that fit', async () => {
        const ch = chan('max-bytes');
        const pad = 'x'.repeat(1000);
        for (let i = 1; i <= 20; i++) await h.engine.broker.publish(ch, { data: b(`{"n":${i},"pad":"${pad}"}`) }, HIST);
        const forward = offsets((await h.engine.broker.history(ch, { ...all(), maxBytes: 3000 })).publications);
        assert.ok(forward.length >= 2, `at least what fits in 3,000 bytes: ${forward}`);
        assert.deepEqual(
          forward,
          Array.from({ length: forward.length }, (_, i) => i + 1),
        );
        const since = offsets(
          (await h.engine.broker.history(ch, { ...all(), maxBytes: 3000, since: { offset: 10, epoch: '' } }))
            .publications,
        );
        assert.deepEqual(
          since,
          Array.from({ length: since.length }, (_, i) => i + 11),
        );
        assert.ok(since.length >= 2, 'since: at least what fits');
        const reverse = offsets(
          (await h.engine.broker.history(ch, { ...all(), reverse: true, maxBytes: 3000 })).publications,
        );
        assert.ok(reverse.length >= 2, 'reverse: at least what fits');
        assert.deepEqual(
          reverse,
          Array.from({ length: reverse.length }, (_, i) => 20 - i),
        );
        const tiny = offsets((await h.engine.broker.history(ch, { ...all(), maxBytes: 0 })).publications);
        assert.ok(
          tiny.length >= 1 && tiny[0] === 1,
          'the first one comes even when nothing fits, so the caller can tell',
        );
      });

      test('history items expire after historyTtlMs; the position stays', async () => {
        const ch = chan('ttl');
        const opts: PublishOptions = { historySize: 10, historyTtlMs: SHORT_TTL, historyMetaTtlMs: 3_600_000 };
        let r = { offset: 0, epoch: '' };
        for (let i = 1; i <= 3; i++) r = await h.engine.broker.publish(ch, { data: b(`{"n":${i}}`) }, opts);
        await h.passTime(SHORT_TTL + 200);
        const hist = await h.engine.broker.history(ch, all(opts.historyMetaTtlMs));
        assert.deepEqual(hist.publications, []);
        assert.deepEqual(hist.position, { offset: 3, epoch: r.epoch });
        const next = await h.engine.broker.publish(ch, { data: b('{"n":4}') }, opts);
        assert.deepEqual({ offset: next.offset, epoch: next.epoch }, { offset: 4, epoch: r.epoch });
        const after4 = await h.engine.broker.history(ch, all(opts.historyMetaTtlMs));
        assert.deepEqual(offsets(after4.publications), [4]);
      });

      test('the history TTL counts from the last publication', async () => {
        const ch = chan('ttl-refresh');
        const ttl = SHORT_TTL + 100;
        const opts: PublishOptions = { historySize: 10, historyTtlMs: ttl, historyMetaTtlMs: 3_600_000 };
        await h.engine.broker.publish(ch, { data: b('{"n":1}') }, opts);
        await h.passTime(ttl - 150);
        await h.engine.broker.publish(ch, { data: b('{"n":2}') }, opts);
        await h.passTime(ttl - 150);
        const kept = await h.engine.broker.history(ch, all(opts.historyMetaTtlMs));
        assert.deepEqual(offsets(kept.publications), [1, 2], 'kept: the last publication is younger than the TTL');
        await h.passTime(200);
        const gone = await h.engine.broker.history(ch, all(opts.historyMetaTtlMs));
        assert.deepEqual(gone.publications, []);
        assert.equal(gone.position.offset, 2);
      });

      test('after historyMetaTtlMs the epoch changes and offsets restart at 1', async () => {
        const ch = chan('meta-ttl');
        const opts: PublishOptions = { historySize: 10, historyTtlMs: SHORT_TTL, historyMetaTtlMs: SHORT_META_TTL };
        const r1 = await h.engine.broker.publish(ch, { data: b('{"n":1}') }, opts);
        await h.engine.broker.publish(ch, { data: b('{"n":2}') }, opts);
        await h.passTime(SHORT_TTL + 100);
        // Items gone, position still there (before the meta TTL).
        const mid = await h.engine.broker.history(ch, all(SHORT_META_TTL));
        assert.deepEqual(mid.publications, []);
        assert.deepEqual(mid.position, { offset: 2, epoch: r1.epoch });
        // Past the meta TTL, whether or not the history call above extended it.
        await h.passTime(SHORT_META_TTL + 200);
        const r3 = await h.engine.broker.publish(ch, { data: b('{"n":3}') }, opts);
        assert.equal(r3.offset, 1, 'offsets restart');
        assert.notEqual(r3.epoch, '');
        assert.notEqual(r3.epoch, r1.epoch, 'a new epoch: the old stream is gone');
        const hist = await h.engine.broker.history(ch, all(SHORT_META_TTL));
        assert.deepEqual(offsets(hist.publications), [1]);
        assert.deepEqual(hist.position, { offset: 1, epoch: r3.epoch });
      });

      test('history after the meta TTL reports a new epoch at offset 0, which publishing continues', async () => {
        const ch = chan('meta-ttl-history');
        const opts: PublishOptions = { historySize: 10, historyTtlMs: SHORT_TTL, historyMetaTtlMs: SHORT_META_TTL };
        const r1 = await h.engine.broker.publish(ch, { data: b('{"n":1}') }, opts);
        await h.passTime(SHORT_META_TTL + 200);
        const hist = await h.engine.broker.history(ch, all(SHORT_META_TTL));
        assert.deepEqual(hist.publications, []);
        assert.equal(hist.position.offset, 0);
        assert.notEqual(hist.position.epoch, r1.epoch);
        const r2 = await h.engine.broker.publish(ch, { data: b('{"n":2}') }, opts);
        assert.equal(r2.offset, 1);
        const since = await h.engine.broker.history(ch, { ...all(SHORT_META_TTL), since: hist.position });
        assert.deepEqual(offsets(since.publications), [1], 'a reader at the empty position gets the new stream');
        assert.ok(isStreamEpoch(since, hist.position.epoch), 'the empty position is a position of the new stream');
        assert.ok(!isStreamEpoch(since, r1.epoch), 'the expired stream is not');
      });

      test('history of a never-published channel: offset 0 and an epoch that the stream, once created, continues', async () => {
        const ch = chan('fresh');
        const first = await h.engine.broker.history(ch, all());
        assert.deepEqual(first.publications, []);
        assert.equal(first.position.offset, 0);
        assert.notEqual(first.position.epoch, '', 'a subscriber needs an epoch to recover against');
        const second = await h.engine.broker.history(ch, { ...all(), limit: 0 });
        assert.equal(second.position.offset, 0);
        assert.ok(isStreamEpoch(second, first.position.epoch), 'the empty position stays valid for the subscriber');
        const r = await h.engine.broker.publish(ch, { data: b('{"n":1}') }, HIST);
        assert.equal(r.offset, 1);
        const since = await h.engine.broker.history(ch, { ...all(), since: first.position });
        assert.deepEqual(offsets(since.publications), [1], 'a subscriber at the fresh position recovers');
        assert.deepEqual(since.position, { offset: 1, epoch: r.epoch });
        assert.ok(isStreamEpoch(since, first.position.epoch), "the fresh position is one of the new stream's");
      });

      test('a stream created a little after an empty read still continues that position', async () => {
        const ch = chan('empty-then-later');
        const opts: PublishOptions = { historySize: 10, historyTtlMs: SHORT_TTL, historyMetaTtlMs: SHORT_META_TTL };
        const empty = await h.engine.broker.history(ch, all(SHORT_META_TTL));
        // A quarter of the meta TTL: the empty epoch's time bucket may have ended meanwhile.
        await h.passTime(SHORT_META_TTL / 4);
        await h.engine.broker.publish(ch, { data: b('{"n":1}') }, opts);
        const hist = await h.engine.broker.history(ch, { ...all(SHORT_META_TTL), since: empty.position });
        assert.deepEqual(offsets(hist.publications), [1]);
        assert.ok(isStreamEpoch(hist, empty.position.epoch), 'the reader recovers the new stream from its start');
      });

      test('an empty position read before a stream that expired is never taken for a later stream', async () => {
        const ch = chan('empty-then-expired');
        const opts: PublishOptions = { historySize: 10, historyTtlMs: SHORT_TTL, historyMetaTtlMs: SHORT_META_TTL };
        const empty = await h.engine.broker.history(ch, all(SHORT_META_TTL));
        const first = await h.engine.broker.publish(ch, { data: b('{"n":1}') }, opts);
        await h.passTime(SHORT_META_TTL + 200);
        const second = await h.engine.broker.publish(ch, { data: b('{"n":2}') }, opts);
        assert.equal(second.offset, 1, 'a new stream');
        const hist = await h.engine.broker.history(ch, { ...all(SHORT_META_TTL), since: empty.position });
        assert.ok(
          !isStreamEpoch(hist, empty.position.epoch),
          'a reader that saw the channel empty before the first stream may have missed it: not recoverable',
        );
        assert.ok(!isStreamEpoch(hist, first.epoch), 'nor is a position of the expired stream');
      });

      test('removeHistory drops the publications', async () => {
        const ch = chan('remove');
        for (let i = 1; i <= 3; i++) await h.engine.broker.publish(ch, { data: b(`{"n":${i}}`) }, HIST);
        await h.engine.broker.removeHistory(ch);
        const hist = await h.engine.broker.history(ch, all());
        assert.deepEqual(hist.publications, []);
        // removeHistory of a channel without a stream is harmless.
        await h.engine.broker.removeHistory(chan('remove-none'));
      });

      test('a repeated idempotency key within the window returns the first result, suppressed', async () => {
        const ch = chan('idempotency');
        await h.engine.broker.subscribe(ch);
        const opts: PublishOptions = { ...HIST, idempotencyKey: `key-${randomUUID()}`, idempotencyTtlMs: 60_000 };
        const first = await h.engine.broker.publish(ch, { data: b('{"n":1}') }, opts);
        const second = await h.engine.broker.publish(ch, { data: b('{"n":2}') }, opts);
        assert.ok(!first.suppressed, 'the first publish is not suppressed');
        assert.equal(second.suppressed, true);
        assert.equal(second.offset, first.offset);
        assert.equal(second.epoch, first.epoch);
        await settle(h, ch);
        assert.deepEqual(
          h.rec
            .on(ch)
            .map((p) => txt(p.data))
            .filter((d) => !d?.includes('sentinel')),
          ['{"n":1}'],
          'delivered once',
        );
        const hist = await h.engine.broker.history(ch, all());
        assert.deepEqual(
          hist.publications.map((p) => txt(p.data)),
          ['{"n":1}'],
          'appended once',
        );
        // Another key is an ordinary publication.
        const third = await h.engine.broker.publish(ch, { data: b('{"n":3}') }, { ...opts, idempotencyKey: 'other' });
        assert.ok(!third.suppressed, '!third.suppressed');
        assert.equal(third.offset, first.offset + 1);
      });

      test('an idempotency key suppresses without history too, and only within its channel', async () => {
        const ch = chan('idempotency-nohist');
        const other = chan('idempotency-other');
        await h.engine.broker.subscribe(ch);
        await h.engine.broker.subscribe(other);
        const opts: PublishOptions = { ...NO_HIST, idempotencyKey: `key-${randomUUID()}`, idempotencyTtlMs: 60_000 };
        const first = await h.engine.broker.publish(ch, { data: b('{"n":1}') }, opts);
        const second = await h.engine.broker.publish(ch, { data: b('{"n":2}') }, opts);
        const elsewhere = await h.engine.broker.publish(other, { data: b('{"n":3}') }, opts);
        assert.ok(!first.suppressed, '!first.suppressed');
        assert.equal(second.suppressed, true);
        assert.equal(second.offset, 0);
        assert.ok(!elsewhere.suppressed, 'the same key on another channel is another publication');
        await waitFor('the publication on the other channel', () => h.rec.on(other).length === 1);
        await settle(h, ch);
        assert.deepEqual(
          h.rec
            .on(ch)
            .map((p) => txt(p.data))
            .filter((d) => !d?.includes('sentinel')),
          ['{"n":1}'],
        );
      });

      test('an idempotency key is forgotten after its window', async () => {
        const ch = chan('idempotency-ttl');
        const opts: PublishOptions = { ...HIST, idempotencyKey: `key-${randomUUID()}`, idempotencyTtlMs: SHORT_TTL };
        const first = await h.engine.broker.publish(ch, { data: b('{"n":1}') }, opts);
        await h.passTime(SHORT_TTL + 200);
        const second = await h.engine.broker.publish(ch, { data: b('{"n":2}') }, opts);
        assert.ok(!second.suppressed, 'published again once the window passed');
        assert.equal(second.offset, first.offset + 1);
      });
    });

    describe('reads store nothing', () => {
      test('history, presence and presence stats of a channel that holds nothing create nothing', async () => {
        const ch = chan('read-nothing');
        await h.engine.broker.history(ch, all());
        await h.engine.broker.history(ch, { ...all(), limit: 0 });
        await h.engine.broker.history(ch, { ...all(), limit: 10, reverse: true });
        await h.engine.broker.history(ch, { ...all(), since: { offset: 5, epoch: 'whatever' } });
        await h.engine.presence.presence(ch);
        await h.engine.presence.presenceStats(ch);
        await h.engine.broker.removeHistory(ch);
        assert.equal(await factory.storedFor(h.engine, ch), 0, 'nothing stored for the channel');
      });

      test('reads of 300 fresh long names store nothing', async () => {
        const base = chan('many');
        const names = Array.from({ length: 300 }, (_, i) => `${base}:${'x'.repeat(200)}:${i}`);
        for (const ch of names) {
          await h.engine.broker.history(ch, all());
          await h.engine.presence.presenceStats(ch);
        }
        let stored = 0;
        for (const ch of names) stored += await factory.storedFor(h.engine, ch);
        assert.equal(stored, 0);
      });

      test('a read after the position expired stores nothing either', async () => {
        const ch = chan('read-expired');
        const opts: PublishOptions = { historySize: 10, historyTtlMs: SHORT_TTL, historyMetaTtlMs: SHORT_META_TTL };
        await h.engine.broker.publish(ch, { data: b('{"n":1}') }, opts);
        assert.ok((await factory.storedFor(h.engine, ch)) > 0, 'a publication with history stores a stream');
        await h.passTime(SHORT_META_TTL + 200);
        const hist = await h.engine.broker.history(ch, all(SHORT_META_TTL));
        assert.equal(hist.position.offset, 0);
        assert.equal(await factory.storedFor(h.engine, ch), 0);
      });

      test('publishing without history stores nothing', async () => {
        const ch = chan('no-history-nothing');
        await h.engine.broker.publish(ch, { data: b('{"n":1}') }, NO_HIST);
        assert.equal(await factory.storedFor(h.engine, ch), 0);
      });

      test('presence that was emptied stores nothing', async () => {
        const ch = chan('presence-emptied');
        await h.engine.presence.addPresence(ch, 'c1', info('alice', 'c1'), 60_000, 'a-node');
        assert.ok((await factory.storedFor(h.engine, ch)) > 0, 'a presence entry is stored');
        await h.engine.presence.removePresence(ch, 'c1', 'alice');
        assert.equal(await factory.storedFor(h.engine, ch), 0);
      });
    });

    describe('presence', () => {
      /** The node holding the clients of a test: marked alive for longer than any test. */
      let node: string;
      const nodeId = () => `node-${randomUUID()}`;

      beforeEach(async () => {
        node = nodeId();
        await h.engine.presence.markNodeAlive(node, 600_000);
      });

      test('addPresence then presence lists clientId → info', async () => {
        const ch = chan('presence');
        const a = info('alice', 'c1');
        const b = info('bob', 'c2');
        await h.engine.presence.addPresence(ch, 'c1', a, 60_000, node);
        await h.engine.presence.addPresence(ch, 'c2', b, 60_000, node);
        const p = await h.engine.presence.presence(ch);
        assert.deepEqual(
          new Map([...p].sort(([x], [y]) => x.localeCompare(y))),
          new Map([
            ['c1', a],
            ['c2', b],
          ]),
        );
      });

      test('presence of an empty channel is empty', async () => {
        const ch = chan('presence-empty');
        assert.equal((await h.engine.presence.presence(ch)).size, 0);
        assert.deepEqual(await h.engine.presence.presenceStats(ch), { numClients: 0, numUsers: 0 });
      });

      test('presenceStats counts clients and distinct users; anonymous clients are one user', async () => {
        const ch = chan('stats');
        await h.engine.presence.addPresence(ch, 'c1', info('alice', 'c1'), 60_000, node);
        await h.engine.presence.addPresence(ch, 'c2', info('alice', 'c2'), 60_000, node);
        await h.engine.presence.addPresence(ch, 'c3', info('bob', 'c3'), 60_000, node);
        await h.engine.presence.addPresence(ch, 'a1', info('', 'a1'), 60_000, node);
        await h.engine.presence.addPresence(ch, 'a2', info('', 'a2'), 60_000, node);
        assert.deepEqual(await h.engine.presence.presenceStats(ch), { numClients: 5, numUsers: 3 });
        // Re-adding a client (refresh) does not count it twice.
        await h.engine.presence.addPresence(ch, 'c1', info('alice', 'c1'), 60_000, node);
        assert.deepEqual(await h.engine.presence.presenceStats(ch), { numClients: 5, numUsers: 3 });
      });

      test('removePresence removes the client', async () => {
        const ch = chan('remove-presence');
        await h.engine.presence.addPresence(ch, 'c1', info('alice', 'c1'), 60_000, node);
        await h.engine.presence.addPresence(ch, 'c2', info('alice', 'c2'), 60_000, node);
        await h.engine.presence.addPresence(ch, 'c3', info('bob', 'c3'), 60_000, node);
        await h.engine.presence.removePresence(ch, 'c1', 'alice');
        assert.deepEqual([...(await h.engine.presence.presence(ch)).keys()].sort(), ['c2', 'c3']);
        assert.deepEqual(await h.engine.presence.presenceStats(ch), { numClients: 2, numUsers: 2 });
        await h.engine.presence.removePresence(ch, 'c2', 'alice');
        assert.deepEqual(await h.engine.presence.presenceStats(ch), { numClients: 1, numUsers: 1 });
        await h.engine.presence.removePresence(ch, 'c3', 'bob');
        assert.equal((await h.engine.presence.presence(ch)).size, 0);
        assert.deepEqual(await h.engine.presence.presenceStats(ch), { numClients: 0, numUsers: 0 });
        // Removing an absent client is harmless.
        await h.engine.presence.removePresence(ch, 'nobody', 'nobody');
      });

      test('entries expire after ttlMs unless re-added', async () => {
        const ch = chan('presence-ttl');
        const ttl = 600;
        await h.engine.presence.addPresence(ch, 'kept', info('alice', 'kept'), ttl, node);
        await h.engine.presence.addPresence(ch, 'dropped', info('bob', 'dropped'), ttl, node);
        await h.passTime(ttl - 250);
        const refreshed = { ...info('alice', 'kept'), chanInfo: b('{"refreshed":true}') };
        await h.engine.presence.addPresence(ch, 'kept', refreshed, ttl, node);
        await h.passTime(ttl - 250 + 100); // past the first TTL, within the refreshed one
        const p = await h.engine.presence.presence(ch);
        assert.deepEqual([...p.keys()], ['kept']);
        assert.deepEqual(p.get('kept'), refreshed, 'the refresh replaced the info');
        assert.deepEqual(await h.engine.presence.presenceStats(ch), { numClients: 1, numUsers: 1 });
        await h.passTime(ttl);
        assert.equal((await h.engine.presence.presence(ch)).size, 0);
        assert.deepEqual(await h.engine.presence.presenceStats(ch), { numClients: 0, numUsers: 0 });
      });

      test('channels are independent', async () => {
        const a = chan('presence-a');
        const b = chan('presence-b');
        await h.engine.presence.addPresence(a, 'c1', info('alice', 'c1'), 60_000, node);
        await h.engine.presence.addPresence(b, 'c2', info('bob', 'c2'), 60_000, node);
        await h.engine.presence.removePresence(b, 'c1', 'alice');
        assert.deepEqual([...(await h.engine.presence.presence(a)).keys()], ['c1']);
        assert.deepEqual([...(await h.engine.presence.presence(b)).keys()], ['c2']);
        assert.deepEqual(await h.engine.presence.presenceStats(a), { numClients: 1, numUsers: 1 });
        await h.engine.presence.removePresence(a, 'c1', 'alice');
        assert.equal((await h.engine.presence.presence(a)).size, 0);
        assert.deepEqual([...(await h.engine.presence.presence(b)).keys()], ['c2']);
      });

      test('entries of a node whose alive mark ran out are not listed; a live node’s are', async () => {
        const ch = chan('presence-dead-node');
        const dying = nodeId();
        await h.engine.presence.markNodeAlive(dying, SHORT_TTL);
        await h.engine.presence.addPresence(ch, 'live', info('alice', 'live'), 60_000, node);
        await h.engine.presence.addPresence(ch, 'ghost', info('bob', 'ghost'), 60_000, dying);
        assert.deepEqual([...(await h.engine.presence.presence(ch)).keys()].sort(), ['ghost', 'live']);
        await h.passTime(SHORT_TTL + 100);
        assert.deepEqual([...(await h.engine.presence.presence(ch)).keys()], ['live'], 'the dead node’s client left');
        assert.deepEqual(await h.engine.presence.presenceStats(ch), { numClients: 1, numUsers: 1 });
      });

      test('a node marked alive again (it was only stalled) has its entries listed again', async () => {
        const ch = chan('presence-stalled-node');
        const stalled = nodeId();
        await h.engine.presence.markNodeAlive(stalled, SHORT_TTL);
        await h.engine.presence.addPresence(ch, 'c1', info('alice', 'c1'), 60_000, stalled);
        await h.passTime(SHORT_TTL + 100);
        assert.equal((await h.engine.presence.presence(ch)).size, 0, 'hidden while its mark has run out');
        await h.engine.presence.markNodeAlive(stalled, 60_000);
        assert.deepEqual([...(await h.engine.presence.presence(ch)).keys()], ['c1']);
      });

      test('entries of a node never marked alive are not listed', async () => {
        const ch = chan('presence-unknown-node');
        await h.engine.presence.addPresence(ch, 'c1', info('alice', 'c1'), 60_000, nodeId());
        await h.engine.presence.addPresence(ch, 'c2', info('bob', 'c2'), 60_000, node);
        assert.deepEqual([...(await h.engine.presence.presence(ch)).keys()], ['c2']);
      });

      test('markNodeGone hides the node’s entries at once, in every channel', async () => {
        const a = chan('presence-gone-a');
        const b = chan('presence-gone-b');
        const leaving = nodeId();
        await h.engine.presence.markNodeAlive(leaving, 60_000);
        await h.engine.presence.addPresence(a, 'c1', info('alice', 'c1'), 60_000, leaving);
        await h.engine.presence.addPresence(b, 'c2', info('alice', 'c2'), 60_000, leaving);
        await h.engine.presence.addPresence(b, 'c3', info('bob', 'c3'), 60_000, node);
        await h.engine.presence.markNodeGone(leaving);
        assert.equal((await h.engine.presence.presence(a)).size, 0);
        assert.deepEqual([...(await h.engine.presence.presence(b)).keys()], ['c3']);
        assert.deepEqual(await h.engine.presence.presenceStats(b), { numClients: 1, numUsers: 1 });
      });
    });

    describe('revocations', () => {
      test('a revoked id is revoked, others are not', async () => {
        const id = randomUUID();
        assert.equal(await h.engine.revocations.isRevoked(id), false);
        await h.engine.revocations.revoke(id, Date.now() + 60_000);
        assert.equal(await h.engine.revocations.isRevoked(id), true);
        assert.equal(await h.engine.revocations.isRevoked(randomUUID()), false);
      });

      test('a revocation holds on every node sharing the store', async () => {
        const sibling = await factory.createSibling();
        try {
          const id = randomUUID();
          await sibling.revocations.revoke(id, Date.now() + 60_000);
          assert.equal(await h.engine.revocations.isRevoked(id), true, 'revoked on one node, seen on the other');
          const other = randomUUID();
          await h.engine.revocations.revoke(other, Date.now() + 60_000);
          assert.equal(await sibling.revocations.isRevoked(other), true, 'and the other way round');
        } finally {
          await sibling.close();
        }
      });

      test('a revocation is forgotten after its expiry; one already past is not kept', async () => {
        const id = randomUUID();
        await h.engine.revocations.revoke(id, Date.now() + SHORT_TTL);
        assert.equal(await h.engine.revocations.isRevoked(id), true);
        await h.passTime(SHORT_TTL + 200);
        assert.equal(await h.engine.revocations.isRevoked(id), false);
        const past = randomUUID();
        await h.engine.revocations.revoke(past, Date.now() - 1000);
        assert.equal(await h.engine.revocations.isRevoked(past), false);
      });
    });
  });
}
