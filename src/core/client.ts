/**
 * One client session: the protocol state machine between a transport and the node. Commands of a connection
 * run one at a time in arrival order (a subscribe is complete before the publish that follows it); replies and
 * pushes go through a bounded outbound queue, written once per event-loop turn (or per `client.write_delay`
 * window for pushes), several messages per frame.
 */
import { randomUUID } from 'node:crypto';
import { TokenError } from '../auth/token-verifier.js';
import {
  ChorusErrors,
  type Disconnect,
  DisconnectError,
  Disconnects,
  Errors,
  type ProtocolError,
  ReplyError,
  UnsubscribeCodes,
} from '../protocol/codes.js';
import { decodeFrame } from '../protocol/decode.js';
import {
  encodeConnectResult,
  encodeErrorReply,
  encodeRefreshResult,
  encodeReply,
  encodeUnsubscribePush,
  PING_FRAME,
  type SubscribeResult,
} from '../protocol/encode.js';
import { rawValueAt } from '../protocol/raw-json.js';
import type { ClientInfo, Command, ConnectRequest, RawJSON } from '../protocol/types.js';
import type { Transport } from '../transport/transport.js';
import {
  afterSubscribed,
  handleHistory,
  handlePresence,
  handlePresenceStats,
  handlePublish,
  handleSubRefresh,
  handleSubscribe,
  handleUnsubscribe,
  presenceTtl,
  type ServerSideGrant,
  subscribeServerSide,
} from './client-channels.js';
import type { ClientContext } from './hooks.js';
import { type Node, VERSION } from './node.js';
import { SubFlag, type Subscription } from './subscription.js';
import type { WheelItem } from './timer-wheel.js';

enum State {
  Connecting = 0,
  Connected = 1,
  Closed = 2,
}

/**
 * Commands decoded but not yet run, per connection. Past the high mark the transport stops reading (TCP
 * backpressure slows the client down, as a Go server's blocked reader does); below the low mark it reads again.
 * An SDK pipelining thousands of commands is normal use, never a reason to disconnect it. The hard cap only
 * catches a transport that cannot pause.
 */
const PENDING_HIGH_MARK = 1024;
const PENDING_LOW_MARK = 256;
const PENDING_HARD_CAP = 8 * PENDING_HIGH_MARK;

export interface ConnectionMeta {
  /** Remote address, for logs only: a client is never identified by it. */
  remote?: string | undefined;
  transport: string;
  /** Headers of the upgrade request, kept only when an onConnecting hook needs them. */
  headers?: import('node:http').IncomingHttpHeaders | undefined;
}

export class Client implements WheelItem, ClientContext {
  readonly id: string = randomUUID();
  user = '';
  info: RawJSON | undefined;
  /** Unix seconds at which the connection expires unless refreshed (0: never). */
  expireAt = 0;
  readonly subs = new Map<string, Subscription>();
  /** Channels with a subscribe in progress (a Set only while there are some: memory per connection). */
  private subscribing: Set<string> | undefined;
  /** Channels whose ended subscription is still being taken back (a Map only while there are some). */
  private ending: Map<string, Promise<void>> | undefined;
  wheelSlot = -1;
  flushMarks = 0;

  private state = State.Connecting;
  /** The outbound queue: its first message, and the rest (no array for the usual single message per flush). */
  private head: string | Buffer | undefined;
  private rest: Array<string | Buffer> | undefined;
  private queueBytes = 0;
  /** Commands decoded but not yet run (no array while there are none). */
  private pending: Command[] | undefined;
  private busy = false;
  /** Whether the transport was asked to stop reading (too many commands waiting). */
  private readingPaused = false;
  private readonly createdAt = Date.now();
  private pingSentAt = 0;
  private nextPingAt = 0;
  private tokens: number;
  private tokensAt = Date.now();
  private subExpiries = 0;
  private nextPresenceAt = 0;

  constructor(
    readonly node: Node,
    private readonly transport: Transport,
    readonly meta: ConnectionMeta,
  ) {
    this.tokens = node.config.client.command_rate_burst;
    node.sessions.add(this);
    node.wheel.schedule(this, this.createdAt + node.config.client.stale_close_delay);
  }

  isSubscribing(channel: string): boolean {
    return this.subscribing?.has(channel) === true;
  }

  get subscribingCount(): number {
    return this.subscribing?.size ?? 0;
  }

  startSubscribing(channel: string): void {
    this.subscribing ??= new Set();
    this.subscribing.add(channel);
  }

  doneSubscribing(channel: string): void {
    this.subscribing?.delete(channel);
    if (this.subscribing?.size === 0) this.subscribing = undefined;
  }

