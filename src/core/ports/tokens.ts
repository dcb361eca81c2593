/**
 * Connection and subscription tokens as the core sees them: verified claims, or a TokenError saying whether the
 * token expired (the SDK fetches a new one: error 109) or is invalid. src/auth implements it with jose and
 * node:crypto.
 */
import type { Payload } from '../../protocol/messages.js';

export class TokenError extends Error {
  constructor(
    readonly kind: 'expired' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

/** Namespace options a token or the server API may override for one subscription. */
export interface SubscriptionOverride {
  presence?: boolean | undefined;
  join_leave?: boolean | undefined;
  force_push_join_leave?: boolean | undefined;
  force_recovery?: boolean | undefined;
  force_positioning?: boolean | undefined;
}

export interface ServerSubscription {
  info?: Payload | undefined;
  data?: Payload | undefined;
  override?: SubscriptionOverride | undefined;
}

export interface ConnectClaims {
  user: string;
  /** Unix seconds; 0 means the connection does not expire. */
  expireAt: number;
  info?: Payload | undefined;
  /** Server-side subscriptions: from `channels` and `subs`. */
  subs: Map<string, ServerSubscription>;
}

export interface SubscribeClaims {
  channel: string;
  user: string;
  /** When set, the token is bound to this connection id. */
  client: string;
  expireAt: number;
  info?: Payload | undefined;
  data?: Payload | undefined;
}

export interface TokenVerifier {
  verifyConnect(token: string): Promise<ConnectClaims>;
  verifySubscribe(token: string): Promise<SubscribeClaims>;
}
