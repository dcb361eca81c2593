/**
 * The transports fuzz's server in a process of its own, so what the fuzz measures of it (event-loop turns, CPU) is
 * the server's alone: in the test's process the load generator's own work (building 5,000-command and
 * 64 KiB-repeated-field frames, decoding every reply, the SDK bystanders) ran in the same turns and made most of
 * every long one. The loop monitor (the live fuzz's, ../live/checks.ts) runs inside the server process; counts, errors logged, the node id
 * and CPU are asked over IPC; an uncaught exception or rejection in the server process is reported back (and the
 * process keeps running, as the server's own handlers would let it). Same shape as the live fuzz's
 * test/fuzz/live/server-process.ts on the h-stall branch.
 *
 * `startServerProcess(config)` in the test; this file is also the child's entry point. FUZZ_SERVER_EXEC_ARGV adds
 * node flags to the server process (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see what its long turns do).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LoopMonitor, type LoopRecord } from '../live/checks.js';

export interface ServerCounts {
  sessions: number;
  clients: number;
  subscriptions: number;
  channels: number;
}

type Op = 'start' | 'counts' | 'errors' | 'monitor-start' | 'monitor-stop' | 'cpu' | 'close';
type Request = { id: number; op: Op; config?: Record<string, unknown>; keepOverMs?: number };
type Message = { id: number; ok: unknown } | { id: number; error: string } | { event: 'crash'; stack: string };

export interface ServerProcess {
  port: number;
  pid: number;
  /** The server node's id (what emulation requests must name). */
  nodeId: string;
  /** Uncaught exceptions and rejections in the server process, and its unexpected exit. */
  crashes: string[];
  counts(): Promise<ServerCounts>;
  /** Lines the server logged at error level (the first 20). */
  errors(): Promise<string[]>;
  /** Starts the server-side loop monitor, keeping every turn over `keepOverMs` of CPU. */
  startMonitor(keepOverMs?: number): Promise<void>;
  stopMonitor(): Promise<LoopRecord>;
  /** CPU time of the server process so far (user + system, all threads, ms). */
  cpuMs(): Promise<number>;
  close(): Promise<void>;
}

const ENTRY = fileURLToPath(import.meta.url);

export async function startServerProcess(config: Record<string, unknown>): Promise<ServerProcess> {
  const extra = (process.env.FUZZ_SERVER_EXEC_ARGV ?? '').split(/\s+/).filter((a) => a !== '');
  const child: ChildProcess = fork(ENTRY, [], {
    execArgv: ['--import', 'tsx', ...extra],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, CHORUS_TRANSPORTS_SERVER_PROCESS: '1' },
  });
  const crashes: string[] = [];
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let closing = false;
  let nextId = 1;
  child.on('message', (m: Message) => {
    if ('event' in m) {
      crashes.push(`server process: ${m.stack}`);
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
  const call = <T>(op: Op, extra: Record<string, unknown> = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error('server process exited'));
        return;
      }
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, op, ...extra });
    });
  const { port, nodeId } = await call<{ port: number; nodeId: string }>('start', { config });
  return {
    port,
    pid: child.pid as number,
    nodeId,
    crashes,
    counts: () => call<ServerCounts>('counts'),
    errors: () => call<string[]>('errors'),
    startMonitor: (keepOverMs = 20) => call<void>('monitor-start', { keepOverMs }),
    stopMonitor: () => call<LoopRecord>('monitor-stop'),
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

/** The child: one server, serving the parent's requests until told to close. */
async function serve(): Promise<void> {
  const { loadConfig } = await import('../../../src/config/load.js');
  const { createChorusServer } = await import('../../../src/server.js');
  const send = (m: Message) => process.send?.(m);
  const crash = (e: unknown) =>
    send({ event: 'crash', stack: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);

  // A log that keeps error lines only (the storm's debug and info lines would be many): none may appear.
  const errors: string[] = [];
  const none = () => {};
  const log = {
    trace: none,
    debug: none,
    info: none,
    warn: none,
    error: (obj: object, msg: string) => {
      if (errors.length < 20) {
        const err = (obj as { err?: unknown }).err;
        const detail = err instanceof Error ? (err.stack ?? err.message) : JSON.stringify(obj).slice(0, 300);
        errors.push(`${msg}: ${detail}`);
      }
    },
  };

  let server: Awaited<ReturnType<typeof createChorusServer>> | undefined;
  let monitor: LoopMonitor | undefined;
  const ops: Record<Op, (r: Request) => Promise<unknown> | unknown> = {
    start: async (r) => {
      const base = structuredClone(r.config ?? {}) as Record<string, Record<string, unknown>>;
      base.http_server = { port: 0, address: '127.0.0.1' };
      const { config } = loadConfig({ base });
      server = await createChorusServer({ config, log });
      const { port } = await server.listen();
      return { port, nodeId: server.node.uid };
    },
    counts: () => {
      const node = (server as NonNullable<typeof server>).node;
      return {
        sessions: node.sessions.size,
        clients: node.clients.size,
        subscriptions: node.hub.numSubscriptions,
        channels: node.hub.numChannels,
      } satisfies ServerCounts;
    },
    errors: () => errors,
    'monitor-start': (r) => {
      monitor = new LoopMonitor();
      monitor.keepOverMs = r.keepOverMs ?? 20;
      monitor.start();
    },
    'monitor-stop': () => {
      monitor?.stop();
      return monitor?.record();
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

if (process.env.CHORUS_TRANSPORTS_SERVER_PROCESS === '1' && process.argv[1] === ENTRY) await serve();
