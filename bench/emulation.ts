/**
 * The WebSocket fallbacks measured against WebSocket, in one run:
 *
 * 1. Fan-out: one channel, N subscribers over WebSocket, over HTTP-streaming and over SSE (each its own Chorus
 *    process, alternating A B C A B C …), one WebSocket publisher at stepped rates: delivered msgs/s, latency
 *    p50/p99 (publish → receive, on sampled subscribers), server CPU per delivered message.
 * 2. A client→server command: `publish` sent over WebSocket, POSTed to /emulation on the node holding the
 *    session, and POSTed to another node that routes it through Redis (when Redis is reachable): server CPU per
 *    command (all nodes) and round trip (send → reply on the stream).
 *
 *   npm run bench:emulation                                   # N = 1000, 20/50 msgs/s, 5 s per step, 2 rounds
 *   npm run bench:emulation -- --subscribers 200 --rates 20 --seconds 2 --rounds 1 --no-write
 *
 * Loopback only, bounded in count and time; every process it starts is stopped by PID (also on the deadline).
 * Heartbeats are off in the fan-out part (no pong traffic in the figures); their cost over emulation is one
 * command per client per `client.ping_interval`, which the second part prices.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { cpu, cpuDelta } from './lib/proc.js';
import { machine, median, saveJSON, table, writeSection } from './lib/report.js';
import { type ServerProcess, startChorus } from './lib/server.js';
import { Emulation, StreamConn } from './lib/stream-conn.js';
import { WireConn } from './lib/wire.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    rates: { type: 'string', default: '20,50' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    sampled: { type: 'string', default: '50' },
    'command-rate': { type: 'string', default: '500' },
    'command-seconds': { type: 'string', default: '5' },
    deadline: { type: 'string', default: '900' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    'no-write': { type: 'boolean', default: false },
  },
});
const N = Number(values.subscribers);
const RATES = values.rates.split(',').map(Number);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const SAMPLED = Math.min(N, Number(values.sampled));
const CMD_RATE = Number(values['command-rate']);
const CMD_SECONDS = Number(values['command-seconds']);
const CHANNEL = 'fanout';
if (!(N > 0) || RATES.some((r) => !(r > 0)) || !(SECONDS > 0) || !(ROUNDS > 0) || !(CMD_RATE > 0)) {
  throw new Error('bad flags');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const live = new Set<ServerProcess>();
let closers: Array<() => void> = [];

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    http_stream: { enabled: true },
    sse: { enabled: true },
    client: { allow_anonymous_connect_without_token: true, command_rate_limit: 0, ping_interval: '0s' },
    channel: {
      without_namespace: {
        allow_subscribe_for_client: true,
        allow_subscribe_for_anonymous: true,
        allow_publish_for_client: true,
        allow_publish_for_anonymous: true,
      },
    },
    ...extra,
  };
}

async function start(extra?: Record<string, unknown>): Promise<ServerProcess> {
  const s = await startChorus(config(extra));
  live.add(s);
  return s;
}

async function stop(s: ServerProcess): Promise<void> {
  for (const c of closers) c();
  closers = [];
  await s.stop();
  live.delete(s);
}

// --- fan-out ---------------------------------------------------------------------------------------------------

type Kind = 'websocket' | 'http_stream' | 'sse';
const KINDS: Kind[] = ['websocket', 'http_stream', 'sse'];
const LABEL: Record<Kind, string> = {
  websocket: 'WebSocket',
  http_stream: 'HTTP-streaming (JSON)',
  sse: 'SSE',
};

const tally = { delivered: 0, lastAt: 0, latencies: [] as number[] };
const T_FIELD = /"t":([\d.]+)/g;

/**
 * Counts the messages in a piece of a stream body without decoding it: a JSON line ends with "\n" not preceded
 * by "\r" (chunk framing lines end with "\r\n"); an SSE event ends with "\n\n".
 */
function streamCounter(kind: 'http_stream' | 'sse'): (buf: Buffer) => number {
  let last = 0;
  if (kind === 'http_stream') {
    return (buf) => {
      let n = 0;
      for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) {
        const prev = i > 0 ? buf[i - 1] : last;
        if (prev !== 13) n++;
      }
      last = buf[buf.length - 1] ?? last;
      return n;
    };
  }
  return (buf) => {
    let n = last === 10 && buf[0] === 10 ? 1 : 0;
    for (let i = buf.indexOf('\n\n'); i !== -1; i = buf.indexOf('\n\n', i + 2)) n++;
    last = buf[buf.length - 1] ?? last;
    return n;
  };
}

