/**
 * Chorus inside your Node app: create it with a config and hooks, attach it to an existing `http.Server`
 * (plain Node, Express, Fastify), drive it from code, and close it with the app.
 *
 *   const chorus = await createChorus({ config: {...}, hooks: { onConnecting: ({ headers }) => ({ user }) } });
 *   chorus.attach(server);                       // WebSocket at /connection/websocket
 *   app.use(chorus.connectionMiddleware());      // optional: http_stream, sse, uni_sse, uni_http_stream
 *   app.use(chorus.apiMiddleware());             // optional: the HTTP server API at /api
 *   await chorus.publish('news', { text: 'hi' });
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpApi } from './api/http-api.js';
import { compose, defaultNodeName } from './compose.js';
import { type ChorusConfig, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { configSecrets } from './config/secrets.js';
import type { Node } from './core/node.js';
import type { Engine } from './core/ports/engine.js';
import { type Log, silentLog } from './core/ports/log.js';
import type { SubscribeInput } from './core/server-ops.js';
import { type Hooks, toPayload } from './embedding/app-hooks.js';
import { type AppClientInfo, type AppPublication, appClientInfo, appPublication } from './embedding/app-values.js';
import { createLogger, type LogLevel } from './log.js';
import type { Disconnect } from './protocol/codes.js';
import type { StreamPosition } from './protocol/messages.js';
import { refuseUpgrade } from './transport/refuse-upgrade.js';

export interface ChorusOptions {
  /** Centrifugo v6 configuration keys, every one optional (validated as `chorus serve` validates its file). */
  config?: ChorusConfig;
  /** Already validated configuration (what `loadConfig` returns): takes precedence over `config`. */
  loadedConfig?: Readonly<Config>;
  /** A pino-compatible logger, or a level for Chorus's own (default: no logs). */
  log?: Log | LogLevel;
  engine?: Engine;
  hooks?: Partial<Omit<Hooks, 'rpc'>> & { rpc?: Record<string, Hooks['rpc'] extends Map<string, infer H> ? H : never> };
}

