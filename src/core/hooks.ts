/**
 * Hooks: the application's say in what clients may do, for Chorus embedded in a Node app (createChorus) and for
 * the HTTP proxies of a standalone deployment (which are hooks that call the app's backend).
 *
 * Every hook may throw a ReplyError (the command fails with that code) or a DisconnectError (the connection is
 * closed with that code). Any other exception is logged and answered as an internal error: a throwing hook never
 * takes the server down. A hook returning `undefined` leaves the decision to the standard rules (tokens and
 * namespace permissions), so hooks can be scoped (e.g. a proxy enabled for one namespace only).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ChannelOptions } from '../config/schema.js';
import type { Disconnect } from '../protocol/codes.js';
import type { SubscriptionOverride } from './client-channels.js';

/** What hooks learn about the connection that triggered them. */
export interface ClientContext {
  readonly client: string;
  readonly user: string;
  /** Connection info (JSON text), as set at connect. */
  readonly info: string | undefined;
  /** Transport name, and the request headers a proxy forwards (others are not kept after connect). */
  readonly meta: { readonly transport: string; readonly headers?: IncomingHttpHeaders | undefined };
}

export interface ConnectingContext {
  client: string;
  transport: string;
  /** Headers of the HTTP upgrade request (cookies included): authenticate from them. */
  headers: IncomingHttpHeaders;
  /** The connection token the client sent, if any ("" otherwise). */
  token: string;
  /** `connect.data` from the client, parsed. */
  data: unknown;
  name: string;
  version: string;
}

export interface ConnectingResult {
  /** The user id ("" for anonymous). */
  user: string;
  /** Becomes `conn_info` in presence and publications. */
  info?: unknown;
  /** Unix seconds at which the connection expires (0 or absent: never). */
  expireAt?: number;
  /** Server-side subscriptions. */
  channels?: string[];
  /** Returned to the client in the connect result. */
  data?: unknown;
}

export interface SubscribeContext {
  client: ClientContext;
  channel: string;
  /** `subscribe.data` from the client, parsed. */
  data: unknown;
  options: Readonly<ChannelOptions>;
}

export interface SubscribeDecision {
  /** Becomes `chan_info`. */
  info?: unknown;
  /** Returned to the client in the subscribe result. */
  data?: unknown;
  override?: SubscriptionOverride;
  /** Unix seconds at which the subscription expires (0 or absent: never). */
  expireAt?: number;
}

export interface PublishContext {
  client: ClientContext;
  channel: string;
  /** The publication data, parsed. */
  data: unknown;
  options: Readonly<ChannelOptions>;
}

export interface PublishDecision {
  /** Publish this instead of what the client sent. */
  data?: unknown;
  skipHistory?: boolean;
}

export type RPCHandler = (ctx: ClientContext, data: unknown) => unknown | Promise<unknown>;

type Maybe<T> = T | undefined | Promise<T | undefined>;

export interface Hooks {
  /** Authenticate a connection; `undefined` falls back to the token / anonymous rules. */
  onConnecting?: ((ctx: ConnectingContext) => Maybe<ConnectingResult>) | undefined;
  /** Allow (true or a decision) or deny (false) a subscribe; `undefined`: namespace permissions decide. */
  onSubscribe?: ((ctx: SubscribeContext) => Maybe<SubscribeDecision | boolean>) | undefined;
  /** Allow (true or a decision, which may transform the data) or deny (false) a publish. */
  onPublish?: ((ctx: PublishContext) => Maybe<PublishDecision | boolean>) | undefined;
  /** RPC handlers by method name; a method without one answers 108 (not available). */
  rpc: Map<string, RPCHandler>;
  /** Called for RPC methods without a handler in `rpc` (the RPC proxy); `undefined` result: not available. */
  onUnknownRPC?:
    | ((ctx: ClientContext, method: string, data: unknown) => Promise<{ data: unknown } | undefined>)
    | undefined;
  /** Receives the client's asynchronous `send` messages; without it the client is closed with 3508. */
  onSend?: ((ctx: ClientContext, data: unknown) => void | Promise<void>) | undefined;
  /** After a connection ends (not for connections that never authenticated). */
  onDisconnect?: ((ctx: ClientContext, disconnect: Disconnect) => void | Promise<void>) | undefined;
}
