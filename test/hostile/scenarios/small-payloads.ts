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
      { name: 'hb', ...openChannels({ history_size: 10_000, history_ttl: '300s' }) },
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

/**
 * A batch (and a legacy body): the command's text is itself a piece of the body, so a payload that is most of
 * its command (here ~75 bytes in a command of ~110) must still not keep the body. The padding sits outside the
 * commands.
 */
async function overApiBatch(channel: string, n: number, legacy: boolean): Promise<void> {
  for (let i = 0; i < n; i++) {
    const data = `{"text":"${'d'.repeat(60)} #${i}"}`;
    const body = legacy
      ? `{"method":"publish","params":{"channel":"${channel}","data":${data}}}\n{"method":"info","params":{"pad":"${PAD}"}}`
      : `{"commands":[{"publish":{"channel":"${channel}","data":${data}}}],"pad":"${PAD}"}`;
    const res = await fetch(`${s.url}/api${legacy ? '' : '/batch'}`, {
      method: 'POST',
      headers: { 'x-api-key': 'k' },
      body,
    });
    const text = await res.text();
    if (!text.includes('"result"') || text.includes('"error"')) throw new Error(`publish failed: ${text}`);
  }
}

// Warm-up of every path, kept in the baseline.
await overWebSocket('hist:warm', 20);
await overApi('hist:warm', 20);
await overApiBatch('hist:warm', 20, false);
await overApiBatch('hist:warm', 20, true);
const baseline = await settledHeap();
await overWebSocket('hist:ws', COUNT);
const afterWs = await settledHeap();
await overApi('hist:api', COUNT);
const afterApi = await settledHeap();
await overApiBatch('hb:b', COUNT, false);
const afterBatch = await settledHeap();
await overApiBatch('hb:l', COUNT, true);
const afterLegacy = await settledHeap();
const kept = await Promise.all(
  ['hist:ws', 'hist:api', 'hb:b', 'hb:l'].map(
    async (ch) => (await broker.history(ch, { limit: -1, reverse: false, historyMetaTtlMs: 0 })).publications.length,
  ),
);
ws.close();
await s.close();
console.log(
  JSON.stringify({
    viaWebSocket: afterWs - baseline,
    viaApi: afterApi - afterWs,
    viaBatch: afterBatch - afterApi,
    viaLegacy: afterLegacy - afterBatch,
    kept,
  }),
);