export interface Chorus {
  readonly node: Node;
  readonly config: Readonly<Config>;
  /** Serves the WebSocket endpoint on an existing server (its 'upgrade' events for `path`). */
  attach(server: Server, opts?: { path?: string }): void;
  /** Handles one upgrade request; false when it is not for the WebSocket endpoint (or uni_websocket, when enabled). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Middleware for the HTTP server API (`http_api.*` options apply): `(req, res, next)`. */
  apiMiddleware(): (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;
  /**
   * Middleware for the HTTP connection endpoints that are enabled: http_stream, sse and the emulation endpoint,
   * uni_sse and uni_http_stream; every other request goes on to `next`.
   */
  connectionMiddleware(): (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;
  publish(
    channel: string,
    data: unknown,
    opts?: { tags?: Record<string, string>; skipHistory?: boolean; idempotencyKey?: string },
  ): Promise<{ offset: number; epoch: string }>;
  /** A `message` push to one connection, all of a user's connections, or everyone. */
  send(target: { client?: string; user?: string; all?: boolean }, data: unknown): Promise<void>;
  subscribe(
    user: string,
    channel: string,
    opts?: Omit<SubscribeInput, 'user' | 'channel' | 'info' | 'data'> & { info?: unknown; data?: unknown },
  ): Promise<void>;
  unsubscribe(user: string, channel: string, opts?: { client?: string }): Promise<void>;
  disconnect(user: string, opts?: { client?: string; whitelist?: string[]; disconnect?: Disconnect }): Promise<void>;
  presence(channel: string): Promise<Map<string, AppClientInfo>>;
  presenceStats(channel: string): Promise<{ numClients: number; numUsers: number }>;
  history(
    channel: string,
    opts?: { limit?: number; since?: StreamPosition; reverse?: boolean },
  ): Promise<{ publications: AppPublication[]; position: StreamPosition }>;
  /** Closes every client with 3001 (they reconnect), detaches from the server and stops the engine. */
  close(): Promise<void>;
}

export async function createChorus(opts: ChorusOptions = {}): Promise<Chorus> {
  const config = opts.loadedConfig ?? loadConfig({ base: opts.config ?? {} }).config;
  const log =
    typeof opts.log === 'string' ? createLogger(opts.log, { secrets: configSecrets(config) }) : (opts.log ?? silentLog);
  const { rpc, ...hooks } = opts.hooks ?? {};
  const { node, transports } = await compose({
    config,
    log,
    engine: opts.engine,
    hooks: { ...hooks, rpc: new Map(Object.entries(rpc ?? {})) },
  });
  // Upgrades (WebSocket, uni_websocket) go through attach/handleUpgrade; the HTTP transports through
  // connectionMiddleware.
  const api = new HttpApi(node, config);
  const attached: Array<{ server: Server; listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void }> =
    [];
  const ops = node.ops;
  let closing: Promise<void> | undefined;

  return {
    node,
    config,
    attach(server, o = {}) {
      if (o.path !== undefined) transports.moveWebSocket('websocket', o.path);
      // Only this endpoint's upgrades are taken; others stay for the app's other listeners.
      const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (transports.handleUpgrade(req, socket, head)) return;
        // Node stops refusing unclaimed upgrades once a listener exists: when nobody else listens, refuse here.
        if (server.listenerCount('upgrade') === 1) {
          refuseUpgrade(socket, 404, 'Not Found');
        }
      };
      server.on('upgrade', listener);
      attached.push({ server, listener });
      // Name the node after the app's port (unless node.name is set), as `chorus serve` does.
      const named = () => {
        const a = server.address();
        if (a !== null && typeof a === 'object' && config.node.name === '') node.rename(defaultNodeName(a.port));
      };
      if (server.listening) named();
      else server.once('listening', named);
    },
    handleUpgrade: transports.handleUpgrade,
    apiMiddleware() {
      return (req, res, next) => {
        const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
        const path = url.split('?')[0] ?? '/';
        if (!api.matches(path)) {
          next?.();
          return;
        }
        req.url = url;
        api.handle(req, res).catch((e) => next?.(e));
      };
    },
    connectionMiddleware() {
      return (req, res, next) => {
        const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
        const path = url.split('?')[0] ?? '/';
        Promise.resolve(transports.route(req, res, path)).then(
          (taken) => {
            if (!taken) next?.();
          },
          (e) => {
            if (next !== undefined) next(e);
            else res.destroy();
          },
        );
      };
    },
    publish: (channel, data, o = {}) =>
      ops.publish({
        channel,
        data: toPayload(data),
        tags: o.tags,
        skipHistory: o.skipHistory,
        idempotencyKey: o.idempotencyKey,
      }),
    send: (target, data) => ops.send({ ...target, data: toPayload(data) }),
    subscribe: (user, channel, o = {}) =>
      ops.subscribe({
        ...o,
        user,
        channel,
        info: o.info === undefined ? undefined : toPayload(o.info),
        data: o.data === undefined ? undefined : toPayload(o.data),
      }),
    unsubscribe: (user, channel, o = {}) => ops.unsubscribe(user, channel, o.client),
    disconnect: (user, o = {}) => ops.disconnect({ user, ...o }),
    presence: async (channel) => {
      const out = new Map<string, AppClientInfo>();
      for (const [id, info] of await ops.presence(channel)) out.set(id, appClientInfo(info));
      return out;
    },
    presenceStats: (channel) => ops.presenceStats(channel),
    history: async (channel, o = {}) => {
      const h = await ops.history(channel, { limit: o.limit ?? -1, since: o.since, reverse: o.reverse ?? false });
      return { publications: h.publications.map(appPublication), position: h.position };
    },
    close() {
      closing ??= (async () => {
        for (const { server, listener } of attached) server.off('upgrade', listener);
        await node.shutdown();
        transports.close();
      })();
      return closing;
    },
  };
}