  get client(): string {
    return this.id;
  }

  get isConnected(): boolean {
    return this.state === State.Connected;
  }

  get isClosed(): boolean {
    return this.state === State.Closed;
  }

  clientInfo(chanInfo?: RawJSON): ClientInfo {
    return { user: this.user, client: this.id, connInfo: this.info, chanInfo };
  }

  // --- input ---------------------------------------------------------------------------------------------

  /** A text frame from the transport (`bytes`: its size on the wire). */
  handleFrame(text: string, bytes = text.length): void {
    if (this.state === State.Closed) return;
    this.node.stats.frameIn(bytes);
    let commands: Command[];
    try {
      commands = decodeFrame(text);
      if (commands.length > 1) checkUniqueIds(commands);
    } catch (e) {
      this.fail(e);
      return;
    }
    const pending = this.pending;
    const waiting = (pending?.length ?? 0) + commands.length;
    if (waiting > PENDING_HARD_CAP) {
      this.close(Disconnects.tooManyRequests, 'too many commands waiting');
      return;
    }
    if (commands.length === 0) return;
    if (pending === undefined) this.pending = commands;
    else for (const c of commands) pending.push(c);
    if (waiting >= PENDING_HIGH_MARK && !this.readingPaused) {
      this.readingPaused = true;
      this.transport.pauseReading?.();
    }
    this.drain();
  }

  /** A binary frame: the JSON protocol has none. */
  handleBinaryFrame(): void {
    this.close(Disconnects.badRequest, 'binary frame in the JSON protocol');
  }

  /** The transport went away (peer closed, network error). */
  handleTransportClosed(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.cleanup(Disconnects.connectionClosed);
  }

  private drain(): void {
    while (!this.busy && this.pending !== undefined && this.state !== State.Closed) {
      const cmd = this.pending.shift() as Command;
      if (this.pending.length === 0) this.pending = undefined;
      if (this.readingPaused && (this.pending?.length ?? 0) <= PENDING_LOW_MARK) {
        this.readingPaused = false;
        this.transport.resumeReading?.();
      }
      const stats = this.node.stats;
      const started = performance.now();
      let result: void | Promise<void>;
      try {
        result = this.dispatch(cmd);
      } catch (e) {
        stats.commandDone(cmd.method, performance.now() - started, this.replyFailure(cmd, e));
        continue;
      }
      if (result !== undefined) {
        this.busy = true;
        result
          .then(
            () => stats.commandDone(cmd.method, performance.now() - started, 0),
            (e) => stats.commandDone(cmd.method, performance.now() - started, this.replyFailure(cmd, e)),
          )
          .catch((e) => this.node.log.error({ err: e, client: this.id }, 'failed to answer a failed command'))
          .finally(() => {
            this.busy = false;
            this.drain();
          });
      } else stats.commandDone(cmd.method, performance.now() - started, 0);
    }
  }

  private dispatch(cmd: Command): void | Promise<void> {
    if (this.state === State.Connecting && cmd.method !== 'connect') {
      throw new DisconnectError(Disconnects.badRequest, `"${cmd.method}" before connect`);
    }
    if (cmd.method === 'pong') return this.handlePong();
    if (cmd.id === 0 && cmd.method !== 'send') throw new DisconnectError(Disconnects.badRequest, 'command without id');
    if (cmd.method !== 'connect' && !this.takeToken()) {
      if (this.tokens < -this.node.config.client.command_rate_burst) {
        throw new DisconnectError(Disconnects.tooManyRequests, 'command rate limit exceeded repeatedly');
      }
      throw new ReplyError(Errors.tooManyRequests);
    }
    switch (cmd.method) {
      case 'connect':
        return this.handleConnect(cmd.id, cmd.req);
      case 'subscribe':
        return handleSubscribe(this, cmd.id, cmd.req);
      case 'unsubscribe':
        return handleUnsubscribe(this, cmd.id, cmd.req);
      case 'publish':
        return handlePublish(this, cmd.id, cmd.req);
      case 'presence':
        return handlePresence(this, cmd.id, cmd.req);
      case 'presence_stats':
        return handlePresenceStats(this, cmd.id, cmd.req);
      case 'history':
        return handleHistory(this, cmd.id, cmd.req);
      case 'sub_refresh':
        return handleSubRefresh(this, cmd.id, cmd.req);
      case 'refresh':
        return this.handleRefresh(cmd.id, cmd.req.token);
      case 'rpc':
        return this.handleRPC(cmd.id, cmd.req.method, cmd.req.data);
      case 'send':
        return this.handleSend(cmd.req.data);
      case 'ping':
        this.reply(cmd.id, 'ping', '{}');
        return;
      case 'unknown':
        throw new ReplyError(Errors.methodNotFound);
    }
  }

