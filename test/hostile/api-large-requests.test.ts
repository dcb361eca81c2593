/**
 * Large server API requests must neither cost quadratic CPU nor hold the event loop. `POST /api/batch` once
 * rescanned the whole body for every command (1,000 vs 4,000 publishes: 0.47 s vs 7.1 s of CPU) and ran every
 * command in one event-loop turn (10,000 small publishes froze every client for 22 s). Now each command's text is
 * located in one pass, the work runs in slices with the event loop served in between, and the number of
 * commands per request is capped by `http_api.max_batch_commands`.
 *
 * The bound is measured as the longest stretch the event loop was held: a 1 ms timer's gap, counting only the
 * time this process spent on the CPU during it (on a busy machine the OS may also deschedule the process; that
 * is not a stall the server caused).
 */
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { rawElementsAt, rawValueAt } from '../../src/protocol/raw-json.js';
import { RawClient, waitFor } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const KEY = 'k';
/** The longest the event loop may be held by one request, at a time. */
const BOUND_MS = 100;
const MAX_BODY = 4 * 1024 * 1024;
const RUNS = 3;

interface Stall {
  /** The longest gap between two turns of a 1 ms timer, CPU time of this process only. */
  heldMs: number;
  /** The same gap in wall-clock time, and the event-loop delay histogram's max (informative: includes the OS). */
  wallMs: number;
  delayMaxMs: number;
}

function watchEventLoop(): () => Stall {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let held = 0;
  let wall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    const gap = now - last;
    held = Math.max(held, Math.min(gap, (cpu.user + cpu.system) / 1000));
    wall = Math.max(wall, gap);
    last = now;
    lastCpu = process.cpuUsage();
  }, 1);
  return () => {
    clearInterval(timer);
    histogram.disable();
    return { heldMs: held, wallMs: wall, delayMaxMs: histogram.max / 1e6 };
  };
}

function publishes(n: number, bodyBytes: number): string {
  // Sized so that the whole body is about `bodyBytes`.
  const pad = 'x'.repeat(Math.max(0, Math.floor(bodyBytes / n) - 60));
  const cmds = Array.from(
    { length: n },
    (_, i) => `{"publish":{"channel":"c${i % 50}","data":{"n":${i},"p":"${pad}"}}}`,
  );
  return `{"commands":[${cmds.join(',')}]}`;
}

