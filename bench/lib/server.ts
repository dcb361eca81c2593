/**
 * Starts a Chorus server (or another benchmark target script) as its own process on loopback for a benchmark,
 * and stops it by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServerProcess {
  pid: number;
  port: number;
  wsUrl: string;
  stop(): Promise<void>;
}

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * `nodeArgs` go to node before the script, e.g. `['--cpu-prof', '--cpu-prof-dir', dir]` to profile a run. `root`:
 * the checkout whose built server runs (another commit's worktree, to compare two versions in one run).
 */
export async function startChorus(
  config: Record<string, unknown>,
  nodeArgs: string[] = [],
  root = ROOT,
): Promise<ServerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-bench-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      join(root, 'bin/chorus.js'),
      'serve',
      '--config',
      file,
      '--port',
      '0',
      '--address',
      '127.0.0.1',
      '--log-level',
      'info',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CHORUS_LOG_LEVEL: undefined } },
  );
  const port = await listeningPort(child);
  return {
    pid: child.pid as number,
    port,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    stop: () => stop(child),
  };
}

/**
 * Starts a TypeScript target under bench/ (`node --import tsx script args…`) that prints
 * `listening on http://HOST:PORT` once ready; `wsUrl` is its origin with `path` appended.
 */
export async function startScript(
  script: string,
  args: string[],
  path = '/',
  nodeArgs: string[] = [],
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(ROOT, script), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await listeningPort(child);
  return {
    pid: child.pid as number,
    port,
    wsUrl: `ws://127.0.0.1:${port}${path}`,
    stop: () => stop(child),
  };
}

function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${out}`));
    }, 20_000);
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
