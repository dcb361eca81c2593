/**
 * The node: one Chorus process's core. Owns the hub (local fan-out), the session registry, the timer wheel and
 * the engine connection, and reference-counts channels between them: the first local subscriber subscribes the
 * node to the broker (undone if that fails), the last one leaving unsubscribes it after re-checking.
 * It knows nothing of WebSocket, JSON or Redis: everything it uses arrives through its constructor.
 */
import { randomUUID } from 'node:crypto';
import { type Disconnect, Disconnects, Errors, ReplyError } from '../protocol/codes.js';
import type { ClientInfo, Publication } from '../protocol/messages.js';
import { ChannelResolver } from './channel-resolver.js';
import { insufficientState } from './channels/delivery.js';
import { type ReservedChannelSettings, ReservedChannels } from './channels/reserved-channels.js';
import { SubFlag, type Subscription } from './channels/subscription.js';
import { FlushScheduler } from './flush-scheduler.js';
import type { Hooks } from './hooks.js';
import { noHooks } from './hooks.js';
import { Hub } from './hub.js';
import type { ChannelOptions, CoreConfig } from './options.js';
import { type Clock, systemClock } from './ports/clock.js';
import type { ControlMessage } from './ports/control.js';
import {
  type BrokerEventHandler,
  type Engine,
  isStreamEpoch,
  type PublicationInput,
  type PublishResult,
} from './ports/engine.js';
import { type Log, silentLog } from './ports/log.js';
import { type NodeStats, noStats } from './ports/stats.js';
import type { TokenVerifier } from './ports/tokens.js';
import { ServerOps } from './server-ops.js';
import type { Client } from './session/client.js';
import { TimerWheel } from './timer-wheel.js';
import { VERSION } from './version.js';

/** Everything a node is built from (the composition root, src/compose.ts, assembles it from the config). */
export interface NodeDeps {
  config: CoreConfig;
  engine: Engine;
  /** Verifies connection tokens. */
  connectTokens: TokenVerifier;
  /** Verifies subscription tokens (the connection tokens' verifier unless a separate key is configured). */
  subscribeTokens?: TokenVerifier | undefined;
  hooks?: Hooks | undefined;
  stats?: NodeStats | undefined;
  log?: Log | undefined;
  clock?: Clock | undefined;
  /** Shown in `info`, the admin page and logs. */
  name?: string | undefined;
  /** Channels reserved whatever the namespace options say (personal channels, the monitoring agents'). */
  reserved?: Partial<ReservedChannelSettings> | undefined;
  /** Request headers connections keep after connect, for proxies that forward them (lower case). */
  forwardedHeaders?: readonly string[] | undefined;
}

export interface PublishOptions {
  skipHistory?: boolean | undefined;
  idempotencyKey?: string | undefined;
}

export class Node implements BrokerEventHandler {
  readonly config: CoreConfig;
  readonly engine: Engine;
  readonly log: Log;
  readonly clock: Clock;
  readonly stats: NodeStats;
  readonly hooks: Hooks;
  /** This node's name in `info`, the admin page and the logs (`node.name`, or `<hostname>_<port>`). */
  private nodeName: string;
  /** Unique id of this node (process), as the info API reports it. */
  readonly uid = randomUUID();
  readonly version = VERSION;
  readonly hub = new Hub();
  readonly resolver: ChannelResolver;
  /** Channels reserved whatever the options say: personal channels, the monitoring agents' channel. */
  readonly access: ReservedChannels;
  readonly wheel: TimerWheel;
  /** When connections' queued output is written (end of turn, or within client.write_delay). */
  readonly flusher: FlushScheduler;
  readonly connectTokens: TokenVerifier;
  readonly subscribeTokens: TokenVerifier;
  readonly forwardedHeaders: readonly string[];
  /** Server-side operations (HTTP API, embedding code): publish, subscribe/unsubscribe users, disconnect … */
  readonly ops: ServerOps;
  /** Authenticated clients by id. */
  readonly clients = new Map<string, Client>();
  /** Every open session, authenticated or not (shutdown closes them all). */
  readonly sessions = new Set<Client>();
  private readonly users = new Map<string, Set<Client>>();
  /** Channels whose broker subscription is being set up: later subscribers wait for the same promise. */
  private readonly pendingBrokerSubs = new Map<string, Promise<void>>();
  private readonly startedAt: number;
  private closing = false;

