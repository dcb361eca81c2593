/**
 * `npm start` (`chorus serve --dev`), run as a user runs it: a child process of the real CLI. Anonymous
 * publishing, the admin page and the printed secrets stay on the developer's machine — it listens on 127.0.0.1
 * and ::1 only — unless an address is set explicitly (flag, environment or file), and then the log says loudly
 * who can reach what. The start log says how to run for real.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { RawClient, waitFor } from '../helpers/clients.js';

const CLI = ['--import', 'tsx', new URL('../../src/cli/run.ts', import.meta.url).pathname];

/** An address of this machine that other machines can reach (not loopback), if it has one. */
const EXTERNAL = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && !i.internal && i.family === 'IPv4')?.address;

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(2000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('chorus serve --dev', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  function start(args: string[], env: Record<string, string> = {}) {
    const child = spawn(process.execPath, [...CLI, 'serve', '--dev', '--port', '0', ...args], {
      env: { ...process.env, CHORUS_LOG_LEVEL: 'info', ...env },
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
    const port = new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listening line in: ${output}`)), 20_000);
      child.stdout?.on('data', () => {
        const m = /listening on http:\/\/[^\s"]+:(\d+)/.exec(output);
        if (m && /to run for real/.test(output)) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
    });
    const stop = async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    };
    return { port, output: () => output, stop };
  }

  test('without an address it listens on 127.0.0.1 and ::1 only, and says how to run for real', async () => {
    const s = start([]);
    const port = await s.port;
    assert.match(s.output(), /listening on http:\/\/localhost:\d+/, 'README: npm start serves http://localhost:8000');
    const c = await RawClient.open(`ws://127.0.0.1:${port}/connection/websocket`);
    assert.ok((await c.connect()).connect, 'anonymous clients connect over 127.0.0.1');
    c.close();
    const c6 = await RawClient.open(`ws://[::1]:${port}/connection/websocket`);
    assert.ok((await c6.connect()).connect, 'and over ::1');
    c6.close();
    const viaLocalhost = await RawClient.open(`ws://localhost:${port}/connection/websocket`);
    assert.ok((await viaLocalhost.connect()).connect, 'and as localhost, whichever address it resolves to');
    viaLocalhost.close();
    if (EXTERNAL !== undefined) {
      assert.equal(await canConnect(EXTERNAL, port), false, `not reachable on ${EXTERNAL}`);
    }
    assert.match(s.output(), /to run for real: chorus serve --config config\.json, without --dev/);
    assert.doesNotMatch(s.output(), /!!!/, 'no exposure warning on loopback');
    await s.stop();
  });

  for (const [how, args, env, file] of [
    ['--address', ['--address', '0.0.0.0'], {}, undefined],
    ['CHORUS_HTTP_SERVER_ADDRESS', [], { CHORUS_HTTP_SERVER_ADDRESS: '0.0.0.0' }, undefined],
    ['the config file', [], {}, { http_server: { address: '' } }],
  ] as const) {
    test(`an address set with ${how} is used, and the log warns loudly who can reach what`, async () => {
      const extra = [...args] as string[];
      if (file !== undefined) {
        const dir = mkdtempSync(join(tmpdir(), 'chorus-dev-'));
        writeFileSync(join(dir, 'config.json'), JSON.stringify(file));
        extra.push('--config', join(dir, 'config.json'));
      }
      const s = start(extra, env);
      const port = await s.port;
      await waitFor(() => /!!!/.test(s.output()), 5000, 'the warning');
      const warning =
        s
          .output()
          .split('\n')
          .find((l) => l.includes('!!!')) ?? '';
      assert.match(warning, /"level":40/, 'a warning');
      assert.match(warning, /not only on this machine/);
      assert.match(warning, /connect and publish anonymously/);
      assert.match(warning, /open the admin page/);
      assert.match(warning, /call the server API/);
      assert.match(warning, /secrets printed below/);
      if (EXTERNAL !== undefined) {
        assert.equal(await canConnect(EXTERNAL, port), true, `reachable on ${EXTERNAL} as asked`);
      }
      await s.stop();
    });
  }

  test('an explicit loopback address does not warn', async () => {
    const s = start(['--address', '127.0.0.1']);
    await s.port;
    assert.doesNotMatch(s.output(), /!!!/);
    await s.stop();
  });
});