  /** Token bucket: `command_rate_limit` per second, `command_rate_burst` deep. Goes negative while abused. */
  private takeToken(): boolean {
    const { command_rate_limit: rate, command_rate_burst: burst } = this.node.config.client;
    if (rate === 0) return true;
    const now = Date.now();
    this.tokens = Math.min(burst, this.tokens + ((now - this.tokensAt) * rate) / 1000);
    this.tokensAt = now;
    this.tokens -= 1;
    return this.tokens >= 0;
  }

  /** Answers a failed command; returns the error code (0: the client was disconnected instead). */
  private replyFailure(cmd: Command, e: unknown): number {
    if (e instanceof ReplyError) {
      if (cmd.id > 0) this.replyError(cmd.id, e.error);
      this.node.log.debug({ client: this.id, user: this.user, method: cmd.method, code: e.error.code }, e.message);
      return e.error.code;
    }
    if (e instanceof DisconnectError) {
      this.close(e.disconnect, e.detail);
      return 0;
    }
    this.node.log.error({ err: e, client: this.id, method: cmd.method }, 'command failed with an unexpected error');
    if (cmd.id > 0) this.replyError(cmd.id, Errors.internal);
    return Errors.internal.code;
  }

  private fail(e: unknown): void {
    if (e instanceof DisconnectError) this.close(e.disconnect, e.detail);
    else {
      this.node.log.error({ err: e, client: this.id }, 'unexpected error reading a frame');
      this.close(Disconnects.serverError);
    }
  }

  // --- output --------------------------------------------------------------------------------------------

  reply(id: number, method: string, result: string): void {
    this.enqueue(encodeReply(id, method, result), true);
    this.node.stats.queued('reply', 1);
  }

  replyError(id: number, error: ProtocolError): void {
    this.enqueue(encodeErrorReply(id, error), true);
    this.node.stats.queued('reply', 1);
  }

  /**
   * Queues one message. The queue and the transport's own buffer together are bounded by
   * `client.queue_max_size`: a client that cannot keep up is disconnected with 3008 (slow) and its memory freed,
   * so one slow reader never grows the server's memory or delays others. A reply (`urgent`) is written at the end
   * of the turn; pushes may wait for `client.write_delay`.
   */
  enqueue(msg: string | Buffer, urgent = false): void {
    if (this.state === State.Closed) return;
    const max = this.node.config.client.queue_max_size;
    this.queueBytes += msg.length;
    // The transport's own buffer is added at flush, where the socket is touched anyway: fan-out stays cheap.
    if (max > 0 && this.queueBytes > max) {
      this.close(Disconnects.slow, `outbound queue over ${max} bytes`);
      return;
    }
    if (this.head === undefined) this.head = msg;
    else if (this.rest === undefined) this.rest = [msg];
    else this.rest.push(msg);
    if (urgent) this.node.flusher.soon(this);
    else this.node.flusher.later(this);
  }

  /**
   * Bytes a reply the server builds for this client may take (recovered publications, a history page): half of
   * what its outbound queue has left, so such a reply never gets its own requester closed as slow (3008).
   */
  replyBudget(): number {
    const max = this.node.config.client.queue_max_size;
    if (max <= 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, Math.floor((max - this.queueBytes - this.transport.bufferedAmount) / 2));
  }

  /**
   * Writes everything queued in one write: frames of up to `client.max_messages_in_frame` messages joined by
   * newlines, as the protocol allows.
   */
  flush(): void {
    const m = this.head;
    if (m === undefined) return;
    const max = this.node.config.client.queue_max_size;
    if (max > 0 && this.queueBytes + this.transport.bufferedAmount > max) {
      this.close(Disconnects.slow, `outbound queue over ${max} bytes`);
      return;
    }
    const rest = this.rest;
    this.clearQueue();
    if (rest === undefined) {
      this.transport.write(m);
      this.node.stats.frameOut(typeof m === 'string' ? Buffer.byteLength(m) : m.length, 1);
      return;
    }
    const q = [m, ...rest];
    const perFrame = this.node.config.client.max_messages_in_frame;
    const bytes = this.transport.writeBatch(q, perFrame > 0 ? perFrame : q.length);
    this.node.stats.frameOut(bytes, q.length);
  }

  private clearQueue(): void {
    this.head = undefined;
    this.rest = undefined;
    this.queueBytes = 0;
  }

  // --- timers --------------------------------------------------------------------------------------------

