/**
 * The standalone server (`chorus serve`): a Chorus (config → engine → node → WebSocket + API, see chorus.ts) on
 * its own HTTP(S) listeners, plus health and the landing route. With `http_server.internal_port` the operators'
 * endpoints move to a second listener (transport/listen-plan.ts). Graceful shutdown: stop accepting, close
 * clients with 3001 in batches (they reconnect), close the engine.
 */
import type { Server, ServerOptions } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpApi } from './api/http-api.js';
import { compose, defaultNodeName } from './compose.js';
import type { Config } from './config/schema.js';
import type { Node } from './core/node.js';
import type { Clock } from './core/ports/clock.js';
import type { Engine } from './core/ports/engine.js';
import { type Log, silentLog } from './core/ports/log.js';
import type { Hooks } from './embedding/app-hooks.js';
import { createMetrics } from './metrics/metrics.js';
import { createRouter } from './routes.js';
import { type Endpoints, planListeners } from './transport/listen-plan.js';
import { type ListenerInfo, Listeners } from './transport/listeners.js';
import { refuseUpgrade } from './transport/refuse-upgrade.js';
import { createAdminApi } from './web/admin-api.js';

/** How long a shutdown waits for HTTP requests in flight before closing their connections. */
const SHUTDOWN_REQUEST_GRACE_MS = 2000;

export interface ChorusServerOptions {
  config: Readonly<Config>;
  log?: Log;
  engine?: Engine;
  hooks?: Partial<Hooks>;
  /** Time for the node (tests inject a manual clock). */
  clock?: Clock;
  /** Started with the development preset (`chorus serve --dev`): the landing page shows its hints. */
  dev?: boolean;
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

/**
 * Node's own guards against slow clients, from `http_server.headers_timeout` and `request_timeout`. Node checks
 * them only every `connectionsCheckingInterval` (30 s by default, so a slowloris connection outlived its limit by
 * far): here every second, or sooner for shorter limits. They apply while a request is being received; an
 * upgraded WebSocket connection, and a response however long it streams, are not cut by them.
 */
export function httpServerOptions(config: Readonly<Config>): ServerOptions {
  const { headers_timeout: headers, request_timeout: request } = config.http_server;
  const limits = [headers, request].filter((ms) => ms > 0);
  return {
    headersTimeout: headers,
    requestTimeout: request,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, ...limits.map((ms) => ms / 4))),
  };
}

export async function createChorusServer(opts: ChorusServerOptions): Promise<ChorusServer> {
  const { config } = opts;
  const log = opts.log ?? silentLog;
  const composed = await compose({ config, log, engine: opts.engine, hooks: opts.hooks, clock: opts.clock });
  const node = composed.node;
  const transports = composed.transports;
  log.info({ endpoints: transports.served }, 'client transports');
  const httpApi = new HttpApi(node, config);
  if (!config.http_api.disabled && !config.http_api.insecure && config.http_api.key === '') {
    log.warn({}, 'server API needs a key: set http_api.key (or http_api.disabled); until then it answers 401');
  }
  const metrics = composed.metricsStats && createMetrics(node, composed.metricsStats);
  const admin = composed.adminActivity && createAdminApi(node, config, composed.adminActivity);
  const stop = async () => {
    await node.shutdown();
    transports.close();
  };

  function wire(http: Server, endpoints: Endpoints): void {
    // Read by Node when the server starts listening (the checking interval) and at every check (the limits).
    Object.assign(http, httpServerOptions(config));
    http.on('upgrade', (req, socket, head) => {
      if (!endpoints.websocket || !transports.handleUpgrade(req, socket, head)) {
        refuseUpgrade(socket, 404, 'Not Found');
      }
    });
    http.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // A malformed request, a reset mid-request, or a request too slow to arrive: say which, if the peer can
      // still read it (the statuses Node itself would send).
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') refuseUpgrade(socket, 408, 'Request Timeout');
      else if (err.code === 'HPE_HEADER_OVERFLOW') refuseUpgrade(socket, 431, 'Request Header Fields Too Large');
      else refuseUpgrade(socket, 400, 'Bad Request');
    });
  }

  let listeners: Listeners;
  try {
    listeners = new Listeners(
      planListeners(config),
      (plan) =>
        createRouter(
          { node, config, log, httpApi, metrics, admin, dev: opts.dev === true, connections: transports.route },
          plan.endpoints,
        ).handle,
      (server, plan) => wire(server, plan.endpoints),
      log,
    );
  } catch (e) {
    await stop();
    throw e;
  }

  let closed: Promise<void> | undefined;
  return {
    node,
    http: listeners.primary,
    async listen() {
      await listeners.listen();
      const address = listeners.info()[0]?.addresses[0] as AddressInfo;
      // Named after the public port, as Centrifugo does (unless node.name is set).
      if (config.node.name === '') node.rename(defaultNodeName(address.port));
      return address;
    },
    listeners: () => listeners.info(),
    reloadTls: (reason = 'requested') => listeners.reloadTls(reason),
    close() {
      closed ??= (async () => {
        const stopped = listeners.close();
        await stop();
        listeners.closeIdleConnections();
        // Requests in flight get a moment to finish; then connections that never sent a request (preconnects,
        // half-sent requests) are cut, since Node stops timing them out once the server is closing.
        const grace = setTimeout(() => listeners.closeAllConnections(), SHUTDOWN_REQUEST_GRACE_MS);
        await stopped;
        clearTimeout(grace);
      })();
      return closed;
    },
  };
}
