/**
 * Prometheus metrics at /metrics with real SDK clients: the text parses, current counts match what is connected,
 * commands, errors, disconnects and traffic are counted, process and event-loop metrics are there.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Centrifuge, Subscription } from 'centrifuge';
import { hsToken, once, SECRET, sdk, waitFor } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  samples: Sample[];
  types: Map<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)/;

/** Parses the Prometheus text exposition format strictly: any line that is not a comment or a sample fails. */
function parse(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      assert.ok(name && /^(counter|gauge|histogram|summary|untyped)$/.test(type ?? ''), `bad TYPE line: ${line}`);
      types.set(name, type as string);
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? '';
    while (rest !== '') {
      const l = LABEL.exec(rest);
      assert.ok(l, `bad labels in: ${line}`);
      labels[l[1] as string] = l[2] as string;
      rest = rest.slice(l[0].length);
    }
    // Go's ParseFloat, which Prometheus uses, takes NaN in any case (prom-client writes "Nan": an event-loop
    // percentile when no delay was sampled since the last scrape).
    const raw = m[3] as string;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    assert.ok(raw.toLowerCase() === 'nan' || !Number.isNaN(value), `bad value in: ${line}`);
    samples.push({ name: m[1] as string, labels, value });
  }
  return { samples, types };
}

