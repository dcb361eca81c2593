/**
 * Properties of token verification over generated tokens: any string and any claims set, correctly signed or
 * not, gives either a TokenError or claims a connection can use (a user, a finite expiry, JSON payloads), never
 * another exception; an expired or not-yet-valid token is never accepted; and no mutation of a valid token's
 * signature, header or payload is ever accepted.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import { type CryptoKey, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { type ConnectClaims, type SubscribeClaims, TokenError, TokenVerifier } from '../../src/auth/token-verifier.js';
import type { TokenOptions } from '../../src/config/schema.js';
import { encodeReply } from '../../src/protocol/json/encode.js';
import { jsonForm } from '../../src/protocol/json-payload.js';
import { announce, checkAsync } from './fuzz-options.js';
import { deepJSON, Rng } from './hostile-inputs.js';

announce('tokens');

const SECRET = 'fuzz-secret-which-is-long-enough-for-every-hs-alg-0123456789';
const NO_KEYS: TokenOptions = {
  hmac_secret_key: '',
  rsa_public_key: '',
  ecdsa_public_key: '',
  jwks_public_endpoint: '',
  audience: '',
  audience_regex: '',
  issuer: '',
  issuer_regex: '',
};
const hmacVerifier = new TokenVerifier({ ...NO_KEYS, hmac_secret_key: SECRET });
/** With audience and issuer checks: more claims that matter. */
const strictVerifier = new TokenVerifier({ ...NO_KEYS, hmac_secret_key: SECRET, audience: 'app', issuer: 'auth' });

const now = () => Math.floor(Date.now() / 1000);
const b64 = (text: string) => Buffer.from(text).toString('base64url');
const HASH: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

/** A token signed with `secret` over exactly these header and payload texts (any JSON, or not JSON at all). */
function hmacToken(headerText: string, payloadText: string, alg = 'HS256', secret = SECRET): string {
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  return `${input}.${createHmac(HASH[alg] ?? 'sha256', secret)
    .update(input)
    .digest('base64url')}`;
}

// --- arbitraries ---------------------------------------------------------------------------------------------

const str = fc.string({ unit: 'binary', maxLength: 20 }).map((s) => JSON.stringify(s));
const odd = fc.constantFrom(
  'null',
  'true',
  '0',
  '-1',
  '1.5',
  '1e309',
  '-1e309',
  '1e300',
  '9007199254740993',
  '"123"',
  '[]',
  '{}',
  '[1,"a"]',
  '{"__proto__":{"polluted":true}}',
);
/** Times around now: past, future, far future, absurd. */
const time = fc.oneof(
  fc.integer({ min: -3600, max: 7200 }).map((d) => String(now() + d)),
  fc.constantFrom('0', '253402300799', '1e15', '1e300', '1e309', '-1e309', '-5', '1.5e9'),
  odd,
);
const json = fc.oneof(
  { weight: 4, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 12_000 }).map((d) => deepJSON(d, new Rng(d))) },
);
const b64json = fc.oneof(
  json.map((j) => JSON.stringify(Buffer.from(j).toString('base64'))),
  fc.constantFrom('"not base64 json"', '"e30"', '""', '5', 'null'),
);
const claimValue: Record<string, fc.Arbitrary<string>> = {
  sub: fc.oneof({ weight: 3, arbitrary: str }, odd),
  exp: time,
  nbf: time,
  iat: time,
  expire_at: time,
  info: fc.oneof({ weight: 3, arbitrary: json }, odd),
  data: fc.oneof({ weight: 3, arbitrary: json }, odd),
  b64info: b64json,
  b64data: b64json,
  channels: fc.oneof(
    fc.array(str, { maxLength: 4 }).map((a) => `[${a.join(',')}]`),
    odd,
  ),
  subs: fc.oneof(
    fc
      .array(fc.tuple(str, fc.oneof(json, fc.constant('{"override":{"presence":{"value":true}}}'))), { maxLength: 3 })
      .map((e) => `{${e.map(([k, v]) => `${k}:${v}`).join(',')}}`),
    odd,
  ),
  channel: fc.oneof({ weight: 3, arbitrary: str }, odd),
  client: fc.oneof(str, odd),
  aud: fc.oneof(fc.constantFrom('"app"', '["app","x"]', '"other"'), odd),
  iss: fc.oneof(fc.constantFrom('"auth"', '"other"'), odd),
};
const CLAIMS = Object.keys(claimValue);

/** A claims object as text: any subset of the claims Chorus reads, keys possibly repeated, values of any type. */
const claimsText = fc
  .array(
    fc.constantFrom(...CLAIMS).chain((k) => (claimValue[k] as fc.Arbitrary<string>).map((v) => `"${k}":${v}`)),
    { maxLength: 8 },
  )
  .map((entries) => `{${entries.join(',')}}`);

