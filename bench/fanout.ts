/**
 * Fan-out against the floor and the usual alternative, in the same run: one channel, N subscribers, one
 * publisher at stepped rates. Each target is its own process on loopback; targets alternate A B C … A B C … and
 * figures are medians over rounds:
 *   raw       bare `ws`, each message framed once and the same Buffer written to every socket (the floor)
 *   send      bare `ws`, `ws.send(sameBuffer)` per socket: ws frames per socket, as every library on ws does
 *   coalesce  the same, queued per socket and written once per event-loop turn (what write batching can reach)
 *   socketio  Socket.IO 4, WebSocket transport only, broadcast to a room
 *   chorus    Chorus, anonymous access, an open channel, command rate limit off
 *   chorus-protobuf  the same, every subscriber speaking the Protobuf protocol (binary frames)
 *   chorus-mixed     the same, half the subscribers JSON and half Protobuf (each publication encoded twice)
 * Figures per target and rate: delivered msgs/s and share of expected, latency p50/p99/max (publisher send →
 * subscriber receive, decoded on a sample of subscribers only), server CPU per delivered message (total and user,
 * from /proc of the server process), and RSS per idle connection (RSS after connecting N subscribers minus before,
 * over N). The load generator walks WebSocket frames on bare sockets and counts messages without decoding them.
 *
 *   npm run bench:fanout                                    # N = 1000, 20/50/100 msgs/s, 5 s per step, 2 rounds
 *   npm run bench:fanout -- --subscribers 5000 --rates 10,20 --seconds 5 --rounds 2
 *   npm run bench:fanout -- --subscribers 200 --rates 20,50 --seconds 2 --rounds 1 --no-write
 *   npm run bench:fanout -- --targets raw,chorus --rates 100 --rounds 1 --no-write --profile /tmp/prof
 *
 * Loopback only (subscribers spread over 127.0.0.2–51 as source addresses), bounded in count and time, stops by
 * itself; every process it starts is stopped by PID, on errors and on the deadline too.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import protobuf from 'protobufjs';
import { CommandType, ReplyType } from '../src/protocol/protobuf/schema.js';
import { cpu, cpuDelta, machineBusyMs, memory } from './lib/proc.js';
import { machine, median, saveJSON, table, writeSection } from './lib/report.js';
import { type ServerProcess, startChorus, startScript } from './lib/server.js';
import { WireConn } from './lib/wire.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    rates: { type: 'string', default: '20,50,100' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    size: { type: 'string', default: '64' },
    sampled: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '1' },
    targets: { type: 'string', default: 'raw,send,coalesce,socketio,chorus' },
    deadline: { type: 'string', default: '600' },
    profile: { type: 'string' },
    'write-delay': { type: 'string', default: '100ms' },
    name: { type: 'string', default: 'fanout' },
    /** Another checkout (built) whose server runs as the `chorus-baseline` target: two versions in one run. */
    baseline: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});
const N = Number(values.subscribers);
const RATES = values.rates.split(',').map(Number);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const SIZE = Number(values.size);
const SAMPLED = Math.min(N, Number(values.sampled));
const WARMUP = Number(values.warmup);
const DEADLINE_S = Number(values.deadline);
const CHANNEL = 'fanout';
/** client.write_delay of the `chorus-delay` target. */
const WRITE_DELAY = values['write-delay'];
/** The BENCHMARKS.md section and chart this run writes (several fan-out runs can each keep their own). */
const NAME = values.name;
/** `--profile DIR`: every server process writes a V8 CPU profile there when it stops. */
const NODE_ARGS = values.profile ? ['--cpu-prof', '--cpu-prof-dir', values.profile] : [];
const ROOT = new URL('../', import.meta.url).pathname;
if (!(N > 0) || RATES.some((r) => !(r > 0)) || !(SECONDS > 0) || !(ROUNDS > 0)) throw new Error('bad flags');

// --- what the load generator does per target ------------------------------------------------------------------

/** Counts the messages in one received frame (answering protocol pings on the way); never decodes payloads. */
type Counter = (buf: Buffer, start: number, end: number) => number;

