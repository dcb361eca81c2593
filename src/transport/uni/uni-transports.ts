/**
 * The unidirectional transports of one node — `uni_websocket`, `uni_sse`, `uni_http_stream` — for clients
 * without an SDK, each on when its `enabled` key says so. They share the origin rule and one set of connection
 * limits. The standalone server and the embedding API register them: the HTTP ones as a route (routes.ts), the
 * WebSocket one in the upgrade path next to the bidirectional endpoint.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../../config/schema.js';
import type { Node } from '../../core/node.js';
import { ClientAddresses } from '../client-address.js';
import type { TransportKind } from '../client-transports.js';
import { ConnectionLimits } from '../connection-limits.js';
import { compileOrigins } from '../origin.js';
import { UniHttpEndpoints } from './http-endpoints.js';
import { UniWebSocketHandler } from './uni-websocket-handler.js';

export class UniTransports {
  private readonly limits: ConnectionLimits;
  private readonly http: UniHttpEndpoints | undefined;
  private readonly websocket: UniWebSocketHandler | undefined;

  /** `limits`: shared with the other transports, so an address's connections count wherever they arrive. */
  constructor(node: Node, config: Readonly<Config>, limits = new ConnectionLimits(config.client)) {
    const origins = compileOrigins(config.client.allowed_origins);
    const addresses = new ClientAddresses(config.http_server.trusted_proxies);
    this.limits = limits;
    const http = new UniHttpEndpoints(node, config, origins, addresses, this.limits);
    this.http = http.enabled ? http : undefined;
    this.websocket = config.uni_websocket.enabled
      ? new UniWebSocketHandler(node, config, origins, addresses, this.limits)
      : undefined;
  }

  /** The route of uni_sse and uni_http_stream: false for any other request. */
  readonly route = (req: IncomingMessage, res: ServerResponse, path: string): boolean | Promise<boolean> =>
    this.http === undefined ? false : this.http.route(req, res, path);

  /** Takes an upgrade for uni_websocket; false for any other path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    return this.websocket?.handleUpgrade(req, socket, head) ?? false;
  }

  close(): void {
    this.websocket?.close();
    this.limits.close();
  }
}

/** uni_websocket, uni_sse and uni_http_stream, as the composition root lists transports. */
export const uniTransports: TransportKind = {
  name: 'uni',
  create: ({ node, config, limits }) => {
    if (!config.uni_websocket.enabled && !config.uni_sse.enabled && !config.uni_http_stream.enabled) return undefined;
    const t = new UniTransports(node, config, limits);
    const served = [
      ...(config.uni_websocket.enabled ? [`uni_websocket ${config.uni_websocket.handler_prefix}`] : []),
      ...(config.uni_sse.enabled ? [`uni_sse ${config.uni_sse.handler_prefix}`] : []),
      ...(config.uni_http_stream.enabled ? [`uni_http_stream ${config.uni_http_stream.handler_prefix}`] : []),
    ];
    return {
      route: t.route,
      handleUpgrade: (req, socket, head) => t.handleUpgrade(req, socket, head),
      served,
      close: () => t.close(),
    };
  },
};
