/**
 * JWT connect storm: C clients connect as fast as they can (at most `--concurrency` in flight), each with its own
 * HS256 JWT (signed before the clock starts), and subscribe to one channel. Against the floor and the usual
 * alternative in the same run, each its own process on loopback, alternating A B C A B C, medians over rounds:
 *   raw       bare `ws`, the JWT in the query string verified with jose on upgrade, then `sub news` → `ok`
 *             (the floor for "accept a WebSocket and verify a JWT")
 *   raw-hmac  the same with the JWT checked by hand with node:crypto (HS256 signature, `exp`): the floor without
 *             a JOSE library, to show what JWT verification itself costs
 *   socketio  Socket.IO 4 (websocket), an auth middleware verifying the same JWT with jose, then a `subscribe`
 *             event joining a room (acknowledged)
 *   chorus    Chorus: `connect` with the token (client.token.hmac_secret_key), then `subscribe`
 * Figures: connects/s (first attempt → all subscribed), server CPU per connect (total and user, /proc of the
 * server process), connect latency p50/p99 (TCP connect → subscription confirmed, per client), failures, and the
 * load generator's CPU. A warm-up storm of `--warmup` clients runs (and disconnects) before the measured one.
 *
 *   npm run bench:connect                         # C = 5000, 300 in flight, 5 rounds
 *   npm run bench:connect -- --clients 1000 --rounds 1 --no-write
 *
 * Loopback only (clients spread over 127.0.0.2–51 as source addresses), bounded in count and time, stops by itself;
 * every process it starts is stopped by PID, on errors and on the deadline too.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Agent } from 'node:http';
import { parseArgs } from 'node:util';
import { jwtVerify } from 'jose';
import {
  type AppTarget,
  makeTokens,
  pool,
  quantile,
  SECRET,
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
    clients: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '300' },
    warmup: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '5' },
    targets: { type: 'string', default: 'raw,raw-hmac,socketio,chorus' },
    deadline: { type: 'string', default: '420' },
    'no-write': { type: 'boolean', default: false },
    /** Every server process writes a V8 CPU profile into this directory when it stops. */
    profile: { type: 'string' },
  },
});
const C = Number(values.clients);
const CONCURRENCY = Number(values.concurrency);
const WARMUP = Number(values.warmup);
const ROUNDS = Number(values.rounds);
const CHANNEL = 'news';
const GOAL = 5000;
if (!(C > 0) || !(CONCURRENCY > 0) || !(ROUNDS > 0) || !(WARMUP >= 0)) throw new Error('bad flags');
const selected = selectTargets(values.targets);
const life = new Lifecycle(Number(values.deadline));

interface StormResult {
  ok: number;
  failed: number;
  /** Connections that completed and were closed again before the storm ended. */
  dropped: number;
  ms: number;
  connectsPerSec: number;
  p50: number;
  p99: number;
  max: number;
  cpuUsPerConnect: number;
  userUsPerConnect: number;
  loadgenCpuPct: number;
  otherCpuPct: number;
}

/** One storm of `n` clients (tokens[offset …]); connections stay open until the caller drops them. */
async function storm(t: AppTarget, server: ServerProcess, tokens: string[], n: number): Promise<StormResult> {
  const latencies: number[] = [];
  const done: WireConn[] = [];
  let failed = 0;
  let firstFailure = '';
  const cpu0 = cpu(server.pid);
  const lg0 = process.cpuUsage();
  const busy0 = machineBusyMs();
  const t0 = performance.now();
  await pool(n, CONCURRENCY, async (k) => {
    const c = new WireConn();
    life.conns.push(c);
    const began = performance.now();
    try {
      await withTimeout(
        (async () => {
          await t.connect(c, server, tokens[k] as string, sourceAddress(k));
          await t.subscribe(c, CHANNEL, 1);
        })(),
        15_000,
        'connect + subscribe',
      );
      latencies.push(performance.now() - began);
      done.push(c);
    } catch (e) {
      failed++;
      firstFailure ||= (e as Error).message;
      c.destroy();
    }
  });
  const ms = performance.now() - t0;
  const used = cpuDelta(cpu0, cpu(server.pid));
  const lg = process.cpuUsage(lg0);
  const busy = machineBusyMs() - busy0;
  if (firstFailure) console.error(`  ${failed} failed, first: ${firstFailure}`);
  const ok = latencies.length;
  const lat = latencies.sort((a, b) => a - b);
  return {
    ok,
    failed,
    dropped: done.filter((c) => c.closed).length,
    ms,
    connectsPerSec: (ok * 1000) / ms,
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    max: lat.at(-1) ?? 0,
    cpuUsPerConnect: (used.totalMs * 1000) / Math.max(ok, 1),
    userUsPerConnect: (used.userMs * 1000) / Math.max(ok, 1),
    loadgenCpuPct: (100 * (lg.user + lg.system)) / 1000 / ms,
    otherCpuPct: Math.max(0, (100 * (busy - used.totalMs - (lg.user + lg.system) / 1000)) / ms),
  };
}

