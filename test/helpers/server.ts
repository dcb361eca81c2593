/** Starts a real Chorus server on a free loopback port for a test. */
import { loadConfig } from '../../src/config/load.js';
import type { Clock } from '../../src/core/ports/clock.js';
import type { Log } from '../../src/core/ports/log.js';
import type { Hooks } from '../../src/embedding/app-hooks.js';
import { createLogger } from '../../src/log.js';
import { type ChorusServer, createChorusServer } from '../../src/server.js';

export interface TestServer {
  server: ChorusServer;
  url: string;
  wsUrl: string;
  port: number;
  close(): Promise<void>;
}

/** Set CHORUS_TEST_LOG=debug to see the server's logs while a test runs. */
function testLog(): Log | undefined {
  const level = process.env.CHORUS_TEST_LOG;
  return level ? createLogger(level as 'debug', { pretty: false }) : undefined;
}

export async function startServer(
  config: Record<string, unknown> = {},
  opts: { hooks?: Partial<Hooks>; clock?: Clock; dev?: boolean } = {},
): Promise<TestServer> {
  const base = structuredClone(config) as Record<string, Record<string, unknown>>;
  base.http_server = { ...(base.http_server ?? {}), port: 0, address: '127.0.0.1' };
  const { config: cfg } = loadConfig({ base });
  const server = await createChorusServer({ config: cfg, log: testLog(), ...opts });
  const addr = await server.listen();
  const url = `http://127.0.0.1:${addr.port}`;
  return {
    server,
    url,
    wsUrl: `ws://127.0.0.1:${addr.port}/connection/websocket`,
    port: addr.port,
    close: () => server.close(),
  };
}

/** An open channel space like the development preset, for tests that are not about permissions. */
export function openChannels(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    allow_subscribe_for_client: true,
    allow_subscribe_for_anonymous: true,
    allow_publish_for_subscriber: true,
    allow_publish_for_anonymous: true,
    allow_presence_for_subscriber: true,
    allow_presence_for_anonymous: true,
    allow_history_for_subscriber: true,
    allow_history_for_anonymous: true,
    ...extra,
  };
}
