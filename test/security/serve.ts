/** A real Chorus server for the security suites: every listener on loopback, its log lines kept for assertions. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { loadConfig } from '../../src/config/load.js';
import type { Engine } from '../../src/core/ports/engine.js';
import type { Log } from '../../src/core/ports/log.js';
import { type ChorusServer, createChorusServer } from '../../src/server.js';

export interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

export function captureLog(): Log & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: string) =>
    (obj: object, msg: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  return { lines, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface Served {
  server: ChorusServer;
  log: ReturnType<typeof captureLog>;
  /** Base URL of the public listener, e.g. "http://127.0.0.1:41234". */
  url: string;
  /** Base URL of the internal listener, when there is one. */
  internalUrl?: string;
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 (port 0; `internal_port: 0` opens an internal listener on another free port). */
export async function serve(config: Record<string, unknown>, engine?: Engine): Promise<Served> {
  const base = structuredClone(config) as Record<string, Record<string, unknown>>;
  base.http_server = { port: 0, address: '127.0.0.1', ...(base.http_server ?? {}) };
  const { config: cfg } = loadConfig({ base });
  const log = captureLog();
  const server = await createChorusServer({ config: cfg, log, engine });
  await server.listen();
  const [pub, internal] = server.listeners();
  const url = (l: { url: string; port: number }) => l.url.replace('//localhost:', '//127.0.0.1:');
  return {
    server,
    log,
    url: url(pub as { url: string; port: number }),
    internalUrl: internal === undefined ? undefined : url(internal),
    close: () => server.close(),
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * An HTTP(S) request sent with the path exactly as given: fetch() normalises "..", "%2e" and backslashes away,
 * which would hide the very requests an attacker sends.
 */
export function rawRequest(
  base: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; tls?: RequestOptions } = {},
): Promise<RawResponse> {
  const u = new URL(base);
  const https = u.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(
      {
        host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: Number(u.port),
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: false,
        ...(https ? { servername: 'localhost', ...opts.tls } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
