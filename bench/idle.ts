/**
 * Idle connections: N clients, each with its own HS256 JWT, connected and subscribed to two channels (`news`,
 * shared by all, and its own `personal.<user>`), then left idle. Against the floor and the usual alternative in the
 * same run, each its own process on loopback, alternating A B C A B C, medians over rounds:
 *   raw       bare `ws`, JWT verified with jose on upgrade; the server records the socket by user and its two
 *             channels (Map channel → Set of sockets, and the socket's Set of channels), as an application would
 *   socketio  Socket.IO 4 (websocket), JWT auth middleware, two rooms joined (acknowledged)
 *   chorus    Chorus, `connect` with the token, then two `subscribe` commands
 * The levels of N (`--counts`) are reached one after the other on the same server. Per level: RSS per connection
 * (server RSS growth over N, from /proc after the connections settled and a full GC), JS heap per connection (heap
 * used growth after a full GC, read through the inspector: every target runs with `--inspect` on loopback), server
 * CPU per connect + 2 subscribes, and over an idle hold of `--hold` seconds: connections lost, the server's idle
 * CPU; then whether all N are still there (the server's own count, and a broadcast on `news` every one receives).
 * The load generator answers heartbeats (Chorus `{}`, engine.io `2`), as clients do.
 *
 * Each connection needs a file descriptor in the server and one in the load generator, so N is capped by the
 * open-file limit (RLIMIT_NOFILE, read from /proc/self/limits); the report says when a level had to be capped.
 *
 *   npm run bench:idle                            # N = 10000 and 50000 (capped to what fits), 10 s hold, 2 rounds
 *   npm run bench:idle -- --counts 1000 --hold 2 --rounds 1 --no-write
 *   CHORUS_BASELINE=../old npm run bench:idle -- --targets chorus-baseline,chorus --name idle-redesign   # two versions
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
  openFileLimit,
  pool,
  selectTargets,
  sleep,
  sourceAddress,
  withTimeout,
} from './lib/apps.js';
import { freePort, memoryAfterGC } from './lib/inspector.js';
import { Lifecycle } from './lib/lifecycle.js';
import { cpu, cpuDelta, memory } from './lib/proc.js';
import { machine, median, publish, runMain, table } from './lib/report.js';
import type { ServerProcess } from './lib/server.js';
import { WireConn } from './lib/wire.js';

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '10000,50000' },
    hold: { type: 'string', default: '10' },
    settle: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '200' },
    targets: { type: 'string', default: 'raw,socketio,chorus' },
    /** The section of BENCHMARKS.md and the results file (`idle` is the one bench/targets.ts reads). */
    name: { type: 'string', default: 'idle' },
    deadline: { type: 'string', default: '600' },
    'no-write': { type: 'boolean', default: false },
  },
});
const REQUESTED = values.counts.split(',').map(Number);
const HOLD_S = Number(values.hold);
const SETTLE_S = Number(values.settle);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
if (REQUESTED.some((n) => !(n > 0)) || !(HOLD_S >= 0) || !(ROUNDS > 0) || !(CONCURRENCY > 0))
  throw new Error('bad flags');
const SHARED = 'news';
const GOAL_KB = 8;
const GOAL_N = 50_000;
/** Descriptors a process needs besides its connections (stdio, epoll, the listening socket, inspector, HTTP …). */
const FD_SLACK = 512;

const limit = openFileLimit();
const MAX_N = Math.floor((limit.soft - FD_SLACK) / 1000) * 1000;
const COUNTS = [...new Set(REQUESTED.map((n) => Math.min(n, MAX_N)))].sort((a, b) => a - b);
const capped = REQUESTED.filter((n) => n > MAX_N);
if (!(MAX_N > 0)) throw new Error(`open-file limit ${limit.soft} leaves no room for connections`);
const selected = selectTargets(values.targets);
const commandLine =
  values.name === 'idle'
    ? `npm run bench:idle -- --counts ${REQUESTED.join(',')} --hold ${HOLD_S} --rounds ${ROUNDS}`
    : `${process.env.CHORUS_BASELINE ? `CHORUS_BASELINE=${process.env.CHORUS_BASELINE} ` : ''}npm run bench:idle -- --counts ${REQUESTED.join(',')} --hold ${HOLD_S} --rounds ${ROUNDS} --targets ${values.targets} --name ${values.name}`;
