/**
 * Admin sessions in a cluster: a login on one node works on every node, a logout on any node ends the session on
 * all of them (the revocation list lives in the engine), sessions expire after `admin.session_ttl`, and changing
 * `admin.password` or `admin.secret` ends every session issued before. Checked with in-process nodes on a shared
 * memory bus and with two real processes on Redis.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { MemoryBus } from '../../src/engine/memory/memory-broker.js';
import { createMemoryEngine } from '../../src/engine/memory/memory-engine.js';
import { MemoryPresence } from '../../src/engine/memory/memory-presence.js';
import { waitFor } from '../helpers/clients.js';
import { type NodeProcess, startNode } from '../helpers/cluster.js';
import { needRedis, REDIS_URL } from '../helpers/services.js';
import { type Served, serve } from './serve.js';

const PASSWORD = 'cluster-admin-password';
const SECRET = 'cluster-admin-secret-long-enough-for-hs256';
const admin = (extra: Record<string, unknown> = {}) => ({
  enabled: true,
  password: PASSWORD,
  secret: SECRET,
  ...extra,
});

async function login(base: string, password = PASSWORD): Promise<string> {
  const r = await fetch(`${base}/admin/api/login`, { method: 'POST', body: JSON.stringify({ password }) });
  assert.equal(r.status, 200, `login on ${base}`);
  return ((await r.json()) as { token: string }).token;
}

async function stateStatus(base: string, token: string): Promise<number> {
  const r = await fetch(`${base}/admin/api/state`, { headers: { authorization: `Bearer ${token}` } });
  await r.body?.cancel();
  return r.status;
}

async function logout(base: string, token: string): Promise<number> {
  const r = await fetch(`${base}/admin/api/logout`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: '{}',
  });
  await r.body?.cancel();
  return r.status;
}

describe('admin sessions across in-process nodes on a shared memory bus', () => {
  const shared = { bus: new MemoryBus(), presence: new MemoryPresence() };
  const nodes: Served[] = [];
  const node = async (extra: Record<string, unknown> = {}) => {
    const s = await serve({ admin: admin(extra) }, createMemoryEngine(Date.now, shared));
    nodes.push(s);
    return s;
  };
  after(async () => {
    for (const s of nodes) await s.close();
  });

  test('a login on one node works on the other; a logout on either ends it on both', async () => {
    const [a, b] = [await node(), await node()];
    const token = await login(a.url);
    assert.equal(await stateStatus(b.url, token), 200, 'the session works on the other node');
    const other = await login(b.url);
    assert.equal(await logout(b.url, token), 200);
    assert.equal(await stateStatus(a.url, token), 401, 'logged out on b: refused on a');
    assert.equal(await stateStatus(b.url, token), 401, 'and on b');
    assert.equal(await stateStatus(a.url, other), 200, 'other sessions stay valid');
  });

  test('changing admin.password or admin.secret ends every session issued before', async () => {
    const a = await node();
    const token = await login(a.url);
    const newPassword = await node({ password: 'a-brand-new-password' });
    assert.equal(await stateStatus(newPassword.url, token), 401, 'a node with the new password refuses it');
    const newSecret = await node({ secret: 'a-brand-new-secret-long-enough-for-hs256' });
    assert.equal(await stateStatus(newSecret.url, token), 401, 'a node with the new secret refuses it');
    assert.equal(await stateStatus(a.url, token), 200, 'the old configuration still accepts it');
    const fresh = await login(newPassword.url, 'a-brand-new-password');
    assert.equal(await stateStatus(newPassword.url, fresh), 200);
    assert.equal(await stateStatus(a.url, fresh), 401, 'and the old configuration refuses the new one');
  });

  test('a session expires after admin.session_ttl', async () => {
    const a = await node({ session_ttl: '2s' });
    const loggedInAt = Date.now();
    const token = await login(a.url);
    const r = await fetch(`${a.url}/admin/api/login`, { method: 'POST', body: JSON.stringify({ password: PASSWORD }) });
    assert.equal(((await r.json()) as { expires_in: number }).expires_in, 2, 'the login says how long it lasts');
    assert.equal(await stateStatus(a.url, token), 200);
    await waitFor(async () => (await stateStatus(a.url, token)) === 401, 5000, 'the session to expire');
    const lasted = Date.now() - loggedInAt;
    assert.ok(lasted >= 900 && lasted <= 3500, `expired after ${lasted} ms (ttl 2 s, whole seconds)`);
  });
});

const redisSkip = await needRedis();

describe('admin sessions across two processes on Redis', redisSkip, () => {
  const prefix = `admin-sessions-${randomUUID().slice(0, 8)}`;
  const config = (extra: Record<string, unknown> = {}) => ({
    engine: { type: 'redis', redis: { address: REDIS_URL, prefix } },
    admin: admin(extra),
  });
  let nodes: NodeProcess[] = [];
  before(async () => {
    nodes = await Promise.all([startNode(config()), startNode(config())]);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
  });

  test('login on one node, use on the other, logout on the other: refused on both', async () => {
    const [a, b] = nodes as [NodeProcess, NodeProcess];
    const token = await login(a.url);
    assert.equal(await stateStatus(b.url, token), 200, 'the session works on the other process');
    assert.equal(await logout(b.url, token), 200);
    assert.equal(await stateStatus(a.url, token), 401, 'the logout on b holds on a');
    assert.equal(await stateStatus(b.url, token), 401);
  });

  test('a node started with a new admin.password refuses the sessions issued before', async () => {
    const token = await login((nodes[0] as NodeProcess).url);
    const changed = await startNode(config({ password: 'rotated-password' }));
    nodes.push(changed);
    assert.equal(await stateStatus(changed.url, token), 401);
    assert.equal(await stateStatus((nodes[1] as NodeProcess).url, token), 200, 'not yet rotated: still valid there');
  });
});
