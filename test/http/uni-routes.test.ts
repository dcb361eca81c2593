/**
 * The unidirectional HTTP endpoints as routes, without a socket (light-my-request): where they are served (the
 * listener that serves clients, only when enabled, at their handler_prefix), and every answer that ends the
 * request — refusals before a session exists, and refused connects with and without
 * `connect_code_to_http_response`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inject } from 'light-my-request';
import { HttpApi } from '../../src/api/http-api.js';
import { compose } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import type { Node } from '../../src/core/node.js';
import { silentLog } from '../../src/core/ports/log.js';
import type { Router } from '../../src/http/router.js';
import { createRouter } from '../../src/routes.js';
import type { Endpoints } from '../../src/transport/listen-plan.js';

const PUBLIC: Endpoints = { websocket: true, pages: true, api: false, admin: false, metrics: false, health: false };
const INTERNAL: Endpoints = { websocket: false, pages: false, api: true, admin: false, metrics: true, health: true };

const nodes: Node[] = [];
async function routers(extra: Record<string, unknown>): Promise<{ pub: Router; internal: Router }> {
  const config = loadConfig({ base: { client: { allow_anonymous_connect_without_token: true }, ...extra } }).config;
  const { node, transports } = await compose({ config, log: silentLog });
  nodes.push(node);
  const parts = {
    node,
    config,
    log: silentLog,
    httpApi: new HttpApi(node, config),
    connections: transports.route,
    dev: false,
  };
  return { pub: createRouter(parts, PUBLIC), internal: createRouter(parts, INTERNAL) };
}

after(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});

describe('uni routes', () => {
  let r: { pub: Router; internal: Router };
  before(async () => {
    r = await routers({
      uni_sse: { enabled: true, handler_prefix: '/sse-here' },
      uni_http_stream: {
        enabled: true,
        connect_code_to_http_response: { enabled: true, transforms: [{ code: 3500, to: { status_code: 401 } }] },
      },
    });
  });

  test('served at their handler_prefix on the clients’ listener only', async () => {
    const moved = await inject(r.pub.handle, { method: 'PUT', url: '/sse-here' });
    assert.equal(moved.statusCode, 405, 'uni_sse answers at its handler_prefix');
    const old = await inject(r.pub.handle, { method: 'PUT', url: '/connection/uni_sse' });
    assert.equal(old.statusCode, 404);
    const internal = await inject(r.internal.handle, {
      method: 'POST',
      url: '/connection/uni_http_stream',
      payload: '{}',
    });
    assert.equal(internal.statusCode, 404, 'not on the operators’ listener');
  });

  test('a disabled transport is not served', async () => {
    const off = await routers({});
    const res = await inject(off.pub.handle, { method: 'POST', url: '/connection/uni_http_stream', payload: '{}' });
    assert.equal(res.statusCode, 404);
  });

  test('a refused connect with connect_code_to_http_response: the mapped status, the reason as body', async () => {
    const res = await inject(r.pub.handle, {
      method: 'POST',
      url: '/connection/uni_http_stream',
      payload: '{"token":"not-a-jwt"}',
    });
    assert.equal(res.statusCode, 401);
    assert.equal(res.payload, 'invalid token');
  });

  test('a refused connect without it: 200, one disconnect event, then the end of the stream', async () => {
    const res = await inject(r.pub.handle, {
      method: 'GET',
      url: `/sse-here?cf_connect=${encodeURIComponent('{"token":"x"}')}`,
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.payload, 'data: {"disconnect":{"code":3500,"reason":"invalid token"}}\n\n');
  });

  test('a malformed connect request is 400 with the reason, before any session', async () => {
    const res = await inject(r.pub.handle, { method: 'POST', url: '/connection/uni_http_stream', payload: '[1]' });
    assert.equal(res.statusCode, 400);
    assert.match(res.payload, /connect request must be a JSON object/);
  });
});
