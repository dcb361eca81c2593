/**
 * Cross-node fan-out through Redis vs one node, in the same run. One publisher sends at a fixed rate; N
 * subscribers receive. Targets, alternating A B C A B C:
 *   A. one node, memory engine (the baseline)
 *   B. one node, Redis engine (the cost of going through Redis)
 *   C. three nodes, Redis engine: the publisher on node 1, subscribers split over nodes 2 and 3
 * Figures: delivered msgs/s and share of expected, latency p50/p99/max (publisher send → subscriber receive,
 * sampled on a subset of subscribers), server CPU (all Chorus processes) and Redis CPU per delivered message.
 *
 *   npm run bench:cross-node                       # 500 subscribers × 200 msgs/s × 5 s, 2 rounds
 *   npm run bench:cross-node -- --subscribers 1000 --rate 100 --seconds 5 --rounds 2
 *
 * Uses the Redis at 127.0.0.1:6379 (own key prefix). Loopback only, bounded, stops by itself.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Conn } from './lib/conn.js';
import { cpu, cpuDelta } from './lib/proc.js';
import { machine, median, publish, runMain, table } from './lib/report.js';
import { type ServerProcess, startChorus } from './lib/server.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '500' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    'no-write': { type: 'boolean', default: false },
  },
});
const N = Number(values.subscribers);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const SAMPLED = 50;
const CHANNEL = 'fanout';

function redisPid(): number {
  const info = execFileSync('redis-cli', ['-p', '6379', 'info', 'server']).toString();
  return Number(/process_id:(\d+)/.exec(info)?.[1]);
}

function config(engine: 'memory' | 'redis', prefix: string): Record<string, unknown> {
  return {
    engine: engine === 'redis' ? { type: 'redis', redis: { address: 'redis://127.0.0.1:6379', prefix } } : {},
    client: { allow_anonymous_connect_without_token: true, command_rate_limit: 0 },
    channel: {
      without_namespace: {
        allow_subscribe_for_client: true,
        allow_subscribe_for_anonymous: true,
        allow_publish_for_client: true,
        allow_publish_for_anonymous: true,
      },
    },
  };
}

interface RunResult {
  delivered: number;
  expected: number;
  msgsPerSec: number;
  p50: number;
  p99: number;
  max: number;
  serverCpuUsPerMsg: number;
  redisCpuUsPerMsg: number;
}

async function run(
  publisherNode: ServerProcess,
  subscriberNodes: ServerProcess[],
  all: ServerProcess[],
): Promise<RunResult> {
  let delivered = 0;
  const latencies: number[] = [];
  const subs: Conn[] = [];
  for (let i = 0; i < N; i++) {
    const c = new Conn();
    const node = subscriberNodes[i % subscriberNodes.length] as ServerProcess;
    await c.open(node.wsUrl, `127.0.0.${2 + (i % 50)}`);
    await c.call('connect', {});
    const sampled = i < SAMPLED;
    c.onPush = (line) => {
      delivered++;
      if (sampled) {
        const m = /"t":(\d+(?:\.\d+)?)/.exec(line);
        if (m) latencies.push(performance.timeOrigin + performance.now() - Number(m[1]));
      }
    };
    await c.call('subscribe', { channel: CHANNEL });
    subs.push(c);
  }
  const publisher = new Conn();
  await publisher.open(publisherNode.wsUrl);
  await publisher.call('connect', {});
  await new Promise((r) => setTimeout(r, 300));
  const redis = redisPid();
  const before = all.map((s) => cpu(s.pid));
  const redisBefore = cpu(redis);
  const total = RATE * SECONDS;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    void publisher.call('publish', { channel: CHANNEL, data: { i, t: performance.timeOrigin + performance.now() } });
  }
  // Let the tail arrive (bounded).
  const expected = total * N;
  const deadline = performance.now() + 5000;
  while (delivered < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const elapsed = (performance.now() - start) / 1000;
  const serverCpu = all.map((s, i) => cpuDelta(before[i]!, cpu(s.pid)).totalMs).reduce((a, b) => a + b, 0);
  const redisCpu = cpuDelta(redisBefore, cpu(redis)).totalMs;
  await Promise.all([...subs, publisher].map((c) => c.close()));
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return {
    delivered,
    expected,
    msgsPerSec: delivered / elapsed,
    p50: q(0.5),
    p99: q(0.99),
    max: latencies.at(-1) ?? 0,
    serverCpuUsPerMsg: (serverCpu * 1000) / Math.max(delivered, 1),
    redisCpuUsPerMsg: (redisCpu * 1000) / Math.max(delivered, 1),
  };
}

async function main(): Promise<void> {
  const stopAt = setTimeout(() => {
    console.error('benchmark exceeded 10 minutes: stopping');
    process.exit(2);
  }, 600_000);
  stopAt.unref();
  const results: Record<string, RunResult[]> = { memory: [], redis1: [], redis3: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const single = await startChorus(config('memory', ''));
    try {
      results.memory?.push(await run(single, [single], [single]));
    } finally {
      await single.stop();
    }
    const prefix = `bench-${randomUUID().slice(0, 8)}`;
    const one = await startChorus(config('redis', prefix));
    try {
      results.redis1?.push(await run(one, [one], [one]));
    } finally {
      await one.stop();
    }
    const three = await Promise.all([0, 1, 2].map(() => startChorus(config('redis', `${prefix}-3`))));
    try {
      results.redis3?.push(await run(three[0]!, [three[1]!, three[2]!], three));
    } finally {
      await Promise.all(three.map((s) => s.stop()));
    }
  }
  const pick = (rs: RunResult[], k: keyof RunResult) => median(rs.map((x) => x[k]));
  const base = results.memory as RunResult[];
  const names: Record<string, string> = {
    memory: 'one node, memory engine (baseline)',
    redis1: 'one node, Redis engine',
    redis3: 'three nodes via Redis (publisher on 1, subscribers on 2 and 3)',
  };
  const rows = Object.entries(results).map(([k, rs]) => [
    names[k] as string,
    pick(rs, 'msgsPerSec').toFixed(0),
    `${((100 * pick(rs, 'delivered')) / pick(rs, 'expected')).toFixed(1)}%`,
    pick(rs, 'p50').toFixed(1),
    pick(rs, 'p99').toFixed(1),
    pick(rs, 'max').toFixed(1),
    pick(rs, 'serverCpuUsPerMsg').toFixed(2),
    (pick(rs, 'serverCpuUsPerMsg') / pick(base, 'serverCpuUsPerMsg')).toFixed(2),
    pick(rs, 'redisCpuUsPerMsg').toFixed(3),
  ]);
  const md = [
    `### Cross-node fan-out: ${N} subscribers, ${RATE} publications/s for ${SECONDS} s`,
    '',
    `Command: \`npm run bench:cross-node -- --subscribers ${N} --rate ${RATE} --seconds ${SECONDS} --rounds ${ROUNDS}\` · ${machine()} · medians of ${ROUNDS} alternating rounds; latency sampled on ${SAMPLED} subscribers.`,
    '',
    table(
      [
        'target',
        'delivered msgs/s',
        'of expected',
        'p50 ms',
        'p99 ms',
        'max ms',
        'server CPU µs/msg (all nodes)',
        '× baseline',
        'Redis CPU µs/msg',
      ],
      rows,
    ),
    '',
    'Server CPU is summed over every Chorus process of the target; on this 2-core machine three nodes, Redis and the load generator share two cores, so the three-node row shows the cost of the extra hop, not a capacity gain.',
  ].join('\n');
  publish('cross-node', md, { N, RATE, SECONDS, ROUNDS, results, machine: machine() }, !values['no-write']);
}

runMain(main);
