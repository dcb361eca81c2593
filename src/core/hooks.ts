/**
 * Hooks: the application's say in what clients may do. The core calls them with payloads as bytes; the embedding
 * API (src/embedding/app-hooks.ts) adapts hooks written against parsed JSON, and the HTTP proxies of a standalone
 * deployment (src/proxy) are hooks that call the application's backend.
 *
 * Every hook may throw a ReplyError (the command fails with that code) or a DisconnectError (the connection is
 * closed with that code). Any other exception is logged and answered as an internal error: a throwing hook never
 * takes the server down. A hook returning `undefined` leaves the decision to the standard rules (tokens and
 * namespace permissions), so hooks can be scoped (e.g. a proxy enabled for one namespace only).
 */
import type { CodecName } from '../protocol/codec.js';
import { type Disconnect, DisconnectError, Errors, ReplyError } from '../protocol/codes.js';
import type { Payload } from '../protocol/messages.js';
import type { ChannelOptions } from './options.js';
import type { Log } from './ports/log.js';
import type { SubscriptionOverride } from './ports/tokens.js';

/** Request headers, as Node's http module gives them. */
export type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** What hooks learn about the connection that triggered them. */
export interface ClientContext {
  readonly client: string;
  readonly user: string;
  /** Connection info, as set at connect. */
  readonly connInfo: Payload | undefined;
  /** The encoding the client speaks (its payloads are JSON text for "json", any bytes for "protobuf"). */
  readonly protocol: CodecName;
  /** Transport name, and the request headers a proxy forwards (others are not kept after connect). */
  readonly meta: { readonly transport: string; readonly headers?: Headers | undefined };
}

export interface ConnectingContext {
  client: string;
  transport: string;
  protocol: CodecName;
  /** Headers of the connection request (cookies included): authenticate from them. */
  headers: Headers;
  /** The connection token the client sent, if any ("" otherwise). */
  token: string;
  data: Payload | undefined;
  name: string;
  version: string;
}

export interface ConnectingResult {
  /** The user id ("" for anonymous). */
  user: string;
  /** Becomes `conn_info` in presence and publications. */
  info?: Payload | undefined;
  /** Unix seconds at which the connection expires (0 or absent: never). */
  expireAt?: number | undefined;
  /** Server-side subscriptions. */
  channels?: string[] | undefined;
  /** Returned to the client in the connect result. */
  data?: Payload | undefined;
}

export interface SubscribeContext {
  client: ClientContext;
  channel: string;
  data: Payload | undefined;
  options: Readonly<ChannelOptions>;
}

export interface SubscribeDecision {
  /** Becomes `chan_info`. */
  info?: Payload | undefined;
  /** Returned to the client in the subscribe result. */
  data?: Payload | undefined;
  override?: SubscriptionOverride | undefined;
  /** Unix seconds at which the subscription expires (0 or absent: never). */
  expireAt?: number | undefined;
}

export interface PublishContext {
  client: ClientContext;
  channel: string;
  data: Payload;
  options: Readonly<ChannelOptions>;
}

export interface PublishDecision {
  /** Publish this instead of what the client sent. */
  data?: Payload | undefined;
  skipHistory?: boolean | undefined;
}

/** Answers an RPC: the result's data (undefined: an empty result). */
export type RPCHandler = (ctx: ClientContext, data: Payload | undefined) => Promise<Payload | undefined>;

type Maybe<T> = T | undefined | Promise<T | undefined>;

export interface Hooks {
  /** Authenticate a connection; `undefined` falls back to the token / anonymous rules. */
  onConnecting?: ((ctx: ConnectingContext) => Maybe<ConnectingResult>) | undefined;
  /** Allow (true or a decision) or deny (false) a subscribe; `undefined`: namespace permissions decide. */
  onSubscribe?: ((ctx: SubscribeContext) => Maybe<SubscribeDecision | boolean>) | undefined;
  /** Allow (true or a decision, which may transform the data) or deny (false) a publish. */
  onPublish?: ((ctx: PublishContext) => Maybe<PublishDecision | boolean>) | undefined;
  /** RPC handlers by method name; a method without one answers 108 (not available). */
  rpc: ReadonlyMap<string, RPCHandler>;
  /** Called for RPC methods without a handler in `rpc` (the RPC proxy); `undefined` result: not available. */
  onUnknownRPC?:
    | ((ctx: ClientContext, method: string, data: Payload | undefined) => Promise<{ data?: Payload } | undefined>)
    | undefined;
  /** Receives the client's asynchronous `send` messages; without it the client is closed with 3508. */
  onSend?: ((ctx: ClientContext, data: Payload | undefined) => void | Promise<void>) | undefined;
  /** After a connection ends (not for connections that never authenticated). */
  onDisconnect?: ((ctx: ClientContext, disconnect: Disconnect) => void | Promise<void>) | undefined;
}

export const noHooks: Hooks = { rpc: new Map() };

/**
 * Runs application code (a hook): protocol errors pass through, anything else is logged and becomes an internal
 * error, so a throwing hook fails one command, never the server.
 */
export async function callHook<T>(log: Log, f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof ReplyError || e instanceof DisconnectError) throw e;
    log.error({ err: e }, 'a hook threw: answering with an internal error');
    throw new ReplyError(Errors.internal);
  }
}
