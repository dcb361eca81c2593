/**
 * Channel rules, written once for client commands and the server API alike: which names are valid, which
 * namespace a channel is in, who may subscribe, publish, read presence and history (Centrifugo's rules: its
 * client handler's OnSubscribe / OnPublish / OnPresence / OnHistory, documented in docs/protocol.md), which flags
 * a subscription gets, and when a history position is unrecoverable.
 */
import { DisconnectError, Disconnects, Errors, ReplyError } from '../../protocol/codes.js';
import type { StreamPosition } from '../../protocol/messages.js';
import type { ResolvedChannel } from '../channel-resolver.js';
import type { Node } from '../node.js';
import type { ChannelOptions } from '../options.js';
import { type HistoryResult, isStreamEpoch } from '../ports/engine.js';
import { type SubscriptionOverride, TokenError } from '../ports/tokens.js';
import { SubFlag } from './subscription.js';

/**
 * A channel name as any request gives it, checked and resolved: within `channel.max_length` bytes (107), in a known
 * namespace (102), and — for names from clients — valid for it (107: channel_regex, or ASCII only; the server
 * API, trusted, may use any name, as in Centrifugo).
 */
export function resolveChannel(node: Node, channel: string, from: 'client' | 'server' = 'client'): ResolvedChannel {
  if (channel === '') throw new ReplyError(Errors.badRequest, 'channel required');
  node.resolver.checkLength(channel);
  const r = node.resolver.resolve(channel);
  if (r === undefined) throw new ReplyError(Errors.unknownChannel, `no namespace for channel "${channel}"`);
  if (from === 'client' && !node.resolver.validName(channel, r)) {
    throw new ReplyError(Errors.badRequest, 'invalid channel name');
  }
  return r;
}

/** Who asks: a user ("" for anonymous) and whether they are subscribed to the channel. */
export interface Asker {
  user: string;
  subscribed: boolean;
  insecure: boolean;
}

export function mayPresence(o: ChannelOptions, a: Asker): boolean {
  const userOk = a.user !== '' || o.allow_presence_for_anonymous;
  if (o.allow_presence_for_client && userOk) return true;
  if (o.allow_presence_for_subscriber && a.subscribed && userOk) return true;
  return a.insecure;
}

export function mayHistory(o: ChannelOptions, a: Asker): boolean {
  const userOk = a.user !== '' || o.allow_history_for_anonymous;
  if (o.allow_history_for_client && userOk) return true;
  if (o.allow_history_for_subscriber && a.subscribed && userOk) return true;
  return a.insecure;
}

export function mayPublish(o: ChannelOptions, a: Asker): boolean {
  const userOk = a.user !== '' || o.allow_publish_for_anonymous;
  return (
    (o.allow_publish_for_client && userOk) || (o.allow_publish_for_subscriber && a.subscribed && userOk) || a.insecure
  );
}

/** Subscribe by the namespace's permissions (no token, no hook decision). */
export function maySubscribe(
  node: Node,
  channel: string,
  r: ResolvedChannel,
  user: string,
  insecure: boolean,
): boolean {
  const o = r.options;
  if (r.isUserLimited) return (user !== '' && node.resolver.userAllowed(channel, user)) || insecure;
  return (o.allow_subscribe_for_client && (user !== '' || o.allow_subscribe_for_anonymous)) || insecure;
}

export function requirePresence(o: ChannelOptions): void {
  if (!o.presence) throw new ReplyError(Errors.notAvailable, 'presence is off for this namespace');
}

export function requireHistory(o: ChannelOptions): void {
  if (o.history_size <= 0 || o.history_ttl <= 0) throw new ReplyError(Errors.notAvailable, 'history is off');
}

/** Namespace options with a token's, hook's or the API's per-subscription overrides applied. */
export function withOverride(o: ChannelOptions, ov: SubscriptionOverride | undefined): ChannelOptions {
  if (ov === undefined) return o;
  return {
    ...o,
    presence: ov.presence ?? o.presence,
    join_leave: ov.join_leave ?? o.join_leave,
    force_push_join_leave: ov.force_push_join_leave ?? o.force_push_join_leave,
    force_recovery: ov.force_recovery ?? o.force_recovery,
    force_positioning: ov.force_positioning ?? o.force_positioning,
  };
}

/** What a client's subscribe command asks for. */
export interface SubscribeAsk {
  joinLeave: boolean;
  recoverable: boolean;
  positioned: boolean;
}

/**
 * The flags of a subscription. A server-side one gets what the options force; a client's gets what it asks for
 * where the options allow it (join/leave pushes need presence access, recovery and positioning need history
 * access or their allow_ option).
 */
export function subscriptionFlags(o: ChannelOptions, ask: SubscribeAsk | undefined, asker: Asker): number {
  let flags = ask === undefined ? SubFlag.serverSide : 0;
  if (o.presence) flags |= SubFlag.emitPresence;
  if (o.join_leave) flags |= SubFlag.emitJoinLeave;
  if (ask === undefined) {
    if (o.force_push_join_leave) flags |= SubFlag.pushJoinLeave;
    if (o.force_recovery) flags |= SubFlag.recoverable;
    if (o.force_positioning) flags |= SubFlag.positioned;
    return flags;
  }
  if (o.force_push_join_leave || (ask.joinLeave && o.join_leave && mayPresence(o, asker)))
    flags |= SubFlag.pushJoinLeave;
  const historyAccess = mayHistory(o, asker);
  if (o.force_recovery || (ask.recoverable && (o.allow_recovery || historyAccess))) flags |= SubFlag.recoverable;
  if (o.force_positioning || (ask.positioned && (o.allow_positioning || historyAccess))) flags |= SubFlag.positioned;
  return flags;
}

/**
 * A history request's `since` against the stream (112 when it cannot be served): a different epoch (neither the
 * stream's nor an empty epoch it continues), an offset ahead of the stream, or — reading forward — publications
 * after it already trimmed away.
 */
export function checkSince(
  since: StreamPosition | undefined,
  h: HistoryResult,
  forward: { reverse: boolean; limit: number },
): void {
  if (since === undefined) return;
  const { position, publications } = h;
  if (since.epoch !== '' && !isStreamEpoch(h, since.epoch)) {
    throw new ReplyError(Errors.unrecoverablePosition, 'epoch does not match the stream');
  }
  if (since.offset > position.offset)
    throw new ReplyError(Errors.unrecoverablePosition, 'offset is ahead of the stream');
  if (!forward.reverse && forward.limit !== 0 && since.offset < position.offset) {
    const first = publications[0]?.offset ?? position.offset + 1;
    if (first > since.offset + 1) {
      throw new ReplyError(Errors.unrecoverablePosition, 'history was trimmed past that offset');
    }
  }
}

/** A failed subscription token check: expired → 109 (the SDK fetches a new token), invalid → 103. */
export function subscribeTokenError(e: unknown): unknown {
  if (!(e instanceof TokenError)) return e;
  return new ReplyError(e.kind === 'expired' ? Errors.tokenExpired : Errors.permissionDenied, e.message);
}

/** A failed token check on a live subscription or connection: expired → 109, invalid → closed with 3500. */
export function refreshTokenError(e: unknown): unknown {
  if (!(e instanceof TokenError)) return e;
  if (e.kind === 'expired') return new ReplyError(Errors.tokenExpired);
  return new DisconnectError(Disconnects.invalidToken, e.message);
}
