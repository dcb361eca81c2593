/**
 * The live-server fuzz: a real server, bystanders on the official SDK receiving a steady stream of publications,
 * and many connections sending seeded hostile input meanwhile (mutated commands, wrong types, huge and negative
 * ids, deep nesting, invalid UTF-8, binary and malformed frames, 10k commands per frame, oversized frames, bad
 * upgrades, path tricks, resets at every stage, hostile server API bodies, readers that stop reading).
 *
 * It holds the server to: the process never dies; every answer a hostile connection gets is protocol JSON with a
 * documented code, or a documented close code; bystanders receive every publication, in order, without a gap or
 * a disconnect; the event loop is never held longer than FUZZ_STALL_MS of CPU; and once the storm is over the
 * connection, subscription and channel counts are the bystanders' alone.
 *
 * The server runs in a process of its own (live/server-process.ts) with the loop monitor inside it, so the turns
 * measured are the server's: not this process's workers building 100,000-channel broadcasts and 10,000-command
 * frames and parsing the answers, nor their garbage. Counts, heap and CPU are asked of it over IPC.
 *
 * CI runs FUZZ_INPUTS=20000 (the default); `npm run fuzz` runs 1,000,000 (and FUZZ_SCALE=20 for the property
 * tests). FUZZ_SEED replays a run: each of the FUZZ_WORKERS workers draws its own seeded stream.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Centrifuge, Subscription } from 'centrifuge';
import { commitLabel, machine, table, writeSection } from '../../bench/lib/report.js';
import { hsToken, once, sdk, sleep, waitFor } from '../helpers/clients.js';
import { openChannels } from '../helpers/server.js';
import { SCALE, SEED } from './fuzz-options.js';
import { Rng } from './hostile-inputs.js';
import { Findings, type LoopRecord, Notes, Tally, worstTurn } from './live/checks.js';
import { RawWs, upgradeRequest } from './live/raw-ws.js';
import {
  apiScenario,
  badUpgradeScenario,
  type Context,
  httpPathScenario,
  resetScenario,
  stalledReader,
  wsSession,
} from './live/scenarios.js';
import { type ServerProcess, startServerProcess } from './live/server-process.js';

const INPUTS = Number(process.env.FUZZ_INPUTS ?? Math.round(20_000 * SCALE));
const WORKERS = Number(process.env.FUZZ_WORKERS ?? 32);
const STALL_MS = Number(process.env.FUZZ_STALL_MS ?? 100);
const LONG = INPUTS > 100_000;
/** The storm stops after this long even if not every input was sent (a server that stalls makes that a failure). */
const STORM_SECONDS = Number(process.env.FUZZ_SECONDS ?? (LONG ? INPUTS / 100 : 120));
const API_KEY = 'fuzz-api-key';
const SECRET = 'fuzz-secret-which-is-long-enough-for-hs256-0123456789';
const FEED = 'watch:feed';
const BYSTANDERS = 3;

const CONFIG = {
  client: {
    allow_anonymous_connect_without_token: true,
    token: { hmac_secret_key: SECRET },
    allowed_origins: ['http://good.example'],
  },
  channel: {
    without_namespace: openChannels({ presence: true, join_leave: true }),
    namespaces: [
      { name: 'hist', ...openChannels({ history_size: 20, history_ttl: '30s', force_recovery: true, presence: true }) },
      { name: 'pres', ...openChannels({ presence: true, join_leave: true, force_push_join_leave: true }) },
      {
        // The bystanders' channel: anyone may subscribe, only the server API publishes.
        name: 'watch',
        allow_subscribe_for_client: true,
        allow_subscribe_for_anonymous: true,
        presence: true,
        allow_presence_for_subscriber: true,
        allow_presence_for_anonymous: true,
        history_size: 100,
        history_ttl: '60s',
        force_recovery: true,
      },
    ],
  },
  http_api: { key: API_KEY },
};

interface Bystander {
  client: Centrifuge;
  sub: Subscription;
  lastN: number;
  lastOffset: number;
  problems: string[];
}

async function bystander(url: string, i: number): Promise<Bystander> {
  // Each with its own user: the server API (which may act on any user) is only ever aimed at others.
  const client = sdk(url, { token: await hsToken({ sub: `bystander-${i}` }, SECRET) });
  const sub = client.newSubscription(FEED);
  const b: Bystander = { client, sub, lastN: 0, lastOffset: 0, problems: [] };
  sub.on('publication', (ctx) => {
    const n = (ctx.data as { n: number }).n;
    if (n !== b.lastN + 1) b.problems.push(`publication ${n} after ${b.lastN}`);
    if (ctx.offset !== undefined && b.lastOffset > 0 && ctx.offset !== b.lastOffset + 1) {
      b.problems.push(`offset ${ctx.offset} after ${b.lastOffset}`);
    }
    b.lastN = n;
    if (ctx.offset !== undefined) b.lastOffset = ctx.offset;
  });
  client.on('disconnected', (ctx) => b.problems.push(`disconnected ${ctx.code} ${ctx.reason}`));
  sub.on('unsubscribed', (ctx) => b.problems.push(`unsubscribed ${ctx.code} ${ctx.reason}`));
  client.connect();
  sub.subscribe();
  await once(sub, 'subscribed');
  return b;
}

