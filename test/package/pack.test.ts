/**
 * The package as a user gets it: `npm pack` (which builds through `prepare`) in a copy of this repository, then
 * a fresh project installs the tarball offline from the local npm cache, imports `chorus-server` (JavaScript
 * and TypeScript), and runs `npx chorus serve`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RawClient, waitFor } from '../helpers/clients.js';

const REPO = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  bin: Record<string, string>;
  engines: Record<string, string>;
  license: string;
};
const tmp = mkdtempSync(join(tmpdir(), 'chorus-pack-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Without the npm_* variables of an enclosing `npm test`, which would otherwise steer the nested npm. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return { ...e, ...extra };
}

function npm(cwd: string, args: string[]): string {
  const r = spawnSync('npm', args, { cwd, env: env(), encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The files of this checkout that git would commit (tracked and new, not ignored): no dist/, no node_modules. */
function copyCheckout(to: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO,
    encoding: 'utf8',
  })
    .split('\0')
    .filter(Boolean);
  for (const f of files) {
    mkdirSync(dirname(join(to, f)), { recursive: true });
    cpSync(join(REPO, f), join(to, f));
  }
  symlinkSync(join(REPO, 'node_modules'), join(to, 'node_modules'));
}

/**
 * A lock file for a project depending on the tarball, with the same versions as this repository's lock: npm
 * then needs only tarballs, which the local cache holds by their integrity, and no registry metadata.
 */
function lockFor(tarball: string): unknown {
  const repoLock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; link?: boolean; version?: string; resolved?: string }>;
  };
  const registry = spawnSync('npm', ['config', 'get', 'registry'], { env: env(), encoding: 'utf8' })
    .stdout.trim()
    .replace(/\/?$/, '/');
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { [pkg.name]: spec } },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512')
        .update(readFileSync(join(tmp, 'app', tarball)))
        .digest('base64')}`,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
      license: pkg.license,
    },
  };
  for (const [path, entry] of Object.entries(repoLock.packages)) {
    if (path === '' || entry.dev === true || entry.link === true) continue;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const base = name.split('/').pop();
    packages[path] = { resolved: `${registry}${name}/-/${base}-${entry.version}.tgz`, ...entry };
  }
  return { name: 'app', lockfileVersion: 3, requires: true, packages };
}

describe('the packed package in a fresh project', { timeout: 240_000 }, () => {
  let tarball = '';
  let entries: string[] = [];
  const app = join(tmp, 'app');

  before(() => {
    const checkout = join(tmp, 'checkout');
    copyCheckout(checkout);
    mkdirSync(app);
    npm(checkout, ['pack', '--pack-destination', app, '--silent']);
    tarball = readdirSync(app).find((f) => f.endsWith('.tgz')) ?? '';
    assert.equal(tarball, `${pkg.name}-${pkg.version}.tgz`);
    entries = execFileSync('tar', ['-tzf', join(app, tarball)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((e) => e.replace(/^package\//, ''));
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { [pkg.name]: `file:${tarball}` } }),
    );
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(lockFor(tarball), null, 2));
    npm(app, ['install', '--offline', '--no-audit', '--no-fund']);
  });

  test('the tarball holds what runs (dist, bin, the built pages) and nothing else', () => {
    for (const f of [
      'package.json',
      'README.md',
      'bin/chorus.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/tokens.js',
      'dist/cli/run.js',
      'dist/public/index.html',
      'dist/public/admin.html',
      'dist/public/assets/chat.js',
    ]) {
      assert.ok(entries.includes(f), `${f} is in the package`);
    }
    const stray = entries.filter(
      (e) =>
        !/^(package\.json|README\.md|LICENSE)$/.test(e) &&
        !e.startsWith('bin/') &&
        !(e.startsWith('dist/') && (!e.endsWith('.map') || e.startsWith('dist/public/'))),
    );
    assert.deepEqual(stray, [], 'no tests, benchmarks, sources, scripts or compiler maps');
    assert.ok(!entries.some((e) => /\.test\.|^test\/|^bench\//.test(e)), 'no test or bench file');
  });

  test('import { createChorus, createConnectionToken } from the package name: a client connects and receives', async () => {
    writeFileSync(
      join(app, 'server.mjs'),
      `import http from 'node:http';
