/**
 * The HTTP transports with bidirectional emulation, as the configuration enables them: HTTP-streaming
 * (`http_stream.enabled`), SSE (`sse.enabled`) and, with either, the emulation endpoint their commands after
 * connect arrive at. One route serves them all on the listener that serves client connections (src/routes.ts),
 * and this node takes emulation requests routed to it from other nodes (server-ops).
 */
import type { Config } from '../../config/schema.js';
import type { Node } from '../../core/node.js';
import type { Route } from '../../http/router.js';
import type { ClientCodec, CodecName } from '../../protocol/codec.js';
import type { TransportKind } from '../client-transports.js';
import type { ConnectionLimits } from '../connection-limits.js';
import { HttpStreamHandler } from '../http-stream/handler.js';
import { SseHandler } from '../sse/handler.js';
import { EmulationHandler } from './handler.js';
import { EmulatedSessions } from './sessions.js';
import { StreamOpener } from './stream-opener.js';

export interface EmulatedTransports {
  /** Serves the enabled endpoints; false for any other path. */
  readonly route: Route;
  /** The emulated sessions this node holds. */
  readonly sessions: EmulatedSessions;
  /** The paths served, for the start-up log ("http_stream /connection/http_stream" …). */
  readonly served: string[];
}

/** The enabled transports, or undefined when neither HTTP-streaming nor SSE is. */
export function createEmulatedTransports(
  node: Node,
  config: Readonly<Config>,
  codecs: ReadonlyMap<CodecName, ClientCodec>,
  limits: ConnectionLimits,
): EmulatedTransports | undefined {
  if (!config.http_stream.enabled && !config.sse.enabled) return undefined;
  const sessions = new EmulatedSessions();
  node.ops.deliverEmulationWith(sessions.deliver);
  const opener = new StreamOpener(node, config, sessions, limits);
  const routes: Route[] = [];
  const served: string[] = [];
  if (config.http_stream.enabled) {
    const h = new HttpStreamHandler(opener, config, codecs);
    routes.push(h.route);
    served.push(`http_stream ${h.path}`);
  }
  if (config.sse.enabled) {
    const h = new SseHandler(opener, config, codecs);
    routes.push(h.route);
    served.push(`sse ${h.path}`);
  }
  const emulation = new EmulationHandler(node, config, opener.origins);
  routes.push(emulation.route);
  served.push(`emulation ${emulation.path}`);
  const route: Route = async (req, res, path) => {
    for (const r of routes) if (await r(req, res, path)) return true;
    return false;
  };
  return { route, sessions, served };
}

/** HTTP-streaming, SSE and the emulation endpoint, as the composition root lists transports. */
export const emulatedTransports: TransportKind = {
  name: 'emulation',
  create: ({ node, config, codecs, limits }) => {
    const t = createEmulatedTransports(node, config, codecs, limits);
    return t === undefined ? undefined : { route: t.route, served: t.served };
  },
};
