/**
 * The seam hosts wire transports through: every kind in the list gets the upgrades and HTTP requests in order,
 * a kind that is off (its factory returns undefined) is skipped, moving the WebSocket endpoint rebuilds only its
 * kind, and closing closes them all. The real list (TRANSPORTS in src/compose.ts) is checked against the config.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { compose, TRANSPORTS } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLog } from '../../src/core/ports/log.js';
import { ClientTransports, type TransportKind } from '../../src/transport/client-transports.js';

const req = (url: string) => ({ url }) as IncomingMessage;
const res = {} as ServerResponse;
const socket = {} as Duplex;

function fakeKind(name: string, path: string, log: string[], enabled = true): TransportKind {
  return {
    name,
    create: ({ websocketPath }) => {
      if (!enabled) return undefined;
      const at = websocketPath ?? path;
      log.push(`create ${name} ${at}`);
      return {
        handleUpgrade: (r) => r.url === at,
        route: async (_r, _s, p) => p === `${at}/http`,
        served: [`${name} ${at}`],
        close: () => log.push(`close ${name} ${at}`),
      };
    },
  };
}

describe('ClientTransports', () => {
  const config = loadConfig({ base: {} }).config;

  test('upgrades and requests go to the kind that takes them; a kind that is off is skipped', async () => {
    const log: string[] = [];
    const t = new ClientTransports(
      [fakeKind('a', '/a', log), fakeKind('off', '/off', log, false), fakeKind('b', '/b', log)],
      { node: {} as never, config, codecs: new Map() },
    );
    assert.deepEqual(t.served, ['a /a', 'b /b']);
    assert.equal(t.handleUpgrade(req('/b'), socket, Buffer.alloc(0)), true);
    assert.equal(t.handleUpgrade(req('/off'), socket, Buffer.alloc(0)), false);
    assert.equal(await t.route(req('/a/http'), res, '/a/http'), true);
    assert.equal(await t.route(req('/nothing'), res, '/nothing'), false);
    t.moveWebSocket('a', '/moved');
    assert.deepEqual(t.served, ['a /moved', 'b /b'], 'only the moved kind was rebuilt');
    assert.equal(t.handleUpgrade(req('/a'), socket, Buffer.alloc(0)), false, 'the old path is no longer served');
    assert.equal(t.handleUpgrade(req('/moved'), socket, Buffer.alloc(0)), true);
    t.close();
    assert.deepEqual(log, [
      'create a /a',
      'create b /b',
      'close a /a',
      'create a /moved',
      'close a /moved',
      'close b /b',
    ]);
  });

  test('the composition root serves what the config enables, WebSocket first', async () => {
    const enabled = loadConfig({
      base: { sse: { enabled: true }, uni_http_stream: { enabled: true }, client: { insecure: true } },
    }).config;
    const { node, transports } = await compose({ config: enabled, log: silentLog });
    try {
      assert.deepEqual(transports.served, [
        'websocket /connection/websocket',
        'sse /connection/sse',
        'emulation /emulation',
        'uni_http_stream /connection/uni_http_stream',
      ]);
      assert.deepEqual(
        TRANSPORTS.map((k) => k.name),
        ['websocket', 'emulation', 'uni'],
      );
    } finally {
      transports.close();
      await node.shutdown();
    }
  });
});
