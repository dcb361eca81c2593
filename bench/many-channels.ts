/**
 * Many channels: N clients, each on its own personal channel, and a backend pushing to random users through the
 * HTTP API at stepped rates, one request per publication (keep-alive, a bounded number of sockets). Against the
 * floor and the usual alternative in the same run, each its own process on loopback, alternating A B C A B C,
 * medians over rounds:
 *   raw       bare `ws`, JWT verified on upgrade, sockets by user; `POST /publish` writes to one socket (the floor)
 *   socketio  Socket.IO 4 (websocket), JWT auth middleware, each socket joins its room `user:<sub>`;
 *             `POST /publish` does `io.to(room).emit(…)` (how a backend usually pushes through Socket.IO)
 *   chorus    Chorus, JWT `sub` = the user, `client.subscribe_to_user_personal_channel` (server-side subscription
 *             to `#<user>`), `POST /api/publish` with `X-API-Key` to `#<user>`
 * Figures per target and rate: delivered msgs/s and share of expected, latency p50/p99/max (API request sent →
 * subscriber receives, decoded on every `--sample-every`-th user only), server CPU per delivered message (total and
 * user, /proc of the server process), and the load generator's CPU.
 *
 *   npm run bench:many-channels                   # N = 10000, 500/1000/2000 publications/s, 5 s per step, 3 rounds
 *   npm run bench:many-channels -- --clients 1000 --rates 500 --seconds 2 --rounds 1 --no-write
 *
 * Loopback only (clients spread over 127.0.0.2–51 as source addresses), bounded in count and time, stops by itself;
 * every process it starts is stopped by PID, on errors and on the deadline too.
 */
import { Agent } from 'node:http';
import { parseArgs } from 'node:util';
import {
  type AppTarget,
  httpCall,
  makeTokens,
  pool,
  prng,
  quantile,
  selectTargets,
  sleep,
  sourceAddress,
  withTimeout,
} from './lib/apps.js';
import { Lifecycle } from './lib/lifecycle.js';
import { cpu, cpuDelta, machineBusyMs } from './lib/proc.js';
import { machine, median, publish, runMain, table } from './lib/report.js';
import type { ServerProcess } from './lib/server.js';
import { WireConn } from './lib/wire.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    rates: { type: 'string', default: '500,1000,2000' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    size: { type: 'string', default: '64' },
    'sample-every': { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    sockets: { type: 'string', default: '32' },
    concurrency: { type: 'string', default: '200' },
    targets: { type: 'string', default: 'raw,socketio,chorus' },
    deadline: { type: 'string', default: '540' },
    'no-write': { type: 'boolean', default: false },
    /** Every server process writes a V8 CPU profile into this directory when it stops. */
    profile: { type: 'string' },
  },
});
const N = Number(values.clients);
const RATES = values.rates.split(',').map(Number);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const SIZE = Number(values.size);
const SAMPLE_EVERY = Math.max(1, Number(values['sample-every']));
const WARMUP = Number(values.warmup);
const SOCKETS = Number(values.sockets);
const CONCURRENCY = Number(values.concurrency);
if (!(N > 0) || RATES.some((r) => !(r > 0)) || !(SECONDS > 0) || !(ROUNDS > 0) || !(SOCKETS > 0)) {
  throw new Error('bad flags');
}
const selected = selectTargets(values.targets);
const life = new Lifecycle(Number(values.deadline));

/** What every subscriber's frame handler adds to, reset per step. */
const tally = { delivered: 0, lastAt: 0, latencies: [] as number[] };
const T_FIELD = /"t":([\d.]+)/g;
/** The clients of the target being measured that connected. */
let connected: WireConn[] = [];

interface StepResult {
  rate: number;
  sent: number;
  delivered: number;
  expected: number;
  apiFailed: number;
  msgsPerSec: number;
  p50: number;
  p99: number;
  max: number;
  cpuUsPerMsg: number;
  userUsPerMsg: number;
  loadgenCpuPct: number;
  /** CPU used on the machine by anything but the server and the load generator, in % of one core. */
  otherCpuPct: number;
  disconnected: number;
}

interface TargetRun {
  connectFailed: number;
  serverClients: number;
  steps: StepResult[];
}

