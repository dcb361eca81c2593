/**
 * Micro-benchmarks of Chorus's own hot code, without sockets: the codecs (decode a publish command, encode a
 * publication push, JSON and Protobuf) and the hub's fan-out (JSON, Protobuf and mixed subscribers) (one publication to N subscribed sessions, through their queues and
 * the flush to a transport that only counts). What they measure is the JavaScript Chorus adds per message and
 * per delivery on top of the kernel's socket write, which the fan-out benchmark measures as a whole. Figures are
 * ns of CPU per operation, medians over rounds, with JSON.parse/JSON.stringify of the same text as the baseline
 * measured in the same run.
 *
 *   npm run bench:micro
 *   npm run bench:micro -- --subscribers 1000 --rounds 5 --no-write
 */
import { parseArgs } from 'node:util';
import { compose } from '../src/compose.js';
import { loadConfig } from '../src/config/load.js';
import type { Node } from '../src/core/node.js';
import { silentLog } from '../src/core/ports/log.js';
import type { Transport } from '../src/core/ports/transport.js';
import { Client } from '../src/core/session/client.js';
import type { ClientCodec } from '../src/protocol/codec.js';
import { decodeFrame } from '../src/protocol/json/decode.js';
import { encodePush } from '../src/protocol/json/encode.js';
import { jsonCodec } from '../src/protocol/json/json-codec.js';
import type { Publication } from '../src/protocol/messages.js';
import { protobufCodec } from '../src/protocol/protobuf/protobuf-codec.js';
import { CommandType } from '../src/protocol/protobuf/schema.js';
import { machine, median, publish, runMain, table } from './lib/report.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    'no-write': { type: 'boolean', default: false },
  },
});
const N = Number(values.subscribers);
const ROUNDS = Number(values.rounds);
if (!(N > 0) || !(ROUNDS > 0)) throw new Error('bad flags');

const DATA = `{"i":1,"t":12345.678,"text":"${'x'.repeat(64)}"}`;
const PUBLISH = `{"id":17,"publish":{"channel":"fanout","data":${DATA}}}`;
/** Payload bytes, and the publish command as the bytes a transport hands the session. */
const DATA_BYTES = Buffer.from(DATA);
const PUBLISH_BYTES = Buffer.from(PUBLISH);

/** CPU ns per operation of `f` run `n` times (after a warm-up). */
function cpuNs(n: number, f: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 10_000); i++) f(i);
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) f(i);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / n;
}

/** A transport that accepts everything and only counts, so the hub's own work is what is measured. */
class CountingTransport implements Transport {
  readonly name = 'bench';
  readonly unidirectional = false;
  readonly emulated = false;
  readonly closeAsPush = false;
  frames = 0;
  bufferedAmount = 0;
  constructor(readonly codec: ClientCodec) {}
  write(): void {
    this.frames++;
  }
  writeMany(messages: readonly Uint8Array[], perFrame: number): number {
    this.frames += Math.ceil(messages.length / perFrame);
    let bytes = 0;
    for (const m of messages) bytes += m.length;
    return bytes;
  }
  close(): void {}
  terminate(): void {}
}

type Encoding = 'json' | 'protobuf';

/** Subscriber i's encoding, per fan-out variant. */
const ENCODINGS: Record<string, (i: number) => Encoding> = {
  json: () => 'json',
  protobuf: () => 'protobuf',
  mixed: (i) => (i % 2 === 0 ? 'json' : 'protobuf'),
};

const CONNECT_AND_SUBSCRIBE: Record<Encoding, Uint8Array> = {
  json: Buffer.from('{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"fanout"}}'),
  protobuf: Buffer.concat([
    CommandType.encodeDelimited({ id: 1, connect: {} }).finish(),
    CommandType.encodeDelimited({ id: 2, subscribe: { channel: 'fanout' } }).finish(),
  ]),
};

async function fanoutNode(
  writeDelay: string,
  encodingOf: (i: number) => Encoding = ENCODINGS.json as (i: number) => Encoding,
): Promise<{ node: Node; transports: CountingTransport[] }> {
  const { config } = loadConfig({
    base: {
      client: { allow_anonymous_connect_without_token: true, command_rate_limit: 0, write_delay: writeDelay },
      channel: { without_namespace: { allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true } },
    },
  });
  // Built as `chorus serve` builds it (memory engine, no metrics), without transports or routes.
  const { node } = await compose({ config, log: silentLog });
  const transports: CountingTransport[] = [];
  for (let i = 0; i < N; i++) {
    const encoding = encodingOf(i);
    const t = new CountingTransport(encoding === 'json' ? jsonCodec : protobufCodec);
    transports.push(t);
    const c = new Client(node, t, { transport: 'bench' });
    c.handleFrame(CONNECT_AND_SUBSCRIBE[encoding]);
  }
  // Let the connects and subscribes finish (they await the engine).
  for (let i = 0; i < 20 && node.hub.numSubscribers('fanout') < N; i++) await new Promise((r) => setImmediate(r));
  if (node.hub.numSubscribers('fanout') !== N) throw new Error(`only ${node.hub.numSubscribers('fanout')} subscribed`);
  return { node, transports };
}

