import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  CompactSign,
  type CryptoKey,
  exportJWK,
  exportSPKI,
  type GenerateKeyPairResult,
  generateKeyPair,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { TokenError, TokenVerifier } from '../../src/auth/token-verifier.js';

/** A claim's payload bytes as text (claims carry JSON payloads as bytes). */
const text = (p: Uint8Array | undefined) => (p === undefined ? undefined : Buffer.from(p).toString());

import type { TokenOptions } from '../../src/config/schema.js';

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

function verifier(opts: Partial<TokenOptions>, section?: string): TokenVerifier {
  return new TokenVerifier({ ...NO_KEYS, ...opts }, section);
}

const SECRET = 'a-long-enough-hmac-secret-for-the-tests-0123456789';
const secretBytes = (s: string) => new TextEncoder().encode(s);
const now = () => Math.floor(Date.now() / 1000);

interface SignOptions {
  alg?: string;
  kid?: string;
  /** Seconds from now; null leaves `exp` out. */
  expiresIn?: number | null;
}

async function sign(
  payload: JWTPayload,
  key: CryptoKey | Uint8Array | string,
  { alg = 'HS256', kid, expiresIn = 3600 }: SignOptions = {},
): Promise<string> {
  const jwt = new SignJWT(payload).setProtectedHeader(kid === undefined ? { alg } : { alg, kid }).setIssuedAt();
  if (expiresIn !== null) jwt.setExpirationTime(now() + expiresIn);
  return jwt.sign(typeof key === 'string' ? secretBytes(key) : key);
}

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function assertTokenError(p: Promise<unknown>, kind: 'expired' | 'invalid', message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TokenError, `expected a TokenError, got ${String(e)}`);
    assert.equal(e.kind, kind, `kind of "${e.message}"`);
    if (message !== undefined) assert.match(e.message, message);
    return true;
  });
}

let rsa: GenerateKeyPairResult;
let rsaOther: GenerateKeyPairResult;
let ec: GenerateKeyPairResult;
let rsaPem: string;
let ecPem: string;

before(async () => {
  [rsa, rsaOther, ec] = await Promise.all([
    generateKeyPair('RS256'),
    generateKeyPair('RS256'),
    generateKeyPair('ES256'),
  ]);
  rsaPem = await exportSPKI(rsa.publicKey);
  ecPem = await exportSPKI(ec.publicKey);
});

describe('HMAC', () => {
  for (const alg of ['HS256', 'HS384', 'HS512']) {
    test(`${alg} token signed with the configured secret is valid`, async () => {
      const token = await sign({ sub: 'alice' }, SECRET, { alg });
      const claims = await verifier({ hmac_secret_key: SECRET }).verifyConnect(token);
      assert.equal(claims.user, 'alice');
    });
  }

  test('a token signed with another secret is invalid', async () => {
    const token = await sign({ sub: 'alice' }, 'some-other-secret-of-similar-length-0123456789');
    await assertTokenError(verifier({ hmac_secret_key: SECRET }).verifyConnect(token), 'invalid');
  });

  test('a tampered payload is invalid', async () => {
    const token = await sign({ sub: 'alice' }, SECRET);
    const [h, , s] = token.split('.');
    const forged = `${h}.${b64url({ sub: 'admin', exp: now() + 3600 })}.${s}`;
    await assertTokenError(verifier({ hmac_secret_key: SECRET }).verifyConnect(forged), 'invalid');
  });

  test('an expired token is "expired", not "invalid"', async () => {
    const token = await sign({ sub: 'alice' }, SECRET, { expiresIn: -60 });
    const v = verifier({ hmac_secret_key: SECRET });
    await assertTokenError(v.verifyConnect(token), 'expired');
    await assertTokenError(v.verifySubscribe(await sign({ channel: 'c' }, SECRET, { expiresIn: -60 })), 'expired');
  });

  test('an expired token with a bad signature is invalid', async () => {
    const token = await sign({ sub: 'alice' }, 'some-other-secret-of-similar-length-0123456789', { expiresIn: -60 });
    await assertTokenError(verifier({ hmac_secret_key: SECRET }).verifyConnect(token), 'invalid');
  });

  test('a token not valid yet (nbf in the future) is invalid', async () => {
    const token = await sign({ sub: 'alice', nbf: now() + 3600 }, SECRET);
    await assertTokenError(verifier({ hmac_secret_key: SECRET }).verifyConnect(token), 'invalid');
  });

  test('malformed tokens are invalid', async () => {
    const v = verifier({ hmac_secret_key: SECRET });
    for (const token of ['', 'abc', 'a.b.c', 'e30.e30.', `${b64url({ alg: 'HS256' })}.not-json.sig`]) {
      await assertTokenError(v.verifyConnect(token), 'invalid');
    }
  });
});