const life = new Lifecycle(Number(values.deadline));

interface Level {
  n: number;
  connectFailed: number;
  rssPerConnKB: number;
  /** -1 when the inspector could not be read. */
  heapPerConnKB: number;
  cpuUsPerConnect: number;
  userUsPerConnect: number;
  /** Connections of this target closed by the end of the level's hold (from the start of the run). */
  lost: number;
  lostDuringHold: number;
  idleCpuPct: number;
  serverClients: number;
  serverSubs: number;
  broadcastReceived: number;
  loadgenConnectCpuUs: number;
}

/** Pushes received by every connection, for the final broadcast check. */
const tally = { received: 0 };

async function heapUsed(port: number): Promise<number> {
  try {
    return (await memoryAfterGC(port)).heapUsed;
  } catch (e) {
    console.error(`  inspector: ${(e as Error).message}`);
    return Number.NaN;
  }
}

async function runTarget(t: AppTarget, server: ServerProcess, inspectPort: number, tokens: string[]): Promise<Level[]> {
  const serverLimit = openFileLimit(server.pid);
  if (serverLimit.soft < COUNTS.at(-1)! + FD_SLACK) {
    throw new Error(`the server's open-file limit (${serverLimit.soft}) is below ${COUNTS.at(-1)} connections`);
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const connected: WireConn[] = [];
  const levels: Level[] = [];
  try {
    await sleep(500);
    const heap0 = await heapUsed(inspectPort);
    const rss0 = memory(server.pid).rss;
    let failedTotal = 0;
    let k = 0;
    for (const n of COUNTS) {
      // Connect up to n: its own token per client, then two subscriptions.
      const cpu0 = cpu(server.pid);
      const lg0 = process.cpuUsage();
      const from = k;
      let failed = 0;
      let firstFailure = '';
      const began = performance.now();
      await pool(n - from, CONCURRENCY, async (i) => {
        const idx = from + i;
        const c = new WireConn();
        life.conns.push(c);
        try {
          await withTimeout(
            (async () => {
              await t.connect(c, server, tokens[idx] as string, sourceAddress(idx));
              await t.subscribe(c, SHARED, 1);
              await t.subscribe(c, `personal.u${idx}`, 2);
            })(),
            20_000,
            'connect + 2 subscribes',
          );
        } catch (e) {
          failed++;
          firstFailure ||= (e as Error).message;
          c.destroy();
          return;
        }
        connected.push(c);
        const count = t.counter(c);
        c.onFrame = (buf, start, end) => {
          tally.received += count(buf, start, end);
        };
      });
      k = n;
      failedTotal += failed;
      const used = cpuDelta(cpu0, cpu(server.pid));
      const lg = process.cpuUsage(lg0);
      const added = Math.max(n - from - failed, 1);
      if (firstFailure) console.error(`  ${failed} connects failed, first: ${firstFailure}`);
      console.error(
        `  ${t.key}: ${connected.length}/${n} connected in ${((performance.now() - began) / 1000).toFixed(1)} s, ` +
          `${((used.totalMs * 1000) / added).toFixed(0)} µs server CPU per connect + 2 subscribes`,
      );
      // Settle, collect garbage, measure.
      await sleep(SETTLE_S * 1000);
      const heap = await heapUsed(inspectPort);
      const rss = memory(server.pid).rss;
      // Hold: nobody sends anything but heartbeats.
      const lostBefore = connected.filter((c) => c.closed).length;
      const idle0 = cpu(server.pid);
      const h0 = performance.now();
      await sleep(HOLD_S * 1000);
      const idle = cpuDelta(idle0, cpu(server.pid));
      const idleCpuPct = HOLD_S > 0 ? (100 * idle.totalMs) / (performance.now() - h0) : 0;
      const lost = connected.filter((c) => c.closed).length;
      // Still there? The server's own count, and one broadcast on the shared channel that every live one receives.
      const stats = await t.stats(server, agent);
      const live = connected.length - lost;
      tally.received = 0;
      const r = await httpCall(agent, server.port, t.toChannel(SHARED, '{"check":1}'));
      if (r.status !== 200 || r.body.includes('"error"'))
        console.error(`  broadcast failed: HTTP ${r.status} ${r.body}`);
      const until = performance.now() + 10_000;
      while (tally.received < live && performance.now() < until) await sleep(20);
      const level: Level = {
        n,
        connectFailed: failedTotal,
        rssPerConnKB: (rss - rss0) / n / 1024,
        heapPerConnKB: Number.isNaN(heap - heap0) ? -1 : (heap - heap0) / n / 1024,
        cpuUsPerConnect: (used.totalMs * 1000) / added,
        userUsPerConnect: (used.userMs * 1000) / added,
        lost,
        lostDuringHold: lost - lostBefore,
        idleCpuPct,
        serverClients: stats.clients,
        serverSubs: stats.subs,
        broadcastReceived: tally.received,
        loadgenConnectCpuUs: (lg.user + lg.system) / added,
      };
      console.error(
        `  ${t.key} @${n}: RSS ${level.rssPerConnKB.toFixed(2)} KB/conn, heap ${level.heapPerConnKB.toFixed(2)} KB/conn, ` +
          `lost ${lost} (${level.lostDuringHold} during the ${HOLD_S} s hold), idle CPU ${idleCpuPct.toFixed(1)}% of a core, ` +
          `server counts ${stats.clients} clients / ${stats.subs} subscriptions, broadcast reached ${tally.received}/${live}`,
      );
      levels.push(level);
    }
    return levels;
  } finally {
    agent.destroy();
  }
}

async function main(): Promise<void> {
  const began = performance.now();
  console.error(
    `open files: soft ${limit.soft}, hard ${limit.hard}; at most ${MAX_N} connections fit; levels ${COUNTS.join(', ')}` +
      (capped.length > 0 ? ` (asked for ${capped.join(', ')})` : ''),
  );
  const users = Array.from({ length: COUNTS.at(-1) as number }, (_, k) => `u${k}`);
  const tokens = await makeTokens(users);
  const results: Record<string, Level[][]> = Object.fromEntries(selected.map((t) => [t.key, []]));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of selected) {
        console.error(`round ${r + 1}/${ROUNDS}: ${t.label}`);
        const port = await freePort();
        const levels = await life.withServer(
          () => t.start({ nodeArgs: [`--inspect=127.0.0.1:${port}`] }),
          (server) => runTarget(t, server, port, tokens),
        );
        results[t.key]?.push(levels);
      }
    }
  } finally {
    life.killAll();
  }
  report(results, (performance.now() - began) / 1000);
}

