/**
 * The node: one Chorus process's core. Owns the hub (local fan-out), the client registry, the timer wheel and
 * the engine connection, and reference-counts channels between them: the first local subscriber subscribes
 * the node to the broker (undone if that fails), the last one leaving unsubscribes it after re-checking.
 * It knows nothing of WebSocket, JSON or Redis.
 */
import { randomUUID } from 'node:crypto';
import { TokenVerifier } from '../auth/token-verifier.js';
import type { ChannelOptions, Config } from '../config/schema.js';
import { type BrokerEventHandler, type Engine, isStreamEpoch, type PublishResult } from '../engine/types.js';
import { type Disconnect, Disconnects } from '../protocol/codes.js';
import type { ClientInfo, Publication, RawJSON } from '../protocol/types.js';
import { ChannelAccess } from './channel-access.js';
import { ChannelResolver } from './channel-resolver.js';
import type { Client } from './client.js';
import { FlushScheduler } from './flush-scheduler.js';
import type { Hooks } from './hooks.js';
import { Hub } from './hub.js';
import { ServerOps } from './server-ops.js';
import { type NodeStats, noStats } from './stats.js';
import { SubFlag, type Subscription } from './subscription.js';
import { TimerWheel } from './timer-wheel.js';

export const VERSION = '0.1.0';

