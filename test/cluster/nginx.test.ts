/**
 * The deployment sample deploy/nginx.conf, run as it is (only the upstream ports and the listen port filled in)
 * in front of two Chorus nodes sharing Redis, each with its operators' endpoints on an internal port: the SDK and
 * the pages work through nginx, nothing else does (API, admin, metrics, health answer 404 there), and when the
 * node holding the client is killed, the client comes back through nginx on the other node and recovers what it
 * missed — published through the API on the nodes' internal ports, as a backend does.
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
import { sdkOver } from '../helpers/transports.js';
import { connected, openUni, UNI_KINDS } from '../helpers/uni.js';

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

  /** Each node's internal listener (API, admin, metrics, health), reached directly as a backend would. */
  let internal: string[] = [];
  let accessLog = '';

  before(async () => {
    const internalPorts = [await freePort(), await freePort()];
    internal = internalPorts.map((p) => `http://127.0.0.1:${p}`);
    const config = (internalPort: number) => ({
      http_server: { internal_port: internalPort },
      engine: { type: 'redis', redis: { address: REDIS_URL, prefix } },
      http_api: { key: 'cluster-key' },
      admin: { enabled: true, password: 'nginx-admin-password', secret: 'nginx-admin-secret-long-enough-for-hs256' },
      prometheus: { enabled: true },
      http_stream: { enabled: true },
      sse: { enabled: true },
      uni_websocket: { enabled: true },
      uni_sse: { enabled: true },
      uni_http_stream: { enabled: true },
      client: { allow_anonymous_connect_without_token: true },
      channel: {
        without_namespace: {
          allow_subscribe_for_client: true,
          allow_subscribe_for_anonymous: true,
          allow_publish_for_subscriber: true,
          allow_publish_for_anonymous: true,
          history_size: 100,
          history_ttl: '60s',
          force_recovery: true,
        },
      },
    });
    nodes = await Promise.all(internalPorts.map((p) => startNode(config(p))));
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
        // Which node served each request, to see that emulation requests were spread over both.
        `http {\n log_format upstream '$request_method $uri $upstream_addr';\n` +
        ` access_log ${dir}/logs/access.log upstream;\n client_body_temp_path ${dir}/body;\n proxy_temp_path ${dir}/proxy;\n` +
        ` fastcgi_temp_path ${dir}/fcgi;\n uwsgi_temp_path ${dir}/uwsgi;\n scgi_temp_path ${dir}/scgi;\n${sample}\n}\n`,
    );
    accessLog = join(dir, 'logs/access.log');
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
    await waitFor(
      async () => {
        try {
          return (await fetch(`http://127.0.0.1:${port}/info`)).status === 200;
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

  test('through nginx the public gets the client endpoints and the pages, and nothing else', async () => {
    const publicUrl = `http://127.0.0.1:${port}`;
    for (const path of ['/', '/info', '/assets/style.css']) {
      const r = await fetch(`${publicUrl}${path}`);
      await r.body?.cancel();
      // The pages answer 503 when this checkout has not built them; either way nginx passed the request on.
      assert.ok(r.status === 200 || (r.status === 503 && path === '/'), `${path} through nginx: ${r.status}`);
    }
    const refused: Array<[string, RequestInit?]> = [
      ['/api/publish', { method: 'POST', headers: { 'X-API-Key': 'cluster-key' }, body: '{"channel":"x","data":1}' }],
      ['/api', { method: 'POST', headers: { 'X-API-Key': 'cluster-key' }, body: '{"method":"info","params":{}}' }],
      ['/admin'],
      ['/admin/api/login', { method: 'POST', body: '{"password":"nginx-admin-password"}' }],
      ['/metrics'],
      ['/health'],
      ['/ready'],
      ['/assets/../admin'],
      ['/info', { method: 'POST', body: '{}' }],
      ['/emulation'],
      ['/connection/http_stream', { method: 'PUT', body: '{}' }],
    ];
    for (const [path, init] of refused) {
      const r = await fetch(`${publicUrl}${path}`, init);
      await r.body?.cancel();
      assert.ok(r.status === 404 || r.status === 403, `${init?.method ?? 'GET'} ${path} through nginx: ${r.status}`);
    }
    // The same endpoints answer on the internal ports, for the backend and the operators.
    for (const url of internal) {
      assert.equal((await fetch(`${url}/health`)).status, 200);
      assert.equal((await fetch(`${url}/metrics`)).status, 200);
    }
  });

  for (const transport of ['http_stream', 'sse'] as const) {
    test(`${transport} through nginx: the stream is not buffered and commands reach the session from either node`, async () => {
      const c = sdkOver(transport, `http://127.0.0.1:${port}`);
      clients.push(c);
      const connected = once<{ transport: string }>(c, 'connected', 10_000);
      c.connect();
      assert.equal((await connected).transport, transport);
      const channel = `nginx-${transport}`;
      const sub = c.newSubscription(channel);
      const seen: number[] = [];
      sub.on('publication', (ctx) => seen.push((ctx.data as { n: number }).n));
      sub.subscribe();
      await once(sub, 'subscribed', 10_000);
      // Publications arrive at once: a buffering proxy would hold them back.
      for (let n = 1; n <= 6; n++) await sub.publish({ n });
      await waitFor(() => seen.length === 6, 5000, 'own publications back through nginx');
      const r = await api(internal[0] as string, 'publish', { channel, data: { n: 7 } });
      assert.ok(r.result, JSON.stringify(r));
      await waitFor(() => seen.length === 7, 5000, 'a backend publication through nginx');
      c.disconnect();
      // nginx spread the emulation requests over both nodes (round-robin, no ip_hash): the routing did the rest.
      await waitFor(
        () => {
          const lines = readFileSync(accessLog, 'utf8')
            .split('\n')
            .filter((l) => l.startsWith('POST /emulation '));
          return new Set(lines.map((l) => l.split(' ')[2])).size === 2;
        },
        3000,
        'emulation requests served by both nodes',
      );
    });
  }

  for (const kind of UNI_KINDS) {
    test(`${kind} through nginx: a client without an SDK connects and gets a backend publication at once`, async () => {
      const channel = `nginx-${kind}`;
      const conn = await openUni(kind, `http://127.0.0.1:${port}`, { subs: { [channel]: {} } });
      try {
        assert.ok((await connected(conn)).client, 'the connect push names the client');
        const from = conn.messages.length;
        // Not buffered by nginx: the publication arrives while the stream stays open.
        const got = conn.next('the publication', (p) => p.channel === channel && p.pub !== undefined, 5000, from);
        const r = await api(internal[1] as string, 'publish', { channel, data: { via: kind } });
        assert.ok(r.result, JSON.stringify(r));
        assert.deepEqual(((await got).pub as { data: unknown }).data, { via: kind });
      } finally {
        conn.close();
      }
    });
  }

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
    // The backend publishes through a node's internal port.
    for (let n = 1; n <= 3; n++) {
      const r = await api(internal[n % 2] as string, 'publish', { channel: 'through-nginx', data: { n } });
      assert.ok(r.result, JSON.stringify(r));
    }
    await waitFor(() => seen.length === 3, 5000, 'live publications');
    // Find the node holding the client and kill it; publish through the survivor meanwhile.
    // The first entry of a node's info is the node itself: the holder is the one with a client.
    const counts = await Promise.all(
      internal.map(async (url) => (await api(url, 'info', {})).result.nodes[0].num_clients),
    );
    const victimIndex = Math.max(
      0,
      counts.findIndex((x: number) => x > 0),
    );
    const victim = nodes[victimIndex]!;
    const survivor = internal[1 - victimIndex] as string;
    const back = once<SubscribedContext>(sub, 'subscribed', 20_000);
    await victim.kill();
    for (let n = 4; n <= 20; n++) await api(survivor, 'publish', { channel: 'through-nginx', data: { n } });
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
