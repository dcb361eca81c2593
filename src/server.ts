/**
 * The composition root: config → engine → node → HTTP server with the WebSocket endpoint → listen. Also the
 * graceful shutdown: stop accepting, close clients with 3001 in batches (they reconnect), close the engine.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpApi } from './api/http-api.js';
import type { Config } from './config/schema.js';
import { type Log, Node, silentLog, VERSION } from './core/node.js';
import { createMemoryEngine } from './engine/memory/memory-engine.js';
import type { Engine } from './engine/types.js';
import { WebSocketHandler } from './transport/websocket.js';

export interface ChorusServerOptions {
  config: Readonly<Config>;
  log?: Log;
  engine?: Engine;
}

export interface ChorusServer {
  readonly node: Node;
  readonly http: Server;
  /** Starts listening on `http_server.address:http_server.port` (port 0: any free port). */
  listen(): Promise<AddressInfo>;
  /** Graceful shutdown; resolves once every client is closed and the engine is stopped. */
  close(): Promise<void>;
}

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function createChorusServer(opts: ChorusServerOptions): Promise<ChorusServer> {
  const { config } = opts;
  const log = opts.log ?? silentLog;
  const engine = opts.engine ?? createMemoryEngine();
  const node = new Node({ config, engine, log });
  await node.start();
  const ws = new WebSocketHandler(node);
  const api = new HttpApi(node);
  if (api.enabled && !config.http_api.insecure && config.http_api.key === '') {
    log.warn({}, 'server API needs a key: set http_api.key (or http_api.disabled); until then it answers 401');
  }

  const http = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (api.matches(path)) {
      api.handle(req, res).catch((e) => {
        log.error({ err: e }, 'server API request failed');
        if (!res.headersSent) sendJSON(res, 500, { error: { code: 100, message: 'internal server error' } });
      });
      return;
    }
    if (path === '/health') {
      sendJSON(res, node.isClosing ? 503 : 200, node.isClosing ? { status: 'shutting down' } : {});
      return;
    }
    if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJSON(res, 200, {
        name: 'chorus',
        version: VERSION,
        websocket: ws.path,
        protocol: 'Centrifugo client protocol v2 (JSON)',
      });
      return;
    }
    sendJSON(res, 404, { error: 'not found' });
  });
  http.on('upgrade', (req, socket, head) => {
    if (!ws.handleUpgrade(req, socket, head)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });
  http.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });

  let closed: Promise<void> | undefined;
  return {
    node,
    http,
    listen() {
      return new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(config.http_server.port, config.http_server.address || undefined, () => {
          http.off('error', reject);
          resolve(http.address() as AddressInfo);
        });
      });
    },
    close() {
      closed ??= (async () => {
        const stopped = new Promise<void>((r) => http.close(() => r()));
        await node.shutdown();
        ws.close();
        http.closeIdleConnections();
        await stopped;
      })();
      return closed;
    },
  };
}
