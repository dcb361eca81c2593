/** Chorus nodes as real processes sharing one Redis, plus a tiny TCP load balancer in front of them. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RUN = new URL('../../src/cli/run.ts', import.meta.url).pathname;

export interface NodeProcess {
  port: number;
  url: string;
  wsUrl: string;
  child: ChildProcess;
  output(): string;
  /** SIGKILL: the node dies without closing anything. */
  kill(): Promise<void>;
  /** SIGTERM: graceful. */
  stop(): Promise<void>;
}

export async function startNode(config: Record<string, unknown>): Promise<NodeProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-node-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', RUN, 'serve', '--config', file, '--port', '0', '--address', '127.0.0.1'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CHORUS_LOG_LEVEL: process.env.CHORUS_TEST_LOG ?? 'info' },
    },
  );
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`node did not start:\n${out}`)), 20_000);
    const check = () => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`node exited with ${code}:\n${out}`));
    });
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    child,
    output: () => out,
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Balancer {
  port: number;
  wsUrl: string;
  close(): Promise<void>;
}

/** Sends each new connection to the first backend that accepts it, as a load balancer with health checks would. */
export async function startBalancer(backends: () => number[]): Promise<Balancer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    client.pause();
    const tryNext = (list: number[]) => {
      const port = list[0];
      if (port === undefined) {
        client.destroy();
        return;
      }
      const upstream = connect(port, '127.0.0.1');
      upstream.once('connect', () => {
        sockets.add(upstream);
        upstream.on('close', () => {
          sockets.delete(upstream);
          client.destroy();
        });
        client.on('close', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.once('error', () => tryNext(list.slice(1)));
    };
    tryNext(backends());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** POST to a node's server API. */
// biome-ignore lint/suspicious/noExplicitAny: API replies are free-form JSON in these tests.
export async function api(url: string, method: string, params: unknown, key = 'cluster-key'): Promise<any> {
  const res = await fetch(`${url}/api/${method}`, {
    method: 'POST',
    headers: { 'X-API-Key': key },
    body: JSON.stringify(params),
  });
  return res.json();
}
