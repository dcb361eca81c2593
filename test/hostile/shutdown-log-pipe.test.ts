/**
 * `chorus serve` must stop on SIGTERM whatever became of its log pipe. It used to hang for ever: at exit the log
 * destination flushed synchronously and retried a failed write without end (EPIPE when the reader was gone,
 * EAGAIN when it stopped reading), so neither the shutdown nor the 15 s forced exit could complete. The CLI is
 * run as a user runs it, in a child process (as test/integration/cli.test.ts does).
 */
import assert from 'node:assert/strict';
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';

const CLI = ['--import', 'tsx', new URL('../../src/cli/run.ts', import.meta.url).pathname];
/** Well under the 15 s forced exit: a clean shutdown, not the last resort. */
const EXIT_WITHIN_MS = 5000;

type Child = ChildProcessByStdio<null, Readable, Readable>;

/** `exited`: how the process ended, "code N" or "signal S". */
function serve(logLevel: string): { child: Child; port: Promise<number>; exited: Promise<string> } {
  const child = spawn(
    process.execPath,
    [...CLI, 'serve', '--dev', '--port', '0', '--address', '127.0.0.1', '--log-level', logLevel],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const port = new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no listening line in: ${output}`)), 20_000);
    const onData = (d: Buffer) => {
      output += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(output);
      if (m) {
        clearTimeout(t);
        child.stdout.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
  });
  const exited = new Promise<string>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal === null ? `code ${code}` : `signal ${signal}`)),
  );
  return { child, port, exited };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  ]);
}

/** A request whose answer the server logs (at debug): a malformed URL. */
function loggedRequest(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () =>
      s.write(`GET /%${'a'.repeat(200)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    s.on('data', () => {});
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

describe('SIGTERM whatever became of the log pipe', () => {
  const children: Child[] = [];
  after(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  test('stdout and stderr closed by their reader: exits 0', async () => {
    const s = serve('info');
    children.push(s.child);
    await s.port;
    s.child.stdout.destroy();
    s.child.stderr.destroy();
    s.child.kill('SIGTERM'); // the shutdown logs: those writes fail with EPIPE
    assert.equal(await within(s.exited, EXIT_WITHIN_MS, 'exit after SIGTERM'), 'code 0');
  });

  test('stdout stalled (its reader stopped reading): keeps serving, then exits 0', async () => {
    const s = serve('debug');
    children.push(s.child);
    const port = await s.port;
    s.child.stdout.pause();
    // About 1 MB of log lines: far more than a pipe holds, so writes to it stall.
    for (let i = 0; i < 20; i++) await Promise.all(Array.from({ length: 200 }, () => loggedRequest(port)));
    const health = await within(fetch(`http://127.0.0.1:${port}/health`), 2000, 'health while the log pipe is full');
    assert.equal(health.status, 200, 'the server still answers');
    s.child.kill('SIGTERM');
    assert.equal(await within(s.exited, EXIT_WITHIN_MS, 'exit after SIGTERM'), 'code 0');
  });
});
