/** A server on a free loopback port whose log lines are kept, for tests that check what was logged and at which level. */
import { loadConfig } from '../../src/config/load.js';
import type { Log } from '../../src/core/ports/log.js';
import { type ChorusServer, createChorusServer } from '../../src/server.js';

export interface LogLine {
  level: keyof Log;
  obj: Record<string, unknown>;
  msg: string;
}

export function captureLog(): Log & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: keyof Log) =>
    (obj: object, msg: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  return { lines, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface LoggedServer {
  server: ChorusServer;
  url: string;
  wsUrl: string;
  port: number;
  log: ReturnType<typeof captureLog>;
  close(): Promise<void>;
}

export async function startLoggedServer(config: Record<string, unknown> = {}): Promise<LoggedServer> {
  const base = structuredClone(config) as Record<string, Record<string, unknown>>;
  base.http_server = { ...(base.http_server ?? {}), port: 0, address: '127.0.0.1' };
  const { config: cfg } = loadConfig({ base });
  const log = captureLog();
  const server = await createChorusServer({ config: cfg, log });
  const { port } = await server.listen();
  return {
    server,
    log,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    close: () => server.close(),
  };
}
