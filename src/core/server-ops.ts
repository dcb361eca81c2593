/**
 * Server-side operations: what the HTTP API and embedding code can do — publish, broadcast, subscribe and
 * unsubscribe users, disconnect, refresh, send messages, read presence, history and channels. The channel rules
 * are those client commands follow (channels/rules.ts), so both paths answer alike.
 *
 * Operations that target users or connections travel through the control plane, so every node applies them to
 * the connections it holds (with the memory engine that is this node, synchronously). Errors are ReplyErrors
 * with Centrifugo's API codes (102 unknown channel, 107 bad request, 108 not available …).
 */
import { type Disconnect, Disconnects, Errors, ReplyError, UnsubscribeCodes } from '../protocol/codes.js';
import type { ClientInfo, HistoryResult, Payload, StreamPosition } from '../protocol/messages.js';
import { checkSince, requireHistory, requirePresence, resolveChannel } from './channels/rules.js';
import { afterSubscribed, subscribeServerSide } from './channels/subscribe.js';
import { ControlPlane, type RouteOutcome, type SurveyAnswer } from './control-plane.js';
import { compileGlob, type Glob, GlobError } from './glob.js';
import type { Node } from './node.js';
import type { ControlMessage, NodeInfo, SubscribeInput, SurveyKind } from './ports/control.js';
import type { PublishResult } from './ports/engine.js';
import type { Client } from './session/client.js';

export type { SurveyAnswer } from './control-plane.js';
export type { NodeInfo, SubscribeInput } from './ports/control.js';

/** Hands an emulation request's commands to a session of this node (the emulation transports' registry). */
export type EmulationDelivery = (session: string, data: Payload) => Promise<void> | void;

/** Where an emulation request went: to its session's node, or nowhere (that node is not in the cluster). */
export type EmulationOutcome = RouteOutcome | 'unknown_node';

export interface PublishInput {
  channel: string;
  data: Payload;
  skipHistory?: boolean | undefined;
  tags?: Record<string, string> | undefined;
  idempotencyKey?: string | undefined;
  info?: ClientInfo | undefined;
}

export class ServerOps {
  private readonly control: ControlPlane;
  private readonly answerers = new Map<string, (params: Record<string, unknown>) => unknown>();
  private emulation: EmulationDelivery | undefined;

  constructor(private readonly node: Node) {
    this.control = new ControlPlane(
      node,
      { apply: (c) => this.apply(c), answer: (kind, params) => this.answer(kind, params) },
      () => this.localInfo(),
    );
  }

  startHeartbeat(): Promise<void> {
    return this.control.startHeartbeat();
  }

  /** One heartbeat now (the node was renamed, or the engine's link came back). */
  beat(): Promise<void> {
    return this.control.beat();
  }

  stopHeartbeat(): Promise<void> {
    return this.control.stopHeartbeat();
  }

  /** A control message from the engine. */
  handleControl(message: ControlMessage): void {
    this.control.handle(message);
  }

  private answer(kind: SurveyKind, params: Record<string, unknown>): unknown {
    if (kind === 'channels') return [...this.localChannels(String(params.pattern ?? ''))];
    if (kind === 'online') return this.isOnlineLocally(params as { user?: string; client?: string });
    return this.answerers.get(kind)?.(params) ?? null;
  }

  /** Makes this node answer surveys of `kind` (asked with `ask`) with `answer(params)`; null when it cannot. */
  answerSurveys(kind: string, answer: (params: Record<string, unknown>) => unknown): void {
    this.answerers.set(kind, answer);
  }

  /** Every live node's answer to a survey of `kind` that came within a second; this node's always. */
  async ask(kind: string, params: Record<string, unknown> = {}): Promise<SurveyAnswer[]> {
    if (this.control.liveNodes().length <= 1) return [{ node: this.node.uid, answer: this.answer(kind, params) }];
    return this.control.survey(kind, params);
  }

  /** Makes this node take emulation requests for the sessions it holds (set by the emulation transports). */
  deliverEmulationWith(deliver: EmulationDelivery): void {
    this.emulation = deliver;
  }

  /**
   * The commands of an emulation request, for session `session` of node `node`: applied here when this node
   * holds it, otherwise routed to that node through the engine (no sticky sessions needed behind a balancer).
   * Resolves once the holder took them; 'unknown_node' when no live node has that id.
   */
  async emulate(node: string, session: string, data: Payload): Promise<EmulationOutcome> {
    if (node === this.node.uid) {
      await this.emulation?.(session, data);
      return 'delivered';
    }
    if (!this.control.liveNodes().includes(node)) return 'unknown_node';
    return this.control.routeEmulation(node, session, data);
  }