describe('HMAC tokens (checked with node:crypto, not WebCrypto)', () => {
  const hs = (header: Record<string, unknown>, payload: Record<string, unknown>, secret = SECRET) => {
    const input = `${b64url(header)}.${b64url(payload)}`;
    const alg = String(header.alg).replace('HS', 'sha');
    return `${input}.${createHmac(alg, secret).update(input).digest('base64url')}`;
  };

  test('a hand-made token with a correct signature is valid, for each hash', async () => {
    const v = verifier({ hmac_secret_key: SECRET });
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      assert.equal((await v.verifyConnect(hs({ alg }, { sub: `u-${alg}` }))).user, `u-${alg}`, alg);
    }
  });

  test('another encoding of the right signature is invalid', async () => {
    const v = verifier({ hmac_secret_key: SECRET });
    const token = hs({ alg: 'HS256' }, { sub: 'a' });
    for (const bad of [`${token}=`, `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, `${token}.`]) {
      await assertTokenError(v.verifyConnect(bad), 'invalid');
    }
  });

  test('an "alg" that is not a string is invalid even when the signature is right', async () => {
    const v = verifier({ hmac_secret_key: SECRET });
    const input = `${b64url({ alg: ['HS256'] })}.${b64url({ sub: 'a' })}`;
    const token = `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
    await assertTokenError(v.verifyConnect(token), 'invalid');
  });

  test('an expired token for another audience or issuer is invalid, not expired', async () => {
    const past = now() - 60;
    const aud = verifier({ hmac_secret_key: SECRET, audience: 'chorus' });
    await assertTokenError(aud.verifyConnect(hs({ alg: 'HS256' }, { sub: 'a', aud: 'other', exp: past })), 'invalid');
    await assertTokenError(aud.verifyConnect(hs({ alg: 'HS256' }, { sub: 'a', exp: past })), 'invalid');
    const iss = verifier({ hmac_secret_key: SECRET, issuer: 'me' });
    await assertTokenError(iss.verifyConnect(hs({ alg: 'HS256' }, { sub: 'a', iss: 'evil', exp: past })), 'invalid');
    await assertTokenError(iss.verifyConnect(hs({ alg: 'HS256' }, { sub: 'a', iss: 'me', exp: past })), 'expired');
  });

  test('a "crit" header is refused even when the signature is right', async () => {
    const v = verifier({ hmac_secret_key: SECRET });
    await assertTokenError(v.verifyConnect(hs({ alg: 'HS256', crit: ['exp'] }, { sub: 'a' })), 'invalid');
  });

  test('time claims must be numbers', async () => {
    const v = verifier({ hmac_secret_key: SECRET });
    for (const claim of ['exp', 'nbf', 'iat']) {
      await assertTokenError(v.verifyConnect(hs({ alg: 'HS256' }, { sub: 'a', [claim]: '9999999999' })), 'invalid');
    }
  });

  test('a payload that is not a JSON object is invalid', async () => {
    const v = verifier({ hmac_secret_key: SECRET });
    const input = `${b64url({ alg: 'HS256' })}.${Buffer.from('[1,2]').toString('base64url')}`;
    const token = `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
    await assertTokenError(v.verifyConnect(token), 'invalid');
  });
});

describe('algorithm pinning', () => {
  test('alg "none" is never accepted', async () => {
    const payload = { sub: 'alice', exp: now() + 3600 };
    for (const header of [{ alg: 'none' }, { alg: 'none', typ: 'JWT' }, { alg: 'None' }, { alg: 'NONE' }]) {
      const unsecured = `${b64url(header)}.${b64url(payload)}.`;
      for (const v of [
        verifier({ hmac_secret_key: SECRET }),
        verifier({ rsa_public_key: rsaPem }),
        verifier({ hmac_secret_key: SECRET, rsa_public_key: rsaPem, ecdsa_public_key: ecPem }),
      ]) {
        await assertTokenError(v.verifyConnect(unsecured), 'invalid');
        await assertTokenError(
          v.verifySubscribe(`${b64url(header)}.${b64url({ ...payload, channel: 'c' })}.`),
          'invalid',
        );
      }
    }
  });

  test('a token without alg in its header is invalid', async () => {
    const token = `${b64url({ typ: 'JWT' })}.${b64url({ sub: 'alice' })}.`;
    await assertTokenError(verifier({ hmac_secret_key: SECRET }).verifyConnect(token), 'invalid');
  });

  test('algorithm confusion: HS256 signed with the RSA public key PEM is invalid', async () => {
    const token = await sign({ sub: 'mallory' }, secretBytes(rsaPem), { alg: 'HS256' });
    await assertTokenError(verifier({ rsa_public_key: rsaPem }).verifyConnect(token), 'invalid');
    // Also with an HMAC secret configured beside the RSA key: the PEM is never used as an HMAC secret.
    await assertTokenError(
      verifier({ rsa_public_key: rsaPem, hmac_secret_key: SECRET }).verifyConnect(token),
      'invalid',
    );
  });

  test('algorithm confusion: HS256 signed with the ECDSA public key PEM is invalid', async () => {
    const token = await sign({ sub: 'mallory' }, secretBytes(ecPem), { alg: 'HS256' });
    await assertTokenError(verifier({ ecdsa_public_key: ecPem }).verifyConnect(token), 'invalid');
  });

  test('an RS256 token against a verifier with only an HMAC secret is invalid', async () => {
    const token = await sign({ sub: 'alice' }, rsa.privateKey, { alg: 'RS256' });
    await assertTokenError(verifier({ hmac_secret_key: SECRET }).verifyConnect(token), 'invalid', /RS256/);
  });

  test('an HS256 token against a verifier with only an RSA key is invalid', async () => {
    const token = await sign({ sub: 'alice' }, SECRET);
    await assertTokenError(verifier({ rsa_public_key: rsaPem }).verifyConnect(token), 'invalid', /HS256/);
  });

  test('an ES256 token against a verifier with only an RSA key is invalid', async () => {
    const token = await sign({ sub: 'alice' }, ec.privateKey, { alg: 'ES256' });
    await assertTokenError(verifier({ rsa_public_key: rsaPem }).verifyConnect(token), 'invalid');
  });

  test('without any key every token is invalid', async () => {
    const v = verifier({});
    assert.equal(v.hasKeys, false);
    await assertTokenError(v.verifyConnect(await sign({ sub: 'alice' }, SECRET)), 'invalid');
    await assertTokenError(v.verifyConnect(await sign({ sub: 'alice' }, rsa.privateKey, { alg: 'RS256' })), 'invalid');
  });

  test('hasKeys reports a configured key', () => {
    assert.equal(verifier({ hmac_secret_key: SECRET }).hasKeys, true);
    assert.equal(verifier({ rsa_public_key: rsaPem }).hasKeys, true);
    assert.equal(verifier({ ecdsa_public_key: ecPem }).hasKeys, true);
    assert.equal(verifier({ jwks_public_endpoint: 'http://127.0.0.1:1/jwks' }).hasKeys, true);
  });
});

describe('RSA and ECDSA public keys', () => {
  test('RS256 with rsa_public_key', async () => {
    const token = await sign({ sub: 'alice' }, rsa.privateKey, { alg: 'RS256' });
    assert.equal((await verifier({ rsa_public_key: rsaPem }).verifyConnect(token)).user, 'alice');
  });

  for (const alg of ['RS384', 'RS512', 'ES384', 'ES512']) {
    test(`${alg} with the matching public key`, async () => {
      const { privateKey, publicKey } = await generateKeyPair(alg);
      const pem = await exportSPKI(publicKey);
      const v = verifier(alg.startsWith('RS') ? { rsa_public_key: pem } : { ecdsa_public_key: pem });
      assert.equal((await v.verifyConnect(await sign({ sub: 'bob' }, privateKey, { alg }))).user, 'bob');
    });
  }

  test('an RS256 token signed by another RSA key is invalid', async () => {
    const token = await sign({ sub: 'alice' }, rsaOther.privateKey, { alg: 'RS256' });
    await assertTokenError(verifier({ rsa_public_key: rsaPem }).verifyConnect(token), 'invalid');
  });

  test('ES256 with ecdsa_public_key', async () => {
    const token = await sign({ sub: 'alice' }, ec.privateKey, { alg: 'ES256' });
    assert.equal((await verifier({ ecdsa_public_key: ecPem }).verifyConnect(token)).user, 'alice');
    const other = await generateKeyPair('ES256');
    const forged = await sign({ sub: 'alice' }, other.privateKey, { alg: 'ES256' });
    await assertTokenError(verifier({ ecdsa_public_key: ecPem }).verifyConnect(forged), 'invalid');
  });

  test('an expired RS256 token is "expired"', async () => {
    const token = await sign({ sub: 'alice' }, rsa.privateKey, { alg: 'RS256', expiresIn: -10 });
    await assertTokenError(verifier({ rsa_public_key: rsaPem }).verifyConnect(token), 'expired');
  });

  test('a key of the wrong type or not PEM fails at construction naming the key', () => {
    assert.throws(() => verifier({ rsa_public_key: ecPem }), /client\.token\.rsa_public_key.*RSA/);
    assert.throws(() => verifier({ ecdsa_public_key: rsaPem }), /client\.token\.ecdsa_public_key.*EC/);
    assert.throws(() => verifier({ rsa_public_key: 'not a pem' }), /client\.token\.rsa_public_key: not a PEM/);
    assert.throws(
      () => verifier({ rsa_public_key: 'garbage' }, 'client.subscription_token'),
      /client\.subscription_token\.rsa_public_key/,
    );
  });
});

describe('audience and issuer', () => {
  test('audience: right one valid, wrong or missing invalid', async () => {
    const v = verifier({ hmac_secret_key: SECRET, audience: 'chorus' });
    assert.equal((await v.verifyConnect(await sign({ sub: 'a', aud: 'chorus' }, SECRET))).user, 'a');
    assert.equal((await v.verifyConnect(await sign({ sub: 'a', aud: ['other', 'chorus'] }, SECRET))).user, 'a');
    await assertTokenError(v.verifyConnect(await sign({ sub: 'a', aud: 'other' }, SECRET)), 'invalid');
    await assertTokenError(v.verifyConnect(await sign({ sub: 'a' }, SECRET)), 'invalid');
    await assertTokenError(v.verifySubscribe(await sign({ channel: 'c', aud: 'other' }, SECRET)), 'invalid');
  });

  test('without a configured audience any aud is accepted', async () => {
    const v = verifier({ hmac_secret_key: SECRET });
    assert.equal((await v.verifyConnect(await sign({ sub: 'a', aud: 'anything' }, SECRET))).user, 'a');
  });

  test('issuer: right one valid, wrong or missing invalid', async () => {
    const v = verifier({ hmac_secret_key: SECRET, issuer: 'https://auth.example.com' });
    assert.equal((await v.verifyConnect(await sign({ sub: 'a', iss: 'https://auth.example.com' }, SECRET))).user, 'a');
    await assertTokenError(
      v.verifyConnect(await sign({ sub: 'a', iss: 'https://evil.example.com' }, SECRET)),
      'invalid',
    );
    await assertTokenError(v.verifyConnect(await sign({ sub: 'a' }, SECRET)), 'invalid');
  });

  test('audience_regex', async () => {
    const v = verifier({ hmac_secret_key: SECRET, audience_regex: '^chorus-(dev|prod)$' });
    assert.equal((await v.verifyConnect(await sign({ sub: 'a', aud: 'chorus-dev' }, SECRET))).user, 'a');
    assert.equal((await v.verifyConnect(await sign({ sub: 'a', aud: ['x', 'chorus-prod'] }, SECRET))).user, 'a');
    await assertTokenError(
      v.verifyConnect(await sign({ sub: 'a', aud: 'chorus-test' }, SECRET)),
      'invalid',
      /audience/,
    );
    await assertTokenError(v.verifyConnect(await sign({ sub: 'a', aud: ['x', 'y'] }, SECRET)), 'invalid');
    await assertTokenError(v.verifyConnect(await sign({ sub: 'a' }, SECRET)), 'invalid');
  });

  test('issuer_regex', async () => {
    const v = verifier({ hmac_secret_key: SECRET, issuer_regex: '^https://[a-z]+\\.auth\\.example\\.com$' });
    assert.equal(
      (await v.verifyConnect(await sign({ sub: 'a', iss: 'https://eu.auth.example.com' }, SECRET))).user,
      'a',
    );
    await assertTokenError(
      v.verifyConnect(await sign({ sub: 'a', iss: 'https://eu.auth.example.com.evil.io' }, SECRET)),
      'invalid',
      /issuer/,
    );
    await assertTokenError(v.verifyConnect(await sign({ sub: 'a' }, SECRET)), 'invalid');
  });

  test('audience and issuer apply to RSA tokens too', async () => {
    const v = verifier({ rsa_public_key: rsaPem, audience: 'chorus', issuer: 'me' });
    const good = await sign({ sub: 'a', aud: 'chorus', iss: 'me' }, rsa.privateKey, { alg: 'RS256' });
    assert.equal((await v.verifyConnect(good)).user, 'a');
    const bad = await sign({ sub: 'a', aud: 'chorus', iss: 'you' }, rsa.privateKey, { alg: 'RS256' });
    await assertTokenError(v.verifyConnect(bad), 'invalid');
  });
});

describe('JWKS endpoint', () => {
  let server: Server;
  let endpoint: string;
  let requests = 0;

  before(async () => {
    const rsaJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
    const ecJwk = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
    const body = JSON.stringify({ keys: [rsaJwk, ecJwk] });
    server = createServer((req, res) => {
      requests++;
      if (req.url !== '/.well-known/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('an RS256 token with a kid from the key set is valid', async () => {
    const v = verifier({ jwks_public_endpoint: endpoint });
    const token = await sign({ sub: 'alice' }, rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' });
    assert.equal((await v.verifyConnect(token)).user, 'alice');
    assert.ok(requests >= 1, 'the key set was fetched from the endpoint');
  });

  test('an ES256 token with a kid from the key set is valid', async () => {
    const v = verifier({ jwks_public_endpoint: endpoint });
    const token = await sign({ sub: 'bob' }, ec.privateKey, { alg: 'ES256', kid: 'ec-1' });
    assert.equal((await v.verifyConnect(token)).user, 'bob');
  });

  test('a token signed by another key is invalid', async () => {
    const v = verifier({ jwks_public_endpoint: endpoint });
    const sameKid = await sign({ sub: 'mallory' }, rsaOther.privateKey, { alg: 'RS256', kid: 'rsa-1' });
    await assertTokenError(v.verifyConnect(sameKid), 'invalid');
    const unknownKid = await sign({ sub: 'mallory' }, rsaOther.privateKey, { alg: 'RS256', kid: 'other' });
    await assertTokenError(v.verifyConnect(unknownKid), 'invalid');
  });

  test('an HS256 token is invalid against a JWKS-only verifier', async () => {
    const v = verifier({ jwks_public_endpoint: endpoint });
    await assertTokenError(v.verifyConnect(await sign({ sub: 'a' }, SECRET, { kid: 'rsa-1' })), 'invalid');
  });

  test('an expired JWKS token is "expired"', async () => {
    const v = verifier({ jwks_public_endpoint: endpoint });
    const token = await sign({ sub: 'a' }, rsa.privateKey, { alg: 'RS256', kid: 'rsa-1', expiresIn: -10 });
    await assertTokenError(v.verifyConnect(token), 'expired');
  });

  test('an unreachable endpoint makes tokens invalid', async () => {
    const v = verifier({ jwks_public_endpoint: endpoint.replace('jwks.json', 'missing.json') });
    const token = await sign({ sub: 'a' }, rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' });
    await assertTokenError(v.verifyConnect(token), 'invalid');
  });
});

describe('connection token claims', () => {
  const v = () => verifier({ hmac_secret_key: SECRET });

  test('sub becomes the user; no sub is the anonymous user ""', async () => {
    assert.equal((await v().verifyConnect(await sign({ sub: 'user-42' }, SECRET))).user, 'user-42');
    assert.equal((await v().verifyConnect(await sign({}, SECRET))).user, '');
  });

  test('a non-string sub is invalid', async () => {
    await assertTokenError(v().verifyConnect(await sign({ sub: 42 } as unknown as JWTPayload, SECRET)), 'invalid');
    await assertTokenError(
      v().verifySubscribe(await sign({ sub: 42, channel: 'c' } as unknown as JWTPayload, SECRET)),
      'invalid',
    );
  });

  test('exp sets expireAt; no exp means 0 (no expiry)', async () => {
    const exp = now() + 600;
    assert.equal((await v().verifyConnect(await sign({ sub: 'a', exp }, SECRET, { expiresIn: null }))).expireAt, exp);
    assert.equal((await v().verifyConnect(await sign({ sub: 'a' }, SECRET, { expiresIn: null }))).expireAt, 0);
  });

  test('expire_at overrides exp; expire_at 0 disables expiry', async () => {
    const exp = now() + 600;
    const later = now() + 86_400;
    const c1 = await v().verifyConnect(await sign({ sub: 'a', exp, expire_at: later }, SECRET, { expiresIn: null }));
    assert.equal(c1.expireAt, later);
    const c2 = await v().verifyConnect(await sign({ sub: 'a', exp, expire_at: 0 }, SECRET, { expiresIn: null }));
    assert.equal(c2.expireAt, 0);
    await assertTokenError(v().verifyConnect(await sign({ sub: 'a', expire_at: -1 }, SECRET)), 'invalid');
    await assertTokenError(v().verifyConnect(await sign({ sub: 'a', expire_at: 'soon' }, SECRET)), 'invalid');
  });

  test('exp is still checked when expire_at is set', async () => {
    const token = await sign({ sub: 'a', exp: now() - 60, expire_at: now() + 3600 }, SECRET, { expiresIn: null });
    await assertTokenError(v().verifyConnect(token), 'expired');
  });

  test('info becomes raw JSON text', async () => {
    const info = { name: 'Alice', roles: ['admin'], n: 1 };
    const claims = await v().verifyConnect(await sign({ sub: 'a', info }, SECRET));
    assert.equal(typeof text(claims.info), 'string');
    assert.deepEqual(JSON.parse(text(claims.info) as string), info);
    assert.equal(text((await v().verifyConnect(await sign({ sub: 'a', info: 'text' }, SECRET))).info), '"text"');
    assert.equal(text((await v().verifyConnect(await sign({ sub: 'a' }, SECRET))).info), undefined);
  });

  test('b64info carries any bytes (binary info for Protobuf clients); only non-base64 is refused', async () => {
    const json = '{"name":"Alice","ok":true}';
    const b64info = Buffer.from(json).toString('base64');
    assert.equal(text((await v().verifyConnect(await sign({ sub: 'a', b64info }, SECRET))).info), json);
    const binary = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    const info = (await v().verifyConnect(await sign({ sub: 'a', b64info: binary.toString('base64') }, SECRET))).info;
    assert.deepEqual(info === undefined ? undefined : Buffer.from(info), binary);
    await assertTokenError(v().verifyConnect(await sign({ sub: 'a', b64info: 'not base64!' }, SECRET)), 'invalid');
    await assertTokenError(v().verifyConnect(await sign({ sub: 'a', b64info: 12 }, SECRET)), 'invalid');
  });

  test('info wins over b64info', async () => {
    const b64info = Buffer.from('{"from":"b64"}').toString('base64');
    const claims = await v().verifyConnect(await sign({ sub: 'a', info: { from: 'info' }, b64info }, SECRET));
    assert.deepEqual(JSON.parse(text(claims.info) as string), { from: 'info' });
  });

  test('channels become server-side subscriptions', async () => {
    const claims = await v().verifyConnect(await sign({ sub: 'a', channels: ['news', 'chat:lobby'] }, SECRET));
    assert.deepEqual([...claims.subs.keys()].sort(), ['chat:lobby', 'news']);
    assert.deepEqual(claims.subs.get('news'), {});
    assert.equal((await v().verifyConnect(await sign({ sub: 'a' }, SECRET))).subs.size, 0);
    await assertTokenError(v().verifyConnect(await sign({ sub: 'a', channels: 'news' }, SECRET)), 'invalid');
    await assertTokenError(v().verifyConnect(await sign({ sub: 'a', channels: ['news', 1] }, SECRET)), 'invalid');
  });

  test('subs carry per-channel info and data', async () => {
    const subs = {
      'chat:1': { info: { role: 'moderator' } },
      'chat:2': { b64info: Buffer.from('{"role":"guest"}').toString('base64'), data: { welcome: true } },
      news: {},
    };
    const claims = await v().verifyConnect(await sign({ sub: 'a', channels: ['extra'], subs }, SECRET));
    assert.deepEqual([...claims.subs.keys()].sort(), ['chat:1', 'chat:2', 'extra', 'news']);
    assert.deepEqual(JSON.parse(text(claims.subs.get('chat:1')?.info) as string), { role: 'moderator' });
    assert.equal(text(claims.subs.get('chat:1')?.data), undefined);
    assert.equal(text(claims.subs.get('chat:2')?.info), '{"role":"guest"}');
    assert.deepEqual(JSON.parse(text(claims.subs.get('chat:2')?.data) as string), { welcome: true });
    assert.equal(text(claims.subs.get('news')?.info), undefined);
    await assertTokenError(v().verifyConnect(await sign({ sub: 'a', subs: ['chat:1'] }, SECRET)), 'invalid');
  });

  test('a connection token carrying channel is invalid', async () => {
    await assertTokenError(v().verifyConnect(await sign({ sub: 'a', channel: 'news' }, SECRET)), 'invalid', /channel/);
  });
});

describe('subscription token claims', () => {
  const v = () => verifier({ hmac_secret_key: SECRET }, 'client.subscription_token');

  test('channel, user, client, expiry, info and data', async () => {
    const exp = now() + 900;
    const token = await sign(
      { sub: 'alice', channel: '$private:room', client: 'c0ffee', info: { a: 1 }, b64data: btoa('{"d":2}'), exp },
      SECRET,
      { expiresIn: null },
    );
    const claims = await v().verifySubscribe(token);
    assert.equal(claims.channel, '$private:room');
    assert.equal(claims.user, 'alice');
    assert.equal(claims.client, 'c0ffee');
    assert.equal(claims.expireAt, exp);
    assert.equal(text(claims.info), '{"a":1}');
    assert.equal(text(claims.data), '{"d":2}');
  });

  test('client defaults to "" and user to "" when absent', async () => {
    const claims = await v().verifySubscribe(await sign({ channel: 'news' }, SECRET));
    assert.equal(claims.client, '');
    assert.equal(claims.user, '');
    assert.equal(text(claims.info), undefined);
    assert.equal(text(claims.data), undefined);
  });

  test('channel is required', async () => {
    await assertTokenError(v().verifySubscribe(await sign({ sub: 'a' }, SECRET)), 'invalid', /channel/);
    await assertTokenError(v().verifySubscribe(await sign({ sub: 'a', channel: '' }, SECRET)), 'invalid');
    await assertTokenError(v().verifySubscribe(await sign({ sub: 'a', channel: 5 }, SECRET)), 'invalid');
  });

  test('a non-string client is invalid', async () => {
    await assertTokenError(v().verifySubscribe(await sign({ channel: 'c', client: 123 }, SECRET)), 'invalid');
  });

  test('expire_at overrides exp in subscription tokens too', async () => {
    const token = await sign({ channel: 'c', expire_at: 0 }, SECRET);
    assert.equal((await v().verifySubscribe(token)).expireAt, 0);
  });

  test('a subscription token signed with the wrong key is invalid', async () => {
    const token = await sign({ channel: 'c' }, rsa.privateKey, { alg: 'RS256' });
    await assertTokenError(v().verifySubscribe(token), 'invalid');
  });
});

describe('absurd claims make a token invalid, on the node:crypto HMAC path and the jose path', () => {
  /** A token whose payload is exactly `payloadText` (JSON that JSON.stringify cannot write, such as 1e309). */
  const raw = async (payloadText: string, alg: 'HS256' | 'RS256'): Promise<string> =>
    new CompactSign(new TextEncoder().encode(payloadText))
      .setProtectedHeader({ alg })
      .sign(alg === 'HS256' ? secretBytes(SECRET) : rsa.privateKey);
  const verifiers = () => ({
    HS256: verifier({ hmac_secret_key: SECRET }),
    RS256: verifier({ rsa_public_key: rsaPem }),
  });
  /** `n` arrays, one inside the other: inside the claims object, n + 1 levels in all. */
  const nested = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;

  test('non-finite or out-of-range exp, nbf, iat and expire_at', async () => {
    const cases = [
      '{"sub":"a","exp":1e309}',
      '{"sub":"a","exp":-1e309}',
      '{"sub":"a","exp":1e20}',
      '{"sub":"a","exp":-5}',
      '{"sub":"a","nbf":-1e309}',
      '{"sub":"a","iat":1e309}',
      '{"sub":"a","expire_at":1e309}',
      '{"sub":"a","expire_at":253402300800}',
      '{"channel":"c","exp":1e309}',
    ];
    for (const [alg, v] of Object.entries(verifiers())) {
      for (const payload of cases) {
        const token = await raw(payload, alg as 'HS256');
        const check = payload.includes('channel') ? v.verifySubscribe(token) : v.verifyConnect(token);
        await assertTokenError(check, 'invalid', /claim/);
      }
    }
  });

  test('the last representable second is still fine, and gives a finite expiry', async () => {
    for (const [alg, v] of Object.entries(verifiers())) {
      const claims = await v.verifyConnect(await raw('{"sub":"a","exp":253402300799}', alg as 'HS256'));
      assert.equal(claims.expireAt, 253402300799, alg);
    }
  });

  test('claims nested deeper than 64 levels (6,000 in the report) are invalid, not an internal error', async () => {
    for (const [alg, v] of Object.entries(verifiers())) {
      for (const payload of [
        `{"sub":"a","info":${nested(6000)}}`,
        `{"sub":"a","subs":{"c":{"data":${nested(100)}}}}`,
        `{"sub":"a","custom":${nested(64)}}`, // 65 levels
      ]) {
        await assertTokenError(v.verifyConnect(await raw(payload, alg as 'HS256')), 'invalid', /nested deeper/);
      }
      await assertTokenError(
        v.verifySubscribe(await raw(`{"channel":"c","data":${nested(6000)}}`, alg as 'HS256')),
        'invalid',
        /nested deeper/,
      );
      // 63 arrays inside the claims object (64 levels in all) are accepted and come back as they were.
      const claims = await v.verifyConnect(await raw(`{"sub":"a","info":${nested(63)}}`, alg as 'HS256'));
      assert.equal(text(claims.info), nested(63), alg);
    }
  });
});
