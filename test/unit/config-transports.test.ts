/**
 * The HTTP-streaming, SSE and emulation keys: Centrifugo's names and defaults, and paths checked at start so a
 * transport can never take over another endpoint (each problem names its key).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';

function problems(base: Record<string, unknown>): string[] {
  try {
    loadConfig({ base });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  return [];
}

describe('http_stream, sse and emulation keys', () => {
  test("Centrifugo's defaults: off, its paths, 64 KiB bodies", () => {
    const c = loadConfig({ base: {} }).config;
    assert.deepEqual(c.http_stream, {
      enabled: false,
      handler_prefix: '/connection/http_stream',
      max_request_body_size: 65536,
    });
    assert.deepEqual(c.sse, { enabled: false, handler_prefix: '/connection/sse', max_request_body_size: 65536 });
    assert.deepEqual(c.emulation, { handler_prefix: '/emulation', max_request_body_size: 65536 });
  });

  test('an enabled transport whose path takes over another endpoint is refused, naming the key', () => {
    const [api] = problems({ sse: { enabled: true, handler_prefix: '/api/sse' } });
    assert.match(api ?? '', /sse\.handler_prefix "\/api\/sse" would take over the server API/);
    const [ws] = problems({ http_stream: { enabled: true, handler_prefix: '/connection/websocket' } });
    assert.match(ws ?? '', /http_stream\.handler_prefix .* would take over \/connection\/websocket/);
    const [admin] = problems({ http_stream: { enabled: true }, emulation: { handler_prefix: '/admin/emulation' } });
    assert.match(admin ?? '', /emulation\.handler_prefix .* would take over \/admin/);
  });

  test('two transports on one path, "/" alone, or no leading slash are refused', () => {
    const same = problems({
      sse: { enabled: true, handler_prefix: '/x' },
      http_stream: { enabled: true, handler_prefix: '/x/' },
    });
    assert.equal(same.length, 1, JSON.stringify(same));
    assert.match(same[0] ?? '', /sse\.handler_prefix and http_stream\.handler_prefix must differ/);
    assert.match(
      problems({ sse: { enabled: true, handler_prefix: '/' } })[0] ?? '',
      /sse\.handler_prefix must be a path/,
    );
    assert.match(
      problems({ sse: { enabled: true }, emulation: { handler_prefix: 'emulation' } })[0] ?? '',
      /emulation\.handler_prefix must be a path/,
    );
  });

  test('paths of disabled transports are not checked; a zero body limit is refused', () => {
    assert.deepEqual(problems({ sse: { handler_prefix: '/api' } }), []);
    assert.match(problems({ emulation: { max_request_body_size: 0 } })[0] ?? '', /emulation\.max_request_body_size/);
  });
});