function record(n: number, sampled: boolean, text: () => string): void {
  if (n === 0) return;
  const now = performance.now();
  tally.delivered += n;
  tally.lastAt = now;
  if (sampled) for (const m of text().matchAll(T_FIELD)) tally.latencies.push(now - Number(m[1]));
}

async function wsSubscriber(s: ServerProcess, k: number): Promise<void> {
  const c = new WireConn();
  closers.push(() => c.destroy());
  await c.open(s.wsUrl, `127.0.0.${2 + (k % 50)}`);
  c.send('{"id":1,"connect":{}}');
  await c.next((t) => t.includes('"id":1'));
  c.send(`{"id":2,"subscribe":{"channel":"${CHANNEL}"}}`);
  await c.next((t) => t.includes('"id":2'));
  const sampled = k < SAMPLED;
  c.onFrame = (buf, start, end) => {
    let n = 0;
    for (let p = start; p < end; ) {
      let nl = buf.indexOf(10, p);
      if (nl === -1 || nl > end) nl = end;
      if (buf[p + 2] === 0x70) n++;
      p = nl + 1;
    }
    record(n, sampled, () => buf.toString('latin1', start, end));
  };
}

async function streamSubscriber(s: ServerProcess, kind: 'http_stream' | 'sse', k: number, emu: Emulation) {
  const c = new StreamConn();
  closers.push(() => c.destroy());
  let replied = false;
  c.onData = (buf) => {
    if (!replied && buf.includes('"id":2')) replied = true;
  };
  await c.open(s.port, kind, `127.0.0.${2 + (k % 50)}`);
  const status = await emu.send(c.session, c.node, `{"id":2,"subscribe":{"channel":"${CHANNEL}"}}`);
  if (status !== 204) throw new Error(`subscribe over emulation answered ${status}`);
  const until = Date.now() + 10_000;
  while (!replied && Date.now() < until) await sleep(5);
  if (!replied) throw new Error('no subscribe reply on the stream');
  const count = streamCounter(kind);
  const sampled = k < SAMPLED;
  c.onData = (buf) => record(count(buf), sampled, () => buf.toString('latin1'));
}

interface Step {
  rate: number;
  delivered: number;
  expected: number;
  msgsPerSec: number;
  p50: number;
  p99: number;
  max: number;
  cpuUsPerMsg: number;
  userUsPerMsg: number;
}

async function fanoutStep(s: ServerProcess, publisher: WireConn, rate: number, seconds: number): Promise<Step> {
  tally.delivered = 0;
  tally.latencies = [];
  const cpu0 = cpu(s.pid);
  const sent = Math.max(1, Math.round(rate * seconds));
  const start = performance.now();
  tally.lastAt = start;
  for (let i = 0; i < sent; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    const data = `{"i":${i},"t":${performance.now().toFixed(3)},"text":"${'x'.repeat(64)}"}`;
    publisher.send(`{"id":${i + 10},"publish":{"channel":"${CHANNEL}","data":${data}}}`);
  }
  const expected = sent * N;
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
  const used = cpuDelta(cpu0, cpu(s.pid));
  const elapsed = Math.max(tally.lastAt - start, (sent * 1000) / rate) / 1000;
  const lat = tally.latencies.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  const d = Math.max(tally.delivered, 1);
  return {
    rate,
    delivered: tally.delivered,
    expected,
    msgsPerSec: tally.delivered / elapsed,
    p50: q(0.5),
    p99: q(0.99),
    max: lat.at(-1) ?? 0,
    cpuUsPerMsg: (used.totalMs * 1000) / d,
    userUsPerMsg: (used.userMs * 1000) / d,
  };
}

async function fanoutRun(kind: Kind): Promise<{ steps: Step[]; connectUs: number }> {
  const s = await start();
  try {
    const publisher = new WireConn();
    closers.push(() => publisher.destroy());
    await publisher.open(s.wsUrl, '127.0.0.1');
    publisher.send('{"id":1,"connect":{}}');
    await publisher.next((t) => t.includes('"id":1'));
    const emu = new Emulation(s.port);
    closers.push(() => emu.close());
    const cpu0 = cpu(s.pid);
    for (let i = 0; i < N; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, N - i) }, (_, j) =>
          kind === 'websocket' ? wsSubscriber(s, i + j) : streamSubscriber(s, kind, i + j, emu),
        ),
      );
    }
    const connectUs = (cpuDelta(cpu0, cpu(s.pid)).totalMs * 1000) / N;
    await sleep(500);
    await fanoutStep(s, publisher, Math.min(...RATES), 1);
    const steps: Step[] = [];
    for (const rate of RATES) {
      await sleep(300);
      const st = await fanoutStep(s, publisher, rate, SECONDS);
      console.error(
        `  ${kind} @${rate}/s: ${st.msgsPerSec.toFixed(0)} msgs/s (${((100 * st.delivered) / st.expected).toFixed(1)}%), ` +
          `${st.cpuUsPerMsg.toFixed(2)} µs/msg, p99 ${st.p99.toFixed(1)} ms`,
      );
      steps.push(st);
    }
    return { steps, connectUs };
  } finally {
    await stop(s);
  }
}