interface Target {
  key: string;
  label: string;
  start(): Promise<ServerProcess>;
  /** The WebSocket subprotocol subscriber `k` asks for (none by default). */
  subprotocol?(k: number): string | undefined;
  /** Handshake and subscribe (subscriber `k`); resolves once the server confirmed the subscription. */
  subscribe(c: WireConn, k: number): Promise<void>;
  openPublisher(c: WireConn): Promise<void>;
  /** The text the publisher sends for one message carrying `data` (a JSON object). */
  publish(seq: number, data: string): string;
  counter(c: WireConn, k: number): Counter;
}

const rawTarget = (key: string, label: string, mode: string): Target => ({
  key,
  label,
  start: () => startScript('bench/targets/raw-ws.ts', ['--port', '0', '--mode', mode], '/', NODE_ARGS),
  async subscribe(c) {
    c.send('sub');
    await c.next((t) => t === 'ok');
  },
  async openPublisher(c) {
    c.send('pub');
    await c.next((t) => t === 'ok');
  },
  publish: (_seq, data) => data,
  counter: () => () => 1,
});

type Encoding = 'json' | 'protobuf';

/** Counts pushes in a JSON frame (newline-separated messages; a push starts with {"push", a ping is {}). */
function jsonCounter(c: WireConn): Counter {
  return (buf, start, end) => {
    const view = buf.subarray(start, end);
    let n = 0;
    let p = 0;
    while (p < view.length) {
      let nl = view.indexOf(10, p);
      if (nl === -1) nl = view.length;
      if (view[p + 2] === 0x70) n++;
      else if (nl - p === 2) c.send('{}');
      p = nl + 1;
    }
    return n;
  };
}

/** The empty Command: the Protobuf pong. */
const PROTOBUF_PONG = Uint8Array.of(0);
/** A Reply's `push` field (number 4, length-delimited) as its first byte: what a push starts with. */
const PUSH_TAG = 0x22;

/** Counts pushes in a Protobuf frame (varint-delimited Replies; an empty Reply is a ping), without decoding. */
function protobufCounter(c: WireConn): Counter {
  return (buf, start, end) => {
    let n = 0;
    let p = start;
    while (p < end) {
      let len = 0;
      let shift = 0;
      let b: number;
      do {
        b = buf[p++] as number;
        len += (b & 0x7f) * 2 ** shift;
        shift += 7;
      } while (b & 0x80 && p < end);
      if (len === 0) c.send(PROTOBUF_PONG, true);
      else if (buf[p] === PUSH_TAG) n++;
      p += len;
    }
    return n;
  };
}

/** Sends one Protobuf command and waits for its reply; throws on an error reply. */
async function protobufCall(c: WireConn, command: Record<string, unknown>): Promise<void> {
  const id = command.id as number;
  let error: unknown;
  const hasReply = (frame: Buffer) => {
    const reader = protobuf.Reader.create(frame);
    while (reader.pos < reader.len) {
      const r = ReplyType.decodeDelimited(reader) as unknown as { id?: number; error?: unknown };
      if (r.id === id) {
        error = r.error;
        return true;
      }
    }
    return false;
  };
  const answered = c.nextFrame(hasReply);
  c.send(CommandType.encodeDelimited(command).finish(), true);
  await answered;
  if (error) throw new Error(`command ${id} refused: ${JSON.stringify(error)}`);
}

/**
 * Chorus, anonymous access, an open channel, command rate limit off; `client` adds client.* options. Subscriber
 * `k` speaks `encodingOf(k)` (the publisher always JSON: the fan-out is what differs).
 */