  constructor(deps: NodeDeps) {
    this.config = deps.config;
    this.engine = deps.engine;
    this.log = deps.log ?? silentLog;
    this.clock = deps.clock ?? systemClock;
    this.stats = deps.stats ?? noStats;
    this.hooks = deps.hooks ?? noHooks;
    this.nodeName = deps.name ?? 'chorus';
    this.connectTokens = deps.connectTokens;
    this.subscribeTokens = deps.subscribeTokens ?? deps.connectTokens;
    this.forwardedHeaders = deps.forwardedHeaders ?? [];
    this.startedAt = this.clock.now();
    this.resolver = new ChannelResolver(deps.config.channel);
    const personal = deps.config.client.subscribe_to_user_personal_channel;
    this.access = new ReservedChannels({
      personalPrefix: personal.enabled ? this.personalChannel('') : undefined,
      agentChannel: undefined,
      agentUsers: [],
      anonymousAgents: false,
      ...deps.reserved,
    });
    this.wheel = new TimerWheel(100, this.clock);
    this.flusher = new FlushScheduler(deps.config.client.write_delay, (e) =>
      this.log.error({ err: e }, 'writing to a client failed'),
    );
    this.ops = new ServerOps(this);
  }

  /** The personal channel of a user (client.subscribe_to_user_personal_channel), e.g. "#42" or "personal:#42". */
  personalChannel(user: string): string {
    const ns = this.config.client.subscribe_to_user_personal_channel.personal_channel_namespace;
    const { namespace_boundary: nb, user_boundary: ub } = this.config.channel;
    return ns === '' ? `${ub}${user}` : `${ns}${nb}${ub}${user}`;
  }

  get name(): string {
    return this.nodeName;
  }

  /** A new name (a server learns its port when it listens): the other nodes hear it at once, not 3 s later. */
  rename(name: string): void {
    if (name === this.nodeName) return;
    this.nodeName = name;
    if (!this.closing) void this.ops.beat();
  }

  async start(): Promise<void> {
    await this.engine.broker.start(this);
    await this.ops.startHeartbeat();
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
    void this.ops.beat();
    // The engine logged that its link is back; this is the detail.
    this.log.debug(
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
            if (!sub.session.channels.holds(sub)) continue;
            if (!isStreamEpoch(h, sub.epoch)) insufficientState(sub, 'stream epoch changed during an outage');
            else if (h.position.offset > sub.offset) {
              insufficientState(sub, `missed publications during an outage (${sub.offset} < ${h.position.offset})`);
            }
          }
        })
        .catch((e) => {
          // Still unreachable: every tracked subscriber may have missed something, so tell them all.
          this.log.warn({ err: (e as Error).message, channel }, 'position check failed after reconnect');
          for (const sub of tracked) insufficientState(sub, 'position unknown after an outage');
        });
    }
  }

  get isClosing(): boolean {
    return this.closing;
  }

  get uptimeSeconds(): number {
    return Math.floor((this.clock.now() - this.startedAt) / 1000);
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

  historyMetaTtl(opts: ChannelOptions): number {
    return opts.history_meta_ttl > 0 ? opts.history_meta_ttl : this.config.channel.history_meta_ttl;
  }

  /**
   * Publishes into a channel whose options are known (a client's publish after its permission check, or the
   * server API): history as the options say, counted, an engine failure answered as an internal error.
   */
  async publish(
    channel: string,
    options: ChannelOptions,
    pub: PublicationInput,
    opts: PublishOptions = {},
  ): Promise<PublishResult> {
    this.stats.published();
    try {
      return await this.engine.broker.publish(channel, pub, {
        historySize: opts.skipHistory ? 0 : options.history_size,
        historyTtlMs: options.history_ttl,
        historyMetaTtlMs: this.historyMetaTtl(options),
        idempotencyKey: opts.idempotencyKey,
      });
    } catch (e) {
      this.log.error({ err: e, channel, client: pub.info?.client }, 'publish failed in the engine');
      throw new ReplyError(Errors.internal);
    }
  }

  // --- broker events -----------------------------------------------------------------------------------------

  onPublication(channel: string, pub: Publication, epoch: string): void {
    this.stats.queued('publication', this.hub.broadcastPublication(channel, pub, epoch));
  }

  onJoin(channel: string, info: ClientInfo): void {
    this.stats.queued('join', this.hub.broadcastPresenceEvent('join', channel, info));
  }

  onLeave(channel: string, info: ClientInfo): void {
    this.stats.queued('leave', this.hub.broadcastPresenceEvent('leave', channel, info));
  }

  onControl(message: ControlMessage): void {
    this.ops.handleControl(message);
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
