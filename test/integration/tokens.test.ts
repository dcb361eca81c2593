/**
 * Tokens minted by the exported helpers (createConnectionToken, createSubscriptionToken) are accepted by a
 * running server: the SDK connects and subscribes with them, for each algorithm family (HMAC, RSA, ECDSA).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { createConnectionToken, createSubscriptionToken, type TokenAlgorithm } from '../../src/index.js';
import { once, SECRET, sdk } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;
const privatePem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }) as string;

interface Case {
  family: string;
  algorithm: TokenAlgorithm;
  key: string | KeyObject;
  wrongKey: string | KeyObject;
}

const CASES: Case[] = [
  { family: 'HMAC', algorithm: 'HS256', key: SECRET, wrongKey: 'another-secret-which-is-long-enough-too' },
  { family: 'HMAC', algorithm: 'HS512', key: SECRET, wrongKey: 'another-secret-which-is-long-enough-too' },
  // A private key as PEM text, as a backend reads it from a file or a secret store…
  { family: 'RSA', algorithm: 'RS256', key: privatePem(rsa.privateKey), wrongKey: privatePem(otherRsa.privateKey) },
  // …or as a KeyObject.
  { family: 'RSA', algorithm: 'RS384', key: rsa.privateKey, wrongKey: otherRsa.privateKey },
  { family: 'ECDSA', algorithm: 'ES256', key: privatePem(ec.privateKey), wrongKey: otherEc.privateKey },
];

describe('tokens from the exported helpers, against a running server', () => {
  let srv: TestServer;
  const clients: Centrifuge[] = [];
  before(async () => {
    srv = await startServer({
      client: {
        // One server with every kind of key: the token's algorithm picks which verifies it.
        token: { hmac_secret_key: SECRET, rsa_public_key: pem(rsa.publicKey), ecdsa_public_key: pem(ec.publicKey) },
      },
      channel: {
        namespaces: [{ name: 'news' }, { name: 'room', presence: true, allow_presence_for_subscriber: true }],
      },
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await srv.close();
  });

  for (const { family, algorithm, key, wrongKey } of CASES) {
    test(`${family} (${algorithm}): connect with a connection token, subscribe with a subscription token`, async () => {
      const user = `user-${algorithm}`;
      const token = await createConnectionToken({
        key,
        algorithm,
        user,
        ttl: '10m',
        info: { name: 'Ann' },
        channels: [`news:${algorithm}`],
      });
      const client = sdk(srv.wsUrl, { token });
      clients.push(client);
      const serverSide = once<{ channel: string }>(client, 'subscribed');
      const connected = once<{ client: string }>(client, 'connected');
      client.connect();
      await connected;
      // The `channels` claim subscribed the connection on the server side.
      assert.equal((await serverSide).channel, `news:${algorithm}`);

      const channel = `room:${algorithm}`;
      const sub = client.newSubscription(channel, {
        token: await createSubscriptionToken({ key, algorithm, user, channel, info: { role: 'host' } }),
      });
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      await subscribed;
      // Presence shows the info of both tokens: the connection's and the channel's.
      const { clients: present } = await sub.presence();
      const me = Object.values(present)[0];
      assert.equal(me?.user, user);
      assert.deepEqual(me?.connInfo, { name: 'Ann' });
      assert.deepEqual(me?.chanInfo, { role: 'host' });
    });

    test(`${family} (${algorithm}): a token signed with another key is refused (3500)`, async () => {
      const token = await createConnectionToken({ key: wrongKey, algorithm, user: 'mallory' });
      const client = sdk(srv.wsUrl, { token });
      clients.push(client);
      const disconnected = once<{ code: number }>(client, 'disconnected');
      client.connect();
      assert.equal((await disconnected).code, 3500);
    });
  }
});