describe('large server API requests', () => {
  let s: TestServer;
  let bystander: RawClient;

  async function post(path: string, body: string): Promise<{ status: number; json: () => unknown; text: string }> {
    const r = await fetch(`${s.url}${path}`, { method: 'POST', headers: { 'x-api-key': KEY }, body });
    const text = await r.text();
    return { status: r.status, text, json: () => JSON.parse(text.split('\n')[0] as string) };
  }

  /**
   * Runs a request RUNS times while watching the event loop; returns the last answer's text. On a machine shared
   * with other work one run can see a long garbage-collection pause, so the bound applies to the median run, and
   * no run may exceed it by far (without pacing, such a request held the loop for seconds).
   */
  async function paced(label: string, path: string, body: string): Promise<string> {
    const stalls: Stall[] = [];
    let text = '';
    for (let i = 0; i < RUNS; i++) {
      const stop = watchEventLoop();
      const r = await post(path, body);
      stalls.push(stop());
      assert.equal(r.status, 200, r.text.slice(0, 200));
      text = r.text;
    }
    const held = stalls.map((st) => st.heldMs).sort((a, b) => a - b);
    const report = stalls
      .map(
        (st) => `held ${st.heldMs.toFixed(0)} ms (wall ${st.wallMs.toFixed(0)}, delay max ${st.delayMaxMs.toFixed(0)})`,
      )
      .join('; ');
    assert.ok(
      (held[Math.floor(RUNS / 2)] as number) < BOUND_MS,
      `${label}: the median run held the loop too long: ${report}`,
    );
    assert.ok((held[RUNS - 1] as number) < 2.5 * BOUND_MS, `${label}: a run held the loop far too long: ${report}`);
    return text;
  }

  before(async () => {
    s = await startServer({
      client: { allow_anonymous_connect_without_token: true },
      channel: { without_namespace: openChannels() },
      http_api: { key: KEY, max_body_size: MAX_BODY },
    });
    bystander = await RawClient.open(s.wsUrl);
    await bystander.connect();
    bystander.send({ id: 2, subscribe: { channel: 'c0' } });
    await bystander.reply(2);
    // Warm up the code paths, so the measures below are not the JIT's first pass.
    await post('/api/batch', publishes(500, 50_000));
    await waitFor(() => bystander.pushes().length === 10, 5000, 'the warm-up publications');
  });
  after(async () => {
    bystander?.close();
    await s?.close();
  });

  test('a maximal batch (10,000 publishes, 4 MiB) never holds the event loop past the bound', async () => {
    const body = publishes(10_000, MAX_BODY - 1024);
    assert.ok(body.length <= MAX_BODY && body.length > MAX_BODY * 0.9, `body of ${body.length} bytes`);
    const seen = bystander.pushes().length;
    for (const parallel of [false, true]) {
      const text = await paced(
        parallel ? 'parallel batch' : 'batch',
        '/api/batch',
        parallel ? `${body.slice(0, -1)},"parallel":true}` : body,
      );
      const replies = (JSON.parse(text) as { result: { replies: unknown[] } }).result.replies;
      assert.equal(replies.length, 10_000);
      assert.deepEqual(replies[9_999], { publish: {} });
    }
    await waitFor(
      () => bystander.pushes().length - seen === 2 * RUNS * 200,
      10_000,
      'the bystander gets every publication to its channel',
    );
  });

  test('a broadcast to 100,000 channels is paced too', async () => {
    const channels = Array.from({ length: 100_000 }, (_, i) => `b${i}`);
    const text = await paced('broadcast', '/api/broadcast', JSON.stringify({ channels, data: { x: 1 } }));
    assert.equal((JSON.parse(text) as { result: { responses: unknown[] } }).result.responses.length, 100_000);
  });

  test('the legacy newline endpoint is paced too', async () => {
    const pad = 'y'.repeat(330);
    const lines = Array.from(
      { length: 10_000 },
      (_, i) => `{"method":"publish","params":{"channel":"c${i % 50}","data":{"n":${i},"p":"${pad}"}}}`,
    );
    const text = await paced('legacy', '/api', lines.join('\n'));
    assert.equal(text.split('\n').length, 10_000);
  });

  test('cost is linear in the number of commands', async () => {
    const cpuOf = async (n: number) => {
      const body = publishes(n, n * 400);
      const before = process.cpuUsage();
      const r = await post('/api/batch', body);
      const used = process.cpuUsage(before);
      assert.equal(r.status, 200);
      return (used.user + used.system) / 1000;
    };
    // The least of a few runs: garbage collection and a busy machine only ever add to a run's CPU time.
    const least = async (n: number) => Math.min(await cpuOf(n), await cpuOf(n), await cpuOf(n));
    const small = await least(1000);
    const large = await least(4000);
    // Linear is 4×; the quadratic rescan it replaces cost about 15×.
    assert.ok(large / small < 8, `1,000 commands: ${small.toFixed(0)} ms CPU, 4,000: ${large.toFixed(0)} ms`);
  });

  test('more commands than http_api.max_batch_commands is error 107 naming the key', async () => {
    const batch = await post('/api/batch', publishes(10_001, 700_000));
    assert.equal(batch.status, 200);
    const err = (batch.json() as { error: { code: number; message: string } }).error;
    assert.equal(err.code, 107);
    assert.match(err.message, /10001 commands in one request, at most 10000 \(http_api\.max_batch_commands\)/);
    const lines = Array.from({ length: 10_001 }, () => '{"method":"info","params":{}}').join('\n');
    const legacy = await post('/api', lines);
    assert.equal(legacy.status, 400);
    assert.match(legacy.text, /"code":107.*http_api\.max_batch_commands/);
  });
});

describe('http_api.max_batch_commands', () => {
  test('is configurable', async () => {
    const s = await startServer({ http_api: { key: KEY, max_batch_commands: 2 } });
    try {
      const call = (n: number) =>
        fetch(`${s.url}/api/batch`, {
          method: 'POST',
          headers: { 'x-api-key': KEY },
          body: JSON.stringify({ commands: Array.from({ length: n }, () => ({ info: {} })) }),
        }).then((r) => r.json() as Promise<{ result?: { replies: unknown[] }; error?: { code: number } }>);
      assert.equal((await call(2)).result?.replies.length, 2);
      assert.equal((await call(3)).error?.code, 107);
    } finally {
      await s.close();
    }
  });
});

/** Every element rawElementsAt finds, as an array. */
function elementsOf(doc: string, path: string[]): string[] | undefined {
  const it = rawElementsAt(doc, path);
  return it === undefined ? undefined : [...it];
}

describe('raw JSON of every command, in one pass', () => {
  test('rawElementsAt returns each element as written', () => {
    const doc = '{"commands" : [ {"a":"x\\"]"} , [1, 2], "s\\\\", 12345678901234567890 ,{"b":{"c":[]}}], "z": 1}';
    const parsed = JSON.parse(doc) as { commands: unknown[] };
    const texts = elementsOf(doc, ['commands']);
    assert.deepEqual(texts, ['{"a":"x\\"]"}', '[1, 2]', '"s\\\\"', '12345678901234567890', '{"b":{"c":[]}}']);
    assert.equal(texts?.length, parsed.commands.length);
    assert.equal(rawValueAt(texts?.[0] as string, ['a']), '"x\\"]"');
    assert.deepEqual(elementsOf('{"commands":[]}', ['commands']), []);
    assert.equal(rawElementsAt('{"commands":{}}', ['commands']), undefined);
    assert.equal(rawElementsAt('{"other":[]}', ['commands']), undefined);
  });

  test('a repeated key: the last one wins, as with JSON.parse', () => {
    const doc = '{"commands":[1],"commands":[2,3]}';
    assert.deepEqual(elementsOf(doc, ['commands']), ['2', '3']);
  });
});