/** CPU ns per delivery: `pubs` publications to N subscribers, each followed by the flush of the turn. */
async function fanoutNs(
  writeDelay: string,
  pubs: number,
  encodingOf?: (i: number) => Encoding,
): Promise<{ ns: number; frames: number }> {
  const { node, transports } = await fanoutNode(writeDelay, encodingOf);
  // A new publication object each time, as the broker delivers them (the encoded frame is memoized per object).
  const pub = (): Publication => ({ data: DATA_BYTES, offset: 0 });
  for (const t of transports) t.frames = 0;
  const c0 = process.cpuUsage();
  for (let i = 0; i < pubs; i++) {
    node.hub.broadcastPublication('fanout', pub(), '');
    // One publication per event-loop turn, as at moderate rates.
    await new Promise((r) => setImmediate(r));
  }
  if (writeDelay !== '0s') node.flusher.stop();
  const c = process.cpuUsage(c0);
  const frames = transports.reduce((a, t) => a + t.frames, 0);
  await node.shutdown();
  return { ns: ((c.user + c.system) * 1000) / (pubs * N), frames: frames / (pubs * N) };
}

async function main(): Promise<void> {
  const rows: Record<string, number[]> = {};
  const add = (k: string, v: number) => {
    rows[k] ??= [];
    rows[k].push(v);
  };
  let framesPerDelivery = 0;
  let framesPerDeliveryDelayed = 0;
  for (let r = 0; r < ROUNDS; r++) {
    add(
      'JSON.parse of the publish command (baseline)',
      cpuNs(200_000, () => JSON.parse(PUBLISH)),
    );
    add(
      'decode a publish command (decodeFrame)',
      cpuNs(200_000, () => decodeFrame(PUBLISH_BYTES)),
    );

    add(
      'JSON.stringify of a publication push (baseline)',
      cpuNs(200_000, () =>
        JSON.stringify({ push: { channel: 'fanout', pub: { data: JSON.parse(DATA), offset: 42 } } }),
      ),
    );
    add(
      'encode a publication push (encodePush)',
      // A new publication object each time: the encoded publication is memoized per object.
      cpuNs(200_000, () => encodePush({ type: 'pub', channel: 'fanout', pub: { data: DATA_BYTES, offset: 42 } })),
    );
    add(
      'encode a publication push, Protobuf (protobufCodec.encodePush)',
      cpuNs(200_000, () =>
        protobufCodec.encodePush({ type: 'pub', channel: 'fanout', pub: { data: DATA_BYTES, offset: 42 } }),
      ),
    );
    const d = await fanoutNs('0s', 200);
    add(`hub fan-out to ${N} subscribers, per delivery (queue + flush)`, d.ns);
    add(`the same, ${N} Protobuf subscribers, per delivery`, (await fanoutNs('0s', 200, ENCODINGS.protobuf)).ns);
    add(`the same, half JSON and half Protobuf, per delivery`, (await fanoutNs('0s', 200, ENCODINGS.mixed)).ns);
    framesPerDelivery = d.frames;
    const w = await fanoutNs('20ms', 200);
    add(`the same with client.write_delay 20ms, per delivery`, w.ns);
    framesPerDeliveryDelayed = w.frames;
    console.error(`round ${r + 1}/${ROUNDS} done`);
  }
  const md = [
    '### Micro-benchmarks: codec and hub',
    '',
    `Command: \`npm run bench:micro -- --subscribers ${N} --rounds ${ROUNDS}\` · ${machine()} · CPU ns per operation, medians of ${ROUNDS} rounds; the hub runs one publication per event-loop turn into sessions whose transport only counts (no sockets).`,
    '',
    table(
      ['operation', 'CPU ns per operation'],
      Object.entries(rows).map(([k, v]) => [k, median(v).toFixed(0)]),
    ),
    '',
    `Frames handed to the transport per delivery: ${framesPerDelivery.toFixed(2)} by default, ${framesPerDeliveryDelayed.toFixed(2)} with a 20 ms write delay (several publications per frame).`,
  ].join('\n');
  publish('micro', md, { N, ROUNDS, rows }, !values['no-write']);
}

runMain(main);
