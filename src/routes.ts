/**
 * The HTTP routes of one listener, by what its plan says it serves (transport/listen-plan.ts): health and
 * readiness, metrics, the client transports over HTTP, the admin API, the server API, `/info`, the pages. One router answers them all
 * (http/router.ts), so every route is tested without a socket by injecting requests into it.
 */
import type { HttpApi } from './api/http-api.js';
import type { Config } from './config/schema.js';
import type { Node } from './core/node.js';
import type { Log } from './core/ports/log.js';
import { type Route, Router } from './http/router.js';
import type { Metrics } from './metrics/metrics.js';
import type { Endpoints } from './transport/listen-plan.js';
import type { AdminApi } from './web/admin-api.js';
import { healthRoutes, infoRoute } from './web/health.js';
import { serveStatic } from './web/static.js';

export interface RouteParts {
  node: Node;
  config: Readonly<Config>;
  log: Log;
  httpApi: HttpApi;
  metrics?: Metrics | undefined;
  admin?: AdminApi | undefined;
  /** Started with the development preset: the landing page shows its hints. */
  dev: boolean;
  /**
   * Client connections over HTTP, as enabled: HTTP-streaming, SSE and their emulation endpoint, uni_sse and
   * uni_http_stream (ClientTransports.route).
   */
  connections?: Route | undefined;
}

export function createRouter(parts: RouteParts, endpoints: Endpoints): Router {
  const { node, config, httpApi, metrics, admin } = parts;
  const routes: Route[] = [];
  // Where WebSocket clients connect, so do those that fall back to HTTP.
  if (parts.connections !== undefined && endpoints.websocket) routes.push(parts.connections);
  if (endpoints.health) routes.push(healthRoutes(node));
  if (metrics !== undefined && endpoints.metrics) {
    routes.push(async (req, res, path) => {
      if (path !== '/metrics') return false;
      await metrics.handle(req, res);
      return true;
    });
  }
  if (admin !== undefined && endpoints.admin) routes.push((req, res) => admin.handle(req, res));
  if (endpoints.api) {
    routes.push(async (req, res, path) => {
      if (!httpApi.matches(path)) return false;
      await httpApi.handle(req, res);
      return true;
    });
  }
  if (endpoints.pages) routes.push(infoRoute);
  routes.push((req, res) =>
    serveStatic(req, res, config, { public: endpoints.pages, admin: endpoints.admin }, { dev: parts.dev, endpoints }),
  );
  return new Router(routes, parts.log);
}
