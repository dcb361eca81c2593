/**
 * `chorus agent` as a user runs it: a child process reporting to a real server, read back by an SDK subscriber.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext } from 'centrifuge';
import { websocketEndpoint } from '../../src/cli/agent.js';
import { developmentPreset } from '../../src/config/dev-preset.js';
import { loadConfig } from '../../src/config/load.js';
import { type ChorusServer, createChorusServer } from '../../src/server.js';
import { once, sdk, waitFor } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

const NUMBERS = ['cpu', 'mem', 'memUsed', 'memTotal', 'load1', 'cpus', 'interval', 'ts'] as const;
const CLI = ['--import', 'tsx', new URL('../../src/cli/run.ts', import.meta.url).pathname];

interface Agent {
  proc: ChildProcess;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
function startAgent(args: string[]): Agent {
  const proc = spawn(process.execPath, [...CLI, 'agent', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  let err = '';
  proc.stderr?.on('data', (d) => {
    err += d;
  });
  proc.stdout?.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { proc, stderr: () => err, exit };
}

function killAll(): void {
  for (const p of children.splice(0)) {
    if (p.exitCode === null && p.signalCode === null && p.pid !== undefined) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

const clients: Centrifuge[] = [];
function subscriber(url: string, channel = 'metrics') {
  const c = sdk(url);
  clients.push(c);
  const got: PublicationContext[] = [];
  const left: string[] = [];
  const sub = c.newSubscription(channel, { joinLeave: true });
  sub.on('publication', (ctx) => got.push(ctx));
  sub.on('leave', (ctx) => left.push(ctx.info.client));
  sub.subscribe();
  c.connect();
  return { c, sub, got, left, subscribed: once(sub, 'subscribed') };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref()),
  ]);
}

describe('chorus agent', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(developmentPreset());
  });
  afterEach(() => {
    killAll();
    for (const c of clients.splice(0)) c.disconnect();
  });
  after(async () => {
    killAll();
    await s.close();
  });

  test('reports sane numbers every interval; SIGTERM stops it with exit 0 and it leaves the channel', async () => {
    const sub = subscriber(s.wsUrl);
    await sub.subscribed;
    const agent = startAgent(['--server', s.url, '--name', 'test-agent', '--interval', '200ms']);
    await waitFor(() => sub.got.length >= 4, 15_000, `4 reports (agent said: ${agent.stderr()})`);
    const reports = sub.got.map((p) => p.data as Record<string, unknown>);
    for (const r of reports) {
      assert.equal(r.name, 'test-agent');
      for (const k of NUMBERS) {
        assert.equal(typeof r[k], 'number', `${k} is a number: ${JSON.stringify(r)}`);
        assert.ok(Number.isFinite(r[k]) && (r[k] as number) >= 0, `${k} is finite and >= 0: ${JSON.stringify(r)}`);
      }
      const { cpu, mem, memUsed, memTotal, interval, ts, cpus } = r as { [k in (typeof NUMBERS)[number]]: number };
      assert.ok(cpu <= 100, `cpu <= 100: ${cpu}`);
      assert.ok(mem > 0 && mem <= 100, `0 < mem <= 100: ${mem}`);
      assert.ok(memUsed > 0 && memUsed <= memTotal, `0 < memUsed <= memTotal: ${memUsed} ${memTotal}`);
      assert.ok(Math.abs(mem - (100 * memUsed) / memTotal) < 0.1, `mem is memUsed/memTotal: ${JSON.stringify(r)}`);
      assert.ok(cpus >= 1, `cpus >= 1: ${cpus}`);
      assert.equal(interval, 200);
      assert.ok(Math.abs(Date.now() - ts) < 10_000, `ts is now-ish: ${ts}`);
    }
    // Spaced by the interval, and published by one client (the SDK's publish carries the publisher's info).
    const ts = reports.map((r) => r.ts as number);
    for (let i = 1; i < ts.length; i++) {
      const d = (ts[i] as number) - (ts[i - 1] as number);
      assert.ok(d >= 100 && d <= 1500, `reports ~200ms apart: ${ts.join(', ')}`);
    }
    const client = sub.got[0]?.info?.client;
    assert.ok(client !== undefined && sub.got.every((p) => p.info?.client === client), 'one publisher');
    assert.match(agent.stderr(), /connected to ws:\/\/127\.0\.0\.1:\d+\/connection\/websocket/);

    const t0 = Date.now();
    agent.proc.kill('SIGTERM');
    const { code, signal } = await withTimeout(agent.exit, 5000, 'agent exit after SIGTERM');
    assert.equal(signal, null);
    assert.equal(code, 0, agent.stderr());
    assert.ok(Date.now() - t0 < 3000, `stopped in ${Date.now() - t0}ms`);
    // It was subscribed (for presence), so the channel sees it leave.
    await waitFor(() => sub.left.includes(client as string), 5000, 'leave event for the agent');
  });

  test('SIGINT stops it too', async () => {
    const sub = subscriber(s.wsUrl);
    await sub.subscribed;
    const agent = startAgent(['--server', s.wsUrl, '--name', 'int-agent', '--interval', '200ms', '--quiet']);
    await waitFor(() => sub.got.length >= 1, 15_000, `a report (agent said: ${agent.stderr()})`);
    agent.proc.kill('SIGINT');
    const { code } = await withTimeout(agent.exit, 5000, 'agent exit after SIGINT');
    assert.equal(code, 0, agent.stderr());
    assert.equal(agent.stderr(), '', '--quiet prints nothing but errors');
  });

  test('--channel, and --name defaults to the host name', async () => {
    const sub = subscriber(s.wsUrl, 'hosts');
    await sub.subscribed;
    startAgent(['--server', s.url, '--channel', 'hosts', '--interval', '200ms']);
    await waitFor(() => sub.got.length >= 1, 15_000, 'a report on "hosts"');
    assert.equal((sub.got[0]?.data as { name?: string } | undefined)?.name, hostname());
  });

  test('it rides out a server restart: skips reports while disconnected, then publishes again', async () => {
    // A server on a fixed port so that the agent can find its successor there.
    const boot = async (port: number): Promise<{ server: ChorusServer; port: number }> => {
      const base = developmentPreset() as Record<string, Record<string, unknown>>;
      base.http_server = { port, address: '127.0.0.1' };
      const server = await createChorusServer({ config: loadConfig({ base }).config });
      return { server, port: (await server.listen()).port };
    };
    const booted = await boot(0);
    let server = booted.server;
    const url = `http://127.0.0.1:${booted.port}`;
    const wsUrl = `ws://127.0.0.1:${booted.port}/connection/websocket`;
    const agent = startAgent(['--server', url, '--name', 'restart-agent', '--interval', '200ms']);
    try {
      const first = subscriber(wsUrl);
      await waitFor(() => first.got.length >= 2, 15_000, `reports before the restart (${agent.stderr()})`);
      first.c.disconnect();
      await server.close();
      await new Promise((r) => setTimeout(r, 1000)); // ~5 reports due while the server is gone
      assert.equal(agent.proc.exitCode, null, `the agent keeps running: ${agent.stderr()}`);
      server = (await boot(booted.port)).server;
      const second = subscriber(wsUrl);
      await waitFor(() => second.got.length >= 2, 20_000, `reports after the restart (${agent.stderr()})`);
      assert.match(agent.stderr(), /disconnected \(.*\); reconnecting/);
      // Reports due while it was cut off were skipped, not queued up and flushed.
      const ts = second.got.map((p) => (p.data as { ts: number }).ts);
      assert.ok(
        ts.every((t, i) => i === 0 || t - (ts[i - 1] as number) >= 100),
        `no backlog burst: ${ts.join(', ')}`,
      );
    } finally {
      killAll();
      for (const c of clients.splice(0)) c.disconnect();
      await server.close();
    }
  });

  test('a refused connection ends it with exit 1 and a hint', async () => {
    const locked = await startServer({});
    try {
      const agent = startAgent(['--server', locked.url, '--interval', '200ms']);
      const { code } = await withTimeout(agent.exit, 10_000, 'agent exit on refusal');
      assert.equal(code, 1);
      assert.match(agent.stderr(), /closed the connection for good: .*--token/);
    } finally {
      await locked.close();
    }
  });

  test('--help, and bad arguments fail with a message', async () => {
    const run = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(p);
        let stdout = '';
        let stderr = '';
        p.stdout?.on('data', (d) => {
          stdout += d;
        });
        p.stderr?.on('data', (d) => {
          stderr += d;
        });
        p.once('close', (status) => resolve({ status, stdout, stderr }));
      });
    const cases: [string[], RegExp][] = [
      [[], /--server is required/],
      [['--server', 'ftp://x'], /http\(s\):\/\/ or ws\(s\):\/\//],
      [['--server', 'http://x', '--interval', '5'], /--interval: invalid duration "5"/],
      [['--server', 'http://x', '--interval', '10ms'], /at least 100ms/],
      [['--server', 'http://x', '--bogus'], /bogus/],
    ];
    // All at once: each is a process start.
    const [help, main, ...bad] = await withTimeout(
      Promise.all([run(['agent', '--help']), run(['--help']), ...cases.map(([args]) => run(['agent', ...args]))]),
      20_000,
      'CLI runs',
    );
    assert.equal(help?.status, 0, help?.stderr);
    assert.match(help?.stdout ?? '', /^Usage: chorus agent --server URL/);
    assert.match(help?.stdout ?? '', /--interval/);
    assert.match(main?.stdout ?? '', /agent {9}report this host's CPU/);
    cases.forEach(([args, re], i) => {
      assert.equal(bad[i]?.status, 1, `agent ${args.join(' ')}`);
      assert.match(bad[i]?.stderr ?? '', re);
    });
  });

  test('server URLs: http(s) and ws(s) bases, with or without the endpoint path', () => {
    assert.equal(websocketEndpoint('http://localhost:8000'), 'ws://localhost:8000/connection/websocket');
    assert.equal(websocketEndpoint('https://rt.example.com/'), 'wss://rt.example.com/connection/websocket');
    assert.equal(websocketEndpoint('ws://h:1/connection/websocket'), 'ws://h:1/connection/websocket');
    assert.equal(websocketEndpoint('wss://h/chorus'), 'wss://h/chorus/connection/websocket');
    assert.equal(websocketEndpoint('localhost:8000'), 'ws://localhost:8000/connection/websocket');
    assert.throws(() => websocketEndpoint('ftp://h'), /http\(s\)/);
  });
});