// --- a client→server command -------------------------------------------------------------------------------------

type Path = 'websocket' | 'emulation' | 'routed';
const PATH_LABEL: Record<Path, string> = {
  websocket: 'publish over WebSocket',
  emulation: 'publish POSTed to /emulation, on the node holding the session',
  routed: 'publish POSTed to /emulation on another node, routed through Redis',
};

interface CommandResult {
  commands: number;
  replied: number;
  cpuUsPerCmd: number;
  p50: number;
  p99: number;
}

function redisConfig(prefix: string): Record<string, unknown> {
  return { engine: { type: 'redis', redis: { address: values.redis, prefix } } };
}

async function commandRun(path: Path, redis: boolean): Promise<CommandResult> {
  const prefix = `bench-emu-${randomUUID().slice(0, 8)}`;
  const extra = redis ? redisConfig(prefix) : {};
  const a = await start(extra);
  const b = redis ? await start(extra) : undefined;
  try {
    const sentAt = new Map<number, number>();
    const rtts: number[] = [];
    const onReply = (text: string) => {
      for (const m of text.matchAll(/"id":(\d+)/g)) {
        const at = sentAt.get(Number(m[1]));
        if (at === undefined) continue;
        rtts.push(performance.now() - at);
        sentAt.delete(Number(m[1]));
      }
    };
    let send: (id: number, cmd: string) => void;
    if (path === 'websocket') {
      const c = new WireConn();
      closers.push(() => c.destroy());
      await c.open(a.wsUrl, '127.0.0.1');
      c.send('{"id":1,"connect":{}}');
      await c.next((t) => t.includes('"id":1'));
      c.onFrame = (buf, start, end) => onReply(buf.toString('latin1', start, end));
      send = (_id, cmd) => c.send(cmd);
    } else {
      const c = new StreamConn();
      closers.push(() => c.destroy());
      await c.open(a.port, 'http_stream', '127.0.0.1');
      c.onData = (buf) => onReply(buf.toString('latin1'));
      const emu = new Emulation(path === 'routed' ? (b as ServerProcess).port : a.port);
      closers.push(() => emu.close());
      // The other node must know the holder before a request may name it.
      await sleep(redis ? 1500 : 100);
      send = (_id, cmd) => {
        void emu.send(c.session, c.node, cmd).catch(() => {});
      };
    }
    const total = Math.round(CMD_RATE * CMD_SECONDS);
    // Warm-up.
    for (let i = 0; i < 50; i++) {
      sentAt.set(1_000_000 + i, performance.now());
      send(1_000_000 + i, `{"id":${1_000_000 + i},"publish":{"channel":"cmd","data":{"i":${i}}}}`);
      await sleep(2);
    }
    await sleep(500);
    rtts.length = 0;
    sentAt.clear();
    const pids = [a.pid, ...(b ? [b.pid] : [])];
    // What the nodes use doing nothing (heartbeats, timers, the engine's link) is not the commands' cost.
    const idle0 = pids.map((p) => cpu(p));
    const idleStart = performance.now();
    await sleep(2000);
    const idleMsPerMs =
      pids.reduce((sum, p, i) => sum + cpuDelta(idle0[i] as ReturnType<typeof cpu>, cpu(p)).totalMs, 0) /
      (performance.now() - idleStart);
    const cpu0 = pids.map((p) => cpu(p));
    const startAt = performance.now();
    for (let i = 0; i < total; i++) {
      const wait = startAt + (i * 1000) / CMD_RATE - performance.now();
      if (wait > 1) await sleep(wait);
      const id = 10 + i;
      sentAt.set(id, performance.now());
      send(id, `{"id":${id},"publish":{"channel":"cmd","data":{"i":${i},"text":"${'x'.repeat(64)}"}}}`);
    }
    const until = performance.now() + 10_000;
    while (rtts.length < total && performance.now() < until) await sleep(20);
    const busyMs = pids.reduce((sum, p, i) => sum + cpuDelta(cpu0[i] as ReturnType<typeof cpu>, cpu(p)).totalMs, 0);
    const usedMs = Math.max(0, busyMs - idleMsPerMs * (performance.now() - startAt));
    const lat = [...rtts].sort((x, y) => x - y);
    const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
    const r = {
      commands: total,
      replied: rtts.length,
      cpuUsPerCmd: (usedMs * 1000) / total,
      p50: q(0.5),
      p99: q(0.99),
    };
    console.error(
      `  ${path}${redis ? ' (redis)' : ''}: ${r.replied}/${r.commands} replied, ${r.cpuUsPerCmd.toFixed(1)} µs/command, p99 ${r.p99.toFixed(1)} ms`,
    );
    return r;
  } finally {
    await stop(a);
    if (b) await stop(b);
  }
}

