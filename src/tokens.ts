/**
 * Minting connection and subscription tokens in your backend, with the claims Chorus (and Centrifugo) read:
 *
 *   const token = await createConnectionToken({ key: process.env.CHORUS_TOKEN_SECRET!, user: '42', ttl: '1h' });
 *   const sub = await createSubscriptionToken({ key, user: '42', channel: '$orders:42' });
 *
 * `key` is the HMAC secret the server has as `client.token.hmac_secret_key` (HS256 by default), or a private
 * key (PEM text or a KeyObject) whose public half the server has as `rsa_public_key` (RS256 by default) or
 * `ecdsa_public_key` (ES256, ES384 or ES512 by the key's curve).
 */
import { createPrivateKey, createSecretKey, type KeyObject } from 'node:crypto';
import { type JWTPayload, SignJWT } from 'jose';
import { parseDuration } from './config/duration.js';

export type TokenAlgorithm = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'ES256' | 'ES384' | 'ES512';

/** An HMAC secret (text or bytes), or a private RSA / ECDSA key (PEM text or a KeyObject). */
export type TokenSigningKey = string | Uint8Array | KeyObject;

export interface CommonTokenOptions {
  /** What signs the token: see TokenSigningKey. */
  key: TokenSigningKey;
  /** Default: HS256 for a secret, RS256 for an RSA key, ES256 / ES384 / ES512 for a P-256 / P-384 / P-521 key. */
  algorithm?: TokenAlgorithm;
  /** The user ID (`sub`); "" for an anonymous user. */
  user: string;
  /**
   * How long the token is valid (`exp`): seconds, or a duration such as "90s", "15m", "1h". 0: no expiry.
   * Default 1 hour. When a connection token expires the SDK asks your backend for a new one (its getToken).
   */
  ttl?: number | string;
  /** Information about the user that other clients see (presence, join/leave, publications): `info`. */
  info?: unknown;
  /**
   * `expire_at` (Unix seconds): when the connection (or subscription) must be refreshed, independent of the
   * token's own `exp`; 0: never. Without it `exp` decides.
   */
  expireAt?: number;
  /** `aud`, when the server checks `client.token.audience`. */
  audience?: string | string[];
  /** `iss`, when the server checks `client.token.issuer`. */
  issuer?: string;
  /** `kid` header, for servers that verify through a JWKS endpoint. */
  keyId?: string;
}

/** Per-channel options of a server-side subscription in a connection token (`subs`). */
export interface ServerSideSubscription {
  /** Channel info for this user, seen by others in presence and join/leave. */
  info?: unknown;
  /** Data sent to the client with the subscribe push. */
  data?: unknown;
  /** Namespace options turned on or off for this subscription. */
  override?: Partial<
    Record<'presence' | 'join_leave' | 'force_push_join_leave' | 'force_recovery' | 'force_positioning', boolean>
  >;
}

export interface ConnectionTokenOptions extends CommonTokenOptions {
  /** Channels the connection is subscribed to by the server as it connects (`channels`). */
  channels?: string[];
  /** The same with options per channel (`subs`). */
  subs?: Record<string, ServerSideSubscription>;
}

export interface SubscriptionTokenOptions extends CommonTokenOptions {
  /** The channel the token lets the user subscribe to (`channel`). */
  channel: string;
  /** Bind the token to one connection ID (`client`): the SDK's `centrifuge` client ID. */
  client?: string;
  /** Data sent to the client with the subscribe reply (`data`). */
  data?: unknown;
}

/** A connection token: what the SDK passes as `token` (or returns from `getToken`). */
export async function createConnectionToken(opts: ConnectionTokenOptions): Promise<string> {
  const claims: JWTPayload = {};
  if (opts.channels !== undefined) {
    if (!Array.isArray(opts.channels) || !opts.channels.every((c) => typeof c === 'string' && c !== '')) {
      throw new TypeError('channels must be an array of channel names');
    }
    claims.channels = opts.channels;
  }
  if (opts.subs !== undefined) {
    claims.subs = Object.fromEntries(
      Object.entries(opts.subs).map(([channel, o]) => [
        channel,
        {
          ...(o.info !== undefined && { info: o.info }),
          ...(o.data !== undefined && { data: o.data }),
          // Centrifugo writes each override as {"value": bool}; Chorus reads that form.
          ...(o.override !== undefined && {
            override: Object.fromEntries(Object.entries(o.override).map(([k, v]) => [k, { value: v }])),
          }),
        },
      ]),
    );
  }
  return sign(opts, claims);
}

