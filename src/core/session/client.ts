/**
 * One client session: the protocol state machine between a transport and the node. It speaks through the codec
 * the transport negotiated and adapts to what the transport is (bidirectional or not, with a close frame or not).
 * Commands of a connection run one at a time in arrival order (a subscribe is complete before the publish that
 * follows it); replies and pushes go through a bounded outbound queue, written once per event-loop turn (or per
 * `client.write_delay` window for pushes), several messages per frame.
 */
import { randomUUID } from 'node:crypto';
import type { ClientCodec, CodecName } from '../../protocol/codec.js';
import {
  type Disconnect,
  DisconnectError,
  Disconnects,
  Errors,
  ReplyError,
  UnsubscribeCodes,
} from '../../protocol/codes.js';
import type {
  Command,
  ConnectRequest,
  Payload,
  Push,
  ReplyError as ReplyErrorBody,
  ReplyMethod,
  ResultOf,
} from '../../protocol/messages.js';
import type { ChannelSession } from '../channels/channel-session.js';
import { ChannelSet } from '../channels/channel-set.js';
import {
  handleHistory,
  handlePresence,
  handlePresenceStats,
  handlePublish,
  handleSubRefresh,
  handleUnsubscribe,
} from '../channels/commands.js';
import { handleSubscribe, presenceTtl } from '../channels/subscribe.js';
import { SubFlag } from '../channels/subscription.js';
import type { ClientContext, Headers } from '../hooks.js';
import type { Node } from '../node.js';
import type { ClientSettings } from '../options.js';
import type { OutKind } from '../ports/stats.js';
import type { Transport } from '../ports/transport.js';
import { type PushEncoding, pushEncodingFor } from '../push-encoding.js';
import { TokenBucket } from '../rate-limiter.js';
import type { WheelItem } from '../timer-wheel.js';
import { slice } from '../turn-slice.js';
import { connect, refresh } from './connect.js';
import { handleRPC, handleSend } from './rpc.js';

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
  /** The transport's name ("websocket", "sse" …), as hooks and proxies see it. */
  transport: string;
  /** Remote address, for logs only: a client is never identified by it. */
  remote?: string | undefined;
  /** Headers of the connection request, kept only when an onConnecting hook or a proxy needs them. */
  headers?: Headers | undefined;
  /**
   * Emulated transports: the secret id the client names its session by in emulation requests (the connect
   * result carries it, with this node's id). Never the client id, which other clients see.
   */
  session?: string | undefined;
}

export class Client implements WheelItem, ChannelSession, ClientContext {
  readonly id: string = randomUUID();
  user = '';
  connInfo: Payload | undefined;
  /** Unix seconds at which the connection expires unless refreshed (0: never). */
  expireAt = 0;
  readonly channels = new ChannelSet();
  readonly encoding: PushEncoding;
  wheelSlot = -1;
  flushMarks = 0;

  private state = State.Connecting;
  /** The outbound queue: its first message, and the rest (no array for the usual single message per flush). */
  private head: Uint8Array | undefined;
  private rest: Uint8Array[] | undefined;
  private queueBytes = 0;
  /** Commands decoded but not yet run (no array while there are none). */
  private pending: Command[] | undefined;
  /** Whether the waiting frames and commands wait for the next turn's slice (see drain). */
  private deferred = false;
  /** Frames received past a turn's slice, not decoded yet (reading is paused meanwhile). */
  private frames: Uint8Array[] | undefined;
  private busy = false;
  /** Whether the transport was asked to stop reading (too many commands waiting). */
  private readingPaused = false;
  private readonly createdAt: number;
  private pingSentAt = 0;
  private nextPingAt = 0;
  private commandTokens: TokenBucket | undefined;
  private nextPresenceAt = 0;

  constructor(
    readonly node: Node,
    private readonly transport: Transport,
    readonly meta: ConnectionMeta,
  ) {
    this.encoding = pushEncodingFor(transport.codec, transport.unidirectional);
    this.createdAt = node.clock.now();
    node.sessions.add(this);
    node.wheel.schedule(this, this.createdAt + node.config.client.stale_close_delay);
  }