async function runTarget(t: AppTarget, server: ServerProcess, tokens: string[]): Promise<StormResult> {
  if (WARMUP > 0) {
    const w = await storm(t, server, tokens.slice(C), WARMUP);
    console.error(`  ${t.key} warm-up: ${w.ok}/${WARMUP} in ${w.ms.toFixed(0)} ms`);
    life.dropConnections();
    await sleep(1000);
  }
  await sleep(200);
  const s = await storm(t, server, tokens, C);
  // Whether the storm's connections are all still there a moment later.
  await sleep(500);
  const agent = new Agent();
  const stats = await t.stats(server, agent).finally(() => agent.destroy());
  console.error(
    `  ${t.key}: ${s.ok}/${C} in ${s.ms.toFixed(0)} ms = ${s.connectsPerSec.toFixed(0)}/s, ` +
      `${s.cpuUsPerConnect.toFixed(0)} µs CPU/connect (user ${s.userUsPerConnect.toFixed(0)}), p50 ${s.p50.toFixed(1)} ms, ` +
      `p99 ${s.p99.toFixed(1)} ms, failed ${s.failed}, dropped ${s.dropped}, load generator ${s.loadgenCpuPct.toFixed(0)}% ` +
      `of a core, everything else ${s.otherCpuPct.toFixed(0)}%; server counts ${stats.clients} clients, ${stats.subs} subscriptions`,
  );
  return s;
}

async function main(): Promise<void> {
  const began = performance.now();
  const users = Array.from({ length: C + WARMUP }, (_, k) => `u${k}`);
  const tokens = await makeTokens(users);
  const verifyCost = await jwtVerifyCost(tokens.slice(0, 2000));
  console.error(
    `JWT verification alone in this process: jose ${verifyCost.jose.toFixed(0)} µs CPU, node:crypto HMAC ${verifyCost.hmac.toFixed(0)} µs CPU per token`,
  );
  const results: Record<string, StormResult[]> = Object.fromEntries(selected.map((t) => [t.key, []]));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of selected) {
        console.error(`round ${r + 1}/${ROUNDS}: ${t.label}`);
        results[t.key]?.push(
          await life.withServer(
            () => t.start({ nodeArgs: values.profile ? ['--cpu-prof', '--cpu-prof-dir', values.profile] : [] }),
            (server) => runTarget(t, server, tokens),
          ),
        );
      }
    }
  } finally {
    life.killAll();
  }
  report(results, verifyCost, (performance.now() - began) / 1000);
}

/**
 * CPU per HS256 verification in this process, jose (`jwtVerify`, 300 in flight as in a storm) against a check by
 * hand with node:crypto (`createHmac`): how much of a connect JWT verification alone can cost.
 */
async function jwtVerifyCost(tokens: string[]): Promise<{ jose: number; hmac: number }> {
  const key = new TextEncoder().encode(SECRET);
  const joseRun = async () => {
    const c0 = process.cpuUsage();
    await pool(tokens.length, CONCURRENCY, async (i) => {
      await jwtVerify(tokens[i] as string, key, { algorithms: ['HS256'] });
    });
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / tokens.length;
  };
  const hmacRun = () => {
    const c0 = process.cpuUsage();
    for (const t of tokens) {
      const [h, p, sig] = t.split('.') as [string, string, string];
      const mac = createHmac('sha256', key).update(`${h}.${p}`).digest();
      if (!timingSafeEqual(mac, Buffer.from(sig, 'base64url'))) throw new Error('bad signature');
      JSON.parse(Buffer.from(p, 'base64url').toString());
    }
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / tokens.length;
  };
  // The first runs warm up; the second ones count.
  await joseRun();
  hmacRun();
  return { jose: await joseRun(), hmac: hmacRun() };
}