/** A subscription token: what the SDK passes as a subscription's `token` (or returns from its `getToken`). */
export async function createSubscriptionToken(opts: SubscriptionTokenOptions): Promise<string> {
  if (typeof opts.channel !== 'string' || opts.channel === '') {
    throw new TypeError('channel must be the name of the channel the token is for');
  }
  const claims: JWTPayload = { channel: opts.channel };
  if (opts.client !== undefined) claims.client = opts.client;
  if (opts.data !== undefined) claims.data = opts.data;
  return sign(opts, claims);
}

const DEFAULT_TTL_SECONDS = 3600;
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512'];
const EC_ALGORITHMS: Record<string, TokenAlgorithm> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};

async function sign(opts: CommonTokenOptions, claims: JWTPayload): Promise<string> {
  if (typeof opts.user !== 'string') throw new TypeError('user must be a string ("" for an anonymous user)');
  const { key, algorithm } = signingKey(opts.key, opts.algorithm);
  if (opts.info !== undefined) claims.info = opts.info;
  if (opts.expireAt !== undefined) {
    if (!Number.isInteger(opts.expireAt) || opts.expireAt < 0) {
      throw new TypeError('expireAt must be Unix seconds (a whole number), or 0 for no expiry');
    }
    claims.expire_at = opts.expireAt;
  }
  const now = Math.floor(Date.now() / 1000);
  const ttl = ttlSeconds(opts.ttl);
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: algorithm, typ: 'JWT', ...(opts.keyId !== undefined && { kid: opts.keyId }) })
    .setSubject(opts.user)
    .setIssuedAt(now);
  if (ttl > 0) jwt = jwt.setExpirationTime(now + ttl);
  if (opts.audience !== undefined) jwt = jwt.setAudience(opts.audience);
  if (opts.issuer !== undefined) jwt = jwt.setIssuer(opts.issuer);
  return jwt.sign(key);
}

function ttlSeconds(ttl: number | string | undefined): number {
  if (ttl === undefined) return DEFAULT_TTL_SECONDS;
  if (typeof ttl === 'number') {
    if (!Number.isFinite(ttl) || ttl < 0) throw new TypeError('ttl must be 0 (no expiry) or a number of seconds');
    return Math.floor(ttl);
  }
  let ms: number;
  try {
    ms = parseDuration(ttl);
  } catch (e) {
    throw new TypeError(`ttl: ${(e as Error).message}`);
  }
  if (ms < 0) throw new TypeError('ttl must not be negative');
  return Math.floor(ms / 1000);
}

/** The key jose signs with and the algorithm that fits it; a mismatch is an error that says what fits. */
export function signingKey(
  given: TokenSigningKey,
  algorithm: TokenAlgorithm | undefined,
): { key: KeyObject; algorithm: TokenAlgorithm } {
  let key: KeyObject;
  if (typeof given === 'string' && given.includes('-----BEGIN')) {
    if (/-----BEGIN (RSA )?PUBLIC KEY-----|-----BEGIN CERTIFICATE-----/.test(given)) {
      throw new TypeError('key is a public key: sign with the private key (the server holds the public one)');
    }
    try {
      key = createPrivateKey(given);
    } catch (e) {
      throw new TypeError(`key is not a PEM private key: ${(e as Error).message}`);
    }
  } else if (typeof given === 'string' || given instanceof Uint8Array) {
    if (given.length === 0) throw new TypeError('key: the HMAC secret is empty');
    key = createSecretKey(typeof given === 'string' ? Buffer.from(given, 'utf8') : given);
  } else {
    key = given;
  }
  if (key.type === 'secret') {
    const alg = algorithm ?? 'HS256';
    if (!alg.startsWith('HS')) throw new TypeError(`an HMAC secret signs HS256, HS384 or HS512, not ${alg}`);
    return { key, algorithm: alg };
  }
  if (key.type === 'public') {
    throw new TypeError('key is a public key: sign with the private key (the server holds the public one)');
  }
  if (key.asymmetricKeyType === 'rsa') {
    const alg = algorithm ?? 'RS256';
    if (!RSA_ALGORITHMS.includes(alg)) throw new TypeError(`an RSA key signs RS256, RS384 or RS512, not ${alg}`);
    return { key, algorithm: alg };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
    const fits = EC_ALGORITHMS[curve];
    if (fits === undefined) throw new TypeError(`ECDSA curve ${curve} is not one of P-256, P-384, P-521`);
    if (algorithm !== undefined && algorithm !== fits) {
      throw new TypeError(`this ECDSA key (${curve}) signs ${fits}, not ${algorithm}`);
    }
    return { key, algorithm: fits };
  }
  throw new TypeError(`${key.asymmetricKeyType} keys are not supported: use an HMAC secret, an RSA or an ECDSA key`);
}