  // --- what hooks and channel logic see ----------------------------------------------------------------------

  get client(): string {
    return this.id;
  }

  get context(): ClientContext {
    return this;
  }

  get codec(): ClientCodec {
    return this.transport.codec;
  }

  get protocol(): CodecName {
    return this.transport.codec.name;
  }

  get transportName(): string {
    return this.transport.name;
  }

  get isUnidirectional(): boolean {
    return this.transport.unidirectional;
  }

  /** Commands after connect arrive through emulation requests (HTTP-streaming, SSE). */
  get isEmulated(): boolean {
    return this.transport.emulated;
  }

  get isConnected(): boolean {
    return this.state === State.Connected;
  }

  get isConnecting(): boolean {
    return this.state === State.Connecting;
  }

  get isClosed(): boolean {
    return this.state === State.Closed;
  }

  // --- input ---------------------------------------------------------------------------------------------

  /** A frame from the transport, in the connection's encoding. */
  handleFrame(frame: Uint8Array): void {
    if (this.state === State.Closed) return;
    this.node.stats.frameIn(frame.length);
    // Decoding a frame is work too (a 64 KiB frame of deep JSON: milliseconds): past this turn's slice, frames
    // wait for the next turn, in order, with reading paused (see drain).
    if (this.frames !== undefined) {
      this.frames.push(frame);
      return;
    }
    const pause = slice();
    if (pause !== undefined) {
      this.frames = [frame];
      this.defer(pause);
      return;
    }
    this.decodeFrame(frame);
  }