  onTimer(now: number): void {
    if (this.state === State.Closed) return;
    const cfg = this.node.config.client;
    if (this.state === State.Connecting) {
      const deadline = this.createdAt + cfg.stale_close_delay;
      if (now >= deadline) this.close(Disconnects.stale, 'no connect command in time');
      else this.node.wheel.schedule(this, deadline);
      return;
    }
    let next = Number.POSITIVE_INFINITY;
    if (this.pingSentAt > 0) {
      const pongDeadline = this.pingSentAt + cfg.pong_timeout;
      if (now >= pongDeadline) {
        this.close(Disconnects.noPong, `no pong within ${cfg.pong_timeout} ms`);
        return;
      }
      next = pongDeadline;
    }
    if (this.nextPingAt > 0) {
      if (now >= this.nextPingAt) {
        this.enqueue(PING_FRAME);
        this.node.stats.queued('ping', 1);
        if (cfg.pong_timeout > 0 && this.pingSentAt === 0) {
          this.pingSentAt = now;
          next = Math.min(next, now + cfg.pong_timeout);
        }
        this.nextPingAt = now + cfg.ping_interval;
      }
      next = Math.min(next, this.nextPingAt);
    }
    if (this.expireAt > 0) {
      const closeAt = this.expireAt * 1000 + cfg.expired_close_delay;
      if (now >= closeAt) {
        this.close(Disconnects.expired, 'connection token expired and was not refreshed');
        return;
      }
      next = Math.min(next, closeAt);
    }
    if (this.subExpiries > 0) next = Math.min(next, this.checkSubscriptionExpiry(now));
    if (this.nextPresenceAt > 0) {
      if (now >= this.nextPresenceAt) {
        this.refreshPresence();
        this.nextPresenceAt = now + cfg.presence_update_interval;
      }
      next = Math.min(next, this.nextPresenceAt);
    }
    if (this.state !== State.Connected) return;
    if (next !== Number.POSITIVE_INFINITY) this.node.wheel.schedule(this, next);
  }

  /** Ends subscriptions whose token ran out (unsubscribe 2501: the SDK fetches a new token and resubscribes). */
  private checkSubscriptionExpiry(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    const delay = this.node.config.client.expired_sub_close_delay;
    for (const sub of [...this.subs.values()]) {
      if (sub.expireAt === 0) continue;
      const at = sub.expireAt * 1000 + delay;
      if (now >= at) {
        if (sub.has(SubFlag.serverSide)) {
          this.close(Disconnects.subExpired);
          return next;
        }
        this.enqueue(
          encodeUnsubscribePush(sub.channel, UnsubscribeCodes.expired.code, UnsubscribeCodes.expired.reason),
        );
        this.node.stats.queued('unsubscribe', 1);
        void this.removeSubscription(sub);
      } else next = Math.min(next, at);
    }
    return next;
  }

  /** Presence entries expire unless refreshed: this keeps a live client's entries alive in a shared store. */
  private refreshPresence(): void {
    const ttl = presenceTtl(this);
    for (const sub of this.subs.values()) {
      if (!sub.has(SubFlag.emitPresence) || sub.buffer !== undefined) continue;
      sub.writePresence(ttl).catch((e) => {
        this.node.log.warn({ err: e, channel: sub.channel }, 'presence refresh failed');
      });
    }
  }

  /** Called when a subscription's token expiry changes. */
  trackSubscriptionExpiry(): void {
    let n = 0;
    for (const s of this.subs.values()) if (s.expireAt > 0) n++;
    this.subExpiries = n;
    this.reschedule();
  }

  private reschedule(): void {
    if (this.state !== State.Connected) return;
    this.node.wheel.cancel(this);
    this.onTimer(Date.now());
  }

  private handlePong(): void {
    // With pong_timeout 0 pongs are not awaited, so none is unexpected (as in Centrifugo).
    if (this.pingSentAt === 0 && this.node.config.client.pong_timeout > 0) {
      throw new DisconnectError(Disconnects.badRequest, 'pong without a ping');
    }
    this.pingSentAt = 0;
  }

  // --- connection commands -------------------------------------------------------------------------------