import { createChorus, createConnectionToken } from '${pkg.name}';
const secret = 'a-secret-which-is-long-enough-for-hs256';
const chorus = await createChorus({
  config: { client: { token: { hmac_secret_key: secret } }, channel: { without_namespace: { allow_subscribe_for_client: true } } },
});
const server = http.createServer((req, res) => res.end('app'));
chorus.attach(server);
server.listen(0, '127.0.0.1', async () => {
  const token = await createConnectionToken({ key: secret, user: 'ann' });
  console.log(JSON.stringify({ port: server.address().port, token }));
  setInterval(() => chorus.publish('news', { at: Date.now() }), 50);
});
process.on('SIGTERM', async () => { await chorus.close(); server.close(); process.exit(0); });
`,
    );
    const child = spawn(process.execPath, ['server.mjs'], { cwd: app, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    try {
      await waitFor(() => out.includes('"port"'), 20_000, `the app's first line; output so far: ${out}`);
      const { port, token } = JSON.parse(out.split('\n')[0] as string) as { port: number; token: string };
      const c = await RawClient.open(`ws://127.0.0.1:${port}/connection/websocket`);
      const connected = await c.connect({ token });
      assert.equal(
        (connected.connect as { client?: string } | undefined)?.client?.length,
        36,
        JSON.stringify(connected),
      );
      c.send({ id: 2, subscribe: { channel: 'news' } });
      assert.ok(await c.reply(2), 'subscribed');
      await waitFor(() => c.messages.some((m) => JSON.stringify(m).includes('"at"')), 5000, 'a publication');
      c.close();
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, out);
  });

  test('TypeScript: the config is typed (a misspelt key does not compile) and the helpers are exported', () => {
    writeFileSync(
      join(app, 'check.ts'),
      `import { type ChorusConfig, createChorus, createSubscriptionToken, defaultConfig } from '${pkg.name}';
import { createConnectionToken, type ConnectionTokenOptions } from '${pkg.name}/tokens';
const config: ChorusConfig = {
  client: { token: { hmac_secret_key: 's' }, ping_interval: '20s' },
  channel: { namespaces: [{ name: 'chat', presence: true, history_size: 10, history_ttl: '60s' }] },
};
// @ts-expect-error: the key is client.ping_interval
const misspelt: ChorusConfig = { client: { ping_intervall: '20s' } };
// @ts-expect-error: a port is a number
const wrongType: ChorusConfig = { http_server: { port: '8000' } };
export const run = async () => {
  const chorus = await createChorus({ config });
  const port: number = defaultConfig.http_server.port;
  const token: string = await createSubscriptionToken({ key: 's', user: '1', channel: 'chat:1' });
  const options: ConnectionTokenOptions = { key: 's', user: '1', ttl: '15m', channels: ['news'] };
  // @ts-expect-error: user is required
  const noUser: ConnectionTokenOptions = { key: 's' };
  return [chorus, port, token, await createConnectionToken(options), misspelt, wrongType, noUser];
};
`,
    );
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    const r = spawnSync(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--skipLibCheck',
        '--typeRoots',
        join(REPO, 'node_modules/@types'),
        '--types',
        'node',
        'check.ts',
      ],
      { cwd: app, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.status, 0, `tsc:\n${r.stdout}${r.stderr}`);
  });

  test('npx chorus serve: pages, a client, and a graceful stop on Ctrl-C', async () => {
    const version = spawnSync('npx', ['--offline', 'chorus-server', 'version'], {
      cwd: app,
      env: env(),
      encoding: 'utf8',
    });
    assert.equal(version.stdout.trim(), pkg.version, version.stderr);
    // Its own process group, as a terminal runs it: Ctrl-C (SIGINT) reaches npx and the server alike.
    const child = spawn('npx', ['--offline', 'chorus', 'serve', '--dev', '--port', '0', '--address', '127.0.0.1'], {
      cwd: app,
      env: env({ CHORUS_LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const group = (signal: NodeJS.Signals) => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {}
    };
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    try {
      await waitFor(() => /listening on http:\/\/[^:]+:\d+/.test(out), 20_000, `the listening line; output: ${out}`);
      const port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(out)?.[1]);
      const page = await fetch(`http://127.0.0.1:${port}/demo/chat`);
      assert.equal(page.status, 200, 'the built pages are in the package');
      const c = await RawClient.open(`ws://127.0.0.1:${port}/connection/websocket`);
      assert.ok((await c.connect()).connect, 'an anonymous client connects (development preset)');
      group('SIGINT');
      assert.equal(await c.waitClose(), 3001);
      await exited;
      assert.match(out, /"signal":"SIGINT".*shutting down.*"msg":"stopped"/s, out);
    } finally {
      group('SIGKILL');
    }
  });
});