  private decodeFrame(frame: Uint8Array): void {
    let commands: Command[];
    try {
      commands = this.transport.codec.decodeCommands(frame);
      if (commands.length > 1) checkUniqueIds(commands);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.handleCommands(commands);
  }

  /** Commands decoded by the transport (emulation requests carry them outside of any frame). */
  handleCommands(commands: Command[]): void {
    if (this.state === State.Closed || commands.length === 0) return;
    const pending = this.pending;
    const waiting = (pending?.length ?? 0) + commands.length;
    if (waiting > PENDING_HARD_CAP) {
      this.close(Disconnects.tooManyRequests, 'too many commands waiting');
      return;
    }
    if (pending === undefined) this.pending = commands;
    else for (const c of commands) pending.push(c);
    if (waiting >= PENDING_HIGH_MARK && !this.readingPaused) {
      this.readingPaused = true;
      this.transport.pauseReading?.();
    }
    this.drain();
  }

  /**
   * The connect request of a unidirectional transport (its first message, or the request that opened it): the
   * client sends nothing else, and receives its connect result as a push. A refused connect closes the session
   * with a disconnect code (an error code is mapped to one: `client.connect_code_to_unidirectional_disconnect`);
   * `onRefused` hears why first, so an HTTP transport can answer with a status instead
   * (`connect_code_to_http_response`).
   */
  connectUnidirectional(req: ConnectRequest, onRefused?: (refusal: ConnectRefusal) => void): Promise<void> {
    return connect(this, 0, req).catch((e) => {
      if (this.state === State.Closed) return;
      if (e instanceof ReplyError) {
        onRefused?.({ code: e.error.code, message: e.error.message });
        this.close(connectErrorDisconnect(e, this.node.config.client), e.message);
      } else if (e instanceof DisconnectError) {
        onRefused?.({ code: e.disconnect.code, message: e.disconnect.reason });
        this.close(e.disconnect, e.detail);
      } else {
        onRefused?.({ code: 0, message: Disconnects.serverError.reason });
        this.fail(e);
      }
    });
  }

  /** The transport went away (peer closed, network error). */
  handleTransportClosed(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.cleanup(Disconnects.connectionClosed);
  }

  /**
   * Runs waiting commands in order. Every 32 commands it checks the turn's slice of CPU (core/turn-slice.ts,
   * shared with every session and API request): once it is used up, the rest wait for the next turn with reading
   * paused. Without this, one read of a socket ran every command of every frame it held (libuv reads a ready
   * socket up to 32 times in a row: about 2 MB, 65,000 pings), and a few busy connections held the loop for
   * 100–200 ms at a time.
   */
  private drain(): void {
    let run = 0;
    while (!this.busy && !this.deferred && this.pending !== undefined && this.state !== State.Closed) {
      if ((++run & 31) === 0) {
        const pause = slice();
        if (pause !== undefined) {
          this.defer(pause);
          return;
        }
      }
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

  /** Waits for the next turn's slice to decode the waiting frames and run the commands, reading paused meanwhile. */
  private defer(pause: Promise<void>): void {
    if (this.deferred) return;
    this.deferred = true;
    if (!this.readingPaused) {
      this.readingPaused = true;
      this.transport.pauseReading?.();
    }
    void pause.then(() => {
      this.deferred = false;
      while (this.frames !== undefined && this.state !== State.Closed) {
        const next = slice();
        if (next !== undefined) {
          this.defer(next);
          return;
        }
        const frame = this.frames.shift() as Uint8Array;
        if (this.frames.length === 0) this.frames = undefined;
        this.decodeFrame(frame);
      }
      if (this.readingPaused && (this.pending?.length ?? 0) <= PENDING_LOW_MARK) {
        this.readingPaused = false;
        this.transport.resumeReading?.();
      }
      this.drain();
    });
  }

  private dispatch(cmd: Command): void | Promise<void> {
    if (this.state === State.Connecting && cmd.method !== 'connect') {
      throw new DisconnectError(Disconnects.badRequest, `"${cmd.method}" before connect`);
    }
    if (cmd.method === 'pong') return this.handlePong();
    if (cmd.id === 0 && cmd.method !== 'send') throw new DisconnectError(Disconnects.badRequest, 'command without id');
    if (cmd.method !== 'connect') this.takeCommandToken();
    switch (cmd.method) {
      case 'connect':
        if (this.state !== State.Connecting) throw new DisconnectError(Disconnects.badRequest, 'already connected');
        return connect(this, cmd.id, cmd.req);
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
        return refresh(this, cmd.id, cmd.req.token);
      case 'rpc':
        return handleRPC(this, cmd.id, cmd.req.method, cmd.req.data);
      case 'send':
        return handleSend(this, cmd.req.data);
      case 'ping':
        this.reply(cmd.id, 'ping', {});
        return;
      case 'unknown':
        throw new ReplyError(Errors.methodNotFound);
    }
  }

  /** `client.command_rate_limit` per second, `command_rate_burst` deep; a second burst's deficit closes. */
  private takeCommandToken(): void {
    const { command_rate_limit: rate, command_rate_burst: burst } = this.node.config.client;
    if (rate === 0) return;
    this.commandTokens ??= new TokenBucket(rate, burst, this.node.clock.now());
    const left = this.commandTokens.take(this.node.clock.now());
    if (left >= 0) return;
    if (left < -burst) throw new DisconnectError(Disconnects.tooManyRequests, 'command rate limit exceeded repeatedly');
    throw new ReplyError(Errors.tooManyRequests);
  }

  /** Answers a failed command; returns the error code (0: the client was disconnected instead). */
  private replyFailure(cmd: Command, e: unknown): number {
    if (e instanceof ReplyError) {
      if (cmd.method === 'connect' && this.transport.unidirectional) {
        // Nothing to reply on: the client learns it from the close.
        this.close(connectErrorDisconnect(e, this.node.config.client), e.message);
        return e.error.code;
      }
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

  reply<M extends ReplyMethod>(id: number, method: M, result: ResultOf[M]): void {
    if (this.transport.unidirectional) return;
    this.enqueue(this.transport.codec.encodeReply({ id, method, result } as never), true);
    this.node.stats.queued('reply', 1);
  }

  replyError(id: number, error: ReplyErrorBody): void {
    if (this.transport.unidirectional) return;
    this.enqueue(this.transport.codec.encodeReply({ id, method: 'error', error }), true);
    this.node.stats.queued('reply', 1);
  }

  push(push: Push, kind: OutKind): void {
    this.enqueue(this.encoding.encode(push));
    this.node.stats.queued(kind, 1);
  }

  /**
   * Queues one encoded message. The queue and the transport's own buffer together are bounded by
   * `client.queue_max_size`: a client that cannot keep up is disconnected with 3008 (slow) and its memory freed,
   * so one slow reader never grows the server's memory or delays others. A reply (`urgent`) is written at the end
   * of the turn; pushes may wait for `client.write_delay`.
   */
  enqueue(msg: Uint8Array, urgent = false): void {
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

  /** Writes everything queued in one write: frames of up to `client.max_messages_in_frame` messages. */
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
      this.node.stats.frameOut(m.length, 1);
      return;
    }
    const q = [m, ...rest];
    const perFrame = this.node.config.client.max_messages_in_frame;
    const bytes = this.transport.writeMany(q, perFrame > 0 ? perFrame : q.length);
    this.node.stats.frameOut(bytes, q.length);
  }

  private clearQueue(): void {
    this.head = undefined;
    this.rest = undefined;
    this.queueBytes = 0;
  }

  // --- connection state, set by connect and refresh (session/connect.ts) -----------------------------------

  /** The connect command succeeded: the session now belongs to `user`. */
  becomeConnected(user: string, connInfo: Payload | undefined, expireAt: number): void {
    this.user = user;
    this.connInfo = connInfo;
    this.expireAt = expireAt;
    this.state = State.Connected;
    this.node.registerClient(this);
  }

  /** After the connect result was queued: heartbeats, presence refreshes and expiry start. */
  startTimers(): void {
    const now = this.node.clock.now();
    const cfg = this.node.config.client;
    this.nextPresenceAt = now + cfg.presence_update_interval;
    const pingMs = cfg.ping_interval;
    if (pingMs > 0) this.nextPingAt = now + pingMs / 2 + Math.random() * (pingMs / 2);
    this.meta.headers = keepHeaders(this.meta.headers, this.node.forwardedHeaders);
    this.reschedule();
  }

  /**
   * A new expiry and/or connection info (a refresh command, or the server API). A unidirectional client, which
   * cannot refresh by itself, is told its new expiry by a `refresh` push, as Centrifugo does.
   */
  applyRefresh(expireAt: number | undefined, info: Payload | undefined): void {
    if (expireAt !== undefined) this.expireAt = expireAt;
    if (info !== undefined) this.connInfo = info;
    if (this.transport.unidirectional && this.state === State.Connected) {
      const ttl = this.expireAt > 0 ? Math.max(0, this.expireAt - Math.floor(this.node.clock.now() / 1000)) : 0;
      this.push({ type: 'refresh', expires: this.expireAt > 0, ttl }, 'reply');
    }
    this.reschedule();
  }

  expiryChanged(): void {
    this.reschedule();
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
        this.enqueue(this.transport.codec.ping);
        this.node.stats.queued('ping', 1);
        // A unidirectional client cannot answer: its pings only keep the stream alive.
        if (cfg.pong_timeout > 0 && this.pingSentAt === 0 && !this.transport.unidirectional) {
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
    if (this.channels.expiring > 0) next = Math.min(next, this.checkSubscriptionExpiry(now));
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
    for (const sub of [...this.channels.values()]) {
      if (sub.expireAt === 0) continue;
      const at = sub.expireAt * 1000 + delay;
      if (now >= at) {
        if (sub.has(SubFlag.serverSide)) {
          this.close(Disconnects.subExpired);
          return next;
        }
        const u = UnsubscribeCodes.expired;
        this.push({ type: 'unsubscribe', channel: sub.channel, code: u.code, reason: u.reason }, 'unsubscribe');
        void this.channels.remove(sub);
      } else next = Math.min(next, at);
    }
    return next;
  }

  /** Presence entries expire unless refreshed: this keeps a live client's entries alive in a shared store. */
  private refreshPresence(): void {
    const ttl = presenceTtl(this);
    for (const sub of this.channels.values()) {
      if (!sub.has(SubFlag.emitPresence) || sub.buffer !== undefined) continue;
      const node = this.node;
      sub.writePresence(ttl).catch((e) => {
        // While the engine is unreachable its outage is logged once (src/engine); a line per client would drown it.
        if (node.engine.ready()) node.log.warn({ err: e, channel: sub.channel }, 'presence refresh failed');
      });
    }
  }

  private reschedule(): void {
    if (this.state !== State.Connected) return;
    this.node.wheel.cancel(this);
    this.onTimer(this.node.clock.now());
  }

  private handlePong(): void {
    // With pong_timeout 0 pongs are not awaited, so none is unexpected (as in Centrifugo).
    if (this.pingSentAt === 0 && this.node.config.client.pong_timeout > 0) {
      throw new DisconnectError(Disconnects.badRequest, 'pong without a ping');
    }
    this.pingSentAt = 0;
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
      // A transport without a close frame of its own learns why from a push (a unidirectional client by the code
      // alone, as Centrifugo writes it there: `{"disconnect":{"code":3001,"reason":"shutdown"}}`).
      if (this.transport.closeAsPush) {
        const reconnect = !this.transport.unidirectional && reconnects(d.code);
        const push: Push = { type: 'disconnect', code: d.code, reason: d.reason, reconnect };
        this.enqueue(this.encoding.encode(push), true);
      }
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
    this.frames = undefined;
    const wasRegistered = node.clients.get(this.id) === this;
    node.unregisterClient(this);
    this.channels.removeAll();
    const onDisconnect = node.hooks.onDisconnect;
    if (wasRegistered && onDisconnect) {
      // Sync throws and async rejections alike are logged: an app's cleanup never takes the server down.
      Promise.resolve()
        .then(() => onDisconnect(this, d))
        .catch((e) => node.log.error({ err: e, client: this.id }, 'onDisconnect hook failed'));
    }
  }
}

/** Disconnect codes 3000–3499 and 4000–4499 (and ≥ 5000) tell the client to reconnect. */
function reconnects(code: number): boolean {
  return (code >= 3000 && code < 3500) || (code >= 4000 && code < 4500) || code >= 5000;
}

/** Why a unidirectional connect was refused: an error code (109 …) or a disconnect code (3500 …); 0: unexpected. */
export interface ConnectRefusal {
  code: number;
  message: string;
}

/** Centrifugo's mapping of connect error codes to disconnects for unidirectional clients (centrifuge client.go). */
const UNI_ERROR_DISCONNECTS = new Map<number, Disconnect>([
  [Errors.expired.code, Disconnects.expired],
  [Errors.tokenExpired.code, Disconnects.expired],
  [Errors.tooManyRequests.code, Disconnects.tooManyRequests],
  [Errors.permissionDenied.code, Disconnects.permissionDenied],
]);

/**
 * A connect that failed with a reply error, on a transport that has no reply: the disconnect that says it — from
 * `client.connect_code_to_unidirectional_disconnect` when it has the code, else Centrifugo's mapping, else 3004.
 */
function connectErrorDisconnect(e: ReplyError, cfg: ClientSettings): Disconnect {
  const code = e.error.code;
  const custom = cfg.connect_code_to_unidirectional_disconnect;
  if (custom?.enabled) {
    const t = custom.transforms.find((x) => x.code === code);
    if (t !== undefined) return { code: t.to.code, reason: t.to.reason };
  }
  return UNI_ERROR_DISCONNECTS.get(code) ?? Disconnects.serverError;
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
function keepHeaders(headers: Headers | undefined, names: readonly string[]): Headers | undefined {
  if (headers === undefined || names.length === 0) return undefined;
  const kept: Record<string, string | string[] | undefined> = {};
  for (const n of names) if (headers[n] !== undefined) kept[n] = headers[n];
  return kept;
}