  private async handleConnect(id: number, req: ConnectRequest): Promise<void> {
    if (this.state !== State.Connecting) throw new DisconnectError(Disconnects.badRequest, 'already connected');
    const node = this.node;
    const cfg = node.config.client;
    let user = '';
    let expireAt = 0;
    let info: RawJSON | undefined;
    let grants = new Map<string, ServerSideGrant>();
    let connectData: RawJSON | undefined;
    const decided = node.hooks.onConnecting
      ? await callHook(node, () =>
          node.hooks.onConnecting?.({
            client: this.id,
            transport: this.meta.transport,
            headers: this.meta.headers ?? {},
            token: req.token,
            data: req.data === undefined ? undefined : JSON.parse(req.data),
            name: req.name,
            version: req.version,
          }),
        )
      : undefined;
    if (decided !== undefined) {
      if (typeof decided !== 'object' || decided === null || typeof decided.user !== 'string') {
        node.log.error({ client: this.id }, 'onConnecting must return {user, …} or undefined');
        throw new ReplyError(Errors.internal);
      }
      user = decided.user;
      expireAt = decided.expireAt ?? 0;
      info = decided.info === undefined ? undefined : JSON.stringify(decided.info);
      connectData = decided.data === undefined ? undefined : JSON.stringify(decided.data);
      for (const ch of decided.channels ?? []) grants.set(ch, {});
    } else if (req.token !== '') {
      try {
        const claims = await node.connectTokens.verifyConnect(req.token);
        user = claims.user;
        expireAt = cfg.insecure ? 0 : claims.expireAt;
        info = claims.info;
        grants = claims.subs;
      } catch (e) {
        if (e instanceof TokenError && e.kind === 'expired') throw new ReplyError(Errors.tokenExpired);
        if (e instanceof TokenError) throw new DisconnectError(Disconnects.invalidToken, e.message);
        throw e;
      }
      if (user === '' && cfg.disallow_anonymous_connection_tokens) {
        throw new DisconnectError(Disconnects.permissionDenied, 'anonymous connection tokens are disallowed');
      }
    } else if (!cfg.insecure && !cfg.allow_anonymous_connect_without_token) {
      throw new DisconnectError(
        Disconnects.badRequest,
        'connection without token: send a token, or enable client.allow_anonymous_connect_without_token',
      );
    }
    if (this.state !== State.Connecting) return;
    if (node.isClosing) throw new DisconnectError(Disconnects.shutdown);
    if (cfg.connection_limit > 0 && node.clients.size >= cfg.connection_limit) {
      throw new DisconnectError(Disconnects.connectionLimit, `client.connection_limit ${cfg.connection_limit} reached`);
    }
    if (cfg.user_connection_limit > 0 && user !== '' && node.userConnections(user) >= cfg.user_connection_limit) {
      throw new DisconnectError(
        Disconnects.connectionLimit,
        `client.user_connection_limit ${cfg.user_connection_limit} reached for user`,
      );
    }
    const nowSec = Math.floor(Date.now() / 1000);
    if (expireAt > 0 && expireAt <= nowSec) throw new ReplyError(Errors.expired);

    // Channels the client asks to be subscribed to server-side (connect.subs) join the token's grants when the
    // client could subscribe to them itself; the token's grants need no further check — but no name, wherever
    // it comes from, may be longer than channel.max_length.
    for (const ch of grants.keys()) node.resolver.checkLength(ch);
    for (const ch of req.subs.keys()) node.resolver.checkLength(ch);
    const wanted = new Map(grants);
    for (const ch of wanted.keys()) {
      // A token or hook granting someone else's personal channel is refused: it is only ever its owner's.
      if (node.access.mayHave(ch, user)) continue;
      wanted.delete(ch);
      node.log.warn(
        { client: this.id, user, channel: ch },
        "server-side subscription to another user's personal channel refused",
      );
    }
    for (const ch of req.subs.keys()) {
      if (!wanted.has(ch) && this.mayAutoSubscribe(ch, user)) wanted.set(ch, {});
    }
    const personal = cfg.subscribe_to_user_personal_channel;
    if (personal.enabled && user !== '') {
      const ch = node.personalChannel(user);
      if (!wanted.has(ch)) wanted.set(ch, {});
      if (personal.single_connection) {
        // One connection per user: the newest wins, the others are told why (3504, no reconnect).
        await node.ops.disconnect({ user, whitelist: [this.id], disconnect: Disconnects.connectionLimit });
        if (this.state !== State.Connecting) return;
      }
    }
    if (cfg.channel_limit > 0 && wanted.size > cfg.channel_limit) {
      throw new DisconnectError(Disconnects.channelLimit, `more than client.channel_limit server-side channels`);
    }

    this.user = user;
    this.info = info;
    this.expireAt = expireAt;
    this.state = State.Connected;
    node.registerClient(this);

    const subs = new Map<string, SubscribeResult>();
    // One reply carries every server-side subscription's recovered publications: they share one budget.
    const budget = { bytes: this.replyBudget() };
    for (const [ch, grant] of wanted) {
      const resolved = node.resolver.resolve(ch);
      if (resolved === undefined) {
        node.log.warn({ client: this.id, user, channel: ch }, 'server-side channel in an unknown namespace: skipped');
        continue;
      }
      const result = await subscribeServerSide(this, ch, resolved.options, grant, req.subs.get(ch), budget);
      if (this.state !== State.Connected) return;
      // Undefined: the server API unsubscribed it meanwhile.
      if (result !== undefined) subs.set(ch, result);
    }
    const pingMs = cfg.ping_interval;
    this.reply(
      id,
      'connect',
      encodeConnectResult({
        client: this.id,
        version: VERSION,
        expires: expireAt > 0,
        ttl: expireAt > 0 ? expireAt - nowSec : 0,
        subs,
        ping: Math.round(pingMs / 1000),
        pong: pingMs > 0,
        data: connectData,
        time: cfg.connect_include_server_time ? Date.now() : undefined,
      }),
    );
    for (const ch of subs.keys()) afterSubscribed(this, this.subs.get(ch));
    this.nextPresenceAt = Date.now() + cfg.presence_update_interval;
    if (pingMs > 0) this.nextPingAt = Date.now() + pingMs / 2 + Math.random() * (pingMs / 2);
    this.meta.headers = keepHeaders(this.meta.headers, node.forwardedHeaders);
    this.reschedule();
    node.log.debug({ client: this.id, user, transport: this.meta.transport }, 'client connected');
  }