// The server runs in a process of its own: the event-loop monitor runs inside it, so what it measures is the
// server's work alone, not this process's (32 workers building 100,000-channel broadcasts and 10,000-command
// frames, parsing every answer) nor its garbage.
let s: ServerProcess;
/** Uncaught exceptions and rejections here, in the load generator (the server's come from its process). */
const crashes: string[] = [];
const onCrash = (e: unknown) => crashes.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
const allCrashes = () => [...s.crashes, ...crashes];

before(async () => {
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  s = await startServerProcess(CONFIG);
});
after(async () => {
  await s?.close();
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
});

test(`live server under ${INPUTS} seeded hostile inputs`, { timeout: STORM_SECONDS * 1000 + 150_000 }, async () => {
  const findings = new Findings();
  // What the workers had just sent, to name what was around the server's long turns (reported as they end).
  const notes = new Notes();
  const aroundLong: string[] = [];
  const shared: Omit<Context, 'rng'> = {
    port: s.port,
    findings,
    closes: new Tally(),
    statuses: new Tally(),
    kinds: new Tally(),
    monitor: notes,
    apiKey: API_KEY,
    secret: SECRET,
    batchMax: LONG ? 10_000 : 2000,
    broadcastMax: LONG ? 100_000 : 5000,
    frameLimit: 65_536,
  };

  const bystanders = await Promise.all(Array.from({ length: BYSTANDERS }, (_, i) => bystander(s.wsUrl, i)));
  // A long-lived hostile subscriber to a long name made of one letter: what a backtracking glob would choke on.
  const longName = await RawWs.connect(s.port, upgradeRequest());
  await longName.answered(5000);
  longName.sendText(`{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"${'a'.repeat(60)}"}}`);

  // The steady stream the bystanders must receive whole and in order.
  let published = 0;
  let publishing = true;
  const publishErrors: string[] = [];
  const publisher = (async () => {
    while (publishing) {
      const n = published + 1;
      try {
        const res = await fetch(`${s.url}/api/publish`, {
          method: 'POST',
          headers: { 'x-api-key': API_KEY },
          body: JSON.stringify({ channel: FEED, data: { n } }),
        });
        const reply = (await res.json()) as { result?: { offset?: number } };
        if (reply.result?.offset !== n) publishErrors.push(`publish ${n}: ${JSON.stringify(reply)}`);
        published = n;
      } catch (e) {
        publishErrors.push(`publish ${n}: ${(e as Error).message}`);
        await sleep(50);
      }
      await sleep(5);
    }
  })();

  await s.startMonitor(([from, to], index) => {
    aroundLong[index] = notes.around(from, to);
  });
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const serverCpuStart = await s.cpuMs();
  let inputs = 0;
  let stalled = 0;
  // Each worker draws from its own stream (the run's seed and its index): its sequence of inputs replays exactly,
  // whatever the timing of the others.
  const worker = async (index: number) => {
    const rng = new Rng(SEED + index * 0x9e3779b1);
    const ctx = { ...shared, rng };
    while (inputs < INPUTS && allCrashes().length === 0 && performance.now() - started < STORM_SECONDS * 1000) {
      const r = rng.int(100);
      let n: number;
      if (r < 50) n = await wsSession(ctx);
      else if (r < 64) n = await apiScenario(ctx);
      else if (r < 74) n = await badUpgradeScenario(ctx);
      else if (r < 86) n = await httpPathScenario(ctx);
      else if (r < 98 || stalled >= 4) n = await resetScenario(ctx);
      else {
        stalled++;
        n = await stalledReader(ctx).finally(() => stalled--);
      }
      inputs += n;
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));
  const stormSeconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const serverCpuS = ((await s.cpuMs()) - serverCpuStart) / 1000;
  const harnessCpuS = (cpu.user + cpu.system) / 1e6;
  const cpuS = serverCpuS + harnessCpuS;
  longName.reset();

  // The stream goes on for a moment after the storm, then every publication must have reached every bystander.
  await sleep(200);
  publishing = false;
  await publisher;
  const record: LoopRecord = await s.stopMonitor();
  const failures: string[] = [];
  if (inputs < INPUTS) failures.push(`only ${inputs} of ${INPUTS} inputs could be sent in ${STORM_SECONDS} s`);
  await waitFor(() => bystanders.every((b) => b.lastN === published), 10_000, 'bystanders to catch up').catch(() => {});
  bystanders.forEach((b, i) => {
    if (b.lastN !== published) failures.push(`bystander ${i} got ${b.lastN} of ${published} publications`);
    for (const p of b.problems.slice(0, 5)) failures.push(`bystander ${i}: ${p}`);
  });
  for (const e of publishErrors.slice(0, 5)) failures.push(`publisher: ${e}`);

  // Once the hostile connections are gone, only the bystanders remain.
  let counted = '';
  const counts = async () => {
    const c = await s.counts();
    counted = `sessions ${c.sessions}, clients ${c.clients}, subscriptions ${c.subscriptions}, channels ${c.channels}`;
    return counted;
  };
  const expected = `sessions ${BYSTANDERS}, clients ${BYSTANDERS}, subscriptions ${BYSTANDERS}, channels 1`;
  const deadline = performance.now() + 15_000;
  while ((await counts()) !== expected && performance.now() < deadline) await sleep(50);
  if (counted !== expected) failures.push(`after the storm: ${counted} (expected ${expected})`);
  const stats = await fetch(`${s.url}/api/presence_stats`, {
    method: 'POST',
    headers: { 'x-api-key': API_KEY },
    body: JSON.stringify({ channel: FEED }),
  }).then((r) => r.json() as Promise<{ result?: { num_clients?: number } }>);
  if (stats.result?.num_clients !== BYSTANDERS) failures.push(`presence of ${FEED}: ${JSON.stringify(stats)}`);

  const worst = worstTurn(record, (i) => aroundLong[i] ?? '');
  if (worst.ms > STALL_MS) {
    failures.push(
      `event loop held for ${Math.round(worst.ms)} ms of CPU (bound ${STALL_MS} ms), around: ${worst.around}`,
    );
  }
  for (const c of allCrashes().slice(0, 3)) failures.push(`uncaught: ${c}`);
  if (findings.size > 0) failures.push(`answers that break the protocol's promises:\n${findings.report()}`);

  console.log(
    [
      `# live fuzz: seed ${SEED}, ${inputs} inputs in ${stormSeconds.toFixed(1)} s (${Math.round(inputs / stormSeconds)}/s), ` +
        `CPU ${cpuS.toFixed(1)} s (server ${serverCpuS.toFixed(1)} s, load ${harnessCpuS.toFixed(1)} s), ${WORKERS} workers`,
      `#   bystanders: ${BYSTANDERS} × ${published} publications; event loop: worst ${Math.round(worst.ms)} ms CPU-bound, ` +
        `${Math.round(record.maxGapMs)} ms wall, longest GC pause ${Math.round(record.maxGcMs)} ms, ` +
        `server heap ${Math.round(await s.heapMB())} MB after GC`,
      `#   inputs: ${shared.kinds}`,
      `#   close codes: ${shared.closes}`,
      `#   HTTP statuses: ${shared.statuses}`,
      `#   result: ${failures.length === 0 ? 'pass' : `${failures.length} failures`} (replay: FUZZ_SEED=${SEED} FUZZ_INPUTS=${INPUTS})`,
    ].join('\n'),
  );
  for (const b of bystanders) b.client.disconnect();
  if (process.env.FUZZ_RECORD === '1') {
    // `npm run fuzz` records its run in docs/reliability.md, as the benchmarks record theirs.
    const cmd = 'npm run fuzz';
    writeSection(
      'fuzz',
      [
        `### Live-server fuzz, ${inputs.toLocaleString('en')} inputs`,
        '',
        `\`${cmd}\` (FUZZ_INPUTS=${INPUTS}, FUZZ_WORKERS=${WORKERS}, FUZZ_SCALE=${SCALE}) at commit ${commitLabel()} — ${machine()}.`,
        '',
        table(
          [
            'seed',
            'inputs',
            'duration',
            'CPU',
            'bystander publications',
            'worst event-loop block',
            'longest GC pause',
            'result',
          ],
          [
            [
              String(SEED),
              inputs.toLocaleString('en'),
              `${stormSeconds.toFixed(0)} s (${Math.round(inputs / stormSeconds)}/s)`,
              `${cpuS.toFixed(0)} s (server ${serverCpuS.toFixed(0)} s)`,
              `${BYSTANDERS} × ${published}${failures.some((f) => f.startsWith('bystander')) ? ' (**not all**)' : ', in order, no gap'}`,
              `${Math.round(worst.ms)} ms`,
              `${Math.round(record.maxGcMs)} ms`,
              failures.length === 0 ? 'pass' : `**${failures.length} failures**`,
            ],
          ],
        ),
        '',
        `Inputs: ${shared.kinds}.`,
        '',
        `Close codes the server chose: ${shared.closes}. HTTP statuses: ${shared.statuses}.`,
        ...(failures.length === 0 ? [] : ['', 'Failures:', '', ...failures.map((f) => `- ${f.split('\n').join(' ')}`)]),
      ].join('\n'),
      'docs/reliability.md',
    );
  }
  assert.ok(failures.length === 0, `seed ${SEED}:\n${failures.join('\n')}`);
});
