/**
 * Server-side operations: what the HTTP API and embedding code can do — publish, broadcast, subscribe and
 * unsubscribe users, disconnect, refresh, send direct messages, read presence, history and channels.
 *
 * Operations that target users or connections travel as control messages through the broker, so every node
 * applies them to the connections it holds (with the memory engine that is this node, synchronously). Errors
 * are ProtocolErrors with Centrifugo's API codes (102 unknown channel, 107 bad request, 108 not available …).
 */
import { randomUUID } from 'node:crypto';
import { isStreamEpoch } from '../engine/types.js';
import type { Disconnect } from '../protocol/codes.js';
import { Disconnects, Errors, ReplyError, UnsubscribeCodes } from '../protocol/codes.js';
import { encodeMessagePush, encodeSubscribePush, encodeUnsubscribePush } from '../protocol/encode.js';
import type { ClientInfo, Publication, RawJSON, StreamPosition } from '../protocol/types.js';
import type { Client } from './client.js';
import { afterSubscribed, type SubscriptionOverride, subscribeServerSide } from './client-channels.js';
import type { Node } from './node.js';

export interface PublishInput {
  channel: string;
  data: RawJSON;
  skipHistory?: boolean | undefined;
  tags?: Record<string, string> | undefined;
  idempotencyKey?: string | undefined;
  info?: ClientInfo | undefined;
}

export interface SubscribeInput {
  user: string;
  channel: string;
  client?: string | undefined;
  info?: RawJSON | undefined;
  data?: RawJSON | undefined;
  override?: SubscriptionOverride | undefined;
  recoverSince?: StreamPosition | undefined;
  expireAt?: number | undefined;
}

export interface NodeInfo {
  uid: string;
  name: string;
  version: string;
  num_clients: number;
  num_users: number;
  num_channels: number;
  num_subs: number;
  uptime: number;
}

/** Messages between nodes: each node applies them to the connections it holds. */
type Control =
  | { op: 'subscribe'; input: SubscribeInput }
  | { op: 'unsubscribe'; user: string; channel: string; client?: string | undefined }
  | {
      op: 'disconnect';
      user?: string | undefined;
      client?: string | undefined;
      whitelist?: string[] | undefined;
      code: number;
      reason: string;
    }
  | {
      op: 'refresh';
      user: string;
      client?: string | undefined;
      expired?: boolean | undefined;
      expireAt?: number | undefined;
      info?: RawJSON | undefined;
    }
  | { op: 'send'; user?: string | undefined; client?: string | undefined; all?: boolean | undefined; data: RawJSON }
  /** Heartbeat of a node: feeds the registry behind `info`. */
  | { op: 'node'; info: NodeInfo }
  | { op: 'node_leave'; uid: string }
  /** A question every node answers for its own connections (channels, who is online). */
  | { op: 'survey'; id: string; from: string; kind: SurveyKind; params: Record<string, unknown> }
  | { op: 'survey_reply'; id: string; to: string; uid: string; answer: unknown };

type SurveyKind = 'channels' | 'online';

/** How often a node announces itself, and how long an announcement counts. */
const HEARTBEAT_MS = 3000;
const NODE_TTL_MS = 10_000;
const SURVEY_TIMEOUT_MS = 1000;