  /** Centrifugo's rule for channels a connect request asks for: what the client could subscribe to itself. */
  private mayAutoSubscribe(channel: string, user: string): boolean {
    // When the application decides subscriptions (hook or subscribe proxy), connect.subs cannot go around it.
    if (this.node.hooks.onSubscribe) return false;
    const r = this.node.resolver.resolve(channel);
    if (r === undefined || r.isPrivate || !this.node.resolver.validName(channel, r)) return false;
    if (!this.node.access.mayHave(channel, user)) return false;
    if (r.isUserLimited) return user !== '' && this.node.resolver.userAllowed(channel, user);
    if (r.options.allow_subscribe_for_client && (user !== '' || r.options.allow_subscribe_for_anonymous)) return true;
    return this.node.config.client.insecure;
  }

  private async handleRefresh(id: number, token: string): Promise<void> {
    if (token === '') throw new DisconnectError(Disconnects.badRequest, 'refresh without token');
    const cfg = this.node.config.client;
    let expireAt = 0;
    try {
      const claims = await this.node.connectTokens.verifyConnect(token);
      if (claims.user !== this.user) throw new DisconnectError(Disconnects.invalidToken, 'refresh token user mismatch');
      expireAt = cfg.insecure ? 0 : claims.expireAt;
      if (claims.info !== undefined) this.info = claims.info;
    } catch (e) {
      if (e instanceof TokenError && e.kind === 'expired') throw new DisconnectError(Disconnects.expired);
      if (e instanceof TokenError) throw new DisconnectError(Disconnects.invalidToken, e.message);
      throw e;
    }
    const nowSec = Math.floor(Date.now() / 1000);
    if (expireAt > 0 && expireAt <= nowSec) throw new ReplyError(Errors.expired);
    this.expireAt = expireAt;
    this.reschedule();
    const ttl = expireAt > 0 ? expireAt - nowSec : 0;
    this.reply(id, 'refresh', encodeRefreshResult({ client: this.id, version: VERSION, expires: expireAt > 0, ttl }));
  }

  /** A refresh decided by the server (API): new expiry and/or info. */
  applyRefresh(expireAt: number | undefined, info: RawJSON | undefined): void {
    if (expireAt !== undefined) this.expireAt = expireAt;
    if (info !== undefined) this.info = info;
    this.reschedule();
  }

  private async handleRPC(id: number, method: string, data: RawJSON | undefined): Promise<void> {
    const dm = this.node.config.client.direct_messages;
    if (dm.enabled && method === dm.rpc_method) return this.handleDirectMessage(id, data);
    const parsed = data === undefined ? undefined : JSON.parse(data);
    const handler = this.node.hooks.rpc.get(method);
    if (handler !== undefined) {
      const result = await callHook(this.node, () => handler(this, parsed));
      this.reply(id, 'rpc', result === undefined ? '{}' : `{"data":${JSON.stringify(result)}}`);
      return;
    }
    const fallback = this.node.hooks.onUnknownRPC;
    const answer = fallback ? await callHook(this.node, () => fallback(this, method, parsed)) : undefined;
    if (answer === undefined) throw new ReplyError(Errors.notAvailable);
    this.reply(id, 'rpc', answer.data === undefined ? '{}' : `{"data":${JSON.stringify(answer.data)}}`);
  }