  async publish(p: PublishInput): Promise<PublishResult> {
    const o = resolveChannel(this.node, p.channel, 'server').options;
    const r = await this.node.publish(
      p.channel,
      o,
      { data: p.data, info: p.info, tags: p.tags },
      { skipHistory: p.skipHistory, idempotencyKey: p.idempotencyKey },
    );
    return { offset: r.offset, epoch: r.epoch };
  }

  // --- operations on users and connections, through the control plane -----------------------------------

  async subscribe(input: SubscribeInput): Promise<void> {
    resolveChannel(this.node, input.channel, 'server');
    if (!this.node.access.mayHave(input.channel, input.user)) {
      throw new ReplyError({
        ...Errors.permissionDenied,
        message: `permission denied: "${input.channel}" is the personal channel of another user`,
      });
    }
    await this.control.publish({ op: 'subscribe', input });
  }

  async unsubscribe(user: string, channel: string, client?: string): Promise<void> {
    if (channel !== '') resolveChannel(this.node, channel, 'server');
    await this.control.publish({ op: 'unsubscribe', user, channel, client });
  }

  /** Disconnects a user's connections (or one connection), except those whitelisted. */
  async disconnect(p: {
    user?: string | undefined;
    client?: string | undefined;
    whitelist?: string[] | undefined;
    disconnect?: Disconnect | undefined;
  }): Promise<void> {
    const d = p.disconnect ?? Disconnects.forceNoReconnect;
    await this.control.publish({
      op: 'disconnect',
      user: p.user,
      client: p.client,
      whitelist: p.whitelist,
      code: d.code,
      reason: d.reason,
    });
  }

  async refresh(p: {
    user: string;
    client?: string | undefined;
    expired?: boolean | undefined;
    expireAt?: number | undefined;
    info?: Payload | undefined;
  }): Promise<void> {
    await this.control.publish({ op: 'refresh', ...p });
  }

  /**
   * A `message` push (the SDK's `message` event) to one connection, to every connection of a user, or to every
   * connection of the cluster (`all`). Chorus extension: Centrifugo has no API for it.
   */
  async send(p: { client?: string | undefined; user?: string | undefined; all?: boolean | undefined; data: Payload }) {
    if (!p.all && p.client === undefined && p.user === undefined) {
      throw new ReplyError(Errors.badRequest, 'send needs client, user or all');
    }
    await this.control.publish({ op: 'send', ...p });
  }

  /** Whether a user (or one connection) is connected anywhere in the cluster. */
  async isOnline(target: { user?: string | undefined; client?: string | undefined }): Promise<boolean> {
    if (this.isOnlineLocally(target)) return true;
    if (this.control.liveNodes().length <= 1) return false;
    const answers = await this.control.survey('online', { user: target.user, client: target.client });
    return answers.some((a) => a.answer === true);
  }

  private isOnlineLocally(target: { user?: string | undefined; client?: string | undefined }): boolean {
    if (target.client !== undefined) {
      const c = this.node.clients.get(target.client);
      return c !== undefined && (target.user === undefined || c.user === target.user);
    }
    return target.user !== undefined && this.node.userConnections(target.user) > 0;
  }

  /** Applies a routed operation to this node's connections. */
  private apply(c: ControlMessage): Promise<void> | void {
    switch (c.op) {
      case 'subscribe':
        return this.applySubscribe(c.input);
      case 'unsubscribe':
        return this.applyUnsubscribe(c.user, c.channel, c.client);
      case 'disconnect': {
        const keep = new Set(c.whitelist ?? []);
        for (const client of this.targets(c.user, c.client)) {
          if (!keep.has(client.id)) client.close({ code: c.code, reason: c.reason }, 'disconnected by the server API');
        }
        return;
      }
      case 'refresh':
        for (const client of this.targets(c.user, c.client)) {
          if (c.expired) client.close(Disconnects.expired, 'expired by the server API');
          else client.applyRefresh(c.expireAt, c.info);
        }
        return;
      case 'send': {
        const targets = c.all ? this.node.clients.values() : this.targets(c.user, c.client);
        for (const client of targets) client.push({ type: 'message', data: c.data }, 'message');
        return;
      }
      case 'emulation':
        return this.emulation?.(c.session, c.data);
    }
  }

  private targets(user: string | undefined, client: string | undefined): Client[] {
    if (client !== undefined && client !== '') {
      const c = this.node.clients.get(client);
      return c !== undefined && (user === undefined || user === '' || c.user === user) ? [c] : [];
    }
    if (user === undefined) return [];
    return this.node.connectionsOf(user);
  }

