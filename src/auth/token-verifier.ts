/**
 * JWT verification for connection and subscription tokens. The algorithm is pinned by the configured key, never
 * taken on trust from the token header: an HMAC secret verifies HS256/384/512 only, an RSA public key RS256/384/512,
 * an ECDSA key ES256/384/512, a JWKS endpoint RS*, ES* and EdDSA. `alg: none` is never accepted (jose refuses
 * unsecured tokens). Failures are either `expired` (the SDK fetches a new token: error 109) or `invalid`.
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { TokenOptions } from '../config/schema.js';
import {
  type ConnectClaims,
  type ServerSubscription,
  type SubscribeClaims,
  TokenError,
  type TokenVerifier as TokenVerifierPort,
} from '../core/ports/tokens.js';
import { decodeBase64 } from '../protocol/base64.js';
import { markJson } from '../protocol/json-payload.js';
import type { Payload } from '../protocol/messages.js';
import { claimsProblem } from './claims.js';
import { verifyHmacJwt } from './hmac-jwt.js';

export { type ConnectClaims, type ServerSubscription, type SubscribeClaims, TokenError };

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const RSA_ALGS = ['RS256', 'RS384', 'RS512'];
const EC_ALGS = ['ES256', 'ES384', 'ES512'];
const JWKS_ALGS = [...RSA_ALGS, ...EC_ALGS, 'EdDSA'];

interface KeyChoice {
  key: Uint8Array | KeyObject | JWTVerifyGetKey;
  algorithms: string[];
}

function importPublicKey(pem: string, type: 'rsa' | 'ec', key: string): KeyObject {
  let k: KeyObject;
  try {
    k = createPublicKey(pem);
  } catch (e) {
    throw new Error(`${key}: not a PEM public key (${(e as Error).message})`);
  }
  if (k.asymmetricKeyType !== type) throw new Error(`${key}: expected an ${type.toUpperCase()} public key`);
  return k;
}

export class TokenVerifier implements TokenVerifierPort {
  private readonly hmac: Uint8Array | undefined;
  /** The same secret for node:crypto, which checks HMAC tokens (see hmac-jwt.ts). */
  private readonly hmacKey: KeyObject | undefined;
  private readonly rsa: KeyObject | undefined;
  private readonly ec: KeyObject | undefined;
  private readonly jwks: JWTVerifyGetKey | undefined;
  private readonly audienceRegex: RegExp | undefined;
  private readonly issuerRegex: RegExp | undefined;

  /** `section` names the config section in error messages, e.g. "client.token". */
  constructor(
    private readonly opts: TokenOptions,
    section = 'client.token',
  ) {
    this.hmac = opts.hmac_secret_key ? new TextEncoder().encode(opts.hmac_secret_key) : undefined;
    this.hmacKey = this.hmac ? createSecretKey(this.hmac) : undefined;
    this.rsa = opts.rsa_public_key
      ? importPublicKey(opts.rsa_public_key, 'rsa', `${section}.rsa_public_key`)
      : undefined;
    this.ec = opts.ecdsa_public_key
      ? importPublicKey(opts.ecdsa_public_key, 'ec', `${section}.ecdsa_public_key`)
      : undefined;
    this.jwks = opts.jwks_public_endpoint ? createRemoteJWKSet(new URL(opts.jwks_public_endpoint)) : undefined;
    this.audienceRegex = opts.audience_regex ? new RegExp(opts.audience_regex) : undefined;
    this.issuerRegex = opts.issuer_regex ? new RegExp(opts.issuer_regex) : undefined;
  }

  /** Whether any key is configured: without one every token is invalid. */
  get hasKeys(): boolean {
    return this.hmac !== undefined || this.rsa !== undefined || this.ec !== undefined || this.jwks !== undefined;
  }

  private chooseKey(alg: string): KeyChoice | undefined {
    if (HMAC_ALGS.includes(alg) && this.hmac) return { key: this.hmac, algorithms: HMAC_ALGS };
    if (RSA_ALGS.includes(alg) && this.rsa) return { key: this.rsa, algorithms: RSA_ALGS };
    if (EC_ALGS.includes(alg) && this.ec) return { key: this.ec, algorithms: EC_ALGS };
    if (JWKS_ALGS.includes(alg) && this.jwks) return { key: this.jwks, algorithms: JWKS_ALGS };
    return undefined;
  }

  private async verify(token: string): Promise<JWTPayload> {
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token) as Record<string, unknown>;
    } catch {
      throw new TokenError('invalid', 'malformed token');
    }
    if (typeof header.alg !== 'string') throw new TokenError('invalid', 'the header\'s "alg" must be a string');
    const alg = header.alg;
    const choice = this.chooseKey(alg);
    if (choice === undefined) throw new TokenError('invalid', `no key configured for algorithm "${alg}"`);
    const options: JWTVerifyOptions = { algorithms: choice.algorithms };
    if (this.opts.audience) options.audience = this.opts.audience;
    if (this.opts.issuer) options.issuer = this.opts.issuer;
    let payload: JWTPayload;
    if (choice.key === this.hmac && this.hmacKey !== undefined) {
      const r = verifyHmacJwt(token, header, this.hmacKey, options);
      if ('error' in r) throw new TokenError(r.error, r.error === 'expired' ? 'token expired' : r.message);
      payload = r.payload;
    } else {
      payload = await this.verifyWithJose(token, choice, options);
    }
    return this.checkRegexClaims(payload);
  }

  private async verifyWithJose(token: string, choice: KeyChoice, options: JWTVerifyOptions): Promise<JWTPayload> {
    let payload: JWTPayload;
    try {
      // The overloads differ by key kind; both accept what chooseKey returns.
      const result =
        typeof choice.key === 'function'
          ? await jwtVerify(token, choice.key, options)
          : await jwtVerify(token, choice.key, options);
      payload = result.payload;
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) {
        // "exp": -1e309 is expired to jose; absurd claims make the token invalid, as on the HMAC path.
        const problem = claimsProblem(e.payload);
        throw problem === undefined ? new TokenError('expired', 'token expired') : new TokenError('invalid', problem);
      }
      throw new TokenError('invalid', (e as Error).message);
    }
    const problem = claimsProblem(payload);
    if (problem !== undefined) throw new TokenError('invalid', problem);
    return payload;
  }

  private checkRegexClaims(payload: JWTPayload): JWTPayload {
    if (this.audienceRegex) {
      const aud = payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      if (!aud.some((a) => this.audienceRegex?.test(a))) throw new TokenError('invalid', 'audience does not match');
    }
    if (this.issuerRegex && !(typeof payload.iss === 'string' && this.issuerRegex.test(payload.iss))) {
      throw new TokenError('invalid', 'issuer does not match');
    }
    return payload;
  }

  async verifyConnect(token: string): Promise<ConnectClaims> {
    const p = await this.verify(token);
    if (p.channel !== undefined) throw new TokenError('invalid', 'a connection token must not carry a "channel" claim');
    const subs = new Map<string, ServerSubscription>();
    const channels = p.channels;
    if (channels !== undefined) {
      if (!Array.isArray(channels) || !channels.every((c) => typeof c === 'string')) {
        throw new TokenError('invalid', '"channels" must be an array of strings');
      }
      for (const ch of channels) subs.set(ch, {});
    }
    if (p.subs !== undefined) {
      if (!isObj(p.subs)) throw new TokenError('invalid', '"subs" must be an object');
      for (const [ch, opts] of Object.entries(p.subs)) {
        const o = isObj(opts) ? opts : {};
        subs.set(ch, {
          info: rawClaim(o, 'info', 'b64info'),
          data: rawClaim(o, 'data', 'b64data'),
          override: overrideClaim(o.override),
        });
      }
    }
    return { user: userClaim(p), expireAt: expireAt(p), info: rawClaim(p, 'info', 'b64info'), subs };
  }

  async verifySubscribe(token: string): Promise<SubscribeClaims> {
    const p = await this.verify(token);
    if (typeof p.channel !== 'string' || p.channel === '') {
      throw new TokenError('invalid', 'a subscription token needs a "channel" claim');
    }
    const client = p.client === undefined ? '' : p.client;
    if (typeof client !== 'string') throw new TokenError('invalid', '"client" must be a string');
    return {
      channel: p.channel,
      user: userClaim(p),
      client,
      expireAt: expireAt(p),
      info: rawClaim(p, 'info', 'b64info'),
      data: rawClaim(p, 'data', 'b64data'),
    };
  }
}