function report(results: Record<string, Level[][]>, totalSeconds: number): void {
  const has = (k: string) => (results[k]?.length ?? 0) > 0;
  const levelsOf = (key: string, n: number) =>
    (results[key] ?? []).map((run) => run.find((l) => l.n === n)).filter((l): l is Level => l !== undefined);
  const m = (key: string, n: number, f: (l: Level) => number) => median(levelsOf(key, n).map(f));
  const worst = (key: string, n: number, f: (l: Level) => number) => Math.max(...levelsOf(key, n).map(f));
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : '–');
  const rows: Array<Array<string | number>> = [];
  for (const t of selected) {
    for (const n of COUNTS) {
      const rss = m(t.key, n, (l) => l.rssPerConnKB);
      const heap = m(t.key, n, (l) => l.heapPerConnKB);
      const still = Math.min(...levelsOf(t.key, n).map((l) => Math.min(l.serverClients, l.broadcastReceived)));
      rows.push([
        t.label,
        n,
        rss.toFixed(2),
        has('raw')
          ? ratio(
              rss,
              m('raw', n, (l) => l.rssPerConnKB),
            )
          : '–',
        heap >= 0 ? heap.toFixed(2) : '–',
        m(t.key, n, (l) => l.cpuUsPerConnect).toFixed(0),
        m(t.key, n, (l) => l.userUsPerConnect).toFixed(0),
        worst(t.key, n, (l) => l.connectFailed),
        worst(t.key, n, (l) => l.lostDuringHold),
        worst(t.key, n, (l) => l.lost),
        `${m(t.key, n, (l) => l.idleCpuPct).toFixed(1)}%`,
        `${still}/${n}`,
      ]);
    }
  }
  const top = COUNTS.at(-1) as number;
  const summary: string[] = [];
  if (has('chorus')) {
    const rssTop = m('chorus', top, (l) => l.rssPerConnKB);
    const vs = ['raw', 'socketio'].filter(has).map(
      (k) =>
        `× ${ratio(
          rssTop,
          m(k, top, (l) => l.rssPerConnKB),
        )} of ${k === 'raw' ? 'raw ws' : 'Socket.IO'}`,
    );
    summary.push(
      `Chorus at ${top} connections: ${rssTop.toFixed(2)} KB of RSS per connection with 2 subscriptions${vs.length ? ` (${vs.join(', ')})` : ''} — issue target ≤ ${GOAL_KB} KB ${rssTop <= GOAL_KB ? 'met' : 'not met'}; ` +
        `${worst('chorus', top, (l) => l.connectFailed)} connect failures and ${worst('chorus', top, (l) => l.lost)} connections lost at most in a round.`,
    );
  }
  if (has('chorus') && has('chorus-baseline')) {
    for (const n of COUNTS) {
      const per = (k: string, f: (l: Level) => number) => ratio(m('chorus', n, f), m(k, n, f));
      summary.push(
        `Chorus against the baseline checkout at ${n} connections: RSS per connection × ${per('chorus-baseline', (l) => l.rssPerConnKB)}, JS heap per connection × ${per('chorus-baseline', (l) => l.heapPerConnKB)}, server CPU per connect × ${per('chorus-baseline', (l) => l.cpuUsPerConnect)}.`,
      );
    }
  }
  const fdNote =
    capped.length > 0
      ? `**${capped.map((n) => n.toLocaleString('en-US')).join(', ')} connections could not be tried on this machine**: the open-file limit (RLIMIT_NOFILE, "Max open files" in /proc/self/limits) is ${limit.soft} soft / ${limit.hard} hard here and cannot be raised, and the server and the load generator each hold one descriptor per connection, so at most ${MAX_N} fit (keeping ${FD_SLACK} for everything else); the largest level measured is ${top}.${capped.includes(GOAL_N) ? ` The issue's target of ${GOAL_N.toLocaleString('en-US')} concurrent connections without errors is therefore not measured here.` : ''}`
      : '';
  const md = [
    `### Idle connections: ${COUNTS.join(' and ')} clients with their own JWT, each subscribed to 2 channels`,
    '',
    `Command: \`${commandLine}\` · ${machine()} · medians of ${ROUNDS} alternating rounds (failures and losses: the worst round); levels reached one after the other on the same server, ${HOLD_S} s idle hold at each; whole run ${totalSeconds.toFixed(0)} s.`,
    '',
    ...(fdNote ? [fdNote, ''] : []),
    table(
      [
        'target',
        'connections',
        'RSS per connection (KB)',
        '× raw ws',
        'JS heap per connection (KB)',
        'server CPU per connect + 2 subscribes (µs)',
        'of which user',
        'connect failures',
        `lost during the ${HOLD_S} s hold`,
        'lost in all',
        'server CPU while idle (% of a core)',
        'still connected at the end',
      ],
      rows,
    ),
    '',
    ...summary,
    '',
    `Each client connects with its own HS256 JWT (verified with jose by every target), then subscribes to \`${SHARED}\` (shared by all) and \`personal.<user>\` (its own). RSS per connection is the growth of the server's RSS (/proc) from before the first connection to after the level's connections settled (${SETTLE_S} s) and a full garbage collection, over N; JS heap per connection is the growth of V8's heap used, after the same full GC (through the inspector, which every target runs with on loopback). Server CPU per connect is over the level's connect phase (${CONCURRENCY} in flight), divided by the connections it added. "Still connected" is the smaller of the server's own count of connections and the number of clients that received one broadcast on \`${SHARED}\` after the hold. The load generator answers heartbeats as clients do (Chorus pings every 25 s by default, engine.io every 25 s; the raw server sends none).`,
  ].join('\n');
  publish(
    values.name,
    md,
    {
      REQUESTED: REQUESTED.join(','),
      COUNTS: COUNTS.join(','),
      HOLD_S,
      ROUNDS,
      openFiles: limit,
      maxConnections: MAX_N,
      results,
      machine: machine(),
    },
    !values['no-write'],
  );
}

runMain(main);
