/**
 * Soak: does Chorus give back everything it takes? A Chorus server runs as its own process on loopback (so its
 * memory is measured alone, through /proc and its inspector) while a few hundred connections churn for
 * `--minutes` (bench/lib/churn.ts: SDK clients that lose sockets and recover, raw clients that close, reset,
 * vanish mid-subscribe or stop answering pings, slow consumers, API publishes and broadcasts to shared rooms and
 * to thousands of one-off channel names). Every few seconds it samples the server's RSS, heap, handles,
 * connections, subscriptions and channels (heap after a full GC every 30 s).
 *
 * Then churn stops and the TTLs pass (history and presence entries expire), and it checks what a leak would show:
 * connections, sessions, subscriptions and channels back to zero; heap after GC back near its baseline; RSS and
 * heap flat during steady churn (least-squares slope over all but the first quarter, MB/min); no presence ghost
 * (a channel whose only client left still listed 2 s later); no offset gap seen by a client; every slow consumer
 * closed with 3008, every mute client with 3012. On Redis the run uses its own key prefix, counts the keys left
 * after the TTLs, and deletes them.
 *
 *   npm run bench:soak                                   # 10 minutes per engine: memory, then redis
 *   npm run bench:soak -- --minutes 2 --engine memory    # a short trial
 *
 * The figures go into docs/reliability.md (a generated section per engine and duration) with the command and
 * commit; raw samples into bench/results/. Loopback only, bounded in count and time, stops by itself.
 */