/** The value of the one sample with this name and (at least) these labels; 0 when absent. */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = s.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  assert.ok(found.length <= 1, `${found.length} samples match ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

function has(s: Scrape, name: string): boolean {
  return s.samples.some((x) => x.name === name);
}

describe('/metrics', () => {
  let s: TestServer;
  const clients: Centrifuge[] = [];
  function client(opts: Parameters<typeof sdk>[1] = {}): Centrifuge {
    const c = sdk(s.wsUrl, opts);
    clients.push(c);
    return c;
  }
  async function connected(user: string): Promise<Centrifuge> {
    const c = client({ token: await hsToken({ sub: user }) });
    c.connect();
    await once(c, 'connected');
    return c;
  }
  async function subscribed(c: Centrifuge, channel: string): Promise<Subscription> {
    const sub = c.newSubscription(channel);
    sub.subscribe();
    await once(sub, 'subscribed');
    return sub;
  }
  async function scrape(): Promise<Scrape> {
    const res = await fetch(`${s.url}/metrics`);
    assert.equal(res.status, 200, 'GET /metrics');
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parse(await res.text());
  }

  before(async () => {
    s = await startServer({
      prometheus: { enabled: true },
      client: { token: { hmac_secret_key: SECRET } },
      channel: { without_namespace: openChannels(), namespaces: [{ name: 'chat', ...openChannels() }] },
    });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await waitFor(() => s.server.node.sessions.size === 0, 5000, 'every session closed');
  });
  after(async () => {
    await s.close();
  });

  test('the text parses; every family has a TYPE; process and event-loop metrics are there', async () => {
    await connected('alice');
    const m = await scrape();
    for (const sample of m.samples) {
      const family = sample.name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(m.types.has(sample.name) || m.types.has(family), `no TYPE for ${sample.name}`);
      assert.ok(sample.name.startsWith('chorus_'), `${sample.name} lacks the chorus_ prefix`);
    }
    assert.equal(m.types.get('chorus_connections'), 'gauge');
    assert.equal(m.types.get('chorus_messages_received_total'), 'counter');
    assert.equal(m.types.get('chorus_command_duration_seconds'), 'histogram');
    assert.ok(has(m, 'chorus_process_cpu_user_seconds_total'), 'process CPU');
    assert.ok(has(m, 'chorus_process_resident_memory_bytes') || has(m, 'chorus_nodejs_heap_size_used_bytes'), 'memory');
    assert.ok(has(m, 'chorus_nodejs_eventloop_lag_seconds'), 'event-loop lag');
    assert.ok(has(m, 'chorus_nodejs_eventloop_lag_p99_seconds'), 'event-loop lag percentiles');
    assert.equal(value(m, 'chorus_engine_ready', { engine: 'memory' }), 1);

    const head = await fetch(`${s.url}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200, 'HEAD /metrics');
    assert.equal(await head.text(), '');
  });

  test('connections, users, subscriptions and channels are the current counts', async () => {
    const zero = await scrape();
    assert.equal(value(zero, 'chorus_connections'), 0);
    assert.equal(value(zero, 'chorus_subscriptions'), 0);
    assert.equal(value(zero, 'chorus_channels'), 0);

    const a1 = await connected('alice');
    const a2 = await connected('alice');
    const b = await connected('bob');
    await Promise.all([subscribed(a1, 'room'), subscribed(a2, 'room'), subscribed(b, 'room'), subscribed(b, 'chat:x')]);
    const m = await scrape();
    assert.equal(value(m, 'chorus_connections'), 3);
    assert.equal(value(m, 'chorus_connections'), s.server.node.clients.size);
    assert.equal(value(m, 'chorus_sessions'), 3);
    assert.equal(value(m, 'chorus_users'), 2);
    assert.equal(value(m, 'chorus_subscriptions'), 4);
    assert.equal(value(m, 'chorus_channels'), 2);

    b.disconnect();
    await waitFor(() => s.server.node.clients.size === 2, 5000, 'bob gone');
    const later = await scrape();
    assert.equal(value(later, 'chorus_connections'), 2);
    assert.equal(value(later, 'chorus_users'), 1);
    assert.equal(value(later, 'chorus_subscriptions'), 2);
    assert.equal(value(later, 'chorus_channels'), 1);
  });

  test('commands by method, latency histogram, traffic in and out, error replies by code', async () => {
    const before = await scrape();
    const alice = await connected('alice');
    const bob = await connected('bob');
    const subA = await subscribed(alice, 'news');
    const subB = await subscribed(bob, 'news');
    const got = new Promise<void>((resolve) => {
      let n = 0;
      subB.on('publication', () => {
        if (++n === 2) resolve();
      });
    });
    await subA.publish({ n: 1 });
    await subA.publish({ n: 2 });
    await got;
    // An unknown namespace: error 102, after which the SDK gives the subscription up.
    const bad = alice.newSubscription('nope:room');
    const failed = once<{ code: number }>(bad, 'unsubscribed');
    bad.subscribe();
    assert.equal((await failed).code, 102);
    await waitFor(async () => value(await scrape(), 'chorus_reply_errors_total', { code: '102' }) > 0, 2000, '102');
    const m = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(m, name, labels) - value(before, name, labels);

    assert.equal(delta('chorus_messages_received_total', { method: 'connect' }), 2);
    assert.equal(delta('chorus_messages_received_total', { method: 'subscribe' }), 3);
    assert.equal(delta('chorus_messages_received_total', { method: 'publish' }), 2);
    assert.equal(delta('chorus_command_duration_seconds_count', { method: 'publish' }), 2);
    assert.equal(delta('chorus_command_duration_seconds_count', { method: 'subscribe' }), 3);
    assert.ok(delta('chorus_command_duration_seconds_sum', { method: 'publish' }) > 0, 'publish latency sum');

    // Buckets are cumulative and end at the count.
    const buckets = m.samples.filter(
      (x) => x.name === 'chorus_command_duration_seconds_bucket' && x.labels.method === 'publish',
    );
    assert.ok(buckets.length > 2, 'publish buckets');
    for (let i = 1; i < buckets.length; i++) {
      assert.ok((buckets[i] as Sample).value >= (buckets[i - 1] as Sample).value, 'cumulative buckets');
    }
    assert.equal(buckets.at(-1)?.labels.le, '+Inf');
    assert.equal(buckets.at(-1)?.value, value(m, 'chorus_command_duration_seconds_count', { method: 'publish' }));

    assert.equal(delta('chorus_reply_errors_total', { method: 'subscribe', code: '102' }), 1);
    // Both subscribers got both publications; every command with an id got a reply.
    assert.equal(delta('chorus_messages_sent_total', { type: 'publication' }), 4);
    assert.equal(delta('chorus_messages_sent_total', { type: 'reply' }), 7);
    assert.ok(delta('chorus_frames_received_total') >= 7, 'frames in');
    assert.ok(delta('chorus_bytes_received_total') > 200, 'bytes in');
    assert.ok(delta('chorus_frames_sent_total') >= 5, 'frames out');
    assert.ok(delta('chorus_messages_written_total') >= 11, 'messages written');
    assert.ok(delta('chorus_bytes_sent_total') > 400, 'bytes out');
  });

  test('disconnects by code', async () => {
    const before = await scrape();
    await connected('kick');
    const victim = clients.at(-1) as Centrifuge;
    const kicked = once<{ code: number }>(victim, 'disconnected');
    await s.server.node.ops.disconnect({ user: 'kick', disconnect: { code: 4501, reason: 'bye' } });
    assert.equal((await kicked).code, 4501);

    const anonymous = client();
    const refused = once<{ code: number }>(anonymous, 'disconnected');
    anonymous.connect();
    assert.equal((await refused).code, 3501);

    const leaving = await connected('leaving');
    leaving.disconnect();
    await waitFor(() => s.server.node.sessions.size === 0, 5000, 'sessions closed');

    const m = await scrape();
    const delta = (code: string) =>
      value(m, 'chorus_disconnects_total', { code }) - value(before, 'chorus_disconnects_total', { code });
    assert.equal(delta('4501'), 1);
    assert.equal(delta('3501'), 1);
    assert.equal(delta('3000'), 1, 'a client closing its connection: 3000');
  });
});

describe('/metrics disabled', () => {
  test('prometheus.enabled: false → 404', async () => {
    const s = await startServer({ prometheus: { enabled: false } });
    try {
      const res = await fetch(`${s.url}/metrics`);
      assert.equal(res.status, 404);
      await res.body?.cancel();
    } finally {
      await s.close();
    }
  });
});
