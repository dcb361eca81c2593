/**
 * The single executable (`npm run build:binary`): built into a temporary directory, then run from a directory
 * with no node_modules, with the same CLI: it mints a token, serves a client and the embedded pages, and stops
 * gracefully on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { RawClient, waitFor } from '../helpers/clients.js';

const REPO = new URL('../../', import.meta.url).pathname;
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const supported =
  (process.platform === 'linux' || process.platform === 'darwin') && readFileSync(process.execPath).includes(FUSE);

const tmp = mkdtempSync(join(tmpdir(), 'chorus-binary-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('the single executable', {
  skip: supported ? false : `this Node (${process.execPath}) cannot be made into a single executable`,
  timeout: 240_000,
}, () => {
  const exe = join(tmp, 'chorus');

  test('npm run build:binary writes one file that reports the version', () => {
    const r = spawnSync(process.execPath, [join(REPO, 'scripts/build-binary.mjs'), '--out', tmp], {
      encoding: 'utf8',
      timeout: 180_000,
    });
    assert.equal(r.status, 0, `build failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /single executable: .*chorus \(\d+ MB/);
    const v = spawnSync(exe, ['version'], { cwd: tmp, encoding: 'utf8' });
    assert.equal(v.stdout, `${VERSION}\n`);
    assert.equal(v.stderr, '', 'no warning about require() or experimental features');
  });

  test('serve with a YAML config: a client connects with its gentoken token, pages load, SIGTERM stops it', async () => {
    writeFileSync(
      join(tmp, 'config.yaml'),
      'client:\n  token:\n    hmac_secret_key: binary-test-secret-long-enough\nchannel:\n  without_namespace:\n    allow_subscribe_for_client: true\n',
    );
    const token = spawnSync(exe, ['gentoken', '-c', 'config.yaml', '-u', 'ann', '-q'], { cwd: tmp, encoding: 'utf8' });
    assert.equal(token.status, 0, token.stderr);
    const child = spawn(exe, ['serve', '-c', 'config.yaml', '--port', '0', '--address', '127.0.0.1'], {
      cwd: tmp,
      env: { PATH: '/usr/bin:/bin', CHORUS_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    try {
      await waitFor(() => /listening on http:\/\/[^:]+:\d+/.test(out), 20_000, `the listening line; output: ${out}`);
      const port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(out)?.[1]);
      const landing = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(landing.status, 200, 'the landing page is embedded');
      assert.match(await landing.text(), /<html/);
      const c = await RawClient.open(`ws://127.0.0.1:${port}/connection/websocket`);
      const reply = await c.connect({ token: token.stdout.trim() });
      assert.ok(reply.connect, `connected: ${JSON.stringify(reply)}`);
      c.send({ id: 2, subscribe: { channel: 'news' } });
      assert.ok(await c.reply(2), 'subscribed');
      child.kill('SIGTERM');
      assert.equal(await c.waitClose(), 3001);
      assert.equal(await exited, 0, out);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    assert.doesNotMatch(out, /Warning:/, 'no Node warning in the log');
  });
});
