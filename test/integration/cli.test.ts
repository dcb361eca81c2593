/** The `chorus` command line, run as a user runs it: a child process. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { jwtVerify } from 'jose';
import { RawClient, SECRET, waitFor } from '../helpers/clients.js';

const CLI = ['--import', 'tsx', new URL('../../src/cli/run.ts', import.meta.url).pathname];
const dir = mkdtempSync(join(tmpdir(), 'chorus-cli-'));

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [...CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function writeConfig(name: string, body: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(body));
  return p;
}

describe('chorus CLI', () => {
  test('version and --help on every command', () => {
    assert.match(run(['version']).out, /^\d+\.\d+\.\d+\n$/);
    for (const cmd of ['serve', 'gentoken', 'checkconfig', 'version']) {
      const r = run([cmd, '--help']);
      assert.equal(r.code, 0, `${cmd} --help: ${r.err}`);
      assert.match(r.out, new RegExp(`Usage: chorus ${cmd}`));
    }
    const main = run(['--help']);
    assert.match(main.out, /Commands:/);
  });

  test('an unknown command or flag fails with a message', () => {
    const r = run(['frobnicate']);
    assert.equal(r.code, 1);
    assert.match(r.err, /unknown command "frobnicate"/);
    const f = run(['serve', '--no-such-flag']);
    assert.equal(f.code, 1);
    assert.match(f.err, /no-such-flag/);
  });

  test('checkconfig accepts a valid file and names the key of an invalid one', () => {
    const good = writeConfig('good.json', {
      client: { token: { hmac_secret_key: 'x' } },
      grpc_api: { enabled: true },
    });
    const ok = run(['checkconfig', '--config', good]);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /valid/);
    assert.match(ok.err, /"grpc_api" is a Centrifugo option Chorus does not support yet/);
    const bad = writeConfig('bad.json', { client: { ping_intervall: '10s' } });
    const r = run(['checkconfig', '--config', bad]);
    assert.equal(r.code, 1);
    assert.match(r.err, /unknown config key "client.ping_intervall" — did you mean "client.ping_interval"\?/);
  });

  test('gentoken prints an HS256 token for the user, signed with the configured secret', async () => {
    const cfg = writeConfig('secret.json', { client: { token: { hmac_secret_key: SECRET } } });
    const r = run(['gentoken', '--user', '42', '--ttl', '60', '--config', cfg]);
    assert.equal(r.code, 0, r.err);
    const { payload, protectedHeader } = await jwtVerify(r.out.trim(), new TextEncoder().encode(SECRET));
    assert.equal(protectedHeader.alg, 'HS256');
    assert.equal(payload.sub, '42');
    assert.ok(
      typeof payload.exp === 'number' && payload.exp - Math.floor(Date.now() / 1000) <= 60,
      "typeof payload.exp === 'number' && payload.exp - Math.floor(Date.now() / 10...",
    );
    const fromEnv = run(['gentoken', '--user', 'e', '--ttl', '0'], { CHORUS_CLIENT_TOKEN_HMAC_SECRET_KEY: SECRET });
    const p2 = (await jwtVerify(fromEnv.out.trim(), new TextEncoder().encode(SECRET))).payload;
    assert.equal(p2.exp, undefined);
  });

  test('gentoken without a secret explains what to configure', () => {
    const r = run(['gentoken', '--user', '1'], { CHORUS_CLIENT_TOKEN_HMAC_SECRET_KEY: '' });
    assert.equal(r.code, 1);
    assert.match(r.err, /client\.token\.hmac_secret_key/);
  });
});

describe('chorus serve', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  /** `wrapper`: a command line the server runs under, e.g. `['prlimit', '--nofile=200:200']`. */
  function serve(args: string[], env: Record<string, string> = {}, wrapper: string[] = []) {
    const argv = [process.execPath, ...CLI, 'serve', ...args];
    const cmd = [...wrapper, ...argv];
    const child = spawn(cmd[0] as string, cmd.slice(1), {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (d) => {
      output += d;
    });
    child.stderr?.on('data', (d) => {
      output += d;
    });
    const listening = new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listening line in: ${output}`)), 15_000);
      child.stdout?.on('data', () => {
        const m = /listening on http:\/\/[^:]+:(\d+)/.exec(output);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, listening, exited, output: () => output };
  }

  test('--dev serves anonymous clients; SIGTERM closes them with 3001 and exits 0', async () => {
    const s = serve(['--dev', '--port', '0', '--address', '127.0.0.1']);
    const port = await s.listening;
    await waitFor(() => /generated HMAC secret/.test(s.output()), 5000, 'the generated secret in the log');
    assert.match(s.output(), /development preset/);
    const c = await RawClient.open(`ws://127.0.0.1:${port}/connection/websocket`);
    assert.ok((await c.connect()).connect, '(await c.connect()).connect');
    s.child.kill('SIGTERM');
    assert.equal(await c.waitClose(), 3001);
    assert.equal(await s.exited, 0);
  });

  test('without config it is safe: no anonymous access, and it says why nobody can connect', async () => {
    const s = serve(['--port', '0', '--address', '127.0.0.1'], { CHORUS_LOG_LEVEL: 'info' });
    const port = await s.listening;
    await waitFor(() => /no token key configured/.test(s.output()), 5000, 'the warning in the log');
    const c = await RawClient.open(`ws://127.0.0.1:${port}/connection/websocket`);
    c.send({ id: 1, connect: {} });
    assert.equal(await c.waitClose(), 3501);
    s.child.kill('SIGINT');
    assert.equal(await s.exited, 0);
  });

  const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;
  test('near the open-file limit it warns; connections past it are refused, the others carry on', {
    skip: hasPrlimit ? false : 'prlimit (util-linux) is not installed',
  }, async () => {
    const s = serve(['--dev', '--port', '0', '--address', '127.0.0.1'], {}, ['prlimit', '--nofile=200:200']);
    const port = await s.listening;
    const url = `ws://127.0.0.1:${port}/connection/websocket`;
    await waitFor(() => /open-file limit 200/.test(s.output()), 5000, 'the open-file limit in the start log');
    const first = await RawClient.open(url);
    assert.ok((await first.connect()).connect, 'a first client connects');
    const opened = await Promise.allSettled(
      Array.from({ length: 220 }, async () => {
        const c = await RawClient.open(url);
        const r = await c.connect({}, 3000);
        if (!r.connect) throw new Error('connect refused');
        return c;
      }),
    );
    const ok = opened
      .filter((r) => r.status === 'fulfilled')
      .map((r) => (r as PromiseFulfilledResult<RawClient>).value);
    assert.ok(ok.length > 100 && ok.length < 220, `connections held under a 200-file limit: ${ok.length}`);
    await waitFor(() => /near the open-file limit/.test(s.output()), 5000, 'the warning near the limit');
    // The connections it holds still work.
    first.send({ id: 2, ping: {} });
    assert.ok(await first.reply(2), 'the first client is still served');
    for (const c of ok) c.close();
    first.close();
    await waitFor(
      async () => {
        try {
          const c = await RawClient.open(url);
          const r = await c.connect({}, 1000);
          c.close();
          return r.connect !== undefined;
        } catch {
          return false;
        }
      },
      10_000,
      'a new connection once others closed',
    );
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0);
  });

  test('an invalid config stops the start with the key named', async () => {
    const bad = writeConfig('serve-bad.json', { http_server: { port: 'abc' } });
    const s = serve(['--config', bad]);
    s.listening.catch(() => {});
    assert.equal(await s.exited, 1);
    assert.match(s.output(), /http_server\.port/);
  });
});
