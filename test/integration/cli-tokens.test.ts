/**
 * `chorus genconfig`, `gentoken`, `gensubtoken`, `checktoken`, `checksubtoken` as Centrifugo users run them
 * (its flags, config.json in the working directory by default), and a new user's first steps: genconfig, serve,
 * gentoken, connect.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { parse as parseTOML } from 'smol-toml';
import { parse as parseYAML } from 'yaml';
import { cliArgs } from '../helpers/cli.js';
import { once, RawClient, sdk } from '../helpers/clients.js';

const CLI = cliArgs();
const root = mkdtempSync(join(tmpdir(), 'chorus-cli-tokens-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
/** A fresh working directory, as a user's project would be. */
function workdir(): string {
  const d = join(root, `w${++dirs}`);
  mkdirSync(d);
  return d;
}

/** Environment without CHORUS_/CENTRIFUGO_ variables of the test run, so only what a test sets applies. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CHORUS|CENTRIFUGO)_/.test(k)));
  return { ...env, ...extra };
}

function chorus(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [...CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: cleanEnv(env),
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const SECRET = 'cli-test-secret-long-enough-for-hs256';

function withConfig(config: unknown, name = 'config.json'): string {
  const d = workdir();
  writeFileSync(join(d, name), JSON.stringify(config));
  return d;
}

test('every new command has --help, and the main help lists them', () => {
  const d = workdir();
  const main = chorus(d, ['--help']).out;
  for (const cmd of ['genconfig', 'gentoken', 'gensubtoken', 'checktoken', 'checksubtoken']) {
    const r = chorus(d, [cmd, '--help']);
    assert.equal(r.code, 0, `${cmd} --help: ${r.err}`);
    assert.match(r.out, new RegExp(`^Usage: chorus ${cmd}`));
    assert.match(main, new RegExp(`\\n  ${cmd} +\\S`), `the main help lists ${cmd}`);
  }
});

describe('chorus genconfig', () => {
  test('writes a valid config with fresh secrets, token auth and the admin page on, in each format', () => {
    const d = workdir();
    const parsers: Record<string, (t: string) => unknown> = { json: JSON.parse, yaml: parseYAML, toml: parseTOML };
    const secrets = new Set<string>();
    for (const ext of ['json', 'yaml', 'toml']) {
      const r = chorus(d, ['genconfig', '-c', `config.${ext}`]);
      assert.equal(r.code, 0, r.err);
      const file = join(d, `config.${ext}`);
      assert.equal(statSync(file).mode & 0o777, 0o600, 'only the owner may read the secrets');
      const cfg = (parsers[ext] as (t: string) => unknown)(readFileSync(file, 'utf8')) as {
        client: { token: { hmac_secret_key: string }; allowed_origins: string[] };
        admin: { enabled: boolean; password: string; secret: string };
        http_api: { key: string };
      };
      assert.equal(cfg.admin.enabled, true);
      assert.deepEqual(cfg.client.allowed_origins, []);
      for (const s of [cfg.client.token.hmac_secret_key, cfg.admin.password, cfg.admin.secret, cfg.http_api.key]) {
        assert.ok(s.length >= 16, `a secret of at least 16 characters: ${s}`);
        secrets.add(s);
      }
      assert.match(r.out, new RegExp(`password ${cfg.admin.password}`), 'the admin password is printed');
      const check = chorus(d, ['checkconfig', '-c', `config.${ext}`]);
      assert.equal(check.code, 0, check.err);
    }
    assert.equal(secrets.size, 12, 'every secret of every file is different');
  });

  test('writes config.json by default and never overwrites a file', () => {
    const d = workdir();
    assert.equal(chorus(d, ['genconfig']).code, 0);
    const before = readFileSync(join(d, 'config.json'), 'utf8');
    const again = chorus(d, ['genconfig']);
    assert.equal(again.code, 1);
    assert.match(again.err, /config\.json already exists: not overwriting it/);
    assert.equal(readFileSync(join(d, 'config.json'), 'utf8'), before);
    const bad = chorus(d, ['genconfig', '-c', 'config.ini']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /the extension must say the format: \.json, \.yaml, \.yml, \.toml/);
  });
});

describe('chorus gentoken and gensubtoken', () => {
  test("Centrifugo's flags: -u, -t, -q; config.json in the working directory; a week by default", () => {
    const d = withConfig({ client: { token: { hmac_secret_key: SECRET } } });
    const r = chorus(d, ['gentoken', '-u', '42']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /^HS256 JWT for user "42" with expiration TTL 168h0m0s:\n$/);
    const p = decodeJwt(r.out.trim());
    assert.equal(p.sub, '42');
    assert.equal((p.exp as number) - (p.iat as number), 7 * 24 * 3600);
    const quiet = chorus(d, ['gentoken', '-u', '42', '-t', '60', '-q']);
    assert.equal(quiet.err, '', 'quiet prints the token only');
    assert.equal((decodeJwt(quiet.out.trim()).exp as number) - now(), 60);
    for (const ttl of ['-1', '0']) {
      const forever = chorus(d, ['gentoken', '-t', ttl]);
      assert.match(forever.err, /anonymous user without expiration/);
      const fp = decodeJwt(forever.out.trim());
      assert.equal(fp.exp, undefined);
      assert.equal(fp.sub, '');
    }
    const before = now();
    const info = chorus(d, ['gentoken', '-u', 'ann', '--info', '{"name":"Ann"}', '--ttl', '1h']);
    assert.deepEqual(decodeJwt(info.out.trim()).info, { name: 'Ann' });
    // The CLI ran within [before, now()]: its token expires an hour after a moment in that window.
    const exp = decodeJwt(info.out.trim()).exp as number;
    assert.ok(exp >= before + 3600 && exp <= now() + 3600, `an hour from when it ran (exp ${exp}, from ${before})`);
  });

  test('the token connects to a server with the same config', async () => {
    const d = withConfig({ client: { token: { hmac_secret_key: SECRET } } });
    const token = chorus(d, ['gentoken', '-u', 'ann', '-q']).out.trim();
    const s = serve(d, []);
    const port = await s.listening;
    const c = sdk(`ws://127.0.0.1:${port}/connection/websocket`, { token });
    const connected = once<{ client: string }>(c, 'connected');
    c.connect();
    await connected;
    c.disconnect();
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0);
  });

  test("gensubtoken needs -s and signs with subscription_token's secret when it is enabled", () => {
    const d = withConfig({
      client: {
        token: { hmac_secret_key: SECRET },
        subscription_token: { enabled: true, hmac_secret_key: 'the-subscription-secret-long-enough' },
      },
    });
    const missing = chorus(d, ['gensubtoken', '-u', '42']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /--channel is required/);
    const r = chorus(d, ['gensubtoken', '-u', '42', '-s', '$orders:42', '--client', 'c1']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /HS256 JWT for user "42" and channel "\$orders:42" with expiration TTL 168h0m0s/);
    const token = r.out.trim();
    assert.deepEqual(
      [decodeJwt(token).channel, decodeJwt(token).client, decodeJwt(token).sub],
      ['$orders:42', 'c1', '42'],
    );
    assert.equal(chorus(d, ['checksubtoken', token]).code, 0, 'valid with the subscription secret');
    // With subscription_token off, the connection secret verifies subscription tokens: this one is not valid.
    const other = withConfig({ client: { token: { hmac_secret_key: SECRET } } });
    const wrong = chorus(other, ['checksubtoken', token]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /subscription token with claims \{.*\} is invalid: signature verification failed/);
  });

  test('without a secret it says what to configure', () => {
    const r = chorus(workdir(), ['gentoken', '-u', '1']);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /no client\.token\.hmac_secret_key configured .*CHORUS_CLIENT_TOKEN_HMAC_SECRET_KEY.*--private-key/,
    );
  });

  test('--private-key signs RS256 / ES256 for servers configured with the public key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const d = withConfig({
      client: {
        token: {
          rsa_public_key: rsa.publicKey.export({ type: 'spki', format: 'pem' }),
          ecdsa_public_key: ec.publicKey.export({ type: 'spki', format: 'pem' }),
        },
      },
    });
    writeFileSync(join(d, 'rsa.pem'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(d, 'ec.pem'), ec.privateKey.export({ type: 'sec1', format: 'pem' }));
    writeFileSync(join(d, 'other.pem'), other.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    for (const [file, alg] of [
      ['rsa.pem', 'RS256'],
      ['ec.pem', 'ES256'],
    ]) {
      const r = chorus(d, ['gentoken', '-u', '7', '--private-key', file as string]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, new RegExp(`^${alg} JWT for user "7"`));
      const check = chorus(d, ['checktoken', r.out.trim()]);
      assert.equal(check.code, 0, check.err);
      assert.match(check.out, /^valid connection token for user "7"\npayload: \{.*"sub":"7"/);
    }
    const rs512 = chorus(d, ['gentoken', '-u', '7', '--private-key', 'rsa.pem', '--algorithm', 'RS512', '-q']);
    assert.equal(chorus(d, ['checktoken', rs512.out.trim()]).code, 0);
    const mismatch = chorus(d, ['gentoken', '-u', '7', '--private-key', 'other.pem', '-q']);
    assert.equal(mismatch.code, 0);
    assert.match(mismatch.err, /warning: the server with this config would refuse this token \(client\.token\)/);
    const wrongAlg = chorus(d, ['gentoken', '--private-key', 'ec.pem', '--algorithm', 'RS256']);
    assert.equal(wrongAlg.code, 1);
    assert.match(wrongAlg.err, /this ECDSA key \(prime256v1\) signs ES256, not RS256/);
  });
});

describe('chorus checktoken and checksubtoken', () => {
  const d = withConfig({ client: { token: { hmac_secret_key: SECRET } } });

  test('a valid token: its user and claims; exit 0', () => {
    const token = chorus(d, ['gentoken', '-u', '42', '-q']).out.trim();
    const r = chorus(d, ['checktoken', token]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^valid connection token for user "42"\npayload: \{"sub":"42","iat":\d+,"exp":\d+\}\n$/);
    const sub = chorus(d, ['gensubtoken', '-s', 'news', '-q']).out.trim();
    const rs = chorus(d, ['checksubtoken', sub]);
    assert.equal(rs.code, 0, rs.err);
    assert.match(rs.out, /^valid subscription token for anonymous user and channel "news"\n/);
  });

  test('invalid, expired, the wrong kind, or missing: exit 1 and why', async () => {
    const forged = chorus(withConfig({ client: { token: { hmac_secret_key: 'another-secret-long-enough' } } }), [
      'gentoken',
      '-u',
      '42',
      '-q',
    ]).out.trim();
    const bad = chorus(d, ['checktoken', forged]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /connection token with claims \{"sub":"42".*\} is invalid: signature verification failed/);

    const { SignJWT } = await import('jose');
    const expired = await new SignJWT({ sub: '42' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(now() - 10)
      .sign(new TextEncoder().encode(SECRET));
    const exp = chorus(d, ['checktoken', expired]);
    assert.equal(exp.code, 1);
    assert.match(exp.err, /is expired/);

    const sub = chorus(d, ['gensubtoken', '-s', 'news', '-q']).out.trim();
    assert.match(chorus(d, ['checktoken', sub]).err, /must not carry a "channel" claim/);
    const conn = chorus(d, ['gentoken', '-q']).out.trim();
    assert.match(chorus(d, ['checksubtoken', conn]).err, /needs a "channel" claim/);

    const none = chorus(d, ['checktoken']);
    assert.equal(none.code, 1);
    assert.match(none.err, /provide one token to check/);
    assert.match(chorus(d, ['checktoken', 'not-a-jwt']).err, /is invalid: malformed token/);
  });
});

describe('serve and checkconfig find config.json as Centrifugo does; unknown variables warn', () => {
  test('a new user: genconfig, serve (no flags), gentoken, connect; the admin password logs in', async () => {
    const d = workdir();
    assert.equal(chorus(d, ['genconfig']).code, 0);
    const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as { admin: { password: string } };
    const token = chorus(d, ['gentoken', '-u', 'first-user', '-q']).out.trim();
    const s = serve(d, [], { CHORUS_HTTP_SERVER_PORTT: '1' });
    const port = await s.listening;
    assert.match(s.output(), /file config\.json/, 'the start log names the file it read');
    const c = await RawClient.open(`ws://127.0.0.1:${port}/connection/websocket`);
    const reply = await c.connect({ token });
    assert.ok(reply.connect, `connected with the gentoken token: ${JSON.stringify(reply)}`);
    c.close();
    const login = await fetch(`http://127.0.0.1:${port}/admin/api/login`, {
      method: 'POST',
      body: JSON.stringify({ password: cfg.admin.password }),
    });
    assert.equal(login.status, 200, 'the generated admin password logs in');
    assert.match(s.output(), /environment variable CHORUS_HTTP_SERVER_PORTT names no config key/);
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0);
  });

  test('checkconfig reads config.json by default and prints warnings for unknown variables', () => {
    const d = withConfig({ client: { token: { hmac_secret_key: SECRET } } });
    const r = chorus(d, ['checkconfig'], { CENTRIFUGO_TOKEN_HMAC_SECRET_KEY: 'x' });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'config.json: valid\n');
    assert.match(
      r.err,
      /warning: .*CENTRIFUGO_TOKEN_HMAC_SECRET_KEY.*did you mean CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY/,
    );
    const missing = chorus(workdir(), ['checkconfig']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /cannot read config file config\.json/);
  });
});

const now = () => Math.floor(Date.now() / 1000);

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

function serve(cwd: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [...CLI, 'serve', '--port', '0', '--address', '127.0.0.1', ...args], {
    cwd,
    env: cleanEnv({ CHORUS_LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  const onData = (d: Buffer) => {
    output += d;
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
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