function report(
  results: Record<string, StormResult[]>,
  verifyCost: { jose: number; hmac: number },
  totalSeconds: number,
): void {
  const has = (k: string) => (results[k]?.length ?? 0) > 0;
  const m = (k: string, f: (s: StormResult) => number) => median((results[k] ?? []).map(f));
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : '–');
  const rows = selected.map((t) => {
    const total = m(t.key, (s) => s.cpuUsPerConnect);
    return [
      t.label,
      m(t.key, (s) => s.connectsPerSec).toFixed(0),
      m(t.key, (s) => s.ms).toFixed(0),
      m(t.key, (s) => s.p50).toFixed(1),
      m(t.key, (s) => s.p99).toFixed(1),
      m(t.key, (s) => s.max).toFixed(0),
      `${Math.max(...(results[t.key] ?? []).map((s) => s.failed + s.dropped))}`,
      total.toFixed(0),
      m(t.key, (s) => s.userUsPerConnect).toFixed(0),
      has('raw')
        ? ratio(
            total,
            m('raw', (s) => s.cpuUsPerConnect),
          )
        : '–',
      has('socketio')
        ? ratio(
            total,
            m('socketio', (s) => s.cpuUsPerConnect),
          )
        : '–',
      (1e6 / Math.max(total, 1)).toFixed(0),
      `${m(t.key, (s) => s.loadgenCpuPct).toFixed(0)}%`,
    ];
  });
  const all = Object.values(results).flat();
  const otherMax = Math.max(...all.map((s) => s.otherCpuPct));
  const summary: string[] = [];
  if (has('chorus')) {
    const rate = m('chorus', (s) => s.connectsPerSec);
    const perCore =
      1e6 /
      Math.max(
        m('chorus', (s) => s.cpuUsPerConnect),
        1,
      );
    const vs: string[] = [];
    for (const [k, name] of [
      ['raw', 'raw ws'],
      ['socketio', 'Socket.IO'],
    ] as const) {
      if (!has(k)) continue;
      vs.push(
        `${name}: connects/s × ${ratio(
          rate,
          m(k, (s) => s.connectsPerSec),
        )}, server CPU per connect × ${ratio(
          m('chorus', (s) => s.cpuUsPerConnect),
          m(k, (s) => s.cpuUsPerConnect),
        )}`,
      );
    }
    if (vs.length > 0) summary.push(`Chorus vs ${vs.join('; vs ')}.`);
    summary.push(
      `Issue target, ≥ ${GOAL} JWT connects/s for Chorus: ${rate.toFixed(0)}/s measured on this 2-core machine with the load generator beside the server — ${rate >= GOAL ? 'met' : 'not met'}; at ${m('chorus', (s) => s.cpuUsPerConnect).toFixed(0)} µs of server CPU per connect, a core of its own would take ${perCore.toFixed(0)}/s (${perCore >= GOAL ? 'above' : 'below'} the target).`,
    );
  }
  const flags = `--clients ${C} --concurrency ${CONCURRENCY} --warmup ${WARMUP} --rounds ${ROUNDS}`;
  const md = [
    `### Connect storm: ${C} clients with their own HS256 JWT connect and subscribe to one channel, ${CONCURRENCY} in flight`,
    '',
    `Command: \`npm run bench:connect -- ${flags}\` · ${machine()} · medians of ${ROUNDS} alternating rounds; a warm-up storm of ${WARMUP} clients before each measured one; whole run ${totalSeconds.toFixed(0)} s.`,
    '',
    table(
      [
        'target',
        'connects/s',
        'time to all subscribed (ms)',
        'p50 ms',
        'p99 ms',
        'max ms',
        'failed or dropped',
        'server CPU µs/connect',
        'of which user',
        'total × raw ws',
        'total × Socket.IO',
        'connects/s per server core (10⁶ / CPU µs)',
        'load generator CPU',
      ],
      rows,
    ),
    '',
    ...summary,
    '',
    `JWT verification alone, measured in the load generator in the same run: jose \`jwtVerify\` ${verifyCost.jose.toFixed(0)} µs of CPU per token (${CONCURRENCY} in flight), a check by hand with node:crypto (\`createHmac\`, signature and payload) ${verifyCost.hmac.toFixed(0)} µs.`,
    '',
    `A connect is: TCP connect, WebSocket upgrade, JWT verification (HS256; jose in every target but the node:crypto row), the target's handshake and one subscription confirmed; latency is per client from its TCP connect to its subscription confirmed. Tokens are signed before the clock starts. Server CPU (user + kernel of the server process, /proc) is over the whole storm, divided by the clients that made it. The load generator (one process, bare sockets, CPU in % of one core) shares the 2 cores with the server, so connects/s is what this machine reaches, not the server alone; everything else on the machine used at most ${otherMax.toFixed(0)}% of a core in any storm.`,
  ].join('\n');
  publish(
    'connect-storm',
    md,
    { C, CONCURRENCY, WARMUP, ROUNDS, verifyCost, results, machine: machine() },
    !values['no-write'],
  );
}

runMain(main);
