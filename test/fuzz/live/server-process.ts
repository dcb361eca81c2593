/**
 * A Chorus server in a process of its own, for tests that load it from outside: what they measure of it (event-loop
 * turns, heap, CPU) is the server's alone, not their own load generator's work and garbage. The loop monitor runs
 * inside the server process and reports each long turn as it ends; counts, heap and CPU are asked over IPC; an
 * uncaught exception or rejection in the server process is reported back (and the process keeps running, as the
 * server's own handlers would let it).
 *
 * `startServerProcess(config)` in the test; this file is also the child's entry point.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type LongTurn, LoopMonitor, type LoopRecord } from './checks.js';

export interface ServerCounts {
  sessions: number;
  clients: number;
  subscriptions: number;
  channels: number;
}

type Request =
  | { id: number; op: 'start'; config: Record<string, unknown> }
  | { id: number; op: 'counts' | 'monitor-start' | 'monitor-stop' | 'heap' | 'cpu' | 'close' };

type Message =
  | { id: number; ok: unknown }
  | { id: number; error: string }
  | { event: 'long'; turn: LongTurn; index: number }
  | { event: 'crash'; stack: string };

export interface ServerProcess {
  port: number;
  url: string;
  wsUrl: string;
  pid: number;
  /** Uncaught exceptions and rejections in the server process (and its unexpected exit). */
  crashes: string[];
  counts(): Promise<ServerCounts>;
  /** Starts the server-side loop monitor; `onLong(turn, index)` hears of each turn over its keep bound. */
  startMonitor(onLong: (turn: LongTurn, index: number) => void): Promise<void>;
  stopMonitor(): Promise<LoopRecord>;
  /** Heap used by the server process, after a full GC (the child runs with --expose-gc). */
  heapMB(): Promise<number>;
  /** CPU time of the server process so far (user + system, ms). */
  cpuMs(): Promise<number>;
  close(): Promise<void>;
}

const ENTRY = fileURLToPath(import.meta.url);

/** `execArgv`: more flags for the server's node (e.g. `--cpu-prof` to see what its long turns do). */
export async function startServerProcess(
  config: Record<string, unknown>,
  opts: { execArgv?: string[] } = {},
): Promise<ServerProcess> {
  const child: ChildProcess = fork(ENTRY, [], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...(opts.execArgv ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, CHORUS_SERVER_PROCESS: '1' },
  });
  const crashes: string[] = [];
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let onLong: ((turn: LongTurn, index: number) => void) | undefined;
  let closing = false;
  let nextId = 1;
  child.on('message', (m: Message) => {
    if ('event' in m) {
      if (m.event === 'long') onLong?.(m.turn, m.index);
      else crashes.push(`server process: ${m.stack}`);
      return;
    }
    const p = pending.get(m.id);
    pending.delete(m.id);
    if ('error' in m) p?.reject(new Error(m.error));
    else p?.resolve(m.ok);
  });
  child.on('exit', (code, signal) => {
    if (!closing) crashes.push(`server process exited (code ${code}, signal ${signal})`);
    for (const p of pending.values()) p.reject(new Error('server process exited'));
    pending.clear();
  });
  const call = <T>(op: Request['op'], extra: Record<string, unknown> = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, op, ...extra });
    });
  const port = await call<number>('start', { config });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    pid: child.pid as number,
    crashes,
    counts: () => call<ServerCounts>('counts'),
    startMonitor: async (f) => {
      onLong = f;
      await call('monitor-start');
    },
    stopMonitor: () => call<LoopRecord>('monitor-stop'),
    heapMB: () => call<number>('heap'),
    cpuMs: () => call<number>('cpu'),
    close: async () => {
      closing = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await call('close').catch(() => {});
      await Promise.race([exited, new Promise<void>((r) => setTimeout(r, 5000).unref())]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** The child: serves requests from the parent until told to close. */
async function serve(): Promise<void> {
  const { startServer } = await import('../../helpers/server.js');
  const send = (m: Message) => process.send?.(m);
  const crash = (e: unknown) =>
    send({ event: 'crash', stack: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let monitor: LoopMonitor | undefined;
  const ops: Record<Request['op'], (r: Request) => Promise<unknown> | unknown> = {
    start: async (r) => {
      server = await startServer((r as { config: Record<string, unknown> }).config);
      return server.port;
    },
    counts: () => {
      const node = (server as NonNullable<typeof server>).server.node;
      return {
        sessions: node.sessions.size,
        clients: node.clients.size,
        subscriptions: node.hub.numSubscriptions,
        channels: node.hub.numChannels,
      } satisfies ServerCounts;
    },
    'monitor-start': () => {
      monitor = new LoopMonitor();
      monitor.onLong = (turn, index) => send({ event: 'long', turn, index });
      monitor.start();
    },
    'monitor-stop': () => {
      monitor?.stop();
      return monitor?.record();
    },
    heap: () => {
      (globalThis as { gc?: () => void }).gc?.();
      return process.memoryUsage().heapUsed / 2 ** 20;
    },
    cpu: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    },
    close: async () => {
      await server?.close();
      setImmediate(() => process.disconnect?.());
    },
  };
  process.on('message', (r: Request) => {
    Promise.resolve()
      .then(() => ops[r.op](r))
      .then(
        (ok) => send({ id: r.id, ok: ok ?? null }),
        (e: unknown) => send({ id: r.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
      );
  });
}

if (process.env.CHORUS_SERVER_PROCESS === '1' && process.argv[1] === ENTRY) await serve();
