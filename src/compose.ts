/**
 * The composition root: the one place that turns a validated configuration into running parts, in order —
 * config → engine → stats → auth → hooks → node → encodings → transports — with constructor injection throughout.
 * Embedding (chorus.ts) and the standalone server (server.ts) host what this builds: they wire the transports to
 * their HTTP servers and add the other routes.
 * A new encoding or transport is a module of its own plus its line in CODECS or TRANSPORTS here (docs/design.md,
 * "Encodings and transports").
 */
import { hostname } from 'node:os';
import { TokenVerifier } from './auth/token-verifier.js';
import type { Config } from './config/schema.js';
import type { Hooks as CoreHooks } from './core/hooks.js';
import { Node } from './core/node.js';
import type { Clock } from './core/ports/clock.js';
import type { Engine } from './core/ports/engine.js';
import type { Log } from './core/ports/log.js';
import { combineStats, noStats } from './core/ports/stats.js';
import { type Hooks as AppHooks, mergeHooks, toCoreHooks } from './embedding/app-hooks.js';
import { createMemoryEngine } from './engine/memory/memory-engine.js';
import { createRedisEngine } from './engine/redis/redis-engine.js';
import { directMessages } from './features/direct-messages.js';
import { ChorusStats } from './metrics/node-stats.js';
import type { ClientCodec, CodecName } from './protocol/codec.js';
import { jsonCodec } from './protocol/json/json-codec.js';
import { protobufCodec } from './protocol/protobuf/protobuf-codec.js';
import { forwardedHeaders, proxyHooks } from './proxy/http-proxy.js';
import { ClientTransports, type TransportKind } from './transport/client-transports.js';
import { emulatedTransports } from './transport/emulation/transports.js';
import { uniTransports } from './transport/uni/uni-transports.js';
import { websocketTransport } from './transport/websocket/handler.js';
import { AdminActivity } from './web/admin-stats.js';

export interface ComposeOptions {
  config: Readonly<Config>;
  log: Log;
  /** An engine of the caller's; by default memory or Redis as `engine.type` says. */
  engine?: Engine | undefined;
  /** Application hooks (embedding code); they take precedence over the configured proxies. */
  hooks?: Partial<AppHooks> | undefined;
  clock?: Clock | undefined;
}

export interface Composed {
  readonly config: Readonly<Config>;
  readonly log: Log;
  readonly node: Node;
  /** The counters behind /metrics (when prometheus.enabled). */
  readonly metricsStats: ChorusStats | undefined;
  /** The admin page's activity sampler (when admin.enabled). */
  readonly adminActivity: AdminActivity | undefined;
  /** The client encodings connections may negotiate. */
  readonly codecs: ReadonlyMap<CodecName, ClientCodec>;
  /** Every client transport the config enables, for the host to wire (upgrades and HTTP routes). */
  readonly transports: ClientTransports;
}

/** Centrifugo's default node name: the host and the port the server listens on. */
export function defaultNodeName(port: number): string {
  return `${hostname()}_${port}`;
}

/** The encodings clients may speak, by name. */
export const CODECS: ReadonlyMap<CodecName, ClientCodec> = new Map<CodecName, ClientCodec>([
  ['json', jsonCodec],
  ['protobuf', protobufCodec],
]);

/**
 * The client transports, each on when its config says so. Upgrades are offered to them in this order, and so are
 * HTTP requests on the listener clients connect to.
 */
export const TRANSPORTS: readonly TransportKind[] = [websocketTransport, emulatedTransports, uniTransports];

function coreHooks(o: ComposeOptions, node: () => Node): CoreHooks {
  const { config, log } = o;
  // Proxies configured for a standalone deployment are hooks too; hooks given in code take precedence.
  const hooks = toCoreHooks(mergeHooks(proxyHooks(config, log), o.hooks ?? {}));
  const dm = config.client.direct_messages;
  if (!dm.enabled) return hooks;
  const rpc = new Map(hooks.rpc);
  // Resolved lazily: the handler needs the node the hooks are built for.
  let handler: ReturnType<typeof directMessages> | undefined;
  rpc.set(dm.rpc_method, (ctx, data) => {
    handler ??= directMessages(node(), dm);
    return handler(ctx, data);
  });
  return { ...hooks, rpc };
}

export async function compose(o: ComposeOptions): Promise<Composed> {
  const { config, log } = o;
  const clock = o.clock;
  const engine =
    o.engine ??
    (config.engine.type === 'redis'
      ? createRedisEngine(config.engine.redis, log)
      : createMemoryEngine(clock === undefined ? Date.now : () => clock.now()));
  await engine.start?.();
  const metricsStats = config.prometheus.enabled ? new ChorusStats() : undefined;
  const adminActivity = config.admin.enabled ? new AdminActivity() : undefined;
  const connectTokens = new TokenVerifier(config.client.token, 'client.token');
  const st = config.client.subscription_token;
  const subscribeTokens = st.enabled ? new TokenVerifier(st, 'client.subscription_token') : connectTokens;
  const demo = config.demo;
  let built: Node | undefined;
  const node = new Node({
    config,
    engine,
    connectTokens,
    subscribeTokens,
    hooks: coreHooks(o, () => built as Node),
    stats: combineStats(metricsStats ?? noStats, adminActivity ?? noStats),
    log,
    clock: o.clock,
    name: config.node.name || defaultNodeName(config.http_server.port),
    reserved: {
      agentChannel: demo.enabled && demo.agent_channel !== '' ? demo.agent_channel : undefined,
      agentUsers: demo.agent_users,
      anonymousAgents: demo.allow_anonymous_agents,
    },
    forwardedHeaders: forwardedHeaders(config),
  });
  built = node;
  await node.start();
  const transports = new ClientTransports(TRANSPORTS, { node, config, codecs: CODECS });
  return { config, log, node, metricsStats, adminActivity, codecs: CODECS, transports };
}
