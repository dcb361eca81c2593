/**
 * Child-process scenario for test/hostile/payload-memory.test.ts (run with --expose-gc): 500 publications of a
 * ~30-byte payload, each sent in a ~60 KB WebSocket frame, then 500 more each in a ~60 KB server API body, all
 * kept in history. Prints the heap each batch added once the frames and bodies are garbage.
 */
import WebSocket from 'ws';
import type { MemoryBroker } from '../../../src/engine/memory/memory-broker.js';
import { settledHeap } from '../../helpers/heap.js';
import { openChannels, startServer } from '../../helpers/server.js';

const COUNT = 500;
const PAD = 'p'.repeat(60_000);

const s = await startServer({
  client: { allow_anonymous_connect_without_token: true, command_rate_limit: 0 },
  http_api: { key: 'k' },
  channel: {
    namespaces: [
      {
        name: 'hist',
        ...openChannels({ allow_publish_for_client: true, history_size: 10_000, history_ttl: '300s' }),
      },
    ],
  },
});
const broker = s.server.node.engine.broker as MemoryBroker;

const ws = new WebSocket(s.wsUrl);
await new Promise((resolve, reject) => {
  ws.once('open', resolve);
  ws.once('error', reject);
});
let replies = 0;
ws.on('message', (d) => {
  for (const line of d.toString().split('\n')) {
    if (line.includes('"error"')) throw new Error(`command failed: ${line}`);
    if (line.startsWith('{"id":')) replies++;
  }
});
const until = async (n: number) => {
  while (replies < n) await new Promise((r) => setTimeout(r, 2));
};
ws.send('{"id":1,"connect":{}}');
await until(1);

let id = 2;
async function overWebSocket(channel: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    // The payload is ~30 bytes; the frame around it is ~60 KB (an unknown field, which decoding ignores).
    ws.send(
      `{"id":${id++},"publish":{"channel":"${channel}","data":{"text":"thirty bytes of data #${i}"}},"pad":"${PAD}"}`,
    );
    await until(id - 2);
  }
}

async function overApi(channel: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${s.url}/api/publish`, {
      method: 'POST',
      headers: { 'x-api-key': 'k' },
      body: `{"channel":"${channel}","data":{"text":"thirty bytes of data #${i}"},"pad":"${PAD}"}`,
    });
    const body = await res.text();
    if (!body.includes('"result"')) throw new Error(`publish failed: ${body}`);
  }
}

// Warm-up of both paths, kept in the baseline.
await overWebSocket('hist:warm', 20);
await overApi('hist:warm', 20);
const baseline = await settledHeap();
await overWebSocket('hist:ws', COUNT);
const afterWs = await settledHeap();
await overApi('hist:api', COUNT);
const afterApi = await settledHeap();
const kept = await Promise.all(
  ['hist:ws', 'hist:api'].map(
    async (ch) => (await broker.history(ch, { limit: -1, reverse: false, historyMetaTtlMs: 0 })).publications.length,
  ),
);
ws.close();
await s.close();
console.log(JSON.stringify({ viaWebSocket: afterWs - baseline, viaApi: afterApi - afterWs, kept }));