export interface Log {
  trace(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLog: Log = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export interface NodeOptions {
  config: Readonly<Config>;
  engine: Engine;
  log?: Log;
  name?: string;
}

export class Node implements BrokerEventHandler {
  readonly config: Readonly<Config>;
  readonly engine: Engine;
  readonly log: Log;
  readonly name: string;
  /** Unique id of this node (process), as the info API reports it. */
  readonly uid = randomUUID();
  readonly version = VERSION;
  readonly hub = new Hub();
  readonly resolver: ChannelResolver;
  /** Channels reserved whatever the options say: personal channels, the monitoring agents' channel. */
  readonly access: ChannelAccess;
  readonly wheel = new TimerWheel(100);
  /** When connections' queued output is written (end of turn, or within client.write_delay). */
  readonly flusher: FlushScheduler;
  readonly connectTokens: TokenVerifier;
  readonly subscribeTokens: TokenVerifier;
  readonly hooks: Hooks = { rpc: new Map() };
  /** Counters for metrics (src/metrics installs its own); a no-op unless metrics are enabled. */
  stats: NodeStats = noStats;
  /** Request headers connections keep after connect, for proxies that forward them (lower case). */
  forwardedHeaders: readonly string[] = [];
  /** Server-side operations (HTTP API, embedding code): publish, subscribe/unsubscribe users, disconnect … */
  readonly ops: ServerOps;
  /** Authenticated clients by id. */
  readonly clients = new Map<string, Client>();
  /** Every open session, authenticated or not (shutdown closes them all). */
  readonly sessions = new Set<Client>();
  private readonly users = new Map<string, Set<Client>>();
  /** Channels whose broker subscription is being set up: later subscribers wait for the same promise. */
  private readonly pendingBrokerSubs = new Map<string, Promise<void>>();
  private readonly startedAt = Date.now();
  private closing = false;

  constructor(opts: NodeOptions) {
    this.config = opts.config;
    this.engine = opts.engine;
    this.log = opts.log ?? silentLog;
    this.name = opts.name ?? 'chorus';
    this.resolver = new ChannelResolver(opts.config.channel);
    this.access = new ChannelAccess(opts.config);
    this.flusher = new FlushScheduler(opts.config.client.write_delay, (e) =>
      this.log.error({ err: e }, 'writing to a client failed'),
    );
    this.connectTokens = new TokenVerifier(opts.config.client.token, 'client.token');
    const st = opts.config.client.subscription_token;
    this.subscribeTokens = st.enabled ? new TokenVerifier(st, 'client.subscription_token') : this.connectTokens;
    this.ops = new ServerOps(this);
  }

  /** The personal channel of a user (client.subscribe_to_user_personal_channel), e.g. "#42" or "personal:#42". */
  personalChannel(user: string): string {
    const ns = this.config.client.subscribe_to_user_personal_channel.personal_channel_namespace;
    const { namespace_boundary: nb, user_boundary: ub } = this.config.channel;
    return ns === '' ? `${ub}${user}` : `${ns}${nb}${ub}${user}`;
  }

  async start(): Promise<void> {
    await this.engine.broker.start(this);
    this.ops.startHeartbeat();
  }

  /** Whether this node can serve: its engine (e.g. Redis) is reachable. */
  get ready(): boolean {
    return !this.closing && this.engine.ready();
  }

  /**
   * The broker's link came back after an outage. Publications may have been lost meanwhile: every tracked
   * (recoverable or positioned) subscription whose stream moved past it, or whose epoch changed, is told
   * "insufficient state" so its client resubscribes and recovers from history.
   */
  onBrokerReconnect(): void {
    this.log.info(
      { channels: this.hub.numChannels },
      'broker link restored: checking subscribers for lost publications',
    );
    for (const channel of [...this.hub.channelNames()]) {
      const tracked = [...this.hub.subscribers(channel)].filter(
        (s) => (s.flags & (SubFlag.recoverable | SubFlag.positioned)) !== 0 && s.buffer === undefined,
      );
      if (tracked.length === 0) continue;
      const opts = (tracked[0] as Subscription).options;
      this.engine.broker
        .history(channel, { limit: 0, reverse: false, historyMetaTtlMs: this.historyMetaTtl(opts) })
        .then((h) => {
          for (const sub of tracked) {
            if (sub.client.subs.get(channel) !== sub) continue;
            if (!isStreamEpoch(h, sub.epoch))
              sub.client.insufficientState(sub, 'stream epoch changed during an outage');
            else if (h.position.offset > sub.offset) {
              sub.client.insufficientState(
                sub,
                `missed publications during an outage (${sub.offset} < ${h.position.offset})`,
              );
            }
          }
        })
        .catch((e) => {
          // Still unreachable: every tracked subscriber may have missed something, so tell them all.
          this.log.warn({ err: (e as Error).message, channel }, 'position check failed after reconnect');
          for (const sub of tracked) sub.client.insufficientState(sub, 'position unknown after an outage');
        });
    }
  }

  get isClosing(): boolean {
    return this.closing;
  }

  get uptimeSeconds(): number {
    return Math.floor((Date.now() - this.startedAt) / 1000);
  }

  // --- client registry -------------------------------------------------------------------------------------

  get numUsers(): number {
    return this.users.size;
  }

  userConnections(user: string): number {
    return this.users.get(user)?.size ?? 0;
  }

  connectionsOf(user: string): Client[] {
    const set = this.users.get(user);
    return set === undefined ? [] : [...set];
  }

  registerClient(client: Client): void {
    this.clients.set(client.id, client);
    let set = this.users.get(client.user);
    if (set === undefined) {
      set = new Set();
      this.users.set(client.user, set);
    }
    set.add(client);
  }

  unregisterClient(client: Client): void {
    if (this.clients.get(client.id) !== client) return;
    this.clients.delete(client.id);
    const set = this.users.get(client.user);
    if (set !== undefined) {
      set.delete(client);
      if (set.size === 0) this.users.delete(client.user);
    }
  }

  // --- channels ----------------------------------------------------------------------------------------------

  /** Adds a subscription to the hub, subscribing the node to the broker for the channel's first subscriber. */
  async addSubscription(sub: Subscription): Promise<void> {
    const first = this.hub.add(sub);
    const pending = this.pendingBrokerSubs.get(sub.channel);
    if (pending !== undefined) {
      await pending;
      return;
    }
    if (!first) return;
    const p = this.engine.broker.subscribe(sub.channel);
    this.pendingBrokerSubs.set(sub.channel, p);
    try {
      await p;
    } catch (e) {
      // Undo: nobody may stay in the hub for a channel the broker will not deliver.
      for (const s of [...this.hub.subscribers(sub.channel)]) this.hub.remove(s);
      throw e;
    } finally {
      this.pendingBrokerSubs.delete(sub.channel);
    }
  }

  async removeSubscription(sub: Subscription): Promise<void> {
    const last = this.hub.remove(sub);
    if (!last || this.pendingBrokerSubs.has(sub.channel)) return;
    // Re-check after the await points of others: a new subscriber may have arrived meanwhile.
    if (this.hub.hasSubscribers(sub.channel)) return;
    try {
      await this.engine.broker.unsubscribe(sub.channel);
    } catch (e) {
      this.log.warn({ err: e, channel: sub.channel }, 'broker unsubscribe failed; the channel stays subscribed');
    }
  }

  publicationOptions(opts: ChannelOptions) {
    return {
      historySize: opts.history_size,
      historyTtlMs: opts.history_ttl,
      historyMetaTtlMs: this.historyMetaTtl(opts),
    };
  }

  historyMetaTtl(opts: ChannelOptions): number {
    return opts.history_meta_ttl > 0 ? opts.history_meta_ttl : this.config.channel.history_meta_ttl;
  }

  /** Publishes from the server side (HTTP API, embedding code): no permission checks. */
  async publish(
    channel: string,
    data: RawJSON,
    opts: { info?: ClientInfo; tags?: Record<string, string>; skipHistory?: boolean; idempotencyKey?: string } = {},
  ): Promise<PublishResult> {
    this.resolver.checkLength(channel);
    const resolved = this.resolver.resolve(channel);
    const chOpts = resolved?.options ?? this.config.channel.without_namespace;
    const history = this.publicationOptions(chOpts);
    if (opts.skipHistory) history.historySize = 0;
    return this.engine.broker.publish(
      channel,
      { data, info: opts.info, tags: opts.tags },
      { ...history, idempotencyKey: opts.idempotencyKey },
    );
  }

  // --- broker events -----------------------------------------------------------------------------------------

  onPublication(channel: string, pub: Publication, epoch: string): void {
    this.stats.queued('publication', this.hub.broadcastPublication(channel, pub, epoch));
  }

  onJoin(channel: string, info: ClientInfo): void {
    this.stats.queued('join', this.hub.broadcastJoin(channel, info));
  }

  onLeave(channel: string, info: ClientInfo): void {
    this.stats.queued('leave', this.hub.broadcastLeave(channel, info));
  }

  onControl(payload: string): void {
    this.ops.handleControl(payload);
  }

  // --- lifecycle ---------------------------------------------------------------------------------------------

  /**
   * Stops the node: every client is closed with 3001 (shutdown: the SDKs reconnect, to another node if there is
   * one) in batches so a large node does not stall its event loop, then the engine is closed.
   */
  async shutdown(batchSize = 1000, disconnect: Disconnect = Disconnects.shutdown): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const all = [...this.sessions];
    for (let i = 0; i < all.length; i += batchSize) {
      for (const c of all.slice(i, i + batchSize)) c.close(disconnect);
      await new Promise((r) => setImmediate(r));
    }
    this.wheel.stop();
    this.flusher.stop();
    await this.ops.stopHeartbeat();
    await this.engine.close();
  }
}
