/**
 * What each port exposes. With `http_server.internal_port` the public port serves clients only (WebSocket, the
 * pages, /info) and the operators' endpoints — server API, admin, /metrics, /health, /ready — answer only on the
 * internal one, as in Centrifugo; `http_api.external` / `admin.external` bring one back outside. Metrics are off
 * unless enabled (the development preset enables them).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PublicationContext } from 'centrifuge';
import { developmentPreset } from '../../src/config/dev-preset.js';
import { loadConfig } from '../../src/config/load.js';
import { buildPages } from '../helpers/browser.js';
import { once, RawClient, sdk } from '../helpers/clients.js';
import { openChannels } from '../helpers/server.js';
import { rawRequest, type Served, serve } from './serve.js';

const KEY = 'exposure-api-key';
const ADMIN = { enabled: true, password: 'exposure-password', secret: 'exposure-secret-long-enough-for-hs256' };

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    http_api: { key: KEY },
    admin: ADMIN,
    prometheus: { enabled: true },
    demo: { enabled: true },
    client: { allow_anonymous_connect_without_token: true },
    channel: { without_namespace: openChannels() },
    ...extra,
    http_server: { internal_port: 0, ...((extra.http_server as object) ?? {}) },
  };
}

const apiCall = (base: string) =>
  rawRequest(base, '/api/publish', {
    method: 'POST',
    headers: { 'x-api-key': KEY },
    body: JSON.stringify({ channel: 'news', data: { n: 1 } }),
  });
const adminLogin = (base: string) =>
  rawRequest(base, '/admin/api/login', { method: 'POST', body: JSON.stringify({ password: ADMIN.password }) });

async function upgradeStatus(base: string): Promise<number | 'open'> {
  const c = new RawClient(`${base.replace(/^http/, 'ws')}/connection/websocket`);
  try {
    await c.opened;
    c.close();
    return 'open';
  } catch (e) {
    return Number(/HTTP (\d+)/.exec((e as Error).message)?.[1] ?? 0);
  }
}

describe('with http_server.internal_port', () => {
  let s: Served;
  before(async () => {
    buildPages();
    s = await serve(config());
  });
  after(() => s.close());

  test('the public port serves clients: WebSocket, pages, /info — and not the API, admin, metrics or health', async () => {
    assert.notEqual(s.internalUrl, undefined, 'two listeners');
    assert.notEqual(new URL(s.url).port, new URL(s.internalUrl as string).port);
    assert.equal(await upgradeStatus(s.url), 'open');
    for (const path of ['/', '/demo/chat', '/demo/monitor', '/info', '/assets/style.css', '/assets/chat.js']) {
      assert.equal((await rawRequest(s.url, path)).status, 200, `public ${path}`);
    }
    assert.equal((await apiCall(s.url)).status, 404, 'public /api/publish');
    assert.equal((await adminLogin(s.url)).status, 404, 'public /admin/api/login');
    for (const path of ['/admin', '/admin/api/state', '/metrics', '/health', '/ready', '/assets/admin.js']) {
      assert.equal((await rawRequest(s.url, path)).status, 404, `public ${path}`);
    }
  });

  test('the internal port serves the API, admin, metrics and health — and no client connections or demo pages', async () => {
    const internal = s.internalUrl as string;
    const c = sdk(`${s.url.replace(/^http/, 'ws')}/connection/websocket`);
    const sub = c.newSubscription('news');
    const got = once<PublicationContext>(sub, 'publication');
    sub.subscribe();
    c.connect();
    await once(sub, 'subscribed');
    const published = await apiCall(internal);
    assert.equal(published.status, 200, published.body);
    assert.deepEqual((await got).data, { n: 1 }, 'an API call on the internal port reaches a public client');
    c.disconnect();
    assert.equal((await adminLogin(internal)).status, 200, 'admin login');
    for (const path of ['/admin', '/metrics', '/health', '/ready', '/assets/admin.js']) {
      assert.equal((await rawRequest(internal, path)).status, 200, `internal ${path}`);
    }
    assert.equal(await upgradeStatus(internal), 404, 'no client connections on the internal port');
    for (const path of ['/demo/chat', '/demo/monitor', '/assets/chat.js']) {
      assert.equal((await rawRequest(internal, path)).status, 404, `internal ${path}`);
    }
  });

  test('http_api.external and admin.external serve those on the public port as well, as in Centrifugo', async () => {
    const ext = await serve(config({ http_api: { key: KEY, external: true }, admin: { ...ADMIN, external: true } }));
    try {
      assert.equal((await apiCall(ext.url)).status, 200, 'API outside');
      assert.equal((await adminLogin(ext.url)).status, 200, 'admin outside');
      assert.equal((await apiCall(ext.internalUrl as string)).status, 404, 'and no longer inside');
      assert.equal((await adminLogin(ext.internalUrl as string)).status, 404);
      assert.equal((await rawRequest(ext.url, '/metrics')).status, 404, 'metrics stay inside');
      assert.equal((await rawRequest(ext.internalUrl as string, '/metrics')).status, 200);
    } finally {
      await ext.close();
    }
  });

  test('without internal_port, one port serves everything (the Centrifugo default)', async () => {
    const one = await serve({ ...config(), http_server: {} });
    try {
      assert.equal(one.internalUrl, undefined);
      assert.equal((await apiCall(one.url)).status, 200);
      assert.equal((await adminLogin(one.url)).status, 200);
      assert.equal((await rawRequest(one.url, '/metrics')).status, 200);
      assert.equal((await rawRequest(one.url, '/health')).status, 200);
      assert.equal(await upgradeStatus(one.url), 'open');
    } finally {
      await one.close();
    }
  });

  test('the start-up listing says what each listener serves', () => {
    const [pub, internal] = s.server.listeners();
    assert.equal(pub?.serves, 'websocket, pages');
    assert.equal(internal?.serves, 'api, admin, metrics, health');
  });
});

describe('prometheus.enabled', () => {
  test('is off by default, as in Centrifugo: /metrics answers 404', async () => {
    const s = await serve({});
    try {
      assert.equal((await rawRequest(s.url, '/metrics')).status, 404);
    } finally {
      await s.close();
    }
  });

  test('the development preset turns it on', () => {
    assert.equal(loadConfig({}).config.prometheus.enabled, false);
    assert.equal(loadConfig({ base: developmentPreset() }).config.prometheus.enabled, true);
  });
});

describe('internal port settings', () => {
  test('internal_port takes a number or a string as in Centrifugo; a bad one is refused naming the key', () => {
    assert.equal(
      loadConfig({ base: { http_server: { internal_port: '9001' } } }).config.http_server.internal_port,
      9001,
    );
    assert.equal(loadConfig({ base: { http_server: { internal_port: 9002 } } }).config.http_server.internal_port, 9002);
    assert.equal(
      loadConfig({ env: { CENTRIFUGO_HTTP_SERVER_INTERNAL_PORT: '9003' } }).config.http_server.internal_port,
      9003,
    );
    assert.equal(loadConfig({}).config.http_server.internal_port, undefined);
    assert.throws(
      () => loadConfig({ base: { http_server: { internal_port: 'admin' } } }),
      /http_server\.internal_port: must be a port number/,
    );
    assert.throws(() => loadConfig({ base: { http_server: { internal_port: 70000 } } }), /http_server\.internal_port/);
  });

  test('internal_address defaults to address; both listeners bind only where told', async () => {
    const s = await serve({ http_server: { internal_port: 0, internal_address: '::1' } });
    try {
      const [pub, internal] = s.server.listeners();
      assert.deepEqual(
        pub?.addresses.map((a) => a.address),
        ['127.0.0.1'],
      );
      assert.deepEqual(
        internal?.addresses.map((a) => a.address),
        ['::1'],
      );
      const same = await serve({ http_server: { internal_port: 0 } });
      try {
        assert.deepEqual(
          same.server.listeners()[1]?.addresses.map((a) => a.address),
          ['127.0.0.1'],
        );
      } finally {
        await same.close();
      }
    } finally {
      await s.close();
    }
  });
});
