/**
 * The SDK-less example clients of examples/no-sdk, run as a user would run them against a server started with
 * the example's own config.json: the Python script (only the `websockets` package, on Debian's python3) over
 * uni_websocket — publications, the personal channel, recovery across a reconnect, shutdown — and the curl
 * script over uni_http_stream.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { hsToken } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { needPythonWebsockets, SYSTEM_PYTHON } from '../helpers/services.js';

const DIR = new URL('../../examples/no-sdk/', import.meta.url).pathname;
const CONFIG = JSON.parse(readFileSync(`${DIR}config.json`, 'utf8')) as {
  client: { token: { hmac_secret_key: string } };
  http_api: { key: string };
};

/** A child process whose stdout lines are collected (JSON where they parse). */
class Lines {
  readonly lines: string[] = [];
  stderr = '';
  private waiters: Array<() => void> = [];
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (l) => {
      this.lines.push(l);
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr.on('data', (d) => {
      this.stderr += d;
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  json(): Record<string, unknown>[] {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** Waits for a line (from index `from`) that matches. */
  next(what: string, match: (o: Record<string, unknown>) => boolean, from = 0, ms = 8000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`timed out waiting for ${what}; stdout: ${this.lines.join('\n')}; stderr: ${this.stderr}`)),
        ms,
      );
      const check = () => {
        if (this.json().slice(from).some(match)) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }
}

async function publish(s: TestServer, channel: string, data: unknown): Promise<void> {
  const res = await fetch(`${s.url}/api/publish`, {
    method: 'POST',
    headers: { 'x-api-key': CONFIG.http_api.key },
    body: JSON.stringify({ channel, data }),
  });
  assert.equal(res.status, 200, await res.text());
}

function exampleServer(): Promise<TestServer> {
  return startServer(structuredClone(CONFIG) as Record<string, unknown>);
}

const children: ChildProcessWithoutNullStreams[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

describe('example: websocket_client.py (uni_websocket)', { skip: needPythonWebsockets().skip }, () => {
  test('receives publications and its personal channel, recovers what it missed across a reconnect, stops on shutdown', async () => {
    const s = await exampleServer();
    try {
      const token = await hsToken({ sub: 'py' }, CONFIG.client.token.hmac_secret_key);
      const child = spawn(SYSTEM_PYTHON, [
        `${DIR}websocket_client.py`,
        '--url',
        `ws://127.0.0.1:${s.port}/connection/uni_websocket`,
        '--token',
        token,
      ]);
      children.push(child);
      const out = new Lines(child);
      await out.next('connected', (o) => o.event === 'connected');
      assert.deepEqual(out.json()[0]?.channels, ['#py', 'news:updates']);

      await publish(s, 'news:updates', { headline: 'one' });
      await publish(s, '#py', { note: 'just for you' });
      await out.next('the personal message', (o) => o.channel === '#py');
      const live = out.json().filter((o) => o.event === 'publication');
      assert.deepEqual(
        live.map((o) => o.data),
        [{ headline: 'one' }, { note: 'just for you' }],
      );

      // The server asks it to reconnect (3011); what is published meanwhile comes back with the new connect.
      const mark = out.json().length;
      await s.server.node.ops.disconnect({ user: 'py', disconnect: { code: 3011, reason: 'force reconnect' } });
      await out.next('the disconnect', (o) => o.event === 'disconnected' && o.code === 3011, mark);
      await publish(s, 'news:updates', { headline: 'two' });
      await publish(s, 'news:updates', { headline: 'three' });
      await out.next('the reconnect', (o) => o.event === 'connected', mark);
      await out.next('both recovered', (o) => (o.data as { headline?: string })?.headline === 'three', mark);
      const recovered = out
        .json()
        .slice(mark)
        .filter((o) => o.event === 'publication');
      assert.deepEqual(
        recovered.map((o) => [o.data, o.recovered]),
        [
          [{ headline: 'two' }, true],
          [{ headline: 'three' }, true],
        ],
        'exactly what was missed, in order, once',
      );

      const end = out.json().length;
      await s.close();
      await out.next('the shutdown', (o) => o.event === 'disconnected' && o.code === 3001, end);
      await out.next('a reconnect attempt', (o) => o.event === 'reconnecting', end);
      child.kill('SIGTERM');
      await out.exited;
      assert.equal(out.stderr, '', 'no traceback');
    } finally {
      await s.close();
    }
  });
});

describe('example: http-stream.sh (curl -N, uni_http_stream)', () => {
  test('prints the connect push, then each publication as one line, then the disconnect; curl exits 0', async () => {
    const s = await exampleServer();
    try {
      const token = await hsToken({ sub: 'sh' }, CONFIG.client.token.hmac_secret_key);
      const child = spawn('sh', [`${DIR}http-stream.sh`, s.url, token]);
      children.push(child);
      const out = new Lines(child);
      await out.next('the connect push', (o) => o.connect !== undefined);
      await publish(s, 'news:updates', { headline: 'curl' });
      await out.next('the publication', (o) => o.channel === 'news:updates');
      const pub = out.json().find((o) => o.pub !== undefined) as { pub: { data: unknown; offset: number } };
      assert.deepEqual(pub.pub.data, { headline: 'curl' });
      assert.equal(pub.pub.offset, 1);
      await s.close();
      await out.next('the disconnect', (o) => o.disconnect !== undefined);
      assert.equal(await out.exited, 0, 'the stream ended cleanly');
      assert.deepEqual(out.json().at(-1), { disconnect: { code: 3001, reason: 'shutdown' } });
    } finally {
      await s.close();
    }
  });
});