import { Agent } from 'node:http';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { httpCall, sleep } from './lib/apps.js';
import { Churn, type ChurnCounts } from './lib/churn.js';
import { freePort, InspectorSession } from './lib/inspector.js';
import { Lifecycle } from './lib/lifecycle.js';
import { memory } from './lib/proc.js';
import { commitLabel, machine, publish, runMain, table } from './lib/report.js';
import { parseMetrics, slope, summarize } from './lib/series.js';
import { type ServerProcess, startChorus } from './lib/server.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    engine: { type: 'string', default: 'memory,redis' },
    'sample-seconds': { type: 'string', default: '5' },
    sdk: { type: 'string', default: '80' },
    raw: { type: 'string', default: '180' },
    rooms: { type: 'string', default: '40' },
    seed: { type: 'string', default: '1' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    'no-write': { type: 'boolean', default: false },
  },
});
const MINUTES = Number(values.minutes);
const ENGINES = values.engine.split(',') as Array<'memory' | 'redis'>;
const SAMPLE_MS = Number(values['sample-seconds']) * 1000;
if (!(MINUTES > 0) || !(SAMPLE_MS >= 1000) || ENGINES.some((e) => e !== 'memory' && e !== 'redis')) {
  throw new Error('usage: soak.ts [--minutes N] [--engine memory|redis|memory,redis] [--sample-seconds S]');
}
if (!/^redis:\/\/(127\.0\.0\.1|localhost)(:\d+)?(\/\d+)?$/.test(values.redis)) {
  throw new Error('--redis must be on loopback');
}
const SECRET = 'chorus-soak-secret-0123456789abcdef0123';
const API_KEY = 'chorus-soak-api-key';
/** After churn: the longest TTL (history_meta_ttl 40 s; presence 2 × 10 s + 6 s) and a margin. */
const DRAIN_MS = 50_000;
/** Heap after GC may end this far above its baseline (caches, JIT code) and still count as given back. */
const HEAP_MARGIN_MB = 8;
/** Taken at start: what was built and run (the tree may move while a long run goes on). */
const COMMIT = commitLabel();
const MACHINE = machine();
const command = `npm run bench:soak${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const life = new Lifecycle(ENGINES.length * (MINUTES * 60 + 300));

const open = { allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true };
function config(engine: 'memory' | 'redis', prefix: string): Record<string, unknown> {
  return {
    client: {
      allow_anonymous_connect_without_token: true,
      token: { hmac_secret_key: SECRET },
      // Short enough that mute clients are found out (3012) and presence is refreshed within the run.
      ping_interval: '5s',
      pong_timeout: '2s',
      presence_update_interval: '10s',
    },
    channel: {
      without_namespace: open,
      namespaces: [
        {
          name: 'room',
          ...open,
          history_size: 50,
          history_ttl: '20s',
          history_meta_ttl: '40s',
          force_recovery: true,
          presence: true,
          join_leave: true,
        },
        { name: 'pres', ...open, presence: true, join_leave: true },
        { name: 'once', ...open, history_size: 10, history_ttl: '10s', history_meta_ttl: '20s' },
        { name: 'fire', ...open },
      ],
    },
    http_api: { key: API_KEY },
    prometheus: { enabled: true },
    engine: engine === 'redis' ? { type: 'redis', redis: { address: values.redis, prefix } } : { type: 'memory' },
  };
}

interface Sample {
  /** Seconds since the churn started (negative before it). */
  t: number;
  phase: 'baseline' | 'churn' | 'drain' | 'final';
  rssMB: number;
  heapMB: number;
  /** Heap used right after a full GC (only on some samples). */
  heapAfterGcMB?: number;
  handles: number;
  connections: number;
  sessions: number;
  subscriptions: number;
  channels: number;
}

const MB = 2 ** 20;

async function sampler(server: ServerProcess, inspector: InspectorSession, agent: Agent) {
  let disconnects = new Map<string, number>();
  const take = async (t: number, phase: Sample['phase'], gc: boolean): Promise<Sample> => {
    if (gc) await inspector.collectGarbage();
    const v8 = await inspector.evaluate<{ heapUsed: number; handles: number }>(
      'JSON.stringify({ heapUsed: process.memoryUsage().heapUsed, handles: process._getActiveHandles().length })',
    );
    const m = parseMetrics(
      (await httpCall(agent, server.port, { path: '/metrics', body: '', headers: {} }, 'GET')).body,
    );
    disconnects = new Map([...m].filter(([k]) => k.startsWith('chorus_disconnects_total{')));
    const heapMB = v8.heapUsed / MB;
    return {
      t,
      phase,
      rssMB: memory(server.pid).rss / MB,
      heapMB,
      ...(gc ? { heapAfterGcMB: heapMB } : {}),
      handles: v8.handles,
      connections: m.get('chorus_connections') ?? -1,
      sessions: m.get('chorus_sessions') ?? -1,
      subscriptions: m.get('chorus_subscriptions') ?? -1,
      channels: m.get('chorus_channels') ?? -1,
    };
  };
  const closedWith = (code: number) => disconnects.get(`chorus_disconnects_total{code="${code}"}`) ?? 0;
  return { take, closedWith };
}

interface SoakResult {
  engine: string;
  minutes: number;
  samples: Sample[];
  counts: ChurnCounts;
  server3008: number;
  server3012: number;
  redisKeysLeft: number | undefined;
  /** A few of those keys, without the run's prefix, so a leftover can be told apart. */
  redisKeysSample: string[];
}

async function soakOne(engine: 'memory' | 'redis'): Promise<SoakResult> {
  const prefix = `chorus-soak-${process.pid}-${Date.now()}`;
  const inspectPort = await freePort();
  return life.withServer(
    () => startChorus(config(engine, prefix), [`--inspect=127.0.0.1:${inspectPort}`]),
    async (server) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 2 });
      const inspector = await InspectorSession.open(inspectPort);
      const s = await sampler(server, inspector, agent);
      const samples: Sample[] = [];
      const log = (x: Sample) => {
        samples.push(x);
        console.log(
          `${engine} ${x.phase.padEnd(8)} t=${x.t.toFixed(0).padStart(4)}s rss ${x.rssMB.toFixed(1)} MB heap ${x.heapMB.toFixed(1)} MB` +
            `${x.heapAfterGcMB === undefined ? '' : ' (gc)'} handles ${x.handles} conns ${x.connections} sessions ${x.sessions} subs ${x.subscriptions} channels ${x.channels}`,
        );
      };
      await sleep(2000);
      for (let i = 0; i < 3; i++) {
        log(await s.take(-6 + i * 2, 'baseline', true));
        await sleep(2000);
      }
      const churn = new Churn({
        wsUrl: server.wsUrl,
        port: server.port,
        apiKey: API_KEY,
        seed: Number(values.seed),
        sdkClients: Number(values.sdk),
        rawClients: Number(values.raw),
        rooms: Number(values.rooms),
      });
      const base3008 = s.closedWith(3008);
      const base3012 = s.closedWith(3012);
      const started = Date.now();
      const secs = () => (Date.now() - started) / 1000;
      churn.start();
      let lastGc = 0;
      while (Date.now() - started < MINUTES * 60_000) {
        await sleep(SAMPLE_MS);
        const gc = secs() - lastGc >= 30;
        if (gc) lastGc = secs();
        log(await s.take(secs(), 'churn', gc));
      }
      await churn.stop();
      const stopped = Date.now();
      while (Date.now() - stopped < DRAIN_MS) {
        await sleep(SAMPLE_MS);
        log(await s.take(secs(), 'drain', false));
      }
      log(await s.take(secs(), 'final', true));
      const server3008 = s.closedWith(3008) - base3008;
      const server3012 = s.closedWith(3012) - base3012;
      inspector.close();
      agent.destroy();
      const left = engine === 'redis' ? await dropKeys(prefix) : undefined;
      return {
        engine,
        minutes: MINUTES,
        samples,
        counts: churn.counts,
        server3008,
        server3012,
        redisKeysLeft: left?.count,
        redisKeysSample: left?.sample ?? [],
      };
    },
  );
}

/** Counts this run's keys still in Redis, then deletes them (only keys under its own prefix). */
async function dropKeys(prefix: string): Promise<{ count: number; sample: string[] }> {
  const redis = new Redis(values.redis, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  let cursor = '0';
  let left = 0;
  const sample: string[] = [];
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    left += keys.length;
    for (const k of keys) if (sample.length < 5) sample.push(k.slice(prefix.length));
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
  return { count: left, sample };
}

const f1 = (x: number) => x.toFixed(1);
const mark = (ok: boolean) => (ok ? 'yes' : '**no**');

function report(r: SoakResult): { markdown: string; failed: string[] } {
  const churn = r.samples.filter((x) => x.phase === 'churn');
  const steady = churn.filter((x) => x.t >= (r.minutes * 60) / 4);
  const base = r.samples.filter((x) => x.phase === 'baseline');
  const final = r.samples[r.samples.length - 1] as Sample;
  const baseHeap = Math.min(...base.map((x) => x.heapAfterGcMB ?? x.heapMB));
  const baseRss = Math.min(...base.map((x) => x.rssMB));
  const perMin = (pts: Array<[number, number]>) => slope(pts) * 60;
  const rssSlope = perMin(steady.map((x) => [x.t, x.rssMB]));
  const heapPts = steady
    .filter((x) => x.heapAfterGcMB !== undefined)
    .map((x): [number, number] => [x.t, x.heapAfterGcMB as number]);
  const heapSlope = perMin(heapPts);
  const c = r.counts;
  const row = (name: string, xs: number[], unit: (x: number) => string, sl?: number) => {
    const sm = summarize(xs);
    return [
      name,
      unit(sm.min),
      unit(sm.median),
      unit(sm.max),
      sl === undefined ? '' : `${sl >= 0 ? '+' : ''}${sl.toFixed(2)} MB/min`,
    ];
  };
  const series = table(
    ['steady churn (after the first quarter)', 'min', 'median', 'max', 'slope'],
    [
      row(
        'server RSS (MB)',
        steady.map((x) => x.rssMB),
        f1,
        rssSlope,
      ),
      row(
        'heap used after GC (MB, every 30 s)',
        heapPts.map(([, y]) => y),
        f1,
        heapSlope,
      ),
      row(
        'heap used (MB, no GC)',
        steady.map((x) => x.heapMB),
        f1,
      ),
      row(
        'active handles',
        steady.map((x) => x.handles),
        String,
      ),
      row(
        'connections',
        steady.map((x) => x.connections),
        String,
      ),
      row(
        'subscriptions',
        steady.map((x) => x.subscriptions),
        String,
      ),
      row(
        'channels',
        steady.map((x) => x.channels),
        String,
      ),
    ],
  );
  // One line a minute, for the shape of the series.
  const perMinute: Sample[] = [];
  for (const x of r.samples) {
    if (x.phase !== 'churn' && x.phase !== 'final') continue;
    if (perMinute.length === 0 || x.phase === 'final' || x.t - (perMinute[perMinute.length - 1] as Sample).t >= 60)
      perMinute.push(x);
  }
  const shape = table(
    ['t (s)', 'RSS MB', 'heap MB', 'handles', 'connections', 'subscriptions', 'channels'],
    perMinute.map((x) => [
      x.phase === 'final' ? `${x.t.toFixed(0)} (after TTLs, GC)` : x.t.toFixed(0),
      f1(x.rssMB),
      f1(x.heapMB),
      x.handles,
      x.connections,
      x.subscriptions,
      x.channels,
    ]),
  );
  const zero = final.connections === 0 && final.sessions === 0 && final.subscriptions === 0 && final.channels === 0;
  const heapBack = (final.heapAfterGcMB ?? final.heapMB) <= baseHeap + HEAP_MARGIN_MB;
  const checks: Array<[string, string, boolean]> = [
    [
      'after churn and TTLs: connections, sessions, subscriptions, channels',
      `${final.connections}, ${final.sessions}, ${final.subscriptions}, ${final.channels}`,
      zero,
    ],
    [
      `heap after GC back within ${HEAP_MARGIN_MB} MB of baseline`,
      `${f1(baseHeap)} → ${f1(final.heapAfterGcMB ?? final.heapMB)} MB`,
      heapBack,
    ],
    [
      'RSS, baseline → after TTLs (reported, not judged: the allocator keeps pages)',
      `${f1(baseRss)} → ${f1(final.rssMB)} MB`,
      true,
    ],
    ['heap slope during steady churn ≤ 0.5 MB/min', `${heapSlope.toFixed(2)} MB/min`, heapSlope <= 0.5],
    ['RSS slope during steady churn ≤ 2 MB/min', `${rssSlope.toFixed(2)} MB/min`, rssSlope <= 2],
    [
      'presence ghosts (channel whose only client left, listed 2 s later)',
      `${c.ghosts} of ${c.ghostProbes} probed${c.ghostSamples.length > 0 ? `: ${c.ghostSamples.join(', ')}` : ''}`,
      c.ghosts === 0,
    ],
    [
      'offset gaps seen by clients',
      `${c.gaps} in ${c.publicationsSeen} publications${c.gapSamples.length > 0 ? `: ${c.gapSamples.join(', ')}` : ''}; ${c.duplicates} duplicates`,
      c.gaps === 0 && c.duplicates === 0,
    ],
    [
      'recoveries after a lost socket',
      `${c.recovered} recovered, ${c.recoveryFailed} not (${c.socketKills} sockets killed); ${c.insufficientState} insufficient-state resubscribes`,
      c.recoveryFailed === 0,
    ],
    [
      'slow consumers closed with 3008 (server count)',
      `${r.server3008} of ${c.slowTested} (${c.slowSaw3008} read the close frame)`,
      r.server3008 >= c.slowTested && c.slowTested > 0,
    ],
    [
      'mute clients closed with 3012',
      `${c.mute3012} of ${c.mute3012 + c.muteOther} (server count ${r.server3012})`,
      c.muteOther === 0,
    ],
    [
      'server API errors',
      `${c.apiErrors}${c.apiErrorSamples.length > 0 ? `: ${c.apiErrorSamples.join('; ')}` : ''}`,
      c.apiErrors === 0,
    ],
  ];
  if (r.redisKeysLeft !== undefined)
    checks.push([
      'Redis keys of the run left after the TTLs (then deleted)',
      r.redisKeysSample.length > 0 ? `${r.redisKeysLeft} (${r.redisKeysSample.join(', ')})` : String(r.redisKeysLeft),
      true,
    ]);
  const failed = checks.filter(([, , ok]) => !ok).map(([what, got]) => `${r.engine}: ${what}: ${got}`);
  const closes = [...c.serverCloses]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}×${n}`)
    .join(', ');
  const markdown = [
    `### Soak, ${r.engine} engine, ${r.minutes} min of churn`,
    '',
    `\`${command}\` at commit ${COMMIT} — ${MACHINE}. Churn: ${c.sdkStarted} SDK clients (1–3 rooms each, ${c.socketKills} lost their socket and reconnected), ` +
      `${c.rawStarted} raw clients (${c.muteStarted} stopped answering pings, ${c.vanishStarted} vanished 0–3 ms after subscribing, the rest closed cleanly or reset), ` +
      `${c.slowStarted} slow consumers; the backend made ${c.apiPublishes} publishes and ${c.apiBroadcasts} broadcasts to ${values.rooms} rooms and published to ${c.oneOffChannels} one-off channel names. ` +
      `Close codes raw clients got from the server: ${closes || 'none'}.`,
    '',
    series,
    '',
    shape,
    '',
    table(
      ['check', 'measured', 'holds'],
      checks.map(([what, got, ok]) => [what, got, mark(ok)]),
    ),
  ].join('\n');
  return { markdown, failed };
}

runMain(async () => {
  const failed: string[] = [];
  for (const engine of ENGINES) {
    const r = await soakOne(engine);
    const out = report(r);
    failed.push(...out.failed);
    publish(`soak-${engine}-${MINUTES}min`, out.markdown, r, !values['no-write'], 'docs/reliability.md');
  }
  if (failed.length > 0) {
    console.error(`soak found problems:\n${failed.join('\n')}`);
    process.exitCode = 1;
  }
  life.killAll();
  // Everything it started is stopped: leave now rather than wait for sockets' lingering timers.
  process.exit();
});
