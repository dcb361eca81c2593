/**
 * The deployment sample deploy/nginx.conf, run as it is (only the upstream ports and the listen port filled in)
 * in front of two Chorus nodes sharing Redis: the SDK connects through nginx, the API works through nginx, and
 * when the node holding the client is killed, the client comes back through nginx on the other node and
 * recovers what it missed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, SubscribedContext } from 'centrifuge';
import { once, sdk, waitFor } from '../helpers/clients.js';
import { api, type NodeProcess, startNode } from '../helpers/cluster.js';
import { freePort, needRedis, REDIS_URL } from '../helpers/services.js';

const NGINX = '/usr/sbin/nginx';

function needNginx(): { skip?: string } {
  if (spawnSync(NGINX, ['-v']).status === 0) return {};
  const why = 'nginx is not installed';
  if (process.env.CI === 'true') throw new Error(`${why}: CI requires it (apt-get install -y nginx-light)`);
  console.warn(`\n!!!!! SKIPPING the nginx deployment test: ${why} (apt-get install -y nginx-light) !!!!!\n`);
  return { skip: why };
}

const redisSkip = await needRedis();
const skip = redisSkip.skip ? redisSkip : needNginx();

describe('deploy/nginx.conf in front of two nodes', skip, () => {
  let nodes: NodeProcess[] = [];
  let nginx: ChildProcess | undefined;
  let port = 0;
  const clients: Centrifuge[] = [];
  const prefix = `nginx-${randomUUID().slice(0, 8)}`;

  before(async () => {
    const config = {
      engine: { type: 'redis', redis: { address: REDIS_URL, prefix } },
      http_api: { key: 'cluster-key' },
      client: { allow_anonymous_connect_without_token: true },
      channel: {
        without_namespace: {
          allow_subscribe_for_client: true,
          allow_subscribe_for_anonymous: true,
          history_size: 100,
          history_ttl: '60s',
          force_recovery: true,
        },
      },
    };
    nodes = await Promise.all([startNode(config), startNode(config)]);
    port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'chorus-nginx-'));
    mkdirSync(join(dir, 'logs'));
    const sample = readFileSync(new URL('../../deploy/nginx.conf', import.meta.url), 'utf8')
      .replace('server 127.0.0.1:8001', `server 127.0.0.1:${nodes[0]!.port}`)
      .replace('server 127.0.0.1:8002', `server 127.0.0.1:${nodes[1]!.port}`)
      .replace('listen 8000;', `listen 127.0.0.1:${port};`);
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/logs/error.log warn;\nevents {}\n` +
        `http {\n access_log off;\n client_body_temp_path ${dir}/body;\n proxy_temp_path ${dir}/proxy;\n` +
        ` fastcgi_temp_path ${dir}/fcgi;\n uwsgi_temp_path ${dir}/uwsgi;\n scgi_temp_path ${dir}/scgi;\n${sample}\n}\n`,
    );
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
    await waitFor(
      async () => {
        try {
          return (await fetch(`http://127.0.0.1:${port}/health`)).status === 200;
        } catch {
          return false;
        }
      },
      10_000,
      'nginx up',
    );
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    // SIGTERM: the master stops its workers too (SIGKILL would leave them running).
    if (nginx !== undefined && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx?.once('exit', r));
      nginx.kill('SIGTERM');
      await exited;
    }
    await Promise.all(nodes.map((n) => n.kill()));
  });

  test('the SDK connects through nginx and survives the death of its node, recovering everything', async () => {
    const c = sdk(`ws://127.0.0.1:${port}/connection/websocket`);
    clients.push(c);
    const sub = c.newSubscription('through-nginx');
    const seen: number[] = [];
    sub.on('publication', (ctx) => seen.push((ctx.data as { n: number }).n));
    const first = once<SubscribedContext>(sub, 'subscribed', 10_000);
    sub.subscribe();
    c.connect();
    await first;
    // The API works through nginx too.
    for (let n = 1; n <= 3; n++) {
      const r = await api(`http://127.0.0.1:${port}`, 'publish', { channel: 'through-nginx', data: { n } });
      assert.ok(r.result, JSON.stringify(r));
    }
    await waitFor(() => seen.length === 3, 5000, 'live publications');
    // Find the node holding the client and kill it; publish through the survivor meanwhile.
    // The first entry of a node's info is the node itself: the holder is the one with a client.
    const counts = await Promise.all(
      nodes.map(async (n) => (await api(n.url, 'info', {})).result.nodes[0].num_clients),
    );
    const victim = nodes[counts.findIndex((x: number) => x > 0)] ?? nodes[0]!;
    const survivor = nodes.find((n) => n !== victim)!;
    const back = once<SubscribedContext>(sub, 'subscribed', 20_000);
    await victim.kill();
    for (let n = 4; n <= 20; n++) await api(survivor.url, 'publish', { channel: 'through-nginx', data: { n } });
    const ctx = await back;
    assert.equal(ctx.wasRecovering, true);
    assert.equal(ctx.recovered, true);
    await waitFor(() => seen.length === 20, 10_000, 'all 20 publications');
    assert.deepEqual(
      seen,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });
});