const headerText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('{"alg":"HS256"}', '{"alg":"HS384","typ":"JWT"}', '{"alg":"HS512"}') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"alg":"none"}',
      '{"alg":"HS256","crit":["exp"]}',
      '{"alg":"HS256","b64":false}',
      '{"alg":["HS256"]}',
      '{"alg":"RS256"}',
      '{}',
      '[]',
      'null',
      '{"alg":"HS256","kid":"../../etc/passwd"}',
    ),
  },
);

// --- checks --------------------------------------------------------------------------------------------------

/**
 * Payload claims are bytes (b64info/b64data carry any bytes); what a JSON client is sent for them must still be
 * JSON: the payload itself when it is JSON text, otherwise its base64 as a string.
 */
function isPayload(v: Uint8Array | undefined): boolean {
  if (v === undefined) return true;
  if (!(v instanceof Uint8Array)) return false;
  try {
    JSON.parse(Buffer.from(jsonForm(v)).toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/** Claims a connection can be built from: what the rest of the server relies on. */
function assertUsable(c: ConnectClaims | SubscribeClaims): void {
  assert.equal(typeof c.user, 'string', 'user is a string');
  assert.ok(Number.isSafeInteger(c.expireAt) && c.expireAt >= 0, `expiry ${c.expireAt} is a whole number of seconds`);
  assert.ok(isPayload(c.info), 'info is bytes with a JSON form');
  if ('subs' in c) {
    for (const [ch, s] of c.subs) {
      assert.equal(typeof ch, 'string', 'server-side channel names are strings');
      assert.ok(
        isPayload(s.info) && isPayload(s.data),
        'server-side subscription info/data are bytes with a JSON form',
      );
    }
    // What the connect reply would carry must be JSON (the ttl comes from the expiry).
    const ttl = c.expireAt > 0 ? c.expireAt - now() : 0;
    const reply = { client: 'c', version: 'v', expires: c.expireAt > 0, ttl, ping: 25, pong: true };
    JSON.parse(encodeReply({ id: 1, method: 'connect', result: reply }).toString('utf8'));
  } else {
    assert.ok(typeof c.channel === 'string' && c.channel !== '', 'a subscription token names its channel');
    assert.equal(typeof c.client, 'string', 'client is a string');
    assert.ok(isPayload(c.data), 'data is bytes with a JSON form');
  }
}

type Outcome = { claims: ConnectClaims | SubscribeClaims } | { error: TokenError };

/** Verifies; only a TokenError may be thrown, and accepted claims must be usable. */
async function outcome(p: Promise<ConnectClaims | SubscribeClaims>): Promise<Outcome> {
  let claims: ConnectClaims | SubscribeClaims;
  try {
    claims = await p;
  } catch (e) {
    assert.ok(e instanceof TokenError, `only TokenError may escape verification, got ${String(e)}`);
    assert.ok(e.kind === 'invalid' || e.kind === 'expired', 'a known kind');
    return { error: e };
  }
  assertUsable(claims);
  return { claims };
}

/** The time claims of an accepted token were in force: not expired, already valid. */
function assertInForce(payloadText: string): void {
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(payloadText) as Record<string, unknown>;
  } catch {
    assert.fail('a payload that is not JSON was accepted');
  }
  const t = now();
  if (p.exp !== undefined) assert.ok(typeof p.exp === 'number' && p.exp > t - 1, `accepted with exp ${p.exp}`);
  if (p.nbf !== undefined) assert.ok(typeof p.nbf === 'number' && p.nbf <= t + 1, `accepted with nbf ${p.nbf}`);
}

// --- properties ----------------------------------------------------------------------------------------------

describe('token verification over any input', () => {
  test('any string is a TokenError or usable claims', async () => {
    const anyToken = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc
        .tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 80 }), fc.string({ maxLength: 60 }))
        .map(([h, p, s]) => `${b64(h)}.${b64(p)}.${s}`),
      fc.tuple(fc.json({ maxDepth: 2 }), fc.json({ maxDepth: 3 })).map(([h, p]) => `${b64(h)}.${b64(p)}.`),
      fc.constantFrom('', '.', '..', '...', 'a.b.c.d', 'e30.e30.e30'),
    );
    await checkAsync(
      fc.asyncProperty(anyToken, async (token) => {
        await outcome(hmacVerifier.verifyConnect(token));
        await outcome(hmacVerifier.verifySubscribe(token));
      }),
      2000,
    );
  });

  test('any claims set, correctly signed: a TokenError or usable claims, never an expired one', async () => {
    await checkAsync(
      fc.asyncProperty(headerText, claimsText, fc.constantFrom('HS256', 'HS384', 'HS512'), async (h, p, alg) => {
        const header = h.startsWith('{"alg":"HS') ? h.replace(/HS\d+/, alg) : h;
        const token = hmacToken(header, p, alg);
        for (const v of [hmacVerifier, strictVerifier]) {
          const c = await outcome(v.verifyConnect(token));
          if ('claims' in c) assertInForce(p);
          const s = await outcome(v.verifySubscribe(token));
          if ('claims' in s) assertInForce(p);
        }
      }),
      2500,
    );
  });
});