function chorusTarget(
  key: string,
  label: string,
  client: Record<string, unknown>,
  root?: string,
  encodingOf: (k: number) => Encoding = () => 'json',
): Target {
  return {
    key,
    label,
    start: () =>
      startChorus(
        {
          client: { allow_anonymous_connect_without_token: true, command_rate_limit: 0, ...client },
          channel: {
            without_namespace: {
              allow_subscribe_for_client: true,
              allow_subscribe_for_anonymous: true,
              allow_publish_for_client: true,
              allow_publish_for_anonymous: true,
            },
          },
        },
        NODE_ARGS,
        root,
      ),
    subprotocol: (k) => (encodingOf(k) === 'protobuf' ? 'centrifuge-protobuf' : undefined),
    async subscribe(c, k) {
      if (encodingOf(k) === 'protobuf') {
        await protobufCall(c, { id: 1, connect: {} });
        await protobufCall(c, { id: 2, subscribe: { channel: CHANNEL } });
        return;
      }
      await this.openPublisher(c);
      c.send(`{"id":2,"subscribe":{"channel":"${CHANNEL}"}}`);
      const reply = await c.next((t) => t.includes('"id":2'));
      if (reply.includes('"error"')) throw new Error(`subscribe refused: ${reply}`);
    },
    async openPublisher(c) {
      c.send('{"id":1,"connect":{}}');
      const reply = await c.next((t) => t.includes('"id":1'));
      if (reply.includes('"error"')) throw new Error(`connect refused: ${reply}`);
    },
    publish: (seq, data) => `{"id":${seq + 10},"publish":{"channel":"${CHANNEL}","data":${data}}}`,
    counter: (c, k) => (encodingOf(k) === 'protobuf' ? protobufCounter(c) : jsonCounter(c)),
  };
}

const TARGETS: Target[] = [
  rawTarget('raw', 'raw ws, pre-framed broadcast (floor)', 'frame'),
  rawTarget('send', 'raw ws, ws.send(same Buffer) per socket', 'send'),
  rawTarget('coalesce', 'raw ws, writes coalesced per turn', 'coalesce'),
  {
    key: 'socketio',
    label: 'Socket.IO 4 (websocket, room broadcast)',
    start: () =>
      startScript('bench/targets/socketio.ts', ['--port', '0'], '/socket.io/?EIO=4&transport=websocket', NODE_ARGS),
    async subscribe(c) {
      // The engine.io open packet may arrive with the 101; connecting the namespace does not need to wait for it.
      c.send('40');
      await c.next((t) => t.startsWith('40'));
      c.send(`421["subscribe","${CHANNEL}"]`);
      await c.next((t) => t.startsWith('431'));
    },
    async openPublisher(c) {
      c.send('40');
      await c.next((t) => t.startsWith('40'));
    },
    publish: (_seq, data) => `42["publish","${CHANNEL}",${data}]`,
    counter(c) {
      // "42[...]" is an event; "2" is the engine.io ping, answered "3".
      return (buf, start, end) => {
        if (buf[start] === 0x34 && buf[start + 1] === 0x32) return 1;
        if (end - start === 1 && buf[start] === 0x32) c.send('3');
        return 0;
      };
    },
  },
  chorusTarget('chorus', 'Chorus', {}),
  chorusTarget('chorus-delay', `Chorus, client.write_delay ${WRITE_DELAY}`, { write_delay: WRITE_DELAY }),
  chorusTarget('chorus-baseline', `Chorus at ${values.baseline ?? '(--baseline DIR)'}`, {}, values.baseline),
  chorusTarget('chorus-protobuf', 'Chorus, Protobuf subscribers', {}, undefined, () => 'protobuf'),
  chorusTarget('chorus-mixed', 'Chorus, half JSON and half Protobuf', {}, undefined, (k) =>
    k % 2 === 0 ? 'json' : 'protobuf',
  ),
];

const selected = values.targets.split(',').map((k) => {
  const t = TARGETS.find((x) => x.key === k);
  if (!t) throw new Error(`unknown target ${k}`);
  return t;
});

// --- measurement -------------------------------------------------------------------------------------------

/** What every subscriber's frame handler adds to, reset per step. */
const tally = { delivered: 0, lastAt: 0, latencies: [] as number[] };
const T_FIELD = /"t":([\d.]+)/g;

interface StepResult {
  rate: number;
  sent: number;
  delivered: number;
  expected: number;
  msgsPerSec: number;
  p50: number;
  p99: number;
  max: number;
  cpuUsPerMsg: number;
  userUsPerMsg: number;
  systemUsPerMsg: number;
  loadgenCpuPct: number;
  /** CPU used on the machine by anything but the server and the load generator, in % of one core. */
  otherCpuPct: number;
  disconnected: number;
}