async function redisReachable(): Promise<boolean> {
  const { Redis } = await import('ioredis');
  const r = new Redis(values.redis, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

// --- run and report ----------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const deadline = setTimeout(() => {
    console.error(`benchmark exceeded ${values.deadline} s: stopping everything it started`);
    for (const c of closers) c();
    for (const s of live) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {}
    }
    process.exit(2);
  }, Number(values.deadline) * 1000);
  deadline.unref();
  const began = performance.now();
  const fanout: Record<Kind, Array<{ steps: Step[]; connectUs: number }>> = { websocket: [], http_stream: [], sse: [] };
  const redis = await redisReachable();
  const paths: Path[] = redis ? ['websocket', 'emulation', 'routed'] : ['websocket', 'emulation'];
  const commands: Record<Path, CommandResult[]> = { websocket: [], emulation: [], routed: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of KINDS) {
      console.error(`round ${r + 1}/${ROUNDS}: fan-out over ${kind}`);
      fanout[kind].push(await fanoutRun(kind));
    }
    for (const p of paths) {
      console.error(`round ${r + 1}/${ROUNDS}: ${PATH_LABEL[p]}`);
      commands[p].push(await commandRun(p, redis));
    }
  }
  const m = (xs: number[]) => median(xs);
  const step = (k: Kind, rate: number, f: (s: Step) => number) =>
    m(fanout[k].map((run) => f(run.steps.find((s) => s.rate === rate) as Step)));
  const fanRows: Array<Array<string | number>> = [];
  for (const k of KINDS) {
    for (const rate of RATES) {
      const total = step(k, rate, (s) => s.cpuUsPerMsg);
      fanRows.push([
        LABEL[k],
        rate,
        step(k, rate, (s) => s.msgsPerSec).toFixed(0),
        `${((100 * step(k, rate, (s) => s.delivered)) / step(k, rate, (s) => s.expected)).toFixed(1)}%`,
        step(k, rate, (s) => s.p50).toFixed(1),
        step(k, rate, (s) => s.p99).toFixed(1),
        step(k, rate, (s) => s.max).toFixed(1),
        total.toFixed(2),
        step(k, rate, (s) => s.userUsPerMsg).toFixed(2),
        (total / step('websocket', rate, (s) => s.cpuUsPerMsg)).toFixed(2),
      ]);
    }
  }
  const connectRows = KINDS.map((k) => [LABEL[k], m(fanout[k].map((run) => run.connectUs)).toFixed(0)]);
  const cmd = (p: Path, f: (c: CommandResult) => number) => m(commands[p].map(f));
  const wsCmd = cmd('websocket', (c) => c.cpuUsPerCmd);
  const cmdRows = paths.map((p) => [
    PATH_LABEL[p],
    `${cmd(p, (c) => c.replied)}/${cmd(p, (c) => c.commands)}`,
    cmd(p, (c) => c.cpuUsPerCmd).toFixed(1),
    (cmd(p, (c) => c.cpuUsPerCmd) / wsCmd).toFixed(1),
    cmd(p, (c) => c.p50).toFixed(2),
    cmd(p, (c) => c.p99).toFixed(2),
  ]);
  const emuCmd = cmd('emulation', (c) => c.cpuUsPerCmd);
  const pongShare = ((1000 / 25) * emuCmd) / 1e6;
  const span = (xs: number[], digits = 2) => {
    const lo = Math.min(...xs).toFixed(digits);
    const hi = Math.max(...xs).toFixed(digits);
    return lo === hi ? lo : `${lo}–${hi}`;
  };
  const streams = (['http_stream', 'sse'] as const).flatMap((k) =>
    RATES.map((r) => step(k, r, (x) => x.cpuUsPerMsg) / step('websocket', r, (x) => x.cpuUsPerMsg)),
  );
  const p99 = (k: Kind) =>
    span(
      RATES.map((r) => step(k, r, (x) => x.p99)),
      0,
    );
  const p50 = (k: Kind) =>
    span(
      RATES.map((r) => step(k, r, (x) => x.p50)),
      0,
    );
  const routedNote = paths.includes('routed')
    ? `, × ${(cmd('routed', (c) => c.cpuUsPerCmd) / wsCmd).toFixed(1)} routed through another node (round trip p50 ${cmd('routed', (c) => c.p50).toFixed(1)} ms: a Redis round trip to the holder, plus a control message every node receives and drops)`
    : '';
  const summary = [
    `What limits them. Fan-out: server CPU per delivered message over the streams is × ${span(streams)} of WebSocket's at the same rates. The kernel's side of one write per subscriber dominates every transport, and each publication is framed once for all streams of a kind, as for all WebSockets; what a stream adds per write is Node's HTTP response path — a chunk size line and a CRLF around each write, the response's bookkeeping, and a cork until the next event-loop tick — where a WebSocket write hands a pre-framed buffer to the socket. Latency: p50 ${p50('http_stream')} ms (HTTP-streaming) and ${p50('sse')} ms (SSE) against ${p50('websocket')} ms over WebSocket, p99 ${p99('http_stream')} / ${p99('sse')} against ${p99('websocket')} ms (p99 moves by a factor of two between runs on this shared machine). Because of that cork the bytes of one fan-out pass reach the kernel only after the whole pass over the stream subscribers; writing pre-framed chunks straight to the socket, as the WebSocket fast path does with ws, would remove that wait and most of the per-write cost.`,
    `A client→server command over emulation is a whole HTTP request (its head and body parsed, a 204 answered, keep-alive bookkeeping) around the same command: server CPU × ${(emuCmd / wsCmd).toFixed(1)} of the same publish over WebSocket, round trip p50 ${cmd('emulation', (c) => c.p50).toFixed(1)} ms against ${cmd('websocket', (c) => c.p50).toFixed(1)} ms${routedNote}. Every command of these clients, pongs included, is such a request: at the default 25 s ping interval 1,000 emulated clients answering pings cost about ${(pongShare * 100).toFixed(1)}% of a core. The p99 round trips are this shared 2-core machine's scheduling (two nodes, Redis and the load generator on two cores), not a queue in Chorus: every command was answered.`,
  ].join('\n\n');
  const md = [
    `### HTTP-streaming and SSE against WebSocket: ${N} subscribers each; a client→server command three ways`,
    '',
    `Command: \`npm run bench:emulation -- --subscribers ${N} --rates ${RATES.join(',')} --seconds ${SECONDS} --rounds ${ROUNDS} --command-rate ${CMD_RATE} --command-seconds ${CMD_SECONDS}\` · ${machine()} · medians of ${ROUNDS} alternating rounds; latency sampled on ${SAMPLED} subscribers; 64-byte text field per message; ${redis ? 'Redis engine for the command rows' : 'memory engine (Redis not reachable: no routed row)'}; whole run ${((performance.now() - began) / 1000).toFixed(0)} s.`,
    '',
    'Fan-out: one channel, one WebSocket publisher, each transport its own Chorus process (heartbeats off).',
    '',
    table(
      [
        'subscribers over',
        'published msgs/s',
        'delivered msgs/s',
        'of expected',
        'p50 ms',
        'p99 ms',
        'max ms',
        'server CPU µs/msg',
        'of which user',
        '× WebSocket',
      ],
      fanRows,
    ),
    '',
    table(['subscribers over', 'server CPU per connect + subscribe (µs)'], connectRows),
    '',
    `A client→server command: ${CMD_RATE} publish commands/s for ${CMD_SECONDS} s from one client (into a channel without subscribers); CPU summed over every node of the row, less what those nodes use idle (measured for 2 s just before); round trip from sending the command to its reply on the client's connection.`,
    '',
    table(['path', 'replied', 'server CPU µs/command', '× WebSocket', 'round trip p50 ms', 'p99 ms'], cmdRows),
    '',
    summary,
  ].join('\n');
  console.log(md);
  saveJSON('emulation', { N, RATES: RATES.join(','), SECONDS, ROUNDS, fanout, commands, machine: machine() });
  if (!values['no-write']) writeSection('emulation', md);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of closers) c();
    for (const s of live) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {}
    }
  });