function payload(i: number): string {
  return `{"i":${i},"t":${performance.now().toFixed(3)},"text":"${'x'.repeat(SIZE)}"}`;
}

async function connectClients(t: AppTarget, server: ServerProcess, tokens: string[]): Promise<number> {
  let failed = 0;
  await pool(N, CONCURRENCY, async (k) => {
    const c = new WireConn();
    life.conns.push(c);
    try {
      await withTimeout(t.connect(c, server, tokens[k] as string, sourceAddress(k)), 15_000, 'connect');
    } catch (e) {
      if (failed++ === 0) console.error(`  first connect failure: ${(e as Error).message}`);
      c.destroy();
      return;
    }
    connected.push(c);
    const count = t.counter(c);
    c.onFrame =
      k % SAMPLE_EVERY === 0
        ? (buf, start, end) => {
            const n = count(buf, start, end);
            if (n === 0) return;
            const now = performance.now();
            tally.delivered += n;
            tally.lastAt = now;
            for (const m of buf.toString('latin1', start, end).matchAll(T_FIELD))
              tally.latencies.push(now - Number(m[1]));
          }
        : (buf, start, end) => {
            const n = count(buf, start, end);
            if (n === 0) return;
            tally.delivered += n;
            tally.lastAt = performance.now();
          };
  });
  return failed;
}

/** Publishes to random users at `rate` for `seconds`, one API request each, and waits (bounded) for the tail. */
async function step(
  t: AppTarget,
  server: ServerProcess,
  agent: Agent,
  rate: number,
  seconds: number,
  seed: number,
): Promise<StepResult> {
  tally.delivered = 0;
  tally.latencies = [];
  const random = prng(seed);
  const cpu0 = cpu(server.pid);
  const lg0 = process.cpuUsage();
  const busy0 = machineBusyMs();
  const sent = Math.max(1, Math.round(rate * seconds));
  let pending = 0;
  let apiFailed = 0;
  let firstFailure = '';
  const start = performance.now();
  tally.lastAt = start;
  for (let i = 0; i < sent; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    const user = `u${Math.floor(random() * N)}`;
    pending++;
    httpCall(agent, server.port, t.toUser(user, payload(i))).then(
      (r) => {
        pending--;
        if (r.status !== 200 || r.body.includes('"error"')) {
          apiFailed++;
          firstFailure ||= `HTTP ${r.status} ${r.body.slice(0, 200)}`;
        }
      },
      (e: Error) => {
        pending--;
        apiFailed++;
        firstFailure ||= e.message;
      },
    );
  }
  const expected = sent;
  // The tail: until everything arrived and every request was answered, or 2 s without progress, or 10 s.
  const tailEnd = performance.now() + 10_000;
  let seen = -1;
  let stalledSince = performance.now();
  while ((tally.delivered < expected || pending > 0) && performance.now() < tailEnd) {
    await sleep(20);
    if (tally.delivered + pending !== seen) {
      seen = tally.delivered + pending;
      stalledSince = performance.now();
    } else if (performance.now() - stalledSince > 2000) break;
  }
  const used = cpuDelta(cpu0, cpu(server.pid));
  const lg = process.cpuUsage(lg0);
  const busy = machineBusyMs() - busy0;
  const wall = performance.now() - start;
  if (firstFailure) console.error(`  ${apiFailed} API calls failed, first: ${firstFailure}`);
  const elapsed = Math.max(tally.lastAt - start, (sent * 1000) / rate) / 1000;
  const lat = tally.latencies.sort((a, b) => a - b);
  const d = Math.max(tally.delivered, 1);
  return {
    rate,
    sent,
    delivered: tally.delivered,
    expected,
    apiFailed,
    msgsPerSec: tally.delivered / elapsed,
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    max: lat.at(-1) ?? 0,
    cpuUsPerMsg: (used.totalMs * 1000) / d,
    userUsPerMsg: (used.userMs * 1000) / d,
    loadgenCpuPct: (100 * (lg.user + lg.system)) / 1000 / wall,
    otherCpuPct: Math.max(0, (100 * (busy - used.totalMs - (lg.user + lg.system) / 1000)) / wall),
    disconnected: connected.filter((c) => c.closed).length,
  };
}