interface TargetRun {
  rssPerConnKB: number;
  connectCpuUs: number;
  steps: StepResult[];
}

const live = new Set<ServerProcess>();
let conns: WireConn[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function payload(i: number): string {
  return `{"i":${i},"t":${performance.now().toFixed(3)},"text":"${'x'.repeat(SIZE)}"}`;
}

async function connectSubscribers(t: Target, server: ServerProcess): Promise<WireConn[]> {
  const subs: WireConn[] = [];
  const BATCH = 100;
  for (let i = 0; i < N; i += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, N - i) }, async (_, j) => {
        const k = i + j;
        const c = new WireConn();
        conns.push(c);
        await c.open(server.wsUrl, `127.0.0.${2 + (k % 50)}`, t.subprotocol?.(k));
        await t.subscribe(c, k);
        const count = t.counter(c, k);
        if (k < SAMPLED) {
          c.onFrame = (buf, start, end) => {
            const n = count(buf, start, end);
            if (n === 0) return;
            const now = performance.now();
            tally.delivered += n;
            tally.lastAt = now;
            for (const m of buf.toString('latin1', start, end).matchAll(T_FIELD))
              tally.latencies.push(now - Number(m[1]));
          };
        } else {
          c.onFrame = (buf, start, end) => {
            const n = count(buf, start, end);
            if (n === 0) return;
            tally.delivered += n;
            tally.lastAt = performance.now();
          };
        }
        return c;
      }),
    );
    subs.push(...batch);
  }
  return subs;
}

/** Publishes at `rate` for `seconds` and waits (bounded) for the tail to arrive. */
async function step(
  t: Target,
  server: ServerProcess,
  publisher: WireConn,
  subs: WireConn[],
  rate: number,
  seconds: number,
): Promise<StepResult> {
  tally.delivered = 0;
  tally.latencies = [];
  const cpu0 = cpu(server.pid);
  const lg0 = process.cpuUsage();
  const busy0 = machineBusyMs();
  const sent = Math.max(1, Math.round(rate * seconds));
  const start = performance.now();
  tally.lastAt = start;
  for (let i = 0; i < sent; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    publisher.send(t.publish(i, payload(i)));
  }
  const expected = sent * N;
  // The tail: until everything arrived, or 2 s without progress, or 10 s.
  const tailEnd = performance.now() + 10_000;
  let seen = -1;
  let stalledSince = performance.now();
  while (tally.delivered < expected && performance.now() < tailEnd) {
    await sleep(20);
    if (tally.delivered !== seen) {
      seen = tally.delivered;
      stalledSince = performance.now();
    } else if (performance.now() - stalledSince > 2000) break;
  }
  const used = cpuDelta(cpu0, cpu(server.pid));
  const lg = process.cpuUsage(lg0);
  const busy = machineBusyMs() - busy0;
  const wall = performance.now() - start;
  const elapsed = Math.max(tally.lastAt - start, (sent * 1000) / rate) / 1000;
  const lat = tally.latencies.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  const d = Math.max(tally.delivered, 1);
  return {
    rate,
    sent,
    delivered: tally.delivered,
    expected,
    msgsPerSec: tally.delivered / elapsed,
    p50: q(0.5),
    p99: q(0.99),
    max: lat.at(-1) ?? 0,
    cpuUsPerMsg: (used.totalMs * 1000) / d,
    userUsPerMsg: (used.userMs * 1000) / d,
    systemUsPerMsg: (used.systemMs * 1000) / d,
    loadgenCpuPct: (100 * (lg.user + lg.system)) / 1000 / wall,
    otherCpuPct: Math.max(0, (100 * (busy - used.totalMs - (lg.user + lg.system) / 1000)) / wall),
    disconnected: subs.filter((c) => c.closed).length,
  };
}

