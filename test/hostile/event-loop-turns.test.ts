/**
 * No mix of big inputs may hold the server's event loop for long: the long live fuzz's biggest inputs (server API
 * broadcasts to 100,000 channels, 10,000-command batches, legacy bodies of several broadcasts, WebSocket frames of
 * 1,024 commands or of JSON nested 10,000 deep), sent concurrently. Each was paced on its own; together they were
 * not: every paused request resumed in the same phase of the loop with a slice of its own (a dozen big requests:
 * 200–350 ms of CPU in one turn), and one read of a busy socket ran every frame it held (libuv reads a ready
 * socket up to 32 times: 100+ ms for a few connections). Now one slice of CPU per turn is shared by every request
 * and session (src/core/turn-slice.ts).
 *
 * The server runs in a process of its own, and the bound is on its turns as its own loop monitor measured them:
 * the CPU time of its main thread between two ticks of a 5 ms timer, garbage-collection pauses deducted (this
 * process's work building the inputs is not counted, nor the machine's other load).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type LoopRecord, worstTurn } from '../fuzz/live/checks.js';
import { frame, RawWs, upgradeRequest } from '../fuzz/live/raw-ws.js';
import { type ServerProcess, startServerProcess } from '../fuzz/live/server-process.js';
import { openChannels } from '../helpers/server.js';

const KEY = 'k';
/** The bound of the live fuzz (FUZZ_STALL_MS). */
const BOUND_MS = 100;

let s: ServerProcess;
before(async () => {
  s = await startServerProcess({
    // No command rate limit: the sessions below send 30,000 commands each, as fast as they can.
    client: { allow_anonymous_connect_without_token: true, command_rate_limit: 0 },
    channel: {
      without_namespace: openChannels(),
      namespaces: [{ name: 'hist', ...openChannels({ history_size: 20, history_ttl: '30s' }) }],
    },
    http_api: { key: KEY },
  });
});
after(async () => {
  await s?.close();
});

/** Runs `load` with the server's loop monitor on; the worst turn (ms of CPU, GC deducted) and the record. */
async function measured(load: () => Promise<void>): Promise<{ worst: number; record: LoopRecord }> {
  await s.startMonitor(() => {});
  await load();
  const record = await s.stopMonitor();
  assert.deepEqual(s.crashes, []);
  console.log(`# worst turn ${Math.round(worstTurn(record, () => '').ms)} ms of CPU less GC; ${describeTurns(record)}`);
  return { worst: worstTurn(record, () => '').ms, record };
}

function describeTurns(r: LoopRecord): string {
  const turns = r.long.map(([, , cpu]) => Math.round(cpu)).sort((a, b) => b - a);
  return `turns over 20 ms (CPU, GC included): ${turns.slice(0, 8).join(', ')}${turns.length > 8 ? ' …' : ''} of ${turns.length}; longest GC pause ${Math.round(r.maxGcMs)} ms`;
}

/** POST over a raw connection; the status and the body. */
function post(path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: s.port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: text.slice(end + 4) });
    });
    socket.once('connect', () =>
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: ${KEY}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      ),
    );
  });
}

const broadcast = (n: number) =>
  `{"channels":[${Array.from({ length: n }, (_, i) => `"${i % 2 ? 'hist:' : ''}b${i}"`).join(',')}],"data":{"x":1}}`;
const batch = (n: number) =>
  `{"commands":[${Array.from({ length: n }, (_, i) => `{"publish":{"channel":"open${i % 50}","data":{"i":${i}}}}`).join(',')}],"parallel":true}`;

describe('concurrent big inputs share one slice of CPU per turn', () => {
  test('server API: broadcasts to 100,000 channels, 10,000-command batches and a legacy body, all at once', async () => {
    const { worst, record } = await measured(async () => {
      const answers = await Promise.all([
        ...Array.from({ length: 3 }, () => post('/api/broadcast', broadcast(100_000))),
        ...Array.from({ length: 3 }, () => post('/api/batch', batch(10_000))),
        post(
          '/api',
          [broadcast(100_000), broadcast(100_000)].map((b) => `{"method":"broadcast","params":${b}}`).join('\n'),
        ),
      ]);
      for (const a of answers) assert.equal(a.status, 200, a.body.slice(0, 200));
      for (const a of answers.slice(0, 3)) {
        assert.equal((JSON.parse(a.body) as { result: { responses: unknown[] } }).result.responses.length, 100_000);
      }
      for (const a of answers.slice(3, 6)) {
        assert.equal((JSON.parse(a.body) as { result: { replies: unknown[] } }).result.replies.length, 10_000);
      }
      assert.equal((answers[6]?.body ?? '').split('\n').length, 2);
    });
    assert.ok(worst < BOUND_MS, `the server's loop was held ${Math.round(worst)} ms of CPU; ${describeTurns(record)}`);
  });

  test('WebSocket: connections sending frames of 1,024 pings and of deep JSON, as fast as they can', async () => {
    const deep = (d: number) => `${'['.repeat(d)}1${']'.repeat(d)}`;
    const FRAMES = 30;
    const { worst, record } = await measured(async () => {
      const sessions = Array.from({ length: 12 }, async (_, c) => {
        const ws = await RawWs.connect(s.port, upgradeRequest());
        assert.ok(await ws.answered(5000));
        let replies = 0;
        ws.onText = (t) => {
          replies += t.split('\n').length;
        };
        ws.sendText('{"id":1,"connect":{}}');
        let id = 2;
        const pingFrames = c % 3 !== 2;
        for (let f = 0; f < FRAMES; f++) {
          if (pingFrames) ws.write(frame(Array.from({ length: 1024 }, () => `{"id":${id++},"ping":{}}`).join('\n')));
          else ws.write(frame(`{"id":${id++},"publish":{"channel":"open1","data":${deep(10_000)}}}`));
        }
        const expected = 1 + (pingFrames ? 1024 * FRAMES : FRAMES);
        const deadline = performance.now() + 30_000;
        while (replies < expected && !ws.ended && performance.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal(
          replies,
          expected,
          `connection ${c}: every command answered (closed: ${ws.ended}, code ${ws.closeCode})`,
        );
        ws.reset();
      });
      await Promise.all(sessions);
    });
    assert.ok(worst < BOUND_MS, `the server's loop was held ${Math.round(worst)} ms of CPU; ${describeTurns(record)}`);
  });
});
