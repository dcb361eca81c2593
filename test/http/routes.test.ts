/**
 * Every HTTP route without a socket: requests are injected into a listener's router (light-my-request), built
 * from the same parts `chorus serve` builds, so the server API, the admin API, health, metrics and the pages are
 * checked in milliseconds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inject } from 'light-my-request';
import { HttpApi } from '../../src/api/http-api.js';
import { compose } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLog } from '../../src/core/ports/log.js';
import type { Router } from '../../src/http/router.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createRouter } from '../../src/routes.js';
import type { Endpoints } from '../../src/transport/listen-plan.js';
import { createAdminApi } from '../../src/web/admin-api.js';

const EVERYTHING: Endpoints = { websocket: true, pages: true, api: true, admin: true, metrics: true, health: true };

describe('routes, injected', () => {
  let router: Router;
  let publicOnly: Router;
  let close: () => Promise<void>;

  before(async () => {
    const config = loadConfig({
      base: {
        http_api: { key: 'api-key' },
        admin: { enabled: true, password: 'pw', secret: 'admin-secret-long-enough' },
        prometheus: { enabled: true },
        channel: { without_namespace: { history_size: 10, history_ttl: '60s' } },
      },
    }).config;
    const composed = await compose({ config, log: silentLog });
    const { node } = composed;
    const parts = {
      node,
      config,
      log: silentLog,
      httpApi: new HttpApi(node, config),
      metrics: composed.metricsStats && createMetrics(node, composed.metricsStats),
      admin: composed.adminActivity && createAdminApi(node, config, composed.adminActivity),
      dev: false,
    };
    router = createRouter(parts, EVERYTHING);
    publicOnly = createRouter(parts, { ...EVERYTHING, api: false, admin: false, metrics: false, health: false });
    close = () => node.shutdown();
  });
  after(async () => {
    await close();
  });

  test('server API: a publish with the key answers its position; without it 401; GET 405', async () => {
    const ok = await inject(router.handle, {
      method: 'POST',
      url: '/api/publish',
      headers: { 'x-api-key': 'api-key' },
      payload: { channel: 'news', data: { text: 'hi' } },
    });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().result.offset, 1);
    const noKey = await inject(router.handle, { method: 'POST', url: '/api/publish', payload: {} });
    assert.equal(noKey.statusCode, 401);
    const get = await inject(router.handle, {
      method: 'GET',
      url: '/api/publish',
      headers: { 'x-api-key': 'api-key' },
    });
    assert.equal(get.statusCode, 405);
    assert.equal(get.headers.allow, 'POST');
  });

  test('server API: history reads back what was published, payload byte for byte', async () => {
    await inject(router.handle, {
      method: 'POST',
      url: '/api/publish',
      headers: { 'x-api-key': 'api-key' },
      payload: '{"channel":"bytes","data":{"big":12345678901234567890,"s":"é"}}',
    });
    const h = await inject(router.handle, {
      method: 'POST',
      url: '/api/history',
      headers: { 'x-api-key': 'api-key' },
      payload: { channel: 'bytes', limit: 10 },
    });
    assert.equal(h.statusCode, 200);
    assert.match(h.body, /"data":\{"big":12345678901234567890,"s":"é"\}/, 'the number survives unrounded');
  });

  test('a body over http_api.max_body_size answers 413 naming the key', async () => {
    const config = loadConfig({ base: { http_api: { key: 'k', max_body_size: 64 } } }).config;
    const composed = await compose({ config, log: silentLog });
    try {
      const small = createRouter(
        { node: composed.node, config, log: silentLog, httpApi: new HttpApi(composed.node, config), dev: false },
        EVERYTHING,
      );
      const r = await inject(small.handle, {
        method: 'POST',
        url: '/api/publish',
        headers: { 'x-api-key': 'k' },
        payload: { channel: 'x', data: 'y'.repeat(200) },
      });
      assert.equal(r.statusCode, 413);
      assert.match(r.json().error.message, /http_api\.max_body_size/);
    } finally {
      await composed.node.shutdown();
    }
  });

  test('admin API: a wrong password 401, the right one a token that opens the state', async () => {
    const wrong = await inject(router.handle, { method: 'POST', url: '/admin/api/login', payload: { password: 'x' } });
    assert.equal(wrong.statusCode, 401);
    const login = await inject(router.handle, { method: 'POST', url: '/admin/api/login', payload: { password: 'pw' } });
    assert.equal(login.statusCode, 200);
    const { token } = login.json() as { token: string };
    const state = await inject(router.handle, {
      method: 'GET',
      url: '/admin/api/state',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(state.statusCode, 200);
    assert.equal(state.headers['cache-control'], 'no-store');
  });

  test('health, readiness and metrics', async () => {
    const health = await inject(router.handle, { method: 'GET', url: '/health' });
    assert.deepEqual(health.json(), { status: 'ok', engine: 'ok' });
    const ready = await inject(router.handle, { method: 'GET', url: '/ready' });
    assert.equal(ready.statusCode, 200);
    const metrics = await inject(router.handle, { method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /chorus_publications_total \d+/);
  });

  test('a malformed URL is 400, an unknown path 404, on every route', async () => {
    for (const url of ['/%', '/api/%zz', '/admin/api/%']) {
      const r = await inject(router.handle, { method: 'GET', url });
      assert.equal(r.statusCode, 400, url);
      assert.equal(r.json().error.code, 107);
    }
    const r = await inject(router.handle, { method: 'GET', url: '/nowhere' });
    assert.equal(r.statusCode, 404);
  });

  test('a listener without the API, admin, metrics and health does not serve them', async () => {
    for (const url of ['/api/info', '/admin/api/state', '/metrics', '/health']) {
      const r = await inject(publicOnly.handle, { method: url.startsWith('/api') ? 'POST' : 'GET', url });
      assert.equal(r.statusCode, 404, url);
    }
  });
});
