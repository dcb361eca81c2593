/**
 * What every benchmark run must guarantee: it stops by itself (a deadline), and it stops only what it started —
 * the server processes it spawned (by PID) and the connections it opened — on success, on errors, on signals and
 * on the deadline.
 */
import type { ServerProcess } from './server.js';
import type { WireConn } from './wire.js';

export class Lifecycle {
  private readonly servers = new Set<ServerProcess>();
  /** Connections of the target being measured, dropped when its server stops. */
  conns: WireConn[] = [];

  constructor(deadlineSeconds: number) {
    const deadline = setTimeout(() => {
      console.error(`benchmark exceeded ${deadlineSeconds} s: stopping everything it started`);
      this.killAll();
      process.exit(2);
    }, deadlineSeconds * 1000);
    deadline.unref();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        this.killAll();
        process.exit(130);
      });
    }
  }

  /** Starts a server, runs `f` against it, then drops every connection and stops the server (also on errors). */
  async withServer<T>(start: () => Promise<ServerProcess>, f: (server: ServerProcess) => Promise<T>): Promise<T> {
    const server = await start();
    this.servers.add(server);
    try {
      return await f(server);
    } finally {
      this.dropConnections();
      await server.stop();
      this.servers.delete(server);
    }
  }

  dropConnections(): void {
    for (const c of this.conns) c.destroy();
    this.conns = [];
  }

  killAll(): void {
    this.dropConnections();
    for (const s of this.servers) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {}
    }
    this.servers.clear();
  }
}