const OVERRIDABLE = ['presence', 'join_leave', 'force_push_join_leave', 'force_recovery', 'force_positioning'];

/** `override: {"presence": {"value": true}, …}` as Centrifugo writes it (plain booleans are accepted too). */
function overrideClaim(v: unknown): Record<string, boolean> | undefined {
  if (!isObj(v)) return undefined;
  const out: Record<string, boolean> = {};
  for (const k of OVERRIDABLE) {
    const x = v[k];
    if (typeof x === 'boolean') out[k] = x;
    else if (isObj(x) && typeof x.value === 'boolean') out[k] = x.value;
  }
  return out;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function userClaim(p: JWTPayload): string {
  if (p.sub === undefined) return '';
  if (typeof p.sub !== 'string') throw new TokenError('invalid', '"sub" must be a string');
  return p.sub;
}

/** `expire_at` overrides `exp` for the connection's lifetime: above 0 it sets the expiry, 0 disables it. */
function expireAt(p: JWTPayload): number {
  const ea = p.expire_at;
  if (ea !== undefined && ea !== null) {
    if (typeof ea !== 'number' || !Number.isFinite(ea) || ea < 0) throw new TokenError('invalid', 'bad "expire_at"');
    return Math.floor(ea);
  }
  return typeof p.exp === 'number' ? Math.floor(p.exp) : 0;
}

/**
 * A JSON claim (`info`) as its JSON text, or its base64 twin (`b64info`) as the bytes it encodes: any bytes, which
 * Protobuf clients receive as they are and JSON clients as a base64 string (src/protocol/json-payload.ts).
 */
function rawClaim(o: Record<string, unknown>, key: string, b64key: string): Payload | undefined {
  if (o[key] !== undefined && o[key] !== null) return markJson(Buffer.from(JSON.stringify(o[key])));
  const b64 = o[b64key];
  if (b64 === undefined || b64 === null) return undefined;
  const bytes = typeof b64 === 'string' ? decodeBase64(b64) : undefined;
  if (bytes === undefined) throw new TokenError('invalid', `"${b64key}" must be a base64 string`);
  return bytes;
}