describe('a valid token, mutated, is never accepted', () => {
  const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  /** Changes the token text: any character of any part, the alg, truncation, extension, a foreign secret. */
  function mutateToken(token: string, kind: number, at: number, ch: number): string {
    const [h, p, s] = token.split('.') as [string, string, string];
    const swap = (x: string, i: number) => {
      const j = i % x.length;
      let c = B64URL[ch % 64] as string;
      if (c === x[j]) c = B64URL[(ch + 1) % 64] as string;
      return x.slice(0, j) + c + x.slice(j + 1);
    };
    switch (kind % 7) {
      case 0:
        return `${h}.${p}.${swap(s, at)}`;
      case 1:
        return `${h}.${swap(p, at)}.${s}`;
      case 2:
        return `${swap(h, at)}.${p}.${s}`;
      case 3:
        return `${h}.${p}.${s.slice(0, at % s.length)}`;
      case 4:
        return `${h}.${p}.${s}${B64URL[ch % 64]}`;
      case 5:
        return `${b64('{"alg":"HS512"}')}.${p}.${s}`;
      default:
        return hmacToken(
          Buffer.from(h, 'base64url').toString(),
          Buffer.from(p, 'base64url').toString(),
          'HS256',
          `${SECRET}x`,
        );
    }
  }

  test('HMAC: any change to signature, header or payload is rejected as invalid', async () => {
    const claims = fc.record({
      sub: fc.string({ maxLength: 12 }),
      info: fc.jsonValue({ maxDepth: 2 }),
      channels: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
    });
    await checkAsync(
      fc.asyncProperty(claims, fc.nat(), fc.nat(), fc.nat(), async (c, kind, at, ch) => {
        const payload = JSON.stringify({ ...c, exp: now() + 3600 });
        const token = hmacToken('{"alg":"HS256","typ":"JWT"}', payload);
        const accepted = await outcome(hmacVerifier.verifyConnect(token));
        assert.ok('claims' in accepted, 'the unmutated token is accepted');
        const forged = mutateToken(token, kind, at, ch);
        assert.notEqual(forged, token, 'the mutation changed the token');
        const r = await outcome(hmacVerifier.verifyConnect(forged));
        assert.ok(
          'error' in r && r.error.kind === 'invalid',
          `a mutated token was ${'claims' in r ? 'accepted' : 'expired'}`,
        );
      }),
      2000,
    );
  });

  let ecKey: { privateKey: CryptoKey; publicKey: CryptoKey };
  let ecVerifier: TokenVerifier;
  before(async () => {
    ecKey = await generateKeyPair('ES256');
    ecVerifier = new TokenVerifier({ ...NO_KEYS, ecdsa_public_key: await exportSPKI(ecKey.publicKey) });
  });

  test('ECDSA (verified by jose): any changed signature bit, or payload, is rejected as invalid', async () => {
    await checkAsync(
      fc.asyncProperty(
        fc.string({ maxLength: 12 }),
        fc.nat(),
        fc.nat({ max: 7 }),
        fc.boolean(),
        async (sub, at, bit, payload) => {
          const token = await new SignJWT({ sub })
            .setProtectedHeader({ alg: 'ES256' })
            .setExpirationTime('1h')
            .sign(ecKey.privateKey);
          assert.ok('claims' in (await outcome(ecVerifier.verifyConnect(token))), 'the unmutated token is accepted');
          const [h, p, s] = token.split('.') as [string, string, string];
          let forged: string;
          if (payload) {
            forged = `${h}.${b64(JSON.stringify({ sub: `${sub}!`, exp: now() + 3600 }))}.${s}`;
          } else {
            const sig = Buffer.from(s, 'base64url');
            sig[at % sig.length] = (sig[at % sig.length] as number) ^ (1 << bit);
            forged = `${h}.${p}.${sig.toString('base64url')}`;
          }
          const r = await outcome(ecVerifier.verifyConnect(forged));
          assert.ok('error' in r && r.error.kind === 'invalid', 'a mutated ES256 token is invalid');
        },
      ),
      300,
    );
  });
});
