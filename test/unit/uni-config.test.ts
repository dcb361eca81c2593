/**
 * The unidirectional transports' configuration: Centrifugo's keys and defaults, validated at start with messages
 * that name the key, from a file or the environment.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, defaultConfig, loadConfig } from '../../src/config/load.js';

function problems(base: Record<string, unknown>): string[] {
  try {
    loadConfig({ base });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail(`${JSON.stringify(base)} was accepted`);
}

describe('uni transports config', () => {
  test("off by default, with Centrifugo's paths and limits", () => {
    const c = defaultConfig;
    assert.deepEqual(c.uni_websocket, {
      enabled: false,
      handler_prefix: '/connection/uni_websocket',
      message_size_limit: 65536,
      write_timeout: 1000,
      join_push_messages: false,
      disable_disconnect_push: false,
      disable_closing_handshake: false,
    });
    for (const key of ['uni_sse', 'uni_http_stream'] as const) {
      assert.equal(c[key].enabled, false);
      assert.equal(c[key].handler_prefix, `/connection/${key}`);
      assert.equal(c[key].max_request_body_size, 65536);
      assert.deepEqual(c[key].connect_code_to_http_response, { enabled: false, transforms: [] });
    }
    assert.deepEqual(c.client.connect_code_to_unidirectional_disconnect, { enabled: false, transforms: [] });
  });

  test('bad values are refused naming the key', () => {
    assert.match(
      problems({ uni_sse: { handler_prefix: 'connection/sse' } }).join(),
      /uni_sse\.handler_prefix: must be a path/,
    );
    assert.match(
      problems({ uni_http_stream: { max_request_body_size: 0 } }).join(),
      /max_request_body_size: must be at least 1/,
    );
    const transform = problems({
      uni_sse: {
        connect_code_to_http_response: { enabled: true, transforms: [{ code: 3500, to: { status_code: 42 } }] },
      },
    }).join();
    assert.match(transform, /uni_sse\.connect_code_to_http_response\.transforms\[0\]\.to\.status_code/);
    const disconnect = problems({
      client: { connect_code_to_unidirectional_disconnect: { transforms: [{ code: 103, to: { code: 200 } }] } },
    }).join();
    assert.match(disconnect, /client\.connect_code_to_unidirectional_disconnect\.transforms\[0\]\.to\.code/);
    const reason = problems({
      client: {
        connect_code_to_unidirectional_disconnect: { transforms: [{ code: 103, to: { code: 4403, reason: 'é' } }] },
      },
    }).join();
    assert.match(reason, /printable ASCII/);
  });

  test('two enabled endpoints on one path are refused', () => {
    const p = problems({
      uni_sse: { enabled: true, handler_prefix: '/stream' },
      uni_http_stream: { enabled: true, handler_prefix: '/stream' },
    }).join();
    assert.match(p, /uni_http_stream\.handler_prefix "\/stream" is already uni_sse\.handler_prefix/);
    assert.match(
      problems({ uni_websocket: { enabled: true, handler_prefix: '/connection/websocket' } }).join(),
      /already the WebSocket endpoint/,
    );
  });

  test("Centrifugo's uni_websocket keys Chorus does not implement start with a warning, not an error", () => {
    const { config, warnings } = loadConfig({
      base: { uni_websocket: { enabled: true, compression: true, read_buffer_size: 1024 } },
    });
    assert.equal(config.uni_websocket.enabled, true);
    assert.equal(warnings.length, 2, JSON.stringify(warnings));
    assert.ok(
      warnings.every((w) => /uni_websocket\.(compression|read_buffer_size).*not support/.test(w)),
      JSON.stringify(warnings),
    );
  });

  test('the environment sets them too (CHORUS_ and CENTRIFUGO_ prefixes), transforms as JSON', () => {
    const { config } = loadConfig({
      env: {
        CENTRIFUGO_UNI_SSE_ENABLED: 'true',
        CHORUS_UNI_HTTP_STREAM_CONNECT_CODE_TO_HTTP_RESPONSE_TRANSFORMS: '[{"code":109,"to":{"status_code":401}}]',
        CHORUS_UNI_WEBSOCKET_WRITE_TIMEOUT: '3s',
      },
    });
    assert.equal(config.uni_sse.enabled, true);
    assert.deepEqual(config.uni_http_stream.connect_code_to_http_response.transforms, [
      { code: 109, to: { status_code: 401, body: '' } },
    ]);
    assert.equal(config.uni_websocket.write_timeout, 3000);
  });
});
