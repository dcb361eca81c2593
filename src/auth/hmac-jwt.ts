/**
 * HS256/HS384/HS512 token checks with node:crypto. jose verifies through WebCrypto, which on Node 20 measured
 * 180–280 µs of CPU per HS256 token against ~20 µs for node:crypto's HMAC (bench/connect-storm.ts reports both):
 * the largest single cost of a connect. jose still decodes the header and the payload; this file checks only
 * the signature and the registered claims jose's jwtVerify would check, with the same outcome for every token
 * jose accepts or refuses, except that a signature must be canonical base64url (jose also takes padding or a
 * trailing newline) — stricter, never looser.
 */
import { createHmac, type KeyObject, timingSafeEqual } from 'node:crypto';
import { decodeJwt, type JWTPayload } from 'jose';
import { claimsProblem } from './claims.js';

export type HmacResult = { payload: JWTPayload } | { error: 'invalid' | 'expired'; message: string };

const HASH: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

export interface ClaimChecks {
  audience?: string | string[] | undefined;
  issuer?: string | string[] | undefined;
}

/** `header` is the token's decoded protected header, already known to name an HMAC algorithm. */
export function verifyHmacJwt(
  token: string,
  header: Record<string, unknown>,
  key: KeyObject,
  checks: ClaimChecks,
): HmacResult {
  const hash = HASH[String(header.alg)];
  if (hash === undefined) return { error: 'invalid', message: 'unsupported HMAC algorithm' };
  // Extensions the verifier does not understand make a token unusable (RFC 7515 §4.1.11), as in jose.
  if (header.crit !== undefined || header.b64 === false) {
    return { error: 'invalid', message: 'unsupported "crit"/"b64" header parameters' };
  }
  const dot2 = token.lastIndexOf('.');
  const dot1 = token.indexOf('.');
  if (dot1 <= 0 || dot2 <= dot1 || token.indexOf('.', dot1 + 1) !== dot2) {
    return { error: 'invalid', message: 'malformed token' };
  }
  // Compared as canonical base64url text, so no other encoding of the right signature passes either.
  const expected = Buffer.from(createHmac(hash, key).update(token.slice(0, dot2)).digest('base64url'));
  const given = Buffer.from(token.slice(dot2 + 1));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { error: 'invalid', message: 'signature verification failed' };
  }
  let payload: JWTPayload;
  try {
    payload = decodeJwt(token);
  } catch (e) {
    return { error: 'invalid', message: (e as Error).message };
  }
  // Absurd claims (non-finite or out-of-range dates, nesting that would overflow the stack) make the token
  // invalid before anything else looks at them, whatever its expiry.
  const problem = claimsProblem(payload);
  if (problem !== undefined) return { error: 'invalid', message: problem };
  // Who the token is for is checked before when it runs out, as jose does: a wrong token is "invalid", never
  // "expired" (which would make a client fetch a new one instead of giving up).
  if (checks.issuer !== undefined) {
    const allowed = Array.isArray(checks.issuer) ? checks.issuer : [checks.issuer];
    if (typeof payload.iss !== 'string' || !allowed.includes(payload.iss)) {
      return { error: 'invalid', message: 'unexpected "iss" claim value' };
    }
  }
  if (checks.audience !== undefined) {
    const allowed = Array.isArray(checks.audience) ? checks.audience : [checks.audience];
    const aud = payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!aud.some((a) => allowed.includes(a))) return { error: 'invalid', message: 'unexpected "aud" claim value' };
  }
  const now = Math.floor(Date.now() / 1000);
  if (payload.nbf !== undefined && payload.nbf > now) {
    return { error: 'invalid', message: '"nbf" claim timestamp check failed' };
  }
  if (payload.exp !== undefined && payload.exp <= now) {
    return { error: 'expired', message: '"exp" claim timestamp check failed' };
  }
  return { payload };
}
