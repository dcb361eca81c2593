/**
 * Hooks as applications write them (createChorus's `hooks`, and the HTTP proxies): payloads arrive parsed from
 * JSON and are returned as plain values. `toCoreHooks` adapts them to the core's hooks, whose payloads are bytes.
 * A payload that is not JSON (a Protobuf client's binary data) reaches a hook as its Uint8Array, and a Uint8Array a
 * hook returns is sent as those bytes (a Protobuf client gets them as they are; a JSON client as a base64 string).
 *
 * Every hook may throw a ReplyError (the command fails with that code) or a DisconnectError (the connection is
 * closed with that code). Any other exception is logged and answered as an internal error: a throwing hook never
 * takes the server down. A hook returning `undefined` leaves the decision to the standard rules (tokens and
 * namespace permissions), so hooks can be scoped (e.g. a proxy enabled for one namespace only).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type * as Core from '../core/hooks.js';
import type { ChannelOptions } from '../core/options.js';
import type { SubscriptionOverride } from '../core/ports/tokens.js';
import type { CodecName } from '../protocol/codec.js';
import type { Disconnect } from '../protocol/codes.js';
import { isJsonPayload, jsonForm, markJson } from '../protocol/json-payload.js';
import type { Payload } from '../protocol/messages.js';

/** What hooks learn about the connection that triggered them. */
export interface ClientContext {
  readonly client: string;
  readonly user: string;
  /** Connection info (JSON text; binary info as a base64 JSON string), as set at connect. */
  readonly info: string | undefined;
  /** The encoding the client speaks: "json", or "protobuf" (whose payloads may be any bytes). */
  readonly protocol: CodecName;
  /** Transport name, and the request headers a proxy forwards (others are not kept after connect). */
  readonly meta: { readonly transport: string; readonly headers?: IncomingHttpHeaders | undefined };
}

export interface ConnectingContext {
  client: string;
  transport: string;
  /** The encoding the client speaks: "json", or "protobuf" (whose payloads may be any bytes). */
  protocol: CodecName;
  /** Headers of the connection request (cookies included): authenticate from them. */
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

// --- values ↔ payload bytes -----------------------------------------------------------------------------------

/** A value as payload bytes: its JSON text, or the bytes themselves for a Uint8Array (binary, sent as it is). */
export function toPayload(value: unknown): Payload {
  if (value instanceof Uint8Array) return value;
  return markJson(Buffer.from(JSON.stringify(value ?? null)));
}

function optionalPayload(value: unknown): Payload | undefined {
  return value === undefined ? undefined : toPayload(value);
}

/** Payload bytes as a value: parsed JSON, or the bytes themselves (a Uint8Array) when they are not JSON. */
export function fromPayload(p: Payload | undefined): unknown {
  if (p === undefined) return undefined;
  if (!isJsonPayload(p)) return p;
  return JSON.parse(Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('utf8'));
}

/** Payload bytes as JSON text: binary ones as a base64 JSON string, as JSON clients see them. */
function payloadText(p: Payload | undefined): string | undefined {
  if (p === undefined) return undefined;
  const json = jsonForm(p);
  return Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
}

/** The connection as application hooks see it (connection info as JSON text). */
export function appContext(c: Core.ClientContext): ClientContext {
  return {
    client: c.client,
    user: c.user,
    info: payloadText(c.connInfo),
    protocol: c.protocol,
    meta: c.meta as ClientContext['meta'],
  };
}

function subscribeDecision(d: SubscribeDecision | boolean | undefined): Core.SubscribeDecision | boolean | undefined {
  if (d === undefined || typeof d === 'boolean') return d;
  return { info: optionalPayload(d.info), data: optionalPayload(d.data), override: d.override, expireAt: d.expireAt };
}

function publishDecision(d: PublishDecision | boolean | undefined): Core.PublishDecision | boolean | undefined {
  if (d === undefined || typeof d === 'boolean') return d;
  return { data: optionalPayload(d.data), skipHistory: d.skipHistory };
}

/** Application hooks as the core calls them. */
export function toCoreHooks(app: Partial<Hooks>): Core.Hooks {
  const rpc = new Map<string, Core.RPCHandler>();
  for (const [method, handler] of app.rpc ?? []) {
    rpc.set(method, async (ctx, data) => optionalPayload(await handler(appContext(ctx), fromPayload(data))));
  }
  const { onConnecting, onSubscribe, onPublish, onUnknownRPC, onSend, onDisconnect } = app;
  return {
    rpc,
    onConnecting:
      onConnecting &&
      (async (ctx) => {
        const r = await onConnecting({
          ...ctx,
          headers: ctx.headers as IncomingHttpHeaders,
          data: fromPayload(ctx.data),
        });
        if (r === undefined || typeof r !== 'object' || r === null) return r;
        return {
          user: r.user,
          info: optionalPayload(r.info),
          expireAt: r.expireAt,
          channels: r.channels,
          data: optionalPayload(r.data),
        };
      }),
    onSubscribe:
      onSubscribe &&
      (async (ctx) =>
        subscribeDecision(await onSubscribe({ ...ctx, client: appContext(ctx.client), data: fromPayload(ctx.data) }))),
    onPublish:
      onPublish &&
      (async (ctx) =>
        publishDecision(await onPublish({ ...ctx, client: appContext(ctx.client), data: fromPayload(ctx.data) }))),
    onUnknownRPC:
      onUnknownRPC &&
      (async (ctx, method, data) => {
        const r = await onUnknownRPC(appContext(ctx), method, fromPayload(data));
        return r === undefined ? undefined : { data: optionalPayload(r.data) };
      }),
    onSend: onSend && ((ctx, data) => onSend(appContext(ctx), fromPayload(data))),
    onDisconnect: onDisconnect && ((ctx, d) => onDisconnect(appContext(ctx), d)),
  };
}

/** Hooks given in code take precedence over those of the proxies (field by field, RPC method by method). */
export function mergeHooks(base: Partial<Hooks>, over: Partial<Hooks>): Partial<Hooks> {
  const merged: Partial<Hooks> = { ...base };
  for (const [k, v] of Object.entries(over))
    if (v !== undefined && k !== 'rpc') (merged as Record<string, unknown>)[k] = v;
  merged.rpc = new Map([...(base.rpc ?? []), ...(over.rpc ?? [])]);
  return merged;
}