async function runTarget(t: Target, server: ServerProcess): Promise<TargetRun> {
  const publisher = new WireConn();
  conns.push(publisher);
  await publisher.open(server.wsUrl, '127.0.0.1');
  await t.openPublisher(publisher);
  await sleep(300);
  const rss0 = memory(server.pid).rss;
  const cpu0 = cpu(server.pid);
  const subs = await connectSubscribers(t, server);
  const connectCpu = cpuDelta(cpu0, cpu(server.pid));
  await sleep(500);
  const rss1 = memory(server.pid).rss;
  if (WARMUP > 0) await step(t, server, publisher, subs, Math.min(...RATES), WARMUP);
  const steps: StepResult[] = [];
  for (const rate of RATES) {
    await sleep(300);
    const s = await step(t, server, publisher, subs, rate, SECONDS);
    console.error(
      `  ${t.key} @${rate}/s: ${s.msgsPerSec.toFixed(0)} msgs/s (${((100 * s.delivered) / s.expected).toFixed(1)}%), ` +
        `${s.cpuUsPerMsg.toFixed(2)} µs/msg (user ${s.userUsPerMsg.toFixed(2)}), p99 ${s.p99.toFixed(1)} ms, ` +
        `load generator ${s.loadgenCpuPct.toFixed(0)}% of a core, everything else ${s.otherCpuPct.toFixed(0)}%`,
    );
    steps.push(s);
  }
  return { rssPerConnKB: (rss1 - rss0) / N / 1024, connectCpuUs: (connectCpu.totalMs * 1000) / N, steps };
}

function killAll(): void {
  for (const c of conns) c.destroy();
  for (const s of live) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {}
  }
}

// --- report ------------------------------------------------------------------------------------------------

const COLORS: Record<string, string> = {
  raw: '#6b7280',
  send: '#a78bfa',
  coalesce: '#0ea5e9',
  socketio: '#f59e0b',
  chorus: '#16a34a',
  'chorus-delay': '#065f46',
  'chorus-baseline': '#86efac',
  'chorus-protobuf': '#7c3aed',
  'chorus-mixed': '#db2777',
};