async function runTarget(t: AppTarget, server: ServerProcess, tokens: string[], round: number): Promise<TargetRun> {
  const agent = new Agent({ keepAlive: true, maxSockets: SOCKETS });
  try {
    const began = performance.now();
    connected = [];
    const connectFailed = await connectClients(t, server, tokens);
    const stats = await t.stats(server, agent);
    console.error(
      `  ${t.key}: ${N - connectFailed}/${N} connected in ${((performance.now() - began) / 1000).toFixed(1)} s, ` +
        `server counts ${stats.clients} clients`,
    );
    await sleep(1000);
    if (WARMUP > 0) await step(t, server, agent, Math.min(...RATES), WARMUP, 1);
    const steps: StepResult[] = [];
    for (const rate of RATES) {
      await sleep(300);
      // The same users in the same order for every target of a round.
      const s = await step(t, server, agent, rate, SECONDS, 1000 * (round + 1) + rate);
      console.error(
        `  ${t.key} @${rate}/s: ${s.msgsPerSec.toFixed(0)} msgs/s (${((100 * s.delivered) / s.expected).toFixed(1)}%), ` +
          `${s.cpuUsPerMsg.toFixed(1)} µs/msg (user ${s.userUsPerMsg.toFixed(1)}), p50 ${s.p50.toFixed(1)} ms, ` +
          `p99 ${s.p99.toFixed(1)} ms, API failures ${s.apiFailed}, load generator ${s.loadgenCpuPct.toFixed(0)}% ` +
          `of a core, everything else ${s.otherCpuPct.toFixed(0)}%, disconnected ${s.disconnected}`,
      );
      steps.push(s);
    }
    return { connectFailed, serverClients: stats.clients, steps };
  } finally {
    agent.destroy();
  }
}

async function main(): Promise<void> {
  const began = performance.now();
  const users = Array.from({ length: N }, (_, k) => `u${k}`);
  const tokens = await makeTokens(users);
  const results: Record<string, TargetRun[]> = Object.fromEntries(selected.map((t) => [t.key, []]));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of selected) {
        console.error(`round ${r + 1}/${ROUNDS}: ${t.label}`);
        const run = await life.withServer(
          () =>
            t.start({
              personal: true,
              nodeArgs: values.profile ? ['--cpu-prof', '--cpu-prof-dir', values.profile] : [],
            }),
          (server) => runTarget(t, server, tokens, r),
        );
        results[t.key]?.push(run);
      }
    }
  } finally {
    life.killAll();
  }
  report(results, (performance.now() - began) / 1000);
}

