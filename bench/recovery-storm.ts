/**
 * Recovery storm: N clients on one channel drop off together, M publications go by, and all N reconnect at the
 * same moment, each recovering the M it missed. Measured against a baseline storm in the same run, where the N
 * clients reconnect and resubscribe with nothing to recover (same connections, same protocol, no history
 * replay). Targets alternate A B A B; figures are medians.
 *
 *   npm run bench:recovery                 # N = 1000, M = 300, 2 rounds
 *   npm run bench:recovery -- --clients 500 --missed 100 --rounds 3
 *
 * Loopback only, bounded in count and time; the server runs as its own process so /proc gives its CPU and memory.
 */
import { parseArgs } from 'node:util';
import { Conn } from './lib/conn.js';
import { cpu, cpuDelta, memory, resetPeak } from './lib/proc.js';
import { machine, median, publish, runMain, table } from './lib/report.js';
import { type ServerProcess, startChorus } from './lib/server.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    missed: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '2' },
    'no-write': { type: 'boolean', default: false },
  },
});
const N = Number(values.clients);
const M = Number(values.missed);
const ROUNDS = Number(values.rounds);
const CHANNEL = 'storm';
const DEADLINE_MS = 120_000;

interface Position {
  offset: number;
  epoch: string;
}

async function connectAndSubscribe(
  url: string,
  recover?: Position,
): Promise<{ conn: Conn; result: Record<string, unknown> }> {
  const conn = new Conn();
  await conn.open(url);
  await conn.call('connect', {});
  const params: Record<string, unknown> = { channel: CHANNEL, recoverable: true };
  if (recover) Object.assign(params, { recover: true, offset: recover.offset, epoch: recover.epoch });
  const reply = await conn.call('subscribe', params);
  if (reply.error) throw new Error(`subscribe failed: ${JSON.stringify(reply.error)}`);
  return { conn, result: reply.subscribe as Record<string, unknown> };
}

async function inBatches<T>(n: number, batch: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => f(i + j)))));
  }
  return out;
}

interface StormResult {
  ms: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  peakRssMB: number;
  recovered: number;
}

/** One storm: N clients go away, `missed` publications happen, N come back at once recovering. */
async function storm(server: ServerProcess, missed: number): Promise<StormResult> {
  const first = await inBatches(N, 200, () => connectAndSubscribe(server.wsUrl));
  const position: Position = {
    offset: Number(first[0]?.result.offset ?? 0),
    epoch: String(first[0]?.result.epoch ?? ''),
  };
  await Promise.all(first.map((c) => c.conn.close()));
  const publisher = new Conn();
  await publisher.open(server.wsUrl);
  await publisher.call('connect', {});
  const pubs = [];
  for (let i = 0; i < missed; i++)
    pubs.push(publisher.call('publish', { channel: CHANNEL, data: { i, pad: 'x'.repeat(64) } }));
  await Promise.all(pubs);
  await publisher.close();

  resetPeak(server.pid);
  const before = cpu(server.pid);
  const t0 = performance.now();
  const back = await Promise.all(Array.from({ length: N }, () => connectAndSubscribe(server.wsUrl, position)));
  const ms = performance.now() - t0;
  const used = cpuDelta(before, cpu(server.pid));
  const peak = memory(server.pid).peak;
  let recovered = 0;
  for (const { result } of back) {
    const got = (result.publications as unknown[] | undefined)?.length ?? 0;
    if (result.recovered === true && got === missed) recovered++;
  }
  await Promise.all(back.map((c) => c.conn.close()));
  return { ms, cpuUserMs: used.userMs, cpuSystemMs: used.systemMs, peakRssMB: peak / 2 ** 20, recovered };
}

async function main(): Promise<void> {
  const deadline = setTimeout(() => {
    console.error(`benchmark exceeded ${DEADLINE_MS / 1000}s: stopping`);
    process.exit(2);
  }, DEADLINE_MS);
  deadline.unref();
  const server = await startChorus({
    client: { allow_anonymous_connect_without_token: true, command_rate_limit: 0, recovery_max_publication_limit: M },
    channel: {
      without_namespace: {
        allow_subscribe_for_client: true,
        allow_subscribe_for_anonymous: true,
        allow_publish_for_client: true,
        allow_publish_for_anonymous: true,
        history_size: Math.max(M, 1),
        history_ttl: '600s',
        force_recovery: true,
      },
    },
  });
  const baseline: StormResult[] = [];
  const recovery: StormResult[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      baseline.push(await storm(server, 0));
      recovery.push(await storm(server, M));
    }
  } finally {
    await server.stop();
  }
  const pick = (rs: StormResult[], k: keyof StormResult) => median(rs.map((x) => x[k]));
  const rows: Array<Array<string | number>> = [];
  for (const [name, rs] of [
    ['resubscribe, nothing missed (baseline)', baseline],
    [`recover ${M} publications each`, recovery],
  ] as const) {
    rows.push([
      name,
      pick(rs, 'ms').toFixed(0),
      (pick(rs, 'cpuUserMs') + pick(rs, 'cpuSystemMs')).toFixed(0),
      pick(rs, 'cpuUserMs').toFixed(0),
      (((pick(rs, 'cpuUserMs') + pick(rs, 'cpuSystemMs')) * 1000) / N).toFixed(0),
      pick(rs, 'peakRssMB').toFixed(0),
      `${Math.min(...rs.map((x) => x.recovered))}/${N}`,
    ]);
  }
  const ratio = (k: keyof StormResult) => (pick(recovery, k) / Math.max(pick(baseline, k), 1e-9)).toFixed(2);
  const cpuRatio = (
    (pick(recovery, 'cpuUserMs') + pick(recovery, 'cpuSystemMs')) /
    Math.max(pick(baseline, 'cpuUserMs') + pick(baseline, 'cpuSystemMs'), 1e-9)
  ).toFixed(2);
  const md = [
    `### Recovery storm: ${N} clients reconnect at once, each recovering ${M} publications`,
    '',
    `Command: \`npm run bench:recovery -- --clients ${N} --missed ${M} --rounds ${ROUNDS}\` · ${machine()} · medians of ${ROUNDS} alternating rounds.`,
    '',
    table(
      [
        'storm',
        'time to all subscribed (ms)',
        'server CPU (ms)',
        'of which user (ms)',
        'CPU per client (µs)',
        'peak RSS (MB)',
        'fully recovered',
      ],
      rows,
    ),
    '',
    `Recovery vs baseline in the same run: time × ${ratio('ms')}, server CPU × ${cpuRatio}, peak RSS × ${ratio('peakRssMB')}.`,
    'A client counts as fully recovered when its reply says `recovered: true` and carries exactly the missed publications.',
  ].join('\n');
  publish('recovery-storm', md, { N, M, ROUNDS, baseline, recovery, machine: machine() }, !values['no-write']);
}

runMain(main);
