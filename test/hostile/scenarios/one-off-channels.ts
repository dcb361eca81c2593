/**
 * Child-process scenario for test/hostile/memory-release.test.ts (run with --expose-gc): 100,000 publications to
 * distinct channel names with history (short TTLs) — most through the node (the server API's path), 5,000 from
 * a WebSocket client — and subscribe → publish → presence → unsubscribe on 5,000 distinct names without history.
 * Prints the heap and what the node and engine hold, before and after the TTLs pass.
 */
import WebSocket from 'ws';
import { loadConfig } from '../../../src/config/load.js';
import type { MemoryBroker } from '../../../src/engine/memory/memory-broker.js';
import { createMemoryEngine } from '../../../src/engine/memory/memory-engine.js';
import type { MemoryPresence } from '../../../src/engine/memory/memory-presence.js';
import { createChorusServer } from '../../../src/server.js';
import { settledHeap } from '../../helpers/heap.js';
import { openChannels } from '../../helpers/server.js';

const PUBLISHES = 100_000;
const FROM_CLIENT = 5_000;
const CHURN = 5_000;
const PER_FRAME = 500;

const open = (extra: Record<string, unknown> = {}) =>
  openChannels({ allow_publish_for_client: true, presence: true, join_leave: true, ...extra });
const { config } = loadConfig({
  base: {
    http_server: { port: 0, address: '127.0.0.1' },
    client: { allow_anonymous_connect_without_token: true, command_rate_limit: 0 },
    channel: {
      history_meta_ttl: '2s',
      without_namespace: open(),
      namespaces: [{ name: 'hist', ...open({ history_size: 10, history_ttl: '1s' }) }],
    },
  },
});
// The engine's clock is the scenario's: however slow a busy machine publishes, nothing expires before the
// scenario lets the TTLs pass, and then the engine's own expiry timer has to release everything.
let clock = Date.now();
const server = await createChorusServer({ config, engine: createMemoryEngine(() => clock) });
const { port } = await server.listen();
const s = { server, wsUrl: `ws://127.0.0.1:${port}/connection/websocket`, close: () => server.close() };
const node = s.server.node;
const broker = node.engine.broker as MemoryBroker;
const presence = node.engine.presence as MemoryPresence;

/** A bare client that only counts replies (a test client keeping 100,000 messages would skew the heap). */
async function client(): Promise<{ run(frames: string[][]): Promise<void>; close(): void }> {
  const ws = new WebSocket(s.wsUrl);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let replies = 0;
  let waiting: { until: number; resolve: () => void } | undefined;
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) {
      if (line.startsWith('{"id":')) {
        if (line.includes('"error"')) throw new Error(`command failed: ${line}`);
        replies++;
      }
    }
    if (waiting !== undefined && replies >= waiting.until) waiting.resolve();
  });
  const until = (n: number) =>
    new Promise<void>((resolve) => {
      if (replies >= n) resolve();
      else waiting = { until: n, resolve };
    });
  let sent = 0;
  ws.send('{"id":1,"connect":{}}');
  sent++;
  await until(sent);
  return {
    async run(frames) {
      for (const f of frames) {
        ws.send(f.join('\n'));
        sent += f.length;
        await until(sent);
      }
    },
    close: () => ws.close(),
  };
}

let id = 10;
function publishFrames(prefix: string, from: number, count: number): string[][] {
  const frames: string[][] = [];
  for (let i = from; i < from + count; i += PER_FRAME) {
    const f: string[] = [];
    for (let j = i; j < Math.min(i + PER_FRAME, from + count); j++) {
      f.push(`{"id":${id++},"publish":{"channel":"${prefix}${j}","data":{"n":${j},"text":"one-off"}}}`);
    }
    frames.push(f);
  }
  return frames;
}

function churnFrames(count: number): string[][] {
  const frames: string[][] = [];
  for (let i = 0; i < count; i += PER_FRAME / 5) {
    const f: string[] = [];
    for (let j = i; j < Math.min(i + PER_FRAME / 5, count); j++) {
      const ch = `churn-${j}`;
      f.push(`{"id":${id++},"subscribe":{"channel":"${ch}"}}`);
      f.push(`{"id":${id++},"publish":{"channel":"${ch}","data":{"n":${j}}}}`);
      f.push(`{"id":${id++},"presence_stats":{"channel":"${ch}"}}`);
      f.push(`{"id":${id++},"unsubscribe":{"channel":"${ch}"}}`);
    }
    frames.push(f);
  }
  return frames;
}

const state = () => ({
  streams: broker.numStreams,
  hubChannels: node.hub.numChannels,
  brokerChannels: broker.numSubscribedChannels,
  presenceChannels: presence.numChannels,
});

async function publishThroughNode(prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++)
    await node.ops.publish({ channel: `${prefix}${i}`, data: Buffer.from(`{"n":${i},"text":"one-off"}`) });
}

// Warm-up: the code paths and the server's own structures exist before the baseline.
const warm = await client();
await warm.run(publishFrames('hist:warm-', 0, 500));
await warm.run(churnFrames(100));
warm.close();
await publishThroughNode('hist:warm-node-', 1_000);
// The warm-up's streams expire before the baseline.
clock += 2_100;
const warmed = Date.now();
while (broker.numStreams > 0 && Date.now() - warmed < 5_000) await new Promise((r) => setTimeout(r, 50));
const baseline = await settledHeap();

const c = await client();
await c.run(publishFrames('hist:one-off-', 0, FROM_CLIENT));
await c.run(churnFrames(CHURN));
c.close();
await publishThroughNode('hist:node-one-off-', PUBLISHES - FROM_CLIENT);
const peakState = state();
const peak = await settledHeap();

// The TTLs (1 s history, 2 s position) pass; the expiry queue must release everything by itself.
clock += 2_100;
const started = Date.now();
while (broker.numStreams > 0 && Date.now() - started < 6_000) await new Promise((r) => setTimeout(r, 100));
const releasedAfterMs = Date.now() - started;
const after = await settledHeap();
const afterState = state();
await s.close();
console.log(JSON.stringify({ baseline, peak, after, peakState, afterState, releasedAfterMs }));