function report(results: Record<string, TargetRun[]>, totalSeconds: number): void {
  const has = (k: string) => (results[k]?.length ?? 0) > 0;
  const stepOf = (key: string, rate: number, f: (s: StepResult) => number) =>
    median((results[key] ?? []).map((run) => f(run.steps.find((s) => s.rate === rate) as StepResult)));
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : '–');
  const rows: Array<Array<string | number>> = [];
  for (const t of selected) {
    for (const rate of RATES) {
      const m = (f: (s: StepResult) => number) => stepOf(t.key, rate, f);
      const total = m((s) => s.cpuUsPerMsg);
      const user = m((s) => s.userUsPerMsg);
      rows.push([
        t.label,
        rate,
        m((s) => s.msgsPerSec).toFixed(0),
        `${((100 * m((s) => s.delivered)) / m((s) => s.expected)).toFixed(1)}%`,
        Math.max(...(results[t.key] ?? []).map((run) => run.steps.find((s) => s.rate === rate)?.apiFailed ?? 0)),
        m((s) => s.p50).toFixed(1),
        m((s) => s.p99).toFixed(1),
        m((s) => s.max).toFixed(1),
        total.toFixed(1),
        user.toFixed(1),
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
        `${m((s) => s.loadgenCpuPct).toFixed(0)}%`,
      ]);
    }
  }
  const all = Object.values(results).flatMap((rs) => rs.flatMap((r) => r.steps));
  const otherMax = Math.max(...all.map((s) => s.otherCpuPct));
  const connectFailed = Object.values(results).flatMap((rs) => rs.map((r) => r.connectFailed));
  const disconnected = Math.max(...all.map((s) => s.disconnected));
  const span = (f: (rate: number) => number) => {
    const xs = RATES.map(f);
    const lo = Math.min(...xs).toFixed(2);
    const hi = Math.max(...xs).toFixed(2);
    return lo === hi ? `× ${lo}` : `× ${lo}–${hi}`;
  };
  const range = (f: (rate: number) => number) => {
    const xs = RATES.map(f);
    const lo = Math.min(...xs).toFixed(1);
    const hi = Math.max(...xs).toFixed(1);
    return lo === hi ? lo : `${lo}–${hi}`;
  };
  const summary: string[] = [];
  if (has('chorus') && has('raw') && has('socketio')) {
    const cpuOf = (k: string, r: number, f: (s: StepResult) => number) => stepOf(k, r, f);
    summary.push(
      `Chorus over the rates: server CPU per delivered message ${span((r) => cpuOf('chorus', r, (s) => s.cpuUsPerMsg) / cpuOf('raw', r, (s) => s.cpuUsPerMsg))} of raw ws, ` +
        `${span((r) => cpuOf('chorus', r, (s) => s.cpuUsPerMsg) / cpuOf('socketio', r, (s) => s.cpuUsPerMsg))} of Socket.IO ` +
        `(user-space ${span((r) => cpuOf('chorus', r, (s) => s.userUsPerMsg) / cpuOf('socketio', r, (s) => s.userUsPerMsg))}); ` +
        `p99 latency ${range((r) => cpuOf('chorus', r, (s) => s.p99))} ms against ${range((r) => cpuOf('socketio', r, (s) => s.p99))} ms for Socket.IO and ${range((r) => cpuOf('raw', r, (s) => s.p99))} ms for raw ws.`,
    );
  }
  const flags =
    `--clients ${N} --rates ${RATES.join(',')} --seconds ${SECONDS} --rounds ${ROUNDS}` +
    `${SIZE !== 64 ? ` --size ${SIZE}` : ''}${SOCKETS !== 32 ? ` --sockets ${SOCKETS}` : ''}` +
    `${SAMPLE_EVERY !== 5 ? ` --sample-every ${SAMPLE_EVERY}` : ''}`;
  const md = [
    `### Many channels: ${N} clients on their own personal channel, a backend publishing to random users at ${RATES.join(' / ')} publications/s`,
    '',
    `Command: \`npm run bench:many-channels -- ${flags}\` · ${machine()} · medians of ${ROUNDS} alternating rounds, ${SECONDS} s per rate; one HTTP request per publication over a keep-alive agent of at most ${SOCKETS} sockets; latency sampled on every ${SAMPLE_EVERY}th user; ${SIZE}-byte text field per message; whole run ${totalSeconds.toFixed(0)} s.`,
    '',
    table(
      [
        'target',
        'published msgs/s',
        'delivered msgs/s',
        'of expected',
        'failed API calls',
        'p50 ms',
        'p99 ms',
        'max ms',
        'server CPU µs/msg',
        'of which user',
        'total × raw ws',
        'total × Socket.IO',
        'load generator CPU',
      ],
      rows,
    ),
    '',
    ...summary,
    '',
    `Each publication is one HTTP request (JSON body: the user or channel and the data) to the target's own server, which parses it and writes one WebSocket frame to one connection; latency runs from the moment the request is made to the moment the frame arrives, so it includes the HTTP round through the agent's queue. Server CPU (user + kernel of the server process, from /proc) covers both the HTTP request and the push, over delivered messages. Load generator CPU is in % of one core; everything else on the machine used at most ${otherMax.toFixed(0)}% of a core in any step. Connect failures: ${Math.max(...connectFailed)} at most in a round; connections lost during a run: ${disconnected} at most.`,
  ].join('\n');
  publish(
    'many-channels',
    md,
    { N, RATES: RATES.join(','), SECONDS, ROUNDS, SIZE, SOCKETS, SAMPLE_EVERY, results, machine: machine() },
    !values['no-write'],
  );
}

runMain(main);
