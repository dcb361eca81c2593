/**
 * The standalone server (`chorus serve`): a Chorus (config → engine → node → WebSocket + API, see chorus.ts) on
 * its own HTTP(S) listeners, plus health and the landing route. With `http_server.internal_port` the operators'
 * endpoints move to a second listener (transport/listen-plan.ts). Graceful shutdown: stop accepting, close
 * clients with 3001 in batches (they reconnect), close the engine.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createChorus } from './chorus.js';
import type { Config } from './config/schema.js';
import type { Hooks } from './core/hooks.js';
import { type Log, type Node, silentLog, VERSION } from './core/node.js';
import type { Engine } from './engine/types.js';
import { createMetrics } from './metrics/metrics.js';
import { type Endpoints, planListeners } from './transport/listen-plan.js';
import { type ListenerInfo, Listeners } from './transport/listeners.js';
import { refuseUpgrade } from './transport/refuse-upgrade.js';
import { createAdminApi } from './web/admin-api.js';
import { serveStatic } from './web/static.js';

export interface ChorusServerOptions {
  config: Readonly<Config>;
  log?: Log;
  engine?: Engine;
  hooks?: Partial<Hooks>;
}

export interface ChorusServer {
  readonly node: Node;
  /** The public listener's server (the first one when "localhost" binds two addresses). */
  readonly http: Server;
  /**
   * Starts listening on `http_server.address:http_server.port` (port 0: any free port), and on the internal
   * port when one is set; resolves with the public listener's address.
   */
  listen(): Promise<AddressInfo>;
  /** Every listener once listening: role, base URL, addresses, what it serves, TLS. */
  listeners(): ListenerInfo[];
  /** Loads the TLS certificates again (as on SIGHUP); false when one failed (logged, the old one stays). */
  reloadTls(reason?: string): boolean;
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
  const { rpc, ...hooks } = opts.hooks ?? {};
  const chorus = await createChorus({
    loadedConfig: config,
    log,
    engine: opts.engine,
    hooks: { ...hooks, rpc: rpc ? Object.fromEntries(rpc) : undefined },
  });
  const node = chorus.node;
  if (!config.http_api.disabled && !config.http_api.insecure && config.http_api.key === '') {
    log.warn({}, 'server API needs a key: set http_api.key (or http_api.disabled); until then it answers 401');
  }
  const api = chorus.apiMiddleware();
  const metrics = config.prometheus.enabled ? createMetrics(node) : undefined;
  const admin = config.admin.enabled ? createAdminApi(node) : undefined;

  function handleRequest(req: IncomingMessage, res: ServerResponse, endpoints: Endpoints): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/health' && endpoints.health) {
      // Liveness: the process serves. The engine's state is reported, readiness is /ready.
      const engine = node.engine.ready() ? 'ok' : 'unreachable';
      sendJSON(res, node.isClosing ? 503 : 200, { status: node.isClosing ? 'shutting down' : 'ok', engine });
      return;
    }
    if (path === '/ready' && endpoints.health) {
      // Readiness: 503 while the engine (Redis) is unreachable or the node is stopping: route traffic elsewhere.
      sendJSON(res, node.ready ? 200 : 503, { ready: node.ready, engine: node.engine.name });
      return;
    }
    if (path === '/metrics' && metrics !== undefined && endpoints.metrics) {
      metrics.handle(req, res).catch(fail);
      return;
    }
    if (path.startsWith('/admin/api/') && admin !== undefined && endpoints.admin) {
      admin
        .handle(req, res)
        .then((handled) => {
          if (!handled) sendJSON(res, 404, { error: 'not found' });
        })
        .catch(fail);
      return;
    }
    const rest = (err?: unknown) => {
      if (err) {
        fail(err);
        return;
      }
      if (path === '/info' && endpoints.pages && (req.method === 'GET' || req.method === 'HEAD')) {
        sendJSON(res, 200, {
          name: 'chorus',
          version: VERSION,
          websocket: '/connection/websocket',
          protocol: 'Centrifugo client protocol v2 (JSON)',
        });
        return;
      }
      serveStatic(req, res, config, { public: endpoints.pages, admin: endpoints.admin })
        .then((served) => {
          if (!served) sendJSON(res, 404, { error: 'not found' });
        })
        .catch(fail);
    };
    if (endpoints.api) api(req, res, rest);
    else rest();
    function fail(err: unknown) {
      log.error({ err, path }, 'request failed');
      if (!res.headersSent) sendJSON(res, 500, { error: { code: 100, message: 'internal server error' } });
    }
  }
  function wire(http: Server, endpoints: Endpoints): void {
    http.on('upgrade', (req, socket, head) => {
      if (!endpoints.websocket || !chorus.handleUpgrade(req, socket, head)) {
        refuseUpgrade(socket, 404, 'Not Found');
      }
    });
    http.on('clientError', (_err, socket) => {
      // A malformed request, or a reset mid-request: answer 400 if the peer can still read it.
      refuseUpgrade(socket, 400, 'Bad Request');
    });
  }

  let listeners: Listeners;
  try {
    listeners = new Listeners(
      planListeners(config),
      (plan) => (req, res) => handleRequest(req, res, plan.endpoints),
      (server, plan) => wire(server, plan.endpoints),
      log,
    );
  } catch (e) {
    await chorus.close();
    throw e;
  }

  let closed: Promise<void> | undefined;
  return {
    node,
    http: listeners.primary,
    async listen() {
      await listeners.listen();
      return listeners.info()[0]?.addresses[0] as AddressInfo;
    },
    listeners: () => listeners.info(),
    reloadTls: (reason = 'requested') => listeners.reloadTls(reason),
    close() {
      closed ??= (async () => {
        const stopped = listeners.close();
        await chorus.close();
        listeners.closeIdleConnections();
        await stopped;
      })();
      return closed;
    },
  };
}