  private async applySubscribe(input: SubscribeInput): Promise<void> {
    const r = this.node.resolver.resolve(input.channel);
    if (r === undefined) return;
    const limit = this.node.config.client.channel_limit;
    for (const client of this.targets(input.user, input.client)) {
      if (!client.isConnected || client.channels.isTaken(input.channel)) continue;
      // Checked per connection too: a `client` target with an empty user must not get someone's personal channel.
      if (!this.node.access.mayHave(input.channel, client.user)) continue;
      if (limit > 0 && client.channels.size >= limit) continue;
      const recover = input.recoverSince ? { recover: true, ...input.recoverSince } : undefined;
      const result = await subscribeServerSide(
        client,
        input.channel,
        r.options,
        { info: input.info, data: input.data, override: input.override, expireAt: input.expireAt },
        recover,
      );
      if (result === undefined || !client.isConnected) continue;
      client.push({ type: 'subscribe', channel: input.channel, sub: result }, 'subscribe');
      afterSubscribed(client.channels.get(input.channel));
    }
  }

  private async applyUnsubscribe(user: string, channel: string, client?: string): Promise<void> {
    const u = UnsubscribeCodes.server;
    for (const c of this.targets(user, client)) {
      const subs = channel === '' ? [...c.channels.values()] : [c.channels.get(channel)].filter((s) => s !== undefined);
      for (const sub of subs) {
        c.push({ type: 'unsubscribe', channel: sub.channel, code: u.code, reason: u.reason }, 'unsubscribe');
        await c.channels.remove(sub);
      }
    }
  }

  // --- reads -------------------------------------------------------------------------------------------------

  async presence(channel: string): Promise<Map<string, ClientInfo>> {
    requirePresence(resolveChannel(this.node, channel, 'server').options);
    return this.node.engine.presence.presence(channel);
  }

  async presenceStats(channel: string): Promise<{ numClients: number; numUsers: number }> {
    requirePresence(resolveChannel(this.node, channel, 'server').options);
    return this.node.engine.presence.presenceStats(channel);
  }

  async history(
    channel: string,
    q: { limit: number; since?: StreamPosition | undefined; reverse: boolean },
  ): Promise<HistoryResult> {
    const o = resolveChannel(this.node, channel, 'server').options;
    requireHistory(o);
    const h = await this.node.engine.broker.history(channel, {
      since: q.since,
      limit: q.limit,
      reverse: q.reverse,
      historyMetaTtlMs: this.node.historyMetaTtl(o),
    });
    checkSince(q.since, h, q);
    return { publications: h.publications, position: h.position };
  }

  async historyRemove(channel: string): Promise<void> {
    requireHistory(resolveChannel(this.node, channel, 'server').options);
    await this.node.engine.broker.removeHistory(channel);
  }

  /** Channels with subscribers anywhere in the cluster, matching a glob pattern ("chat:*"), with their counts. */
  async channels(pattern: string): Promise<Map<string, number>> {
    // Checked here, so an invalid pattern is the requester's error 107 and never reaches the other nodes.
    try {
      compileGlob(pattern);
    } catch (e) {
      if (!(e instanceof GlobError)) throw e;
      throw new ReplyError({ ...Errors.badRequest, message: `bad request: pattern: ${e.message}` });
    }
    if (this.control.liveNodes().length <= 1) return this.localChannels(pattern);
    const out = new Map<string, number>();
    for (const { answer } of await this.control.survey('channels', { pattern })) {
      for (const [ch, n] of answer as Array<[string, number]>) out.set(ch, (out.get(ch) ?? 0) + n);
    }
    return out;
  }

  private localChannels(pattern: string): Map<string, number> {
    let glob: Glob | undefined;
    try {
      glob = pattern === '' ? undefined : compileGlob(pattern);
    } catch {
      return new Map(); // an invalid pattern from another node's survey: nothing matches
    }
    const out = new Map<string, number>();
    for (const ch of this.node.hub.channelNames()) {
      if (glob === undefined || glob.matches(ch)) out.set(ch, this.node.hub.numSubscribers(ch));
    }
    return out;
  }

  /** Every live node: this one, and those whose heartbeat arrived within the last seconds. */
  info(): NodeInfo[] {
    return [this.localInfo(), ...this.control.otherNodes()];
  }

  private localInfo(): NodeInfo {
    const n = this.node;
    return {
      uid: n.uid,
      name: n.name,
      version: n.version,
      num_clients: n.clients.size,
      num_users: n.numUsers,
      num_channels: n.hub.numChannels,
      num_subs: n.hub.numSubscriptions,
      uptime: n.uptimeSeconds,
    };
  }
}