export class ServerOps {
  private readonly nodes = new Map<string, { info: NodeInfo; expireAt: number }>();
  private readonly surveys = new Map<
    string,
    { expected: Set<string>; answers: unknown[]; done: (answers: unknown[]) => void }
  >();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly node: Node) {}

  /** Starts announcing this node to the others (and to itself), so `info` lists every live node. */
  startHeartbeat(): void {
    const beat = () => {
      this.control({ op: 'node', info: this.localInfo() }).catch(() => {});
    };
    beat();
    this.heartbeat = setInterval(beat, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  async stopHeartbeat(): Promise<void> {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    await this.control({ op: 'node_leave', uid: this.node.uid }).catch(() => {});
  }

  private liveNodes(): string[] {
    const now = Date.now();
    for (const [uid, n] of this.nodes) if (n.expireAt <= now) this.nodes.delete(uid);
    const uids = new Set(this.nodes.keys());
    uids.add(this.node.uid);
    return [...uids];
  }

  /** Asks every live node; resolves with the answers that came within the timeout (always this node's). */
  private survey(kind: SurveyKind, params: Record<string, unknown>): Promise<unknown[]> {
    const id = randomUUID();
    return new Promise((resolve) => {
      const expected = new Set(this.liveNodes());
      const entry = { expected, answers: [] as unknown[], done: resolve };
      this.surveys.set(id, entry);
      const finish = () => {
        clearTimeout(timer);
        this.surveys.delete(id);
        resolve(entry.answers);
      };
      entry.done = finish;
      const timer = setTimeout(finish, SURVEY_TIMEOUT_MS);
      this.control({ op: 'survey', id, from: this.node.uid, kind, params }).catch(() => {
        entry.answers.push(this.answerSurvey(kind, params));
        finish();
      });
    });
  }

  private answerSurvey(kind: SurveyKind, params: Record<string, unknown>): unknown {
    if (kind === 'channels') return [...this.localChannels(String(params.pattern ?? ''))];
    return this.isOnlineLocally(params as { user?: string; client?: string });
  }

  private options(channel: string) {
    if (channel === '') throw new ReplyError(Errors.badRequest, 'channel required');
    this.node.resolver.checkLength(channel);
    const r = this.node.resolver.resolve(channel);
    if (r === undefined) throw new ReplyError(Errors.unknownChannel, `no namespace for channel "${channel}"`);
    return r.options;
  }

  async publish(p: PublishInput): Promise<{ offset: number; epoch: string }> {
    const o = this.options(p.channel);
    const history = this.node.publicationOptions(o);
    if (p.skipHistory) history.historySize = 0;
    try {
      const r = await this.node.engine.broker.publish(
        p.channel,
        { data: p.data, info: p.info, tags: p.tags },
        { ...history, idempotencyKey: p.idempotencyKey },
      );
      return { offset: r.offset, epoch: r.epoch };
    } catch (e) {
      this.node.log.error({ err: e, channel: p.channel }, 'publish failed in the engine');
      throw new ReplyError(Errors.internal);
    }
  }

  // --- operations on users and connections, through the control plane -----------------------------------

  private async control(c: Control): Promise<void> {
    try {
      await this.node.engine.broker.publishControl(JSON.stringify(c));
    } catch (e) {
      this.node.log.error({ err: e, op: c.op }, 'control message not published');
      throw new ReplyError(Errors.internal);
    }
  }

  async subscribe(input: SubscribeInput): Promise<void> {
    this.options(input.channel);
    if (!this.node.access.mayHave(input.channel, input.user)) {
      throw new ReplyError({
        ...Errors.permissionDenied,
        message: `permission denied: "${input.channel}" is the personal channel of another user`,
      });
    }
    await this.control({ op: 'subscribe', input });
  }

  async unsubscribe(user: string, channel: string, client?: string): Promise<void> {
    if (channel !== '') this.options(channel);
    await this.control({ op: 'unsubscribe', user, channel, client });
  }

  /** Disconnects a user's connections (or one connection), except those whitelisted. */
  async disconnect(p: {
    user?: string | undefined;
    client?: string | undefined;
    whitelist?: string[] | undefined;
    disconnect?: Disconnect | undefined;
  }): Promise<void> {
    const d = p.disconnect ?? Disconnects.forceNoReconnect;
    await this.control({
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
    info?: RawJSON | undefined;
  }): Promise<void> {
    await this.control({ op: 'refresh', ...p });
  }

  /**
   * A `message` push (the SDK's `message` event) to one connection, to every connection of a user, or to every
   * connection of the cluster (`all`). Chorus extension: Centrifugo has no API for it.
   */
  async send(p: { client?: string | undefined; user?: string | undefined; all?: boolean | undefined; data: RawJSON }) {
    if (!p.all && p.client === undefined && p.user === undefined) {
      throw new ReplyError(Errors.badRequest, 'send needs client, user or all');
    }
    await this.control({ op: 'send', ...p });
  }

  /** Whether a user (or one connection) is connected anywhere in the cluster. */
  async isOnline(target: { user?: string | undefined; client?: string | undefined }): Promise<boolean> {
    if (this.isOnlineLocally(target)) return true;
    if (this.liveNodes().length <= 1) return false;
    const answers = await this.survey('online', { user: target.user, client: target.client });
    return answers.some((a) => a === true);
  }

  private isOnlineLocally(target: { user?: string | undefined; client?: string | undefined }): boolean {
    if (target.client !== undefined) {
      const c = this.node.clients.get(target.client);
      return c !== undefined && (target.user === undefined || c.user === target.user);
    }
    return target.user !== undefined && this.node.userConnections(target.user) > 0;
  }

  /** Applies a control message to this node's connections. */
  handleControl(payload: string): void {
    let c: Control | null = null;
    try {
      c = JSON.parse(payload) as Control;
    } catch {}
    if (typeof c !== 'object' || c === null || typeof c.op !== 'string') {
      this.node.log.warn({}, 'malformed control message ignored');
      return;
    }
    const run = async () => {
      switch (c.op) {
        case 'node': {
          if (c.info.uid === this.node.uid) return;
          const known = this.nodes.has(c.info.uid);
          this.nodes.set(c.info.uid, { info: c.info, expireAt: Date.now() + NODE_TTL_MS });
          // A newcomer missed our earlier heartbeats: answer at once so it knows every node within a round trip.
          if (!known && this.heartbeat !== undefined) {
            await this.control({ op: 'node', info: this.localInfo() });
          }
          return;
        }
        case 'node_leave':
          this.nodes.delete(c.uid);
          return;
        case 'survey':
          return this.control({
            op: 'survey_reply',
            id: c.id,
            to: c.from,
            uid: this.node.uid,
            answer: this.answerSurvey(c.kind, c.params),
          });
        case 'survey_reply': {
          if (c.to !== this.node.uid) return;
          const entry = this.surveys.get(c.id);
          if (entry === undefined) return;
          entry.answers.push(c.answer);
          entry.expected.delete(c.uid);
          if (entry.expected.size === 0) entry.done(entry.answers);
          return;
        }
        case 'subscribe':
          return this.applySubscribe(c.input);
        case 'unsubscribe':
          return this.applyUnsubscribe(c.user, c.channel, c.client);
        case 'disconnect':
          return this.applyDisconnect(c);
        case 'refresh':
          return this.applyRefresh(c);
        case 'send':
          return this.applySend(c);
      }
    };
    run().catch((e) => this.node.log.error({ err: e, op: c.op }, 'control message failed'));
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
      if (!client.isConnected || client.subs.has(input.channel) || client.isSubscribing(input.channel)) continue;
      // Checked per connection too: a `client` target with an empty user must not get someone's personal channel.
      if (!this.node.access.mayHave(input.channel, client.user)) continue;
      if (limit > 0 && client.subs.size >= limit) continue;
      const recover = input.recoverSince ? { recover: true, ...input.recoverSince } : undefined;
      const result = await subscribeServerSide(
        client,
        input.channel,
        r.options,
        { info: input.info, data: input.data, override: input.override, expireAt: input.expireAt },
        recover,
      );
      if (result === undefined || !client.isConnected) continue;
      client.enqueue(encodeSubscribePush(input.channel, result));
      this.node.stats.queued('subscribe', 1);
      afterSubscribed(client, client.subs.get(input.channel));
    }
  }

  private async applyUnsubscribe(user: string, channel: string, client?: string): Promise<void> {
    const u = UnsubscribeCodes.server;
    for (const c of this.targets(user, client)) {
      const subs = channel === '' ? [...c.subs.values()] : [c.subs.get(channel)].filter((s) => s !== undefined);
      for (const sub of subs) {
        c.enqueue(encodeUnsubscribePush(sub.channel, u.code, u.reason));
        this.node.stats.queued('unsubscribe', 1);
        await c.removeSubscription(sub);
      }
    }
  }

  private applyDisconnect(c: Extract<Control, { op: 'disconnect' }>): void {
    const keep = new Set(c.whitelist ?? []);
    for (const client of this.targets(c.user, c.client)) {
      if (!keep.has(client.id)) client.close({ code: c.code, reason: c.reason }, 'disconnected by the server API');
    }
  }

  private applyRefresh(c: Extract<Control, { op: 'refresh' }>): void {
    for (const client of this.targets(c.user, c.client)) {
      if (c.expired) {
        client.close(Disconnects.expired, 'expired by the server API');
        continue;
      }
      client.applyRefresh(c.expireAt, c.info);
    }
  }

  private applySend(c: Extract<Control, { op: 'send' }>): void {
    const frame = Buffer.from(encodeMessagePush(c.data));
    const targets = c.all ? this.node.clients.values() : this.targets(c.user, c.client);
    let n = 0;
    for (const client of targets) {
      client.enqueue(frame);
      n++;
    }
    this.node.stats.queued('message', n);
  }

  // --- reads -------------------------------------------------------------------------------------------------

  async presence(channel: string): Promise<Map<string, ClientInfo>> {
    const o = this.options(channel);
    if (!o.presence) throw new ReplyError(Errors.notAvailable, 'presence is off for this namespace');
    return this.node.engine.presence.presence(channel);
  }

  async presenceStats(channel: string): Promise<{ numClients: number; numUsers: number }> {
    const o = this.options(channel);
    if (!o.presence) throw new ReplyError(Errors.notAvailable, 'presence is off for this namespace');
    return this.node.engine.presence.presenceStats(channel);
  }

  async history(
    channel: string,
    q: { limit: number; since?: StreamPosition | undefined; reverse: boolean },
  ): Promise<{ publications: Publication[]; position: StreamPosition }> {
    const o = this.options(channel);
    if (o.history_size <= 0 || o.history_ttl <= 0) throw new ReplyError(Errors.notAvailable, 'history is off');
    const h = await this.node.engine.broker.history(channel, {
      since: q.since,
      limit: q.limit,
      reverse: q.reverse,
      historyMetaTtlMs: this.node.historyMetaTtl(o),
    });
    if (q.since !== undefined) {
      if (q.since.epoch !== '' && !isStreamEpoch(h, q.since.epoch)) {
        throw new ReplyError(Errors.unrecoverablePosition, 'epoch does not match the stream');
      }
      if (q.since.offset > h.position.offset) {
        throw new ReplyError(Errors.unrecoverablePosition, 'offset is ahead of the stream');
      }
    }
    return { publications: h.publications, position: h.position };
  }

  async historyRemove(channel: string): Promise<void> {
    const o = this.options(channel);
    if (o.history_size <= 0 || o.history_ttl <= 0) throw new ReplyError(Errors.notAvailable, 'history is off');
    await this.node.engine.broker.removeHistory(channel);
  }

  /** Channels with subscribers anywhere in the cluster, matching a glob pattern ("chat:*"), with their counts. */
  async channels(pattern: string): Promise<Map<string, number>> {
    if (this.liveNodes().length <= 1) return this.localChannels(pattern);
    const out = new Map<string, number>();
    for (const answer of await this.survey('channels', { pattern })) {
      for (const [ch, n] of answer as Array<[string, number]>) out.set(ch, (out.get(ch) ?? 0) + n);
    }
    return out;
  }

  private localChannels(pattern: string): Map<string, number> {
    const re = pattern === '' ? undefined : globToRegExp(pattern);
    const out = new Map<string, number>();
    for (const ch of this.node.hub.channelNames()) {
      if (re === undefined || re.test(ch)) out.set(ch, this.node.hub.numSubscribers(ch));
    }
    return out;
  }

  /** Every live node: this one, and those whose heartbeat arrived within the last seconds. */
  info(): NodeInfo[] {
    this.liveNodes();
    return [this.localInfo(), ...[...this.nodes.values()].map((n) => n.info)];
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

/** Glob → RegExp: `*` any run, `?` one character, `[…]` a class; everything else literal. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end === -1) re += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}
