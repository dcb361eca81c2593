/** `/health` (liveness), `/ready` (readiness) and `/info` (what this server is), as routes. */
import type { Node } from '../core/node.js';
import { VERSION } from '../core/version.js';
import { sendJSON } from '../http/reply.js';
import type { Route } from '../http/router.js';

export function healthRoutes(node: Node): Route {
  return (_req, res, path) => {
    if (path === '/health') {
      // Liveness: the process serves. The engine's state is reported, readiness is /ready.
      const engine = node.engine.ready() ? 'ok' : 'unreachable';
      sendJSON(res, node.isClosing ? 503 : 200, { status: node.isClosing ? 'shutting down' : 'ok', engine });
      return true;
    }
    if (path === '/ready') {
      // Readiness: 503 while the engine (Redis) is unreachable or the node is stopping: route traffic elsewhere.
      sendJSON(res, node.ready ? 200 : 503, { ready: node.ready, engine: node.engine.name });
      return true;
    }
    return false;
  };
}

export const infoRoute: Route = (req, res, path) => {
  if (path !== '/info' || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  sendJSON(res, 200, {
    name: 'chorus',
    version: VERSION,
    websocket: '/connection/websocket',
    protocol: 'Centrifugo client protocol v2 (JSON and Protobuf)',
  });
  return true;
};
