/** The token helpers: the claims they write, their defaults, and errors that say what fits. */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { TokenVerifier } from '../../src/auth/token-verifier.js';
import { createConnectionToken, createSubscriptionToken } from '../../src/tokens.js';

/** A claim's payload bytes as text (verified claims carry JSON payloads as bytes). */
const text = (p: Uint8Array | undefined) => (p === undefined ? undefined : Buffer.from(p).toString());

const SECRET = 'unit-test-secret-long-enough-for-hs256';
const now = () => Math.floor(Date.now() / 1000);
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;

function verifier(keys: { hmac?: string; rsa?: string; ecdsa?: string; audience?: string; issuer?: string }) {
  return new TokenVerifier({
    hmac_secret_key: keys.hmac ?? '',
    rsa_public_key: keys.rsa ?? '',
    ecdsa_public_key: keys.ecdsa ?? '',
    jwks_public_endpoint: '',
    audience: keys.audience ?? '',
    audience_regex: '',
    issuer: keys.issuer ?? '',
    issuer_regex: '',
  });
}

describe('createConnectionToken', () => {
  test('writes sub, iat and a one-hour exp by default, signed HS256 with a secret', async () => {
    const token = await createConnectionToken({ key: SECRET, user: '42' });
    assert.equal(decodeProtectedHeader(token).alg, 'HS256');
    const p = decodeJwt(token);
    assert.equal(p.sub, '42');
    assert.ok(Math.abs((p.iat as number) - now()) <= 2, 'iat is now');
    assert.equal((p.exp as number) - (p.iat as number), 3600);
    const claims = await verifier({ hmac: SECRET }).verifyConnect(token);
    assert.equal(claims.user, '42');
  });

  test('ttl as seconds or a duration; 0 means no exp', async () => {
    const ttlOf = async (ttl: number | string) => {
      const p = decodeJwt(await createConnectionToken({ key: SECRET, user: 'u', ttl }));
      return p.exp === undefined ? undefined : (p.exp as number) - (p.iat as number);
    };
    assert.equal(await ttlOf(90), 90);
    assert.equal(await ttlOf('15m'), 900);
    assert.equal(await ttlOf(0), undefined);
    await assert.rejects(() => ttlOf(-5), /ttl must be 0/);
    await assert.rejects(() => ttlOf('soon'), /ttl: invalid duration "soon"/);
  });

  test('info, channels, subs (overrides as Centrifugo writes them), expire_at, aud, iss and kid', async () => {
    const token = await createConnectionToken({
      key: SECRET,
      user: 'ann',
      info: { name: 'Ann' },
      channels: ['news'],
      subs: { 'room:1': { info: { role: 'host' }, data: { hi: 1 }, override: { presence: true } } },
      expireAt: now() + 600,
      audience: 'chat',
      issuer: 'backend',
      keyId: 'k1',
    });
    assert.equal(decodeProtectedHeader(token).kid, 'k1');
    const claims = await verifier({ hmac: SECRET, audience: 'chat', issuer: 'backend' }).verifyConnect(token);
    assert.deepEqual(text(claims.info), JSON.stringify({ name: 'Ann' }));
    assert.deepEqual([...claims.subs.keys()], ['news', 'room:1']);
    assert.deepEqual(claims.subs.get('room:1'), {
      info: Buffer.from(JSON.stringify({ role: 'host' })),
      data: Buffer.from(JSON.stringify({ hi: 1 })),
      override: { presence: true },
    });
    assert.equal(claims.expireAt, decodeJwt(token).expire_at);
    assert.deepEqual(decodeJwt(token).subs, {
      'room:1': { info: { role: 'host' }, data: { hi: 1 }, override: { presence: { value: true } } },
    });
  });

  test('"" is an anonymous user', async () => {
    const claims = await verifier({ hmac: SECRET }).verifyConnect(
      await createConnectionToken({ key: SECRET, user: '' }),
    );
    assert.equal(claims.user, '');
  });
});

describe('createSubscriptionToken', () => {
  test('writes channel, sub, and client and data when given', async () => {
    const token = await createSubscriptionToken({
      key: SECRET,
      user: '42',
      channel: '$orders:42',
      client: 'c-1',
      info: { a: 1 },
      data: { b: 2 },
    });
    const claims = await verifier({ hmac: SECRET }).verifySubscribe(token);
    assert.equal(claims.channel, '$orders:42');
    assert.equal(claims.user, '42');
    assert.equal(claims.client, 'c-1');
    assert.equal(text(claims.info), '{"a":1}');
    assert.equal(text(claims.data), '{"b":2}');
  });

  test('a channel is required', async () => {
    await assert.rejects(
      () => createSubscriptionToken({ key: SECRET, user: '1', channel: '' }),
      /channel must be the name of the channel/,
    );
  });
});

describe('keys and algorithms', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });

  test('an ECDSA key signs with the algorithm of its curve', async () => {
    for (const [pair, alg] of [
      [p384, 'ES384'],
      [p521, 'ES512'],
    ] as const) {
      const token = await createConnectionToken({ key: pair.privateKey, user: 'e' });
      assert.equal(decodeProtectedHeader(token).alg, alg);
      assert.equal((await verifier({ ecdsa: pem(pair.publicKey) }).verifyConnect(token)).user, 'e');
    }
    await assert.rejects(
      () => createConnectionToken({ key: p384.privateKey, algorithm: 'ES256', user: 'e' }),
      /this ECDSA key \(secp384r1\) signs ES384, not ES256/,
    );
  });

  test('an RSA key signs RS256 by default and refuses other families', async () => {
    const token = await createConnectionToken({ key: rsa.privateKey, user: 'r' });
    assert.equal(decodeProtectedHeader(token).alg, 'RS256');
    await assert.rejects(
      () => createConnectionToken({ key: rsa.privateKey, algorithm: 'ES256', user: 'r' }),
      /an RSA key signs RS256, RS384 or RS512, not ES256/,
    );
  });

  test('a secret refuses RS/ES; a public key or an empty secret is refused with what to use instead', async () => {
    await assert.rejects(
      () => createConnectionToken({ key: SECRET, algorithm: 'RS256', user: 'x' }),
      /an HMAC secret signs HS256, HS384 or HS512, not RS256/,
    );
    for (const key of [pem(rsa.publicKey), rsa.publicKey]) {
      await assert.rejects(
        () => createConnectionToken({ key, user: 'x' }),
        /key is a public key: sign with the private/,
      );
    }
    await assert.rejects(() => createConnectionToken({ key: '', user: 'x' }), /the HMAC secret is empty/);
    await assert.rejects(
      () => createConnectionToken({ key: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----', user: 'x' }),
      /key is not a PEM private key/,
    );
  });
});