  /**
   * Chorus's built-in client-to-client message: `rpc("chorus.send", {user | client, data})`. The receiver gets a
   * `message` push carrying the sender's identity as the server knows it, so it cannot be forged.
   */
  private async handleDirectMessage(id: number, raw: RawJSON | undefined): Promise<void> {
    const dm = this.node.config.client.direct_messages;
    if (this.user === '' && !dm.allow_anonymous) throw new ReplyError(Errors.permissionDenied, 'anonymous sender');
    if (!this.takeDirectMessageToken(dm.rate_limit)) throw new ReplyError(Errors.tooManyRequests);
    const req = raw === undefined ? undefined : (JSON.parse(raw) as unknown);
    if (typeof req !== 'object' || req === null || Array.isArray(req)) {
      throw new ReplyError(Errors.badRequest, 'direct message needs {user or client, data}');
    }
    const { user, client } = req as { user?: unknown; client?: unknown };
    if ((user !== undefined && typeof user !== 'string') || (client !== undefined && typeof client !== 'string')) {
      throw new ReplyError(Errors.badRequest, 'user and client must be strings');
    }
    if ((user === undefined) === (client === undefined)) {
      throw new ReplyError(Errors.badRequest, 'direct message needs exactly one of user or client');
    }
    // "" would address every anonymous connection at once.
    if (user === '' || client === '') throw new ReplyError(Errors.badRequest, 'user and client must not be empty');
    const payload = rawValueAt(raw as string, ['data']) ?? 'null';
    if (!(await this.node.ops.isOnline({ user, client }))) throw new ReplyError(ChorusErrors.targetOffline);
    const from = JSON.stringify({ user: this.user, client: this.id });
    await this.node.ops.send({ user, client, data: `{"from":${from},"data":${payload}}` });
    this.reply(id, 'rpc', '{"data":{}}');
  }

  private dmTokens = -1;
  private dmTokensAt = 0;

  private takeDirectMessageToken(rate: number): boolean {
    if (rate === 0) return true;
    const now = Date.now();
    if (this.dmTokens < 0) this.dmTokens = rate;
    this.dmTokens = Math.min(rate, this.dmTokens + ((now - this.dmTokensAt) * rate) / 1000);
    this.dmTokensAt = now;
    if (this.dmTokens < 1) return false;
    this.dmTokens -= 1;
    return true;
  }

  private async handleSend(data: RawJSON | undefined): Promise<void> {
    const handler = this.node.hooks.onSend;
    if (handler === undefined) throw new DisconnectError(Disconnects.notAvailable, 'no handler for send');
    await callHook(this.node, () => handler(this, data === undefined ? undefined : JSON.parse(data)));
  }

  // --- subscriptions -------------------------------------------------------------------------------------

  /**
   * Moves a recoverable or positioned subscription's position forward. Returns false when the publication must
   * not be delivered: a duplicate, or a gap (the client is then told its state is insufficient, so it
   * resubscribes and recovers from history instead of silently missing publications).
   */
  advancePosition(sub: Subscription, offset: number, epoch: string): boolean {
    // Offset 1 of another epoch for a subscriber still at 0 is the first publication of a stream created after
    // it saw the channel empty (empty-epoch.ts): nothing was missed, and the subscriber follows the new stream.
    if (sub.epoch !== '' && epoch !== '' && epoch !== sub.epoch && !(sub.offset === 0 && offset === 1)) {
      this.insufficientState(sub, 'stream epoch changed');
      return false;
    }
    if (offset <= sub.offset) return false;
    // The position is known once the subscription has an epoch (set at subscribe, even at offset 0).
    if (sub.epoch !== '' && offset !== sub.offset + 1) {
      this.insufficientState(sub, `publication gap: at ${sub.offset}, got ${offset}`);
      return false;
    }
    sub.offset = offset;
    if (epoch !== '') sub.epoch = epoch;
    return true;
  }

  insufficientState(sub: Subscription, why: string): void {
    this.node.log.info({ client: this.id, channel: sub.channel, why }, 'insufficient state: client must recover');
    if (sub.has(SubFlag.serverSide)) {
      this.close(Disconnects.insufficientState, why);
      return;
    }
    const u = UnsubscribeCodes.insufficientState;
    this.enqueue(encodeUnsubscribePush(sub.channel, u.code, u.reason));
    this.node.stats.queued('unsubscribe', 1);
    void this.removeSubscription(sub);
  }

