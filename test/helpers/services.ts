/**
 * Real services for suites that need them. Without the service, `npm test` skips the suite with a loud
 * notice; in CI (CI=true) a missing service fails the suite instead, so nothing is silently not tested.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.CHORUS_TEST_REDIS ?? 'redis://127.0.0.1:6379';

export async function redisAvailable(url = REDIS_URL): Promise<boolean> {
  const r = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** `{ skip }` for a describe/test: a reason to skip when the service is missing outside CI; throws in CI. */
export async function needRedis(): Promise<{ skip?: string }> {
  if (await redisAvailable()) return {};
  const why = `Redis is not reachable at ${REDIS_URL}`;
  if (process.env.CI === 'true') throw new Error(`${why}: CI requires it (start redis-server)`);
  console.warn(`\n!!!!! SKIPPING Redis suites: ${why}. Start redis-server to run them. !!!!!\n`);
  return { skip: why };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface OwnRedis {
  port: number;
  url: string;
  stop(): void;
  /** Starts it again on the same port (after stop). */
  start(): Promise<void>;
}

/** A redis-server of the test's own on a free port, for tests that stop or restart Redis. */
export async function startOwnRedis(): Promise<OwnRedis> {
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('redis-server is not installed');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'chorus-redis-'));
  let child: ReturnType<typeof spawn> | undefined;
  const url = `redis://127.0.0.1:${port}`;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      {
        stdio: 'ignore',
      },
    );
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      if (await redisAvailable(url)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`own redis-server did not start on ${port}`);
  };
  await start();
  return {
    port,
    url,
    start,
    stop() {
      child?.kill('SIGKILL');
      child = undefined;
    },
  };
}

/**
 * Debian's Python with the `websockets` package (python3-websockets), for the example clients. `python3` on a
 * developer's PATH may be another interpreter (pyenv) without Debian's packages: /usr/bin/python3 is used.
 */
export const SYSTEM_PYTHON = process.env.CHORUS_TEST_PYTHON ?? '/usr/bin/python3';

export function needPythonWebsockets(): { skip?: string } {
  const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import websockets'], { stdio: 'ignore' });
  if (probe.status === 0) return {};
  const why = `${SYSTEM_PYTHON} cannot import websockets`;
  if (process.env.CI === 'true') throw new Error(`${why}: CI requires it (apt-get install -y python3-websockets)`);
  console.warn(
    `\n!!!!! SKIPPING Python example suites: ${why}. Install it with: apt-get install -y python3-websockets !!!!!\n`,
  );
  return { skip: why };
}
