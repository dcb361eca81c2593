/**
 * Secrets never appear in logs: `chorus serve` with a Redis password inside engine.redis.address (pointing at a
 * closed port, so the connection errors are logged over and over), Sentinel passwords, an HMAC secret, an API
 * key, an admin password and secret, and a proxy endpoint with credentials, at log level debug, while clients
 * and API callers get things wrong. Every line it writes is scanned for each secret.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config/load.js';
import { configSecrets } from '../../src/config/secrets.js';
import { createLogger, redactor, redactUrlCredentials } from '../../src/log.js';
import { waitFor } from '../helpers/clients.js';

const CLI = ['--import', 'tsx', new URL('../../src/cli/run.ts', import.meta.url).pathname];
const tmp = mkdtempSync(join(tmpdir(), 'chorus-secrets-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SECRETS = {
  redis: 'Redis-P@ss/w0rd-1',
  sentinel: 'Sentinel-Pass-2',
  hmac: 'hmac-secret-3-long-enough-for-hs256',
  apiKey: 'api-key-4-do-not-log',
  adminPassword: 'admin-pass-5',
  adminSecret: 'admin-secret-6-signing',
  proxy: 'proxy-pass-7',
};

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

function writeConfig(name: string, content: unknown): string {
  const path = join(tmp, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

/** Runs `chorus serve` until it logged `ready`, drives it, then stops it; returns everything it wrote. */
async function serveAndCollect(
  file: string,
  port: number,
  drive: (base: string) => Promise<void>,
  ready = /chorus listening/,
): Promise<{ out: string; code: number | null }> {
  const proc = spawn(
    process.execPath,
    [...CLI, 'serve', '--config', file, '--log-level', 'debug', '--port', String(port), '--address', '127.0.0.1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  try {
    await waitFor(() => ready.test(out), 20_000, `the server to start: ${out}`);
    await drive(`127.0.0.1:${port}`);
  } finally {
    proc.kill('SIGTERM');
  }
  return { out, code: await exited };
}

function assertNoSecret(out: string, secrets: string[]): void {
  for (const s of secrets) {
    for (const form of [s, encodeURIComponent(s)]) {
      assert.ok(!out.includes(form), `the logs contain the secret "${form}":\n${out}`);
    }
  }
}

async function freePort(): Promise<number> {
  return closedPort();
}

describe('secrets in logs', () => {
  test('Redis password in the address, HMAC secret, API key, admin and proxy credentials: never logged', {
    timeout: 40_000,
  }, async () => {
    const redisPort = await closedPort();
    const file = writeConfig('redis-url.json', {
      engine: {
        type: 'redis',
        redis: {
          address: `redis://:${encodeURIComponent(SECRETS.redis)}@127.0.0.1:${redisPort}/0`,
          connect_timeout: '200ms',
        },
      },
      client: {
        token: { hmac_secret_key: SECRETS.hmac },
        proxy: {
          connect: { enabled: true, endpoint: `http://chorus:${SECRETS.proxy}@127.0.0.1:${redisPort}/connect` },
        },
      },
      http_api: { key: SECRETS.apiKey },
      admin: { enabled: true, password: SECRETS.adminPassword, secret: SECRETS.adminSecret },
    });
    const { out } = await serveAndCollect(file, await freePort(), async (host) => {
      // Wrong API keys, a failed admin login, a connection that goes through the (unreachable) connect proxy.
      await fetch(`http://${host}/api/info`, { method: 'POST', headers: { 'X-API-Key': 'wrong' }, body: '{}' });
      await fetch(`http://${host}/admin/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ password: 'wrong' }),
      });
      const ws = new WebSocket(`ws://${host}/connection/websocket`);
      ws.on('error', () => {});
      ws.on('open', () => ws.send(JSON.stringify({ id: 1, connect: { token: 'not-a-jwt' } })));
      await new Promise((r) => {
        ws.once('message', r);
        ws.once('close', r);
      });
      ws.terminate();
      // Let ioredis fail to connect several times.
      await new Promise((r) => setTimeout(r, 1500));
    });
    assert.match(out, /redis \S+ unreachable \(/, 'the Redis connection errors were logged');
    assert.match(out, new RegExp(`redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redisPort}`), 'with the address masked');
    assert.match(out, /proxy request failed/, 'the proxy failure was logged');
    assertNoSecret(out, Object.values(SECRETS));
  });

  test('Sentinel passwords are not logged either', { timeout: 30_000 }, async () => {
    const port = await closedPort();
    const file = writeConfig('sentinel.json', {
      engine: {
        type: 'redis',
        redis: {
          sentinel_address: [`127.0.0.1:${port}`],
          sentinel_master_name: 'mymaster',
          sentinel_password: SECRETS.sentinel,
          password: SECRETS.redis,
          connect_timeout: '200ms',
        },
      },
    });
    // With no sentinel reachable the server keeps trying to reach Redis (and does not listen yet): its
    // connection errors are what is logged.
    const { out } = await serveAndCollect(
      file,
      await freePort(),
      () => new Promise((r) => setTimeout(r, 1000)),
      /sentinels are unreachable/,
    );
    assertNoSecret(out, [SECRETS.sentinel, SECRETS.redis]);
  });

  test('a wrong Redis user and password (the real Redis answers WRONGPASS) is logged without the password', {
    timeout: 30_000,
  }, async (t) => {
    const up = await new Promise<boolean>((resolve) => {
      const sock = tcpConnect(6379, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (!up) {
      t.skip('no Redis on 127.0.0.1:6379');
      return;
    }
    const file = writeConfig('wrongpass.json', {
      engine: {
        type: 'redis',
        redis: {
          address: `redis://nobody:${encodeURIComponent(SECRETS.redis)}@127.0.0.1:6379`,
          prefix: 'chorus-secret-test',
        },
      },
    });
    const { out } = await serveAndCollect(file, await freePort(), () => new Promise((r) => setTimeout(r, 1000)));
    assert.match(out, /WRONGPASS|NOAUTH|redis/i, `the refusal was logged: ${out}`);
    assertNoSecret(out, [SECRETS.redis]);
  });

  test('checkconfig prints no secret, valid or not', () => {
    const run = (content: unknown) => {
      const r = spawnSync(process.execPath, [...CLI, 'checkconfig', '--config', writeConfig('check.json', content)], {
        encoding: 'utf8',
      });
      return { status: r.status, out: `${r.stdout}${r.stderr}` };
    };
    const base = {
      engine: { redis: { address: `redis://:${SECRETS.redis}@10.0.0.1:6379` } },
      client: { token: { hmac_secret_key: SECRETS.hmac } },
      http_api: { key: SECRETS.apiKey },
    };
    const ok = run(base);
    assert.equal(ok.status, 0, ok.out);
    const bad = run({ ...base, engine: { redis: { ...base.engine.redis, cluster_address: ['10.0.0.2:7000'] } } });
    assert.equal(bad.status, 1, bad.out);
    assertNoSecret(ok.out + bad.out, Object.values(SECRETS));
  });
});

describe('the log scrubber', () => {
  test('URL credentials are masked, whatever the scheme; user names without a password too', () => {
    assert.equal(redactUrlCredentials('redis://:pa:ss@h:1/0'), 'redis://:***@h:1/0');
    assert.equal(redactUrlCredentials('rediss://user:p@ss@h'), 'rediss://user:***@h');
    assert.equal(redactUrlCredentials('see https://tok3n@example.com/x'), 'see https://***@example.com/x');
    assert.equal(redactUrlCredentials('http://example.com/a@b'), 'http://example.com/a@b');
    assert.equal(redactUrlCredentials('mail me: a@b.c'), 'mail me: a@b.c');
  });

  test('secrets are found in messages, nested fields, arrays, errors and their extra properties', () => {
    const lines: string[] = [];
    const log = createLogger('debug', {
      secrets: ['s3cret-value', 'x'],
      destination: { write: (s: string) => lines.push(s) },
    });
    const err = Object.assign(new Error('AUTH s3cret-value failed'), { command: { args: ['u', 's3cret-value'] } });
    log.error(
      { err, deep: { list: ['a s3cret-value b'], other: err }, password: 'short', token: 'abc' },
      'msg s3cret-value',
    );
    const line = lines.join('');
    assert.ok(!line.includes('s3cret-value'), line);
    assert.ok(!line.includes('short') && !line.includes('"abc"'), `secret-named fields are replaced: ${line}`);
    assert.ok(line.includes('x'), 'secrets shorter than 4 characters are not searched for');
    const scrub = redactor(['p@ss word']);
    assert.equal(scrub(`a ${encodeURIComponent('p@ss word')} b`), 'a [redacted] b');
  });

  test('configSecrets lists every secret of a configuration, URL passwords decoded and as written', () => {
    const { config } = loadConfig({
      base: {
        engine: { redis: { address: ['redis://:a%2Fb-pass@h:1', 'redis://h2:2'], sentinel_password: 'sp-1' } },
        client: {
          token: { hmac_secret_key: 'hmac-1' },
          subscription_token: { enabled: true, hmac_secret_key: 'sub-1' },
        },
        http_api: { key: 'key-1' },
        admin: { enabled: true, password: 'pw-1', secret: 'sec-1' },
        http_server: { tls: { cert_pem: '/etc/chorus/cert.pem', key_pem: '/etc/chorus/key.pem' } },
      },
    });
    // A key given as a file path is no secret; given inline (PEM text) it is.
    const inline = '-----BEGIN PRIVATE KEY-----\nMIIB…\n-----END PRIVATE KEY-----\n';
    assert.ok(
      configSecrets(loadConfig({ base: { http_server: { tls: { key_pem: inline } } } }).config).includes(inline.trim()),
      'an inline private key is a secret',
    );
    assert.deepEqual(
      new Set(configSecrets(config)),
      new Set(['hmac-1', 'sub-1', 'key-1', 'pw-1', 'sec-1', 'sp-1', 'a%2Fb-pass', 'a/b-pass']),
    );
  });
});
