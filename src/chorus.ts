/**
 * Chorus inside your Node app: create it with a config and hooks, attach it to an existing `http.Server`
 * (plain Node, Express, Fastify), drive it from code, and close it with the app.
 *
 *   const chorus = await createChorus({ config: {...}, hooks: { onConnecting: ({ headers }) => ({ user }) } });
 *   chorus.attach(server);                       // WebSocket at /connection/websocket
 *   app.use(chorus.apiMiddleware());             // optional: the HTTP server API at /api
 *   await chorus.publish('news', { text: 'hi' });
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpApi } from './api/http-api.js';
import { type ChorusConfig, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { configSecrets } from './config/secrets.js';
import type { Hooks } from './core/hooks.js';
import { type Log, Node, silentLog } from './core/node.js';
import type { SubscribeInput } from './core/server-ops.js';
import { createMemoryEngine } from './engine/memory/memory-engine.js';
import { createRedisEngine } from './engine/redis/redis-engine.js';
import type { Engine } from './engine/types.js';
import { createLogger, type LogLevel } from './log.js';
import type { Disconnect } from './protocol/codes.js';
import type { ClientInfo, Publication, StreamPosition } from './protocol/types.js';
import { forwardedHeaders, proxyHooks } from './proxy/http-proxy.js';
import { refuseUpgrade } from './transport/refuse-upgrade.js';
import { WebSocketHandler } from './transport/websocket.js';

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

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
  /** Handles one upgrade request; false when it is not for the WebSocket endpoint. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Middleware for the HTTP server API (`http_api.*` options apply): `(req, res, next)`. */
  apiMiddleware(): (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;
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
  presence(channel: string): Promise<Map<string, ClientInfo>>;
  presenceStats(channel: string): Promise<{ numClients: number; numUsers: number }>;
  history(
    channel: string,
    opts?: { limit?: number; since?: StreamPosition; reverse?: boolean },
  ): Promise<{ publications: Publication[]; position: StreamPosition }>;
  /** Closes every client with 3001 (they reconnect), detaches from the server and stops the engine. */
  close(): Promise<void>;
}

export async function createChorus(opts: ChorusOptions = {}): Promise<Chorus> {
  const config = opts.loadedConfig ?? loadConfig({ base: opts.config ?? {} }).config;
  const log =
    typeof opts.log === 'string' ? createLogger(opts.log, { secrets: configSecrets(config) }) : (opts.log ?? silentLog);
  const engine =
    opts.engine ??
    (config.engine.type === 'redis' ? createRedisEngine(config.engine.redis, log) : createMemoryEngine());
  await engine.start?.();
  const node = new Node({ config, engine, log });
  const { rpc, ...hooks } = opts.hooks ?? {};
  // Proxies configured for a standalone deployment are hooks too; hooks given in code take precedence.
  Object.assign(node.hooks, proxyHooks(config, log), stripUndefined(hooks));
  node.forwardedHeaders = forwardedHeaders(config);
  for (const [method, handler] of Object.entries(rpc ?? {})) node.hooks.rpc.set(method, handler);
  await node.start();
  let ws = new WebSocketHandler(node);
  const api = new HttpApi(node);
  const attached: Array<{ server: Server; listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void }> =
    [];
  const ops = node.ops;
  const json = (v: unknown) => JSON.stringify(v ?? null);
  let closing: Promise<void> | undefined;

  return {
    node,
    config,
    attach(server, o = {}) {
      if (o.path !== undefined) ws = new WebSocketHandler(node, o.path);
      const handler = ws;
      // Only this endpoint's upgrades are taken; others stay for the app's other listeners.
      const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (handler.handleUpgrade(req, socket, head)) return;
        // Node stops refusing unclaimed upgrades once a listener exists: when nobody else listens, refuse here.
        if (server.listenerCount('upgrade') === 1) {
          refuseUpgrade(socket, 404, 'Not Found');
        }
      };
      server.on('upgrade', listener);
      attached.push({ server, listener });
    },
    handleUpgrade: (req, socket, head) => ws.handleUpgrade(req, socket, head),
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
    publish: (channel, data, o = {}) =>
      ops.publish({
        channel,
        data: json(data),
        tags: o.tags,
        skipHistory: o.skipHistory,
        idempotencyKey: o.idempotencyKey,
      }),
    send: (target, data) => ops.send({ ...target, data: json(data) }),
    subscribe: (user, channel, o = {}) =>
      ops.subscribe({
        ...o,
        user,
        channel,
        info: o.info === undefined ? undefined : json(o.info),
        data: o.data === undefined ? undefined : json(o.data),
      }),
    unsubscribe: (user, channel, o = {}) => ops.unsubscribe(user, channel, o.client),
    disconnect: (user, o = {}) => ops.disconnect({ user, ...o }),
    presence: (channel) => ops.presence(channel),
    presenceStats: (channel) => ops.presenceStats(channel),
    history: (channel, o = {}) =>
      ops.history(channel, { limit: o.limit ?? -1, since: o.since, reverse: o.reverse ?? false }),
    close() {
      closing ??= (async () => {
        for (const { server, listener } of attached) server.off('upgrade', listener);
        await node.shutdown();
        ws.close();
      })();
      return closing;
    },
  };
}
