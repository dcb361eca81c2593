/**
 * Memory of a server process as V8 sees it, read the same way for every target without changing any of them:
 * the process is started with `--inspect=127.0.0.1:PORT`, and a short inspector session runs a full garbage
 * collection and reads `process.memoryUsage()`. Nothing else is done over the session, which is closed at once.
 */
import { createServer } from 'node:net';
import WebSocket from 'ws';

/** A TCP port free on 127.0.0.1 right now (for `--inspect`). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface HeapFigures {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** Runs a full GC in the process whose inspector listens on `port`, then returns its `process.memoryUsage()`. */
export async function memoryAfterGC(port: number, timeoutMs = 15_000): Promise<HeapFigures> {
  const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
    webSocketDebuggerUrl?: string;
  }>;
  const url = list[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const waiting = new Map<number, (msg: { result?: unknown; error?: unknown }) => void>();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: unknown };
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg);
  });
  let nextId = 1;
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      const t = setTimeout(() => reject(new Error(`inspector ${method}: no answer`)), timeoutMs);
      waiting.set(id, (msg) => {
        clearTimeout(t);
        if (msg.error) reject(new Error(`inspector ${method}: ${JSON.stringify(msg.error)}`));
        else resolve(msg.result);
      });
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call('HeapProfiler.collectGarbage');
    const r = (await call('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    })) as { result?: { value?: string } };
    return JSON.parse(r.result?.value ?? '{}') as HeapFigures;
  } finally {
    ws.terminate();
  }
}

/**
 * A session kept open on a process's inspector, for sampling it every few seconds: evaluate an expression in its
 * main context, or run a full garbage collection. Only reads; closed with the benchmark.
 */
export class InspectorSession {
  private nextId = 1;
  private readonly waiting = new Map<number, (msg: { result?: unknown; error?: unknown }) => void>();

  private constructor(
    private readonly ws: WebSocket,
    private readonly timeoutMs: number,
  ) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: unknown };
      if (msg.id !== undefined) this.waiting.get(msg.id)?.(msg);
    });
  }

  static async open(port: number, timeoutMs = 15_000): Promise<InspectorSession> {
    const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
      webSocketDebuggerUrl?: string;
    }>;
    const url = list[0]?.webSocketDebuggerUrl;
    if (!url) throw new Error(`no inspector target on port ${port}`);
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('error', () => {});
    return new InspectorSession(ws, timeoutMs);
  }

  private call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`inspector ${method}: no answer`));
      }, this.timeoutMs);
      this.waiting.set(id, (msg) => {
        clearTimeout(t);
        this.waiting.delete(id);
        if (msg.error) reject(new Error(`inspector ${method}: ${JSON.stringify(msg.error)}`));
        else resolve(msg.result);
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** The JSON value of `expression` (which must evaluate to a JSON string) in the process's main context. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.call('Runtime.evaluate', { expression, returnByValue: true })) as {
      result?: { value?: string };
    };
    return JSON.parse(r.result?.value ?? 'null') as T;
  }

  collectGarbage(): Promise<unknown> {
    return this.call('HeapProfiler.collectGarbage');
  }

  close(): void {
    this.ws.terminate();
  }
}