  /** Queues what arrived for a subscription while its reply was prepared, skipping what the reply carried. */
  releaseBuffered(sub: Subscription | undefined): void {
    if (sub === undefined || sub.buffer === undefined) return;
    const buffered = sub.buffer;
    sub.buffer = undefined;
    const tracked = (sub.flags & (SubFlag.positioned | SubFlag.recoverable)) !== 0;
    for (const b of buffered) {
      if (this.state === State.Closed || !this.subs.has(sub.channel)) return;
      if (tracked && b.offset > 0 && !this.advancePosition(sub, b.offset, b.epoch)) continue;
      this.enqueue(b.frame);
    }
  }

  /**
   * Ends a subscription: it leaves this client's channel map at once, and what it announced (hub entry, presence,
   * join) is taken back — after any engine write still in flight for it (see Subscription). Resolves when done.
   */
  removeSubscription(sub: Subscription): Promise<void> {
    if (this.subs.get(sub.channel) !== sub) return sub.end();
    this.subs.delete(sub.channel);
    if (sub.expireAt > 0) this.subExpiries--;
    const ending = sub.end();
    // A new subscription to the channel announces itself only after this one has been taken back.
    const ch = sub.channel;
    this.ending ??= new Map();
    this.ending.set(ch, ending);
    void ending.then(() => {
      if (this.ending?.get(ch) !== ending) return;
      this.ending.delete(ch);
      if (this.ending.size === 0) this.ending = undefined;
    });
    return ending;
  }

  /** The cleanup of an ended subscription to this channel, while it runs. */
  endingOf(channel: string): Promise<void> | undefined {
    return this.ending?.get(channel);
  }

  // --- closing -------------------------------------------------------------------------------------------

  /**
   * Closes the connection with a disconnect code. What was queued before is written first, except for a slow
   * client, whose queue is dropped.
   */
  close(d: Disconnect, detail?: string): void {
    if (this.state === State.Closed) return;
    const wasConnected = this.state === State.Connected;
    if (d.code === Disconnects.slow.code) {
      this.clearQueue();
    } else {
      this.flush();
      // Writing what waited found the client too slow: it was closed with 3008 instead.
      if (this.isClosed) return;
    }
    this.state = State.Closed;
    const level =
      d.code === Disconnects.shutdown.code || d.code === Disconnects.connectionClosed.code ? 'debug' : 'info';
    this.node.log[level](
      { client: this.id, user: this.user, code: d.code, reason: d.reason, detail, connected: wasConnected },
      'closing client connection',
    );
    try {
      this.transport.close(d.code, d.reason);
      if (d.code === Disconnects.slow.code) this.transport.terminate();
    } finally {
      this.cleanup(d);
    }
  }

  private cleanup(d: Disconnect): void {
    const node = this.node;
    node.stats.disconnected(d.code);
    node.wheel.cancel(this);
    node.sessions.delete(this);
    this.clearQueue();
    this.pending = undefined;
    const wasRegistered = node.clients.get(this.id) === this;
    node.unregisterClient(this);
    for (const sub of [...this.subs.values()]) void this.removeSubscription(sub);
    const onDisconnect = node.hooks.onDisconnect;
    if (wasRegistered && onDisconnect) {
      // Sync throws and async rejections alike are logged: an app's cleanup never takes the server down.
      Promise.resolve()
        .then(() => onDisconnect(this, d))
        .catch((e) => node.log.error({ err: e, client: this.id }, 'onDisconnect hook failed'));
    }
  }
}

function checkUniqueIds(commands: Command[]): void {
  const seen = new Set<number>();
  for (const c of commands) {
    if (c.id === 0) continue;
    if (seen.has(c.id)) throw new DisconnectError(Disconnects.badRequest, `command id ${c.id} repeated in a frame`);
    seen.add(c.id);
  }
}

/** After connect a connection keeps only the headers a proxy forwards: memory per connection stays small. */
function keepHeaders(
  headers: import('node:http').IncomingHttpHeaders | undefined,
  names: readonly string[],
): import('node:http').IncomingHttpHeaders | undefined {
  if (headers === undefined || names.length === 0) return undefined;
  const kept: import('node:http').IncomingHttpHeaders = {};
  for (const n of names) if (headers[n] !== undefined) kept[n] = headers[n];
  return kept;
}

/**
 * Runs application code (a hook): protocol errors pass through, anything else is logged and becomes an internal
 * error, so a throwing hook fails one command, never the server.
 */
export async function callHook<T>(node: Node, f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof ReplyError || e instanceof DisconnectError) throw e;
    node.log.error({ err: e }, 'a hook threw: answering with an internal error');
    throw new ReplyError(Errors.internal);
  }
}