/** Grouped bars (one group per rate, one bar per target), each split into user (solid) and system (light). */
function svgChart(rows: Array<{ key: string; label: string; rate: number; user: number; system: number }>): string {
  const keys = [...new Set(rows.map((r) => r.key))];
  const W = 760;
  const left = 56;
  const right = 16;
  const top = 40;
  const bottom = 44 + Math.ceil(keys.length / 2) * 18;
  const H = top + 260 + bottom;
  const rates = [...new Set(rows.map((r) => r.rate))];
  const maxV = Math.max(...rows.map((r) => r.user + r.system), 0.001);
  const tick = [0.5, 1, 2, 2.5, 5, 10, 20, 25, 50].find((s) => maxV / s <= 6) ?? 100;
  const top$ = Math.ceil(maxV / tick) * tick;
  const plotH = H - top - bottom;
  const y = (v: number) => top + plotH - (v / top$) * plotH;
  const groupW = (W - left - right) / rates.length;
  const barW = Math.min(40, (groupW * 0.8) / keys.length);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="600">Server CPU per delivered message (µs), ${N} subscribers</text>`,
  ];
  for (let v = 0; v <= top$ + 1e-9; v += tick) {
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#374151">${+v.toFixed(2)}</text>`);
  }
  rates.forEach((rate, g) => {
    const x0 = left + g * groupW + (groupW - barW * keys.length) / 2;
    keys.forEach((key, i) => {
      const r = rows.find((x) => x.key === key && x.rate === rate);
      if (!r) return;
      const x = x0 + i * barW;
      const color = COLORS[key] ?? '#888';
      out.push(
        `<rect x="${x + 1}" y="${y(r.user)}" width="${barW - 2}" height="${y(0) - y(r.user)}" fill="${color}"><title>${esc(r.label)} @ ${rate}/s: user ${r.user.toFixed(2)} µs</title></rect>`,
      );
      out.push(
        `<rect x="${x + 1}" y="${y(r.user + r.system)}" width="${barW - 2}" height="${y(r.user) - y(r.user + r.system)}" fill="${color}" fill-opacity="0.35"><title>${esc(r.label)} @ ${rate}/s: system ${r.system.toFixed(2)} µs</title></rect>`,
      );
      out.push(
        `<text x="${x + barW / 2}" y="${y(r.user + r.system) - 4}" text-anchor="middle" font-size="10" fill="#111">${(r.user + r.system).toFixed(2)}</text>`,
      );
    });
    out.push(
      `<text x="${left + g * groupW + groupW / 2}" y="${H - bottom + 18}" text-anchor="middle" fill="#111">${rate} msgs/s published</text>`,
    );
  });
  out.push(`<line x1="${left}" x2="${W - right}" y1="${y(0)}" y2="${y(0)}" stroke="#111"/>`);
  // Legend: two entries per line under the axis labels.
  keys.forEach((key, i) => {
    const label = rows.find((r) => r.key === key)?.label ?? key;
    const lx = left + (i % 2) * ((W - left - right) / 2);
    const ly = top + plotH + 36 + Math.floor(i / 2) * 18;
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${COLORS[key] ?? '#888'}"/>`);
    out.push(`<text x="${lx + 16}" y="${ly + 10}" fill="#111">${esc(label)}</text>`);
  });
  out.push(
    `<text x="${W - right}" y="20" text-anchor="end" fill="#374151">solid: user · light: system (kernel)</text>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

async function main(): Promise<void> {
  const deadline = setTimeout(() => {
    console.error(`benchmark exceeded ${DEADLINE_S} s: stopping everything it started`);
    killAll();
    process.exit(2);
  }, DEADLINE_S * 1000);
  deadline.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
  const began = performance.now();
  const results: Record<string, TargetRun[]> = Object.fromEntries(selected.map((t) => [t.key, []]));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of selected) {
        console.error(`round ${r + 1}/${ROUNDS}: ${t.label}`);
        const server = await t.start();
        live.add(server);
        try {
          results[t.key]?.push(await runTarget(t, server));
        } finally {
          for (const c of conns) c.destroy();
          conns = [];
          await server.stop();
          live.delete(server);
        }
      }
    }
  } finally {
    killAll();
  }
  report(results, (performance.now() - began) / 1000);
}

function report(results: Record<string, TargetRun[]>, totalSeconds: number): void {
  const stepOf = (key: string, rate: number, f: (s: StepResult) => number) =>
    median((results[key] ?? []).map((run) => f(run.steps.find((s) => s.rate === rate) as StepResult)));
  const has = (k: string) => (results[k]?.length ?? 0) > 0;
  /**
   * `key` against `base` round by round (each round runs every target one after the other, so a round's targets
   * share the machine's load of the moment), then the median of those ratios: steadier than a ratio of medians
   * on a machine whose other load comes and goes.
   */
  const paired = (key: string, base: string, rate: number, f: (s: StepResult) => number) => {
    const a = results[key] ?? [];
    const b = results[base] ?? [];
    const xs: number[] = [];
    for (let r = 0; r < Math.min(a.length, b.length); r++) {
      const sa = a[r]?.steps.find((s) => s.rate === rate);
      const sb = b[r]?.steps.find((s) => s.rate === rate);
      if (sa !== undefined && sb !== undefined && f(sb) > 0) xs.push(f(sa) / f(sb));
    }
    return median(xs);
  };
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : '–');
  const rows: Array<Array<string | number>> = [];
  const chart: Array<{ key: string; label: string; rate: number; user: number; system: number }> = [];
  for (const t of selected) {
    for (const rate of RATES) {
      const m = (f: (s: StepResult) => number) => stepOf(t.key, rate, f);
      const total = m((s) => s.cpuUsPerMsg);
      const user = m((s) => s.userUsPerMsg);
      chart.push({ key: t.key, label: t.label, rate, user, system: m((s) => s.systemUsPerMsg) });
      rows.push([
        t.label,
        rate,
        m((s) => s.msgsPerSec).toFixed(0),
        `${((100 * m((s) => s.delivered)) / m((s) => s.expected)).toFixed(1)}%`,
        m((s) => s.p50).toFixed(1),
        m((s) => s.p99).toFixed(1),
        m((s) => s.max).toFixed(1),
        total.toFixed(2),
        user.toFixed(2),
        has('raw')
          ? ratio(
              total,
              stepOf('raw', rate, (s) => s.cpuUsPerMsg),
            )
          : '–',
        has('socketio')
          ? ratio(
              total,
              stepOf('socketio', rate, (s) => s.cpuUsPerMsg),
            )
          : '–',
        has('socketio')
          ? ratio(
              user,
              stepOf('socketio', rate, (s) => s.userUsPerMsg),
            )
          : '–',
      ]);
    }
  }
  const memRows = selected.map((t) => {
    const rss = median((results[t.key] ?? []).map((r) => r.rssPerConnKB));
    const conn = median((results[t.key] ?? []).map((r) => r.connectCpuUs));
    const rawRss = has('raw') ? median((results.raw ?? []).map((r) => r.rssPerConnKB)) : 0;
    return [t.label, rss.toFixed(1), has('raw') ? ratio(rss, rawRss) : '–', conn.toFixed(0)];
  });
  const otherMax = Math.max(
    ...Object.values(results).flatMap((rs) => rs.flatMap((r) => r.steps.map((s) => s.otherCpuPct))),
  );
  const loadgenMax = Math.max(
    ...Object.values(results).flatMap((rs) => rs.flatMap((r) => r.steps.map((s) => s.loadgenCpuPct))),
  );
  const summary: string[] = [];
  if (has('chorus') && has('raw') && has('socketio')) {
    const span = (f: (rate: number) => number) => {
      const xs = RATES.map(f);
      const lo = Math.min(...xs).toFixed(2);
      const hi = Math.max(...xs).toFixed(2);
      return lo === hi ? `× ${lo}` : `× ${lo}–${hi}`;
    };
    summary.push(
      `Chorus vs the floor over the rates: total server CPU per message ${span((r) => stepOf('chorus', r, (s) => s.cpuUsPerMsg) / stepOf('raw', r, (s) => s.cpuUsPerMsg))} of raw ws; ` +
        `vs Socket.IO: total ${span((r) => stepOf('chorus', r, (s) => s.cpuUsPerMsg) / stepOf('socketio', r, (s) => s.cpuUsPerMsg))}, ` +
        `user-space ${span((r) => stepOf('chorus', r, (s) => s.userUsPerMsg) / stepOf('socketio', r, (s) => s.userUsPerMsg))}.`,
    );
  }
  for (const t of selected.filter((x) => x.key.startsWith('chorus-'))) {
    if (!has('raw')) continue;
    const xs = RATES.map((r) => stepOf(t.key, r, (s) => s.cpuUsPerMsg) / stepOf('raw', r, (s) => s.cpuUsPerMsg));
    summary.push(
      `${t.label} vs raw ws, pre-framed: total server CPU per message × ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}.`,
    );
  }
  // The Protobuf targets against JSON Chorus: the encodings' cost per delivered message (issue 14's targets).
  for (const [key, limit] of [
    ['chorus-protobuf', 1.05],
    ['chorus-mixed', 1.1],
  ] as const) {
    if (!has(key) || !has('chorus')) continue;
    const xs = RATES.map((r) => paired(key, 'chorus', r, (s) => s.cpuUsPerMsg));
    const label = selected.find((t) => t.key === key)?.label ?? key;
    summary.push(
      `${label} vs Chorus with JSON subscribers: total server CPU per message × ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)} (by rate: ${xs.map((x) => x.toFixed(2)).join(', ')}; median of the rounds' ratios; target ≤ ${limit}×).`,
    );
  }
  // Two versions in one run (`--baseline DIR`): this checkout against another, e.g. before a redesign.
  if (has('chorus') && has('chorus-baseline')) {
    const per = (f: (s: StepResult) => number) => RATES.map((r) => paired('chorus', 'chorus-baseline', r, f));
    const span = (xs: number[]) => `× ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
    summary.push(
      `This checkout vs the baseline checkout (${values.baseline}): total server CPU per message ${span(per((s) => s.cpuUsPerMsg))} (median of the rounds' ratios; by rate: ${per(
        (s) => s.cpuUsPerMsg,
      )
        .map((x) => x.toFixed(2))
        .join(', ')}), user-space ${span(per((s) => s.userUsPerMsg))}.`,
    );
  }
  // Kept up: (nearly) everything delivered, at (nearly) the published rate — not caught up seconds later.
  const keptUp = (key: string, rate: number) =>
    stepOf(key, rate, (s) => s.delivered / s.expected) >= 0.999 &&
    stepOf(key, rate, (s) => s.msgsPerSec) >= 0.95 * rate * N;
  if (RATES.length > 2) {
    const maxRate = selected.map((t) => {
      const ok = RATES.filter((r) => keptUp(t.key, r));
      return `${t.label}: ${ok.length ? `${Math.max(...ok)} msgs/s (${(Math.max(...ok) * N).toLocaleString('en')} deliveries/s)` : 'none'}`;
    });
    summary.push(
      `Highest published rate kept up with (≥ 99.9% delivered at ≥ 95% of the published pace): ${maxRate.join('; ')}.`,
    );
  }
  const defaultTargets = 'raw,send,coalesce,socketio,chorus';
  const flags = [
    `--subscribers ${N} --rates ${RATES.join(',')} --seconds ${SECONDS} --rounds ${ROUNDS}`,
    SIZE !== 64 ? ` --size ${SIZE}` : '',
    values.targets !== defaultTargets ? ` --targets ${values.targets}` : '',
    selected.some((t) => t.key === 'chorus-delay') ? ` --write-delay ${WRITE_DELAY}` : '',
    NAME !== 'fanout' ? ` --name ${NAME}` : '',
    values.baseline !== undefined ? ` --baseline ${values.baseline}` : '',
  ].join('');
  const encodingsTitle = selected.some((t) => t.key === 'chorus-protobuf' || t.key === 'chorus-mixed')
    ? ', JSON and Protobuf subscribers'
    : '';
  const md = [
    `### Fan-out: ${N} subscribers of one channel, one publisher at ${RATES.join(' / ')} msgs/s${encodingsTitle}`,
    '',
    `Command: \`npm run bench:fanout -- ${flags}\` · ${machine()} · medians of ${ROUNDS} alternating rounds, ${SECONDS} s per rate; latency sampled on ${SAMPLED} subscribers; ${SIZE}-byte text field per message; whole run ${totalSeconds.toFixed(0)} s.`,
    '',
    `![Server CPU per delivered message, by target and rate](docs/bench/${NAME}.svg)`,
    '',
    table(
      [
        'target',
        'published msgs/s',
        'delivered msgs/s',
        'of expected',
        'p50 ms',
        'p99 ms',
        'max ms',
        'server CPU µs/msg',
        'of which user',
        'total × raw ws',
        'total × Socket.IO',
        'user × Socket.IO',
      ],
      rows,
    ),
    '',
    table(
      ['target', 'RSS growth per connection, no forced GC (KB)', '× raw ws', 'server CPU per connect + subscribe (µs)'],
      memRows,
    ),
    '',
    ...summary,
    '',
    `Every target is its own process on loopback and is given the same work: one WebSocket frame per message per subscriber (Chorus and the coalescing variant may put several messages in one write when they arrive in the same event-loop turn). Server CPU counts user and kernel time of the server process only; on this 2-core machine the load generator (at most ${loadgenMax.toFixed(0)}% of a core in any step) runs beside it, and the rest of the machine used at most ${otherMax.toFixed(0)}% of a core in any step (kernel work on behalf of loopback included). RSS growth per connection is the growth of the server's RSS while N subscribers connect, over N, without a forced GC: at this N it is mostly garbage not yet collected and the JavaScript heap's young generation growing to its working size; the settled memory per connection is measured by the idle benchmark (\`npm run bench:idle\`), after a full GC.`,
  ].join('\n');
  console.log(md);
  // Rates as a string: biome (which also checks bench/results/) would collapse a JSON array of numbers.
  saveJSON(NAME, { N, RATES: RATES.join(','), SECONDS, ROUNDS, SIZE, SAMPLED, results, machine: machine() });
  if (!values['no-write']) {
    const dir = join(ROOT, 'docs/bench');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${NAME}.svg`), svgChart(chart));
    writeSection(NAME, md);
  }
}

main().catch((e) => {
  console.error(e);
  killAll();
  process.exit(1);
});
