import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CENTRIFUGO_KEYS } from '../../src/config/centrifugo-keys.js';
import { formatDuration, parseDuration } from '../../src/config/duration.js';
import {
  ConfigError,
  defaultConfig,
  type LoadOptions,
  loadConfig,
  SUPPORTED_KEYS,
  suggestKey,
} from '../../src/config/load.js';
import { REFUSED_KEYS } from '../../src/config/refused-keys.js';

const FIXTURE = new URL('../fixtures/centrifugo-v6-config.json', import.meta.url).pathname;

const tmp = mkdtempSync(join(tmpdir(), 'chorus-config-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let fileCounter = 0;
/** Writes a config file (an object is JSON-encoded, a string written as is) and returns its path. */
function writeConfig(content: unknown): string {
  const path = join(tmp, `config-${++fileCounter}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

/** Loads a config that must fail and returns the ConfigError's problems. */
function problemsOf(opts: LoadOptions): string[] {
  try {
    loadConfig(opts);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.ok(e.problems.length > 0, 'a ConfigError lists at least one problem');
    for (const p of e.problems) assert.ok(e.message.includes(p), 'the message lists every problem');
    return e.problems;
  }
  assert.fail(`expected loadConfig(${JSON.stringify(opts)}) to throw a ConfigError`);
}

/** Asserts that exactly one problem is reported and that it matches every pattern. */
function assertOneProblem(opts: LoadOptions, ...patterns: (RegExp | string)[]): string {
  const problems = problemsOf(opts);
  assert.equal(problems.length, 1, `expected one problem, got ${JSON.stringify(problems)}`);
  const problem = problems[0] as string;
  for (const p of patterns) {
    if (typeof p === 'string') assert.ok(problem.includes(p), `${JSON.stringify(problem)} should mention ${p}`);
    else assert.match(problem, p);
  }
  return problem;
}

describe('parseDuration', () => {
  test('parses Go duration notation to milliseconds', () => {
    const cases: [string, number][] = [
      ['25s', 25_000],
      ['1m30s', 90_000],
      ['720h', 2_592_000_000],
      ['500ms', 500],
      ['1.5h', 5_400_000],
      ['0', 0],
      ['0s', 0],
      ['1h30m', 5_400_000],
      ['2h45m10s500ms', 9_910_500],
      ['.5s', 500],
      ['1500us', 1.5],
      ['1500µs', 1.5],
      ['2000000ns', 2],
      [' 25s ', 25_000],
      ['+3s', 3000],
      ['-5s', -5000],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, `parseDuration(${JSON.stringify(text)})`);
  });

  test('rejects text that is not a duration', () => {
    for (const text of ['', '   ', '10', '5x', '25 seconds', 's', '-', '1h 30m', '1.5', 'h1', '1d', '1e3s', 'abc']) {
      assert.throws(() => parseDuration(text), Error, `parseDuration(${JSON.stringify(text)}) should throw`);
    }
  });

  test('error messages quote the offending text', () => {
    assert.throws(() => parseDuration('5x'), /"5x"/);
    assert.throws(() => parseDuration('10'), /"10"/);
    assert.throws(() => parseDuration(''), /empty duration/);
  });

  test('formatDuration writes the largest whole unit', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(25_000), '25s');
    assert.equal(formatDuration(90_000), '90s');
    assert.equal(formatDuration(120_000), '2m');
    assert.equal(formatDuration(2_592_000_000), '720h');
    assert.equal(formatDuration(1500), '1500ms');
    for (const ms of [0, 500, 25_000, 90_000, 5_400_000, 2_592_000_000]) {
      assert.equal(parseDuration(formatDuration(ms)), ms, `round trip of ${ms} ms`);
    }
  });
});

describe('defaults', () => {
  test('an empty configuration gets Centrifugo-compatible defaults', () => {
    const { config, warnings, sources } = loadConfig({});
    assert.deepEqual(warnings, []);
    assert.deepEqual(sources, []);

    assert.equal(config.http_server.port, 8000);
    assert.equal(config.http_server.address, '');
    assert.equal(config.log.level, 'info');
    assert.equal(config.engine.type, 'memory');

    assert.equal(config.client.insecure, false);
    assert.deepEqual(config.client.allowed_origins, []);
    assert.equal(config.client.ping_interval, 25_000);
    assert.equal(config.client.pong_timeout, 8000);
    assert.equal(config.client.expired_close_delay, 25_000);
    assert.equal(config.client.expired_sub_close_delay, 25_000);
    assert.equal(config.client.presence_update_interval, 27_000);
    assert.equal(config.client.stale_close_delay, 10_000);
    assert.equal(config.client.channel_limit, 128);
    assert.equal(config.client.queue_max_size, 1_048_576);
    assert.equal(config.client.connection_limit, 0);
    assert.equal(config.client.user_connection_limit, 0);
    assert.equal(config.client.history_max_publication_limit, 300);
    assert.equal(config.client.recovery_max_publication_limit, 300);
    assert.equal(config.client.allow_anonymous_connect_without_token, false);
    assert.equal(config.client.command_rate_limit, 1000);
    assert.equal(config.client.command_rate_burst, 10000);
    assert.deepEqual(config.client.token, {
      hmac_secret_key: '',
      rsa_public_key: '',
      ecdsa_public_key: '',
      jwks_public_endpoint: '',
      audience: '',
      audience_regex: '',
      issuer: '',
      issuer_regex: '',
    });
    assert.equal(config.client.subscription_token.enabled, false);
    assert.equal(config.client.subscription_token.hmac_secret_key, '');

    assert.equal(config.websocket.message_size_limit, 65_536);
    assert.equal(config.websocket.write_timeout, 1000);
    assert.equal(config.websocket.compression, false);

    assert.equal(config.channel.max_length, 255);
    assert.equal(config.channel.private_prefix, '$');
    assert.equal(config.channel.namespace_boundary, ':');
    assert.equal(config.channel.user_boundary, '#');
    assert.equal(config.channel.user_separator, ',');
    assert.equal(config.channel.history_meta_ttl, 2_592_000_000);
    assert.deepEqual(config.channel.namespaces, []);
    const wn = config.channel.without_namespace;
    assert.equal(wn.presence, false);
    assert.equal(wn.history_size, 0);
    assert.equal(wn.history_ttl, 0);
    assert.equal(wn.force_recovery, false);
    assert.equal(wn.allow_subscribe_for_client, false);
    assert.equal(wn.channel_regex, '');
  });

  test('defaultConfig equals the result of loading nothing', () => {
    assert.deepEqual(defaultConfig, loadConfig().config);
  });

  test('loadConfig does not read process.env by itself', () => {
    process.env.CHORUS_HTTP_SERVER_PORT = '9999';
    process.env.CENTRIFUGO_CLIENT_INSECURE = 'true';
    try {
      const { config } = loadConfig({});
      assert.equal(config.http_server.port, 8000);
      assert.equal(config.client.insecure, false);
    } finally {
      delete process.env.CHORUS_HTTP_SERVER_PORT;
      delete process.env.CENTRIFUGO_CLIENT_INSECURE;
    }
  });

  test('SUPPORTED_KEYS lists leaf paths, namespace keys with []', () => {
    assert.ok(SUPPORTED_KEYS.includes('http_server.port'), "SUPPORTED_KEYS.includes('http_server.port')");
    assert.ok(
      SUPPORTED_KEYS.includes('client.token.hmac_secret_key'),
      "SUPPORTED_KEYS.includes('client.token.hmac_secret_key')",
    );
    assert.ok(
      SUPPORTED_KEYS.includes('channel.without_namespace.history_ttl'),
      "SUPPORTED_KEYS.includes('channel.without_namespace.history_ttl')",
    );
    assert.ok(
      SUPPORTED_KEYS.includes('channel.namespaces[].name'),
      "SUPPORTED_KEYS.includes('channel.namespaces[].name')",
    );
    assert.ok(!SUPPORTED_KEYS.includes('client.token'), 'sections are not leaves');
    assert.ok(!SUPPORTED_KEYS.includes('grpc_api.enabled'), 'an unsupported Centrifugo key is not listed');
  });
});

describe('Centrifugo v6 config.json', () => {
  test('supported keys take effect', () => {
    const { config, sources } = loadConfig({ file: FIXTURE });
    assert.deepEqual(sources, [`file ${FIXTURE}`]);
    assert.equal(config.http_server.port, 8010);
    assert.equal(config.log.level, 'debug');
    assert.equal(config.engine.type, 'memory');
    assert.equal(config.client.token.hmac_secret_key, 'f95bf295-bee6-4015-b7d4-0f0d0c9a7bd4');
    assert.deepEqual(config.client.allowed_origins, ['https://app.example.com', 'http://localhost:3000']);
    assert.equal(config.client.insecure, false);
    assert.equal(config.client.ping_interval, 20_000);
    assert.equal(config.client.pong_timeout, 5000);
    assert.equal(config.client.channel_limit, 64);
    // Keys the file leaves out keep their defaults.
    assert.equal(config.client.queue_max_size, 1_048_576);
    assert.equal(config.websocket.message_size_limit, 65_536);

    const wn = config.channel.without_namespace;
    assert.equal(wn.presence, true);
    assert.equal(wn.join_leave, true);
    assert.equal(wn.history_size, 10);
    assert.equal(wn.history_ttl, 300_000);
    assert.equal(wn.force_recovery, true);
    assert.equal(wn.allow_subscribe_for_client, true);
    assert.equal(wn.allow_publish_for_client, false);

    assert.equal(config.channel.namespaces.length, 2);
    const [chat, notifications] = config.channel.namespaces;
    assert.equal(chat?.name, 'chat');
    assert.equal(chat?.allow_subscribe_for_client, true);
    assert.equal(chat?.allow_publish_for_subscriber, true);
    assert.equal(chat?.allow_history_for_subscriber, true);
    assert.equal(chat?.presence, true);
    assert.equal(chat?.history_size, 100);
    assert.equal(chat?.history_ttl, 3_600_000);
    assert.equal(chat?.force_recovery, true);
    assert.equal(chat?.join_leave, false);
    assert.equal(notifications?.name, 'notifications');
    assert.equal(notifications?.allow_user_limited_channels, true);
    assert.equal(notifications?.presence, false);
  });

  test('real Centrifugo keys Chorus does not support are warnings naming the key, not errors', () => {
    const { config, warnings } = loadConfig({ file: FIXTURE });
    const expected = ['admin.web_path', 'prometheus.instrument_http_handlers', 'client.token.user_id_claim'];
    expected.push('channel.namespaces[0].force_recovery_mode');
    for (const key of expected) {
      assert.ok(
        warnings.some((w) => w.includes(`"${key}"`) && /not support/.test(w)),
        `a warning names ${key}: ${JSON.stringify(warnings)}`,
      );
    }
    assert.equal(warnings.length, expected.length, JSON.stringify(warnings));
    // The unsupported keys are dropped, not carried into the config.
    assert.equal(config.http_api.key, 'e7a9c3b2-3f0f-4a4c-9a52-16b0f0c6a5d1');
    assert.equal(config.admin.enabled, true);
    assert.ok(!('web_path' in config.admin), "!('web_path' in config.admin)");
    assert.ok(!('user_id_claim' in config.client.token), "!('user_id_claim' in config.client.token)");
    assert.ok(
      !('force_recovery_mode' in (config.channel.namespaces[0] as object)),
      "!('force_recovery_mode' in (config.channel.namespaces[0] as object))",
    );
  });

  test('a nested unsupported key warns with its full path', () => {
    const file = writeConfig({
      client: { insecure_skip_token_signature_verify: true },
      websocket: { read_buffer_size: 4 },
    });
    const { warnings } = loadConfig({ file });
    assert.equal(warnings.length, 2, JSON.stringify(warnings));
    assert.ok(
      warnings.some((w) => w.includes('"client.insecure_skip_token_signature_verify"')),
      'warnings.some((w) => w.includes(\'"client.insecure_skip_token_signature_verif...',
    );
    assert.ok(
      warnings.some((w) => w.includes('"websocket.read_buffer_size"')),
      'warnings.some((w) => w.includes(\'"websocket.read_buffer_size"\'))',
    );
  });

  test('a typo in an otherwise valid v6 config fails and names the key', () => {
    const file = writeConfig({
      http_server: { port: 8010 },
      client: { ping_intervall: '20s' },
      http_api: { key: 'k' },
    });
    assertOneProblem({ file }, '"client.ping_intervall"', 'did you mean "client.ping_interval"?');
  });
});

describe('config file errors', () => {
  test('a missing file is a ConfigError naming the path', () => {
    const missing = join(tmp, 'does-not-exist.json');
    assertOneProblem({ file: missing }, 'cannot read config file', missing);
  });

  test('invalid JSON is a ConfigError naming the path', () => {
    const file = writeConfig('{ "http_server": { "port": 8000, } }');
    assertOneProblem({ file }, 'not valid JSON', file);
  });

  test('a file that is not a JSON object is rejected', () => {
    assertOneProblem({ file: writeConfig('[1, 2]') }, 'must hold an object');
    assertOneProblem({ file: writeConfig('null') }, 'must hold an object');
  });
});

describe('unknown keys', () => {
  test('a typo fails with the key and a suggestion', () => {
    assertOneProblem(
      { file: writeConfig({ client: { ping_intervall: '10s' } }) },
      'unknown config key "client.ping_intervall"',
      'did you mean "client.ping_interval"?',
    );
    assertOneProblem(
      { file: writeConfig({ channel: { without_namespace: { presense: true } } }) },
      '"channel.without_namespace.presense"',
      'did you mean "channel.without_namespace.presence"?',
    );
    assertOneProblem(
      { file: writeConfig({ client: { token: { hmac_secret: 'x' } } }) },
      '"client.token.hmac_secret"',
      'did you mean "client.token.hmac_secret_key"?',
    );
  });

  test('a typo inside a namespace names the namespace by index', () => {
    const file = writeConfig({
      channel: { namespaces: [{ name: 'a1' }, { name: 'b1', allow_subscribe_for_clients: true }] },
    });
    assertOneProblem(
      { file },
      'unknown config key "channel.namespaces[1].allow_subscribe_for_clients"',
      'did you mean "channel.namespaces[].allow_subscribe_for_client"?',
    );
  });

  test('a misspelt section suggests the section', () => {
    assertOneProblem(
      { file: writeConfig({ client: { tokn: { hmac_secret_key: 'secret' } } }) },
      'unknown config key "client.tokn"',
      /did you mean "client\.token(\.hmac_secret_key)?"\?/,
    );
  });

  test('a key far from every known key is reported without a suggestion', () => {
    const problem = assertOneProblem(
      { file: writeConfig({ zzzzzzzzzzzzzz: 1 }) },
      'unknown config key "zzzzzzzzzzzzzz"',
    );
    assert.doesNotMatch(problem, /did you mean/);
  });

  test('every unknown key is reported at once', () => {
    const problems = problemsOf({ file: writeConfig({ client: { ping_intervall: '10s', pong_timeot: '5s' } }) });
    assert.equal(problems.length, 2, JSON.stringify(problems));
    assert.ok(
      problems.some((p) => p.includes('"client.ping_intervall"')),
      'problems.some((p) => p.includes(\'"client.ping_intervall"\'))',
    );
    assert.ok(
      problems.some((p) => p.includes('"client.pong_timeot"') && p.includes('"client.pong_timeout"')),
      'problems.some((p) => p.includes(\'"client.pong_timeot"\') && p.includes(\'"cl...',
    );
  });

  test('Centrifugo v5 flat keys suggest their v6 nested names', () => {
    assertOneProblem({ file: writeConfig({ allowed_origins: ['*'] }) }, 'did you mean "client.allowed_origins"?');
    assertOneProblem({ file: writeConfig({ port: 8000 }) }, 'did you mean "http_server.port"?');
    assertOneProblem(
      { file: writeConfig({ subscription_token_hmac_secret_key: 'x' }) },
      'did you mean "client.subscription_token.hmac_secret_key"?',
    );
    assert.equal(suggestKey('ping_interval'), 'client.ping_interval');
  });

  test('v5 token_hmac_secret_key suggests client.token.hmac_secret_key', () => {
    assertOneProblem(
      { file: writeConfig({ token_hmac_secret_key: 'secret' }) },
      'unknown config key "token_hmac_secret_key"',
      'did you mean "client.token.hmac_secret_key"?',
    );
    assert.equal(suggestKey('token_rsa_public_key'), 'client.token.rsa_public_key');
  });

  test('v5 top-level channel options suggest channel.without_namespace', () => {
    // In Centrifugo v5 top-level channel options applied to channels without a namespace; v6 moved them to
    // channel.without_namespace.*.
    assert.equal(suggestKey('history_size'), 'channel.without_namespace.history_size');
    assert.equal(suggestKey('presence'), 'channel.without_namespace.presence');
  });

  test('unknown keys given as overrides are rejected by the schema', () => {
    assertOneProblem({ overrides: { 'http_server.prot': 1 } }, 'prot', 'http_server');
  });
});

describe('type and value errors', () => {
  test('a port given as a string fails naming http_server.port', () => {
    assertOneProblem({ file: writeConfig({ http_server: { port: 'abc' } }) }, /^http_server\.port: /, 'number');
  });

  test('out-of-range and non-integer numbers fail naming the key', () => {
    assertOneProblem({ file: writeConfig({ http_server: { port: 70000 } }) }, /^http_server\.port: /);
    assertOneProblem({ file: writeConfig({ client: { channel_limit: -1 } }) }, /^client\.channel_limit: /);
    assertOneProblem({ file: writeConfig({ client: { channel_limit: 1.5 } }) }, /^client\.channel_limit: /);
  });

  test('wrong types for booleans, lists and enums name the key', () => {
    assertOneProblem({ file: writeConfig({ client: { insecure: 'yes' } }) }, /^client\.insecure: /);
    assertOneProblem({ file: writeConfig({ client: { allowed_origins: '*' } }) }, /^client\.allowed_origins: /);
    assertOneProblem({ file: writeConfig({ log: { level: 'verbose' } }) }, /^log\.level: /);
    assertOneProblem({ file: writeConfig({ engine: { type: 'nats' } }) }, /^engine\.type: /);
    assertOneProblem({ file: writeConfig({ client: 'x' }) }, /^client: /);
  });

  test('a bad duration fails naming the key', () => {
    assertOneProblem(
      { file: writeConfig({ client: { ping_interval: '25 seconds' } }) },
      /^client\.ping_interval: /,
      '25 seconds',
    );
    assertOneProblem({ file: writeConfig({ client: { ping_interval: 25 } }) }, /^client\.ping_interval: /);
    assertOneProblem(
      { file: writeConfig({ websocket: { write_timeout: '-1s' } }) },
      /^websocket\.write_timeout: /,
      'negative',
    );
    const file = writeConfig({ channel: { namespaces: [{ name: 'chat', history_size: 10, history_ttl: '1 hour' }] } });
    assertOneProblem({ file }, /^channel\.namespaces\[0\]\.history_ttl: /);
  });
});

describe('cross-field checks', () => {
  test('pong_timeout must be less than ping_interval', () => {
    assertOneProblem({ overrides: { 'client.pong_timeout': '25s' } }, 'client.pong_timeout', 'client.ping_interval');
    assertOneProblem(
      { file: writeConfig({ client: { ping_interval: '5s', pong_timeout: '10s' } }) },
      'client.pong_timeout must be less than client.ping_interval',
    );
    assert.equal(loadConfig({ overrides: { 'client.pong_timeout': '24s' } }).config.client.pong_timeout, 24_000);
  });

  test('a zero ping_interval (pings disabled) skips the pong_timeout check', () => {
    const { config } = loadConfig({ overrides: { 'client.ping_interval': '0' } });
    assert.equal(config.client.ping_interval, 0);
    assert.equal(config.client.pong_timeout, 8000);
  });

  test('history_size needs history_ttl and vice versa', () => {
    assertOneProblem(
      { file: writeConfig({ channel: { without_namespace: { history_size: 10 } } }) },
      'channel.without_namespace.history_ttl must be set',
    );
    assertOneProblem(
      { file: writeConfig({ channel: { without_namespace: { history_ttl: '60s' } } }) },
      'channel.without_namespace.history_size must be set',
    );
    assertOneProblem(
      { file: writeConfig({ channel: { namespaces: [{ name: 'chat', history_size: 10 }] } }) },
      'channel.namespaces[0].history_ttl must be set',
    );
  });

  test('recovery needs history', () => {
    assertOneProblem(
      { file: writeConfig({ channel: { namespaces: [{ name: 'chat', force_recovery: true }] } }) },
      'channel.namespaces[0]',
      'recovery',
    );
  });

  test('duplicate namespace names fail', () => {
    const file = writeConfig({ channel: { namespaces: [{ name: 'chat' }, { name: 'news' }, { name: 'chat' }] } });
    assertOneProblem({ file }, 'channel.namespaces[2].name "chat" is used twice');
  });

  test('an invalid channel_regex fails naming the key', () => {
    assertOneProblem(
      { file: writeConfig({ channel: { namespaces: [{ name: 'chat', channel_regex: '^[a-z' }] } }) },
      'channel.namespaces[0].channel_regex is not a valid regular expression',
    );
    assertOneProblem(
      { file: writeConfig({ channel: { without_namespace: { channel_regex: '(' } } }) },
      'channel.without_namespace.channel_regex',
    );
    const ok = loadConfig({
      file: writeConfig({ channel: { namespaces: [{ name: 'chat', channel_regex: '^[a-z]+$' }] } }),
    });
    assert.equal(ok.config.channel.namespaces[0]?.channel_regex, '^[a-z]+$');
  });

  test('namespace names must match ^[-a-zA-Z0-9_.]{2,}$', () => {
    for (const name of ['chat room', 'chat:room', 'x', '', 'чат', 'a/b']) {
      assertOneProblem(
        { file: writeConfig({ channel: { namespaces: [{ name }] } }) },
        /^channel\.namespaces\[0\]\.name: /,
      );
    }
    const ok = loadConfig({ file: writeConfig({ channel: { namespaces: [{ name: 'Chat_v2.room-1' }] } }) });
    assert.equal(ok.config.channel.namespaces[0]?.name, 'Chat_v2.room-1');
  });

  test('a namespace without a name fails', () => {
    assertOneProblem(
      { file: writeConfig({ channel: { namespaces: [{ presence: true }] } }) },
      'channel.namespaces[0].name',
    );
  });
});

describe('precedence: base < file < env < overrides', () => {
  const base = { http_server: { port: 1000 }, client: { allowed_origins: ['https://base.example'], insecure: true } };
  const fileContent = { http_server: { port: 2000 }, client: { channel_limit: 10 } };
  const env = { CHORUS_HTTP_SERVER_PORT: '3000' };
  const overrides = { 'http_server.port': 4000 };

  test('each layer wins over the ones below it', () => {
    const file = writeConfig(fileContent);
    assert.equal(loadConfig({ base }).config.http_server.port, 1000);
    assert.equal(loadConfig({ base, file }).config.http_server.port, 2000);
    assert.equal(loadConfig({ base, file, env }).config.http_server.port, 3000);
    assert.equal(loadConfig({ base, file, env, overrides }).config.http_server.port, 4000);
    assert.equal(loadConfig({ base, overrides }).config.http_server.port, 4000);
  });

  test('layers merge deeply: keys a higher layer leaves out survive', () => {
    const file = writeConfig(fileContent);
    const { config, sources } = loadConfig({ base, file, env, overrides });
    assert.deepEqual(config.client.allowed_origins, ['https://base.example']);
    assert.equal(config.client.insecure, true);
    assert.equal(config.client.channel_limit, 10);
    assert.deepEqual(sources, [
      'development preset',
      `file ${file}`,
      'env CHORUS_HTTP_SERVER_PORT',
      'flag for http_server.port',
    ]);
  });

  test('undefined overrides are ignored', () => {
    const { config, sources } = loadConfig({ base, overrides: { 'http_server.port': undefined } });
    assert.equal(config.http_server.port, 1000);
    assert.deepEqual(sources, ['development preset']);
  });

  test('the file replaces arrays from the base instead of concatenating', () => {
    const file = writeConfig({ client: { allowed_origins: ['https://file.example'] } });
    assert.deepEqual(loadConfig({ base, file }).config.client.allowed_origins, ['https://file.example']);
  });

  test('inputs are not modified', () => {
    const b = { grpc_api: { enabled: true }, http_server: { port: 1 } };
    const o = { 'client.allowed_origins': ['https://x.example'] };
    const { warnings } = loadConfig({ base: b, overrides: o });
    assert.equal(warnings.length, 1);
    assert.deepEqual(b, { grpc_api: { enabled: true }, http_server: { port: 1 } });
    assert.ok(!Object.isFrozen(o['client.allowed_origins']), 'the caller’s array is not frozen');
  });
});

describe('environment variables', () => {
  test('numbers and strings from CHORUS_ and CENTRIFUGO_ variables', () => {
    const { config, sources } = loadConfig({
      env: { CHORUS_HTTP_SERVER_PORT: '9000', CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY: 'env-secret' },
    });
    assert.equal(config.http_server.port, 9000);
    assert.equal(config.client.token.hmac_secret_key, 'env-secret');
    assert.ok(sources.includes('env CHORUS_HTTP_SERVER_PORT'), "sources.includes('env CHORUS_HTTP_SERVER_PORT')");
    assert.ok(
      sources.includes('env CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY'),
      "sources.includes('env CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY')",
    );
  });

  test('booleans accept true/false, 1/0, yes/no, on/off', () => {
    for (const t of ['true', 'TRUE', '1', 'yes', 'on']) {
      assert.equal(loadConfig({ env: { CHORUS_CLIENT_INSECURE: t } }).config.client.insecure, true, t);
    }
    for (const f of ['false', '0', 'no', 'off']) {
      const cfg = loadConfig({ base: { client: { insecure: true } }, env: { CHORUS_CLIENT_INSECURE: f } }).config;
      assert.equal(cfg.client.insecure, false, f);
    }
    const wn = loadConfig({ env: { CHORUS_CHANNEL_WITHOUT_NAMESPACE_PRESENCE: 'true' } }).config.channel
      .without_namespace;
    assert.equal(wn.presence, true);
  });

  test('a bad boolean names the variable', () => {
    assertOneProblem(
      { env: { CHORUS_CLIENT_INSECURE: 'maybe' } },
      'environment variable CHORUS_CLIENT_INSECURE',
      'expected true or false',
      'maybe',
    );
  });

  test('lists: space/comma separated or a JSON array', () => {
    const origins = ['https://a.example', 'https://b.example', 'http://localhost:*'];
    for (const text of [
      'https://a.example https://b.example http://localhost:*',
      'https://a.example,https://b.example,http://localhost:*',
      ' https://a.example, https://b.example ,http://localhost:* ',
      JSON.stringify(origins),
    ]) {
      const { config } = loadConfig({ env: { CHORUS_CLIENT_ALLOWED_ORIGINS: text } });
      assert.deepEqual(config.client.allowed_origins, origins, text);
    }
    const empty = loadConfig({
      base: { client: { allowed_origins: ['*'] } },
      env: { CHORUS_CLIENT_ALLOWED_ORIGINS: '' },
    });
    assert.deepEqual(empty.config.client.allowed_origins, []);
  });

  test('a broken JSON list names the variable', () => {
    assertOneProblem(
      { env: { CHORUS_CLIENT_ALLOWED_ORIGINS: '["https://a.example"' } },
      'CHORUS_CLIENT_ALLOWED_ORIGINS',
      'JSON',
    );
  });

  test('durations', () => {
    const { config } = loadConfig({
      env: {
        CHORUS_CLIENT_PING_INTERVAL: '10s',
        CHORUS_CLIENT_PONG_TIMEOUT: '2500ms',
        CHORUS_WEBSOCKET_WRITE_TIMEOUT: '1m',
      },
    });
    assert.equal(config.client.ping_interval, 10_000);
    assert.equal(config.client.pong_timeout, 2500);
    assert.equal(config.websocket.write_timeout, 60_000);
    assertOneProblem({ env: { CHORUS_CLIENT_PING_INTERVAL: '10' } }, /^client\.ping_interval: /);
  });

  test('env durations go through the cross-field checks', () => {
    assertOneProblem({ env: { CHORUS_CLIENT_PING_INTERVAL: '5s' } }, 'client.pong_timeout must be less than');
  });

  test('namespaces as JSON', () => {
    const namespaces = [
      { name: 'chat', presence: true, history_size: 20, history_ttl: '10m' },
      { name: 'news', allow_subscribe_for_anonymous: true },
    ];
    const { config } = loadConfig({ env: { CHORUS_CHANNEL_NAMESPACES: JSON.stringify(namespaces) } });
    assert.equal(config.channel.namespaces.length, 2);
    assert.equal(config.channel.namespaces[0]?.name, 'chat');
    assert.equal(config.channel.namespaces[0]?.presence, true);
    assert.equal(config.channel.namespaces[0]?.history_ttl, 600_000);
    assert.equal(config.channel.namespaces[1]?.allow_subscribe_for_anonymous, true);
    assertOneProblem({ env: { CHORUS_CHANNEL_NAMESPACES: '[{name: chat}]' } }, 'CHORUS_CHANNEL_NAMESPACES', 'JSON');
    assertOneProblem({ env: { CHORUS_CHANNEL_NAMESPACES: '[{"name":"x y"}]' } }, /^channel\.namespaces\[0\]\.name: /);
  });

  test('env namespaces replace those of the file', () => {
    const file = writeConfig({ channel: { namespaces: [{ name: 'from_file' }] } });
    const { config } = loadConfig({ file, env: { CHORUS_CHANNEL_NAMESPACES: '[{"name":"from_env"}]' } });
    assert.deepEqual(
      config.channel.namespaces.map((n) => n.name),
      ['from_env'],
    );
  });

  test('CHORUS_ wins over CENTRIFUGO_ when both are set', () => {
    const env = {
      CHORUS_HTTP_SERVER_PORT: '7000',
      CENTRIFUGO_HTTP_SERVER_PORT: '6000',
      CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY: 'centrifugo',
      CHORUS_CLIENT_TOKEN_HMAC_SECRET_KEY: 'chorus',
    };
    const { config } = loadConfig({ env });
    assert.equal(config.http_server.port, 7000);
    assert.equal(config.client.token.hmac_secret_key, 'chorus');
    assert.equal(loadConfig({ env: { CENTRIFUGO_HTTP_SERVER_PORT: '6000' } }).config.http_server.port, 6000);
  });

  test('unrelated variables are ignored; unknown CHORUS_/CENTRIFUGO_ ones are ignored with a warning', () => {
    const { config, sources, warnings } = loadConfig({
      env: { PATH: '/usr/bin', CHORUS_NOT_A_KEY: '1', CENTRIFUGO_GRPC_API_KEY: 'k', HTTP_SERVER_PORT: '1' },
    });
    assert.equal(config.http_server.port, 8000);
    assert.deepEqual(sources, []);
    assert.deepEqual(warnings, [
      'environment variable CENTRIFUGO_GRPC_API_KEY sets "grpc_api.key", a Centrifugo option Chorus does not support yet: it is ignored',
      'environment variable CHORUS_NOT_A_KEY names no config key: it is ignored',
    ]);
  });

  test('a non-numeric port from the environment fails naming the variable', () => {
    assertOneProblem({ env: { CHORUS_HTTP_SERVER_PORT: 'abc' } }, /CHORUS_HTTP_SERVER_PORT: expected a whole number/);
  });
});

describe('frozen result', () => {
  test('the loaded configuration is deeply frozen', () => {
    const { config } = loadConfig({ file: FIXTURE });
    const ns = config.channel.namespaces[0];
    assert.ok(ns, 'ns');
    for (const o of [
      config,
      config.http_server,
      config.client,
      config.client.token,
      config.client.subscription_token,
      config.client.allowed_origins,
      config.channel,
      config.channel.without_namespace,
      config.channel.namespaces,
      ns,
    ]) {
      assert.ok(Object.isFrozen(o), JSON.stringify(o).slice(0, 60));
    }
    const mutable = config as unknown as {
      http_server: { port: number };
      client: { allowed_origins: string[] };
      channel: { namespaces: { presence: boolean }[] };
    };
    assert.throws(() => {
      mutable.http_server.port = 1;
    }, TypeError);
    assert.throws(() => {
      mutable.client.allowed_origins.push('*');
    }, TypeError);
    assert.throws(() => {
      (mutable.channel.namespaces[0] as { presence: boolean }).presence = false;
    }, TypeError);
    assert.equal(config.http_server.port, 8010);
    assert.equal(config.client.allowed_origins.length, 2);
  });

  test('defaultConfig is deeply frozen and independent of loaded configs', () => {
    assert.ok(Object.isFrozen(defaultConfig), 'Object.isFrozen(defaultConfig)');
    assert.ok(Object.isFrozen(defaultConfig.client.token), 'Object.isFrozen(defaultConfig.client.token)');
    assert.ok(
      Object.isFrozen(defaultConfig.channel.without_namespace),
      'Object.isFrozen(defaultConfig.channel.without_namespace)',
    );
    loadConfig({ overrides: { 'http_server.port': 1234 } });
    assert.equal(defaultConfig.http_server.port, 8000);
  });

  test('two loads do not share state', () => {
    const a = loadConfig({ overrides: { 'client.allowed_origins': ['https://a.example'] } }).config;
    const b = loadConfig({}).config;
    assert.deepEqual(a.client.allowed_origins, ['https://a.example']);
    assert.deepEqual(b.client.allowed_origins, []);
  });
});

describe('documentation', () => {
  test('docs/configuration.md documents every supported key', async () => {
    const { readFileSync } = await import('node:fs');
    const { SUPPORTED_KEYS } = await import('../../src/config/load.js');
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const missing = SUPPORTED_KEYS.filter((k) => {
      const leaf =
        k.startsWith('channel.namespaces[].') ||
        k.startsWith('channel.without_namespace.') ||
        k.startsWith('rpc.namespaces[].');
      const name = leaf ? k.slice(k.lastIndexOf('.') + 1) : k;
      return !doc.includes(`\`${name}\``);
    });
    assert.deepEqual(missing, []);
  });
});

/** A config object setting one key path ("a.b[].c") to a value; array entries get a name (namespaces need one). */
function configWith(path: string, value: unknown): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let cur = root;
  const parts = path.split('.');
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    if (part.endsWith('[]')) {
      const entry: Record<string, unknown> = { name: 'entry' };
      cur[part.slice(0, -2)] = [entry];
      cur = entry;
    } else if (last) cur[part] = value;
    else {
      const next: Record<string, unknown> = {};
      cur[part] = next;
      cur = next;
    }
  });
  return root;
}

/** A value that switches a refused key on. */
function onValue(when: string): unknown {
  if (when === 'bool') return true;
  if (when === 'list') return ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'];
  if (when === 'proxy_name') return 'billing';
  if (when === 'claim') return 'user_id';
  return 'some-value';
}

describe('unsupported Centrifugo keys that are unsafe to ignore refuse to start', () => {
  test('every refused key is a real Centrifugo key that Chorus does not support', () => {
    for (const r of REFUSED_KEYS) {
      assert.ok(CENTRIFUGO_KEYS.has(r.key), `${r.key} is in the Centrifugo catalogue`);
      assert.ok(!SUPPORTED_KEYS.includes(r.key), `${r.key} is not supported (it would not be refused otherwise)`);
    }
  });

  test('each one, switched on in a file, is an error naming the key and the alternative', () => {
    for (const r of REFUSED_KEYS) {
      const file = writeConfig(configWith(r.key, onValue(r.when)));
      const display = r.key.replace(/\[\]/g, '[0]');
      assertOneProblem({ file }, `"${display}"`, 'is not supported', 'Instead:', r.instead);
    }
  });

  test('the cases of the issue: Redis Cluster, Sentinel TLS, a NATS broker, a named proxy, another user ID claim', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [
        { engine: { type: 'redis', redis: { cluster_address: ['redis://10.0.0.1:7000'] } } },
        'engine.redis.cluster_address',
        /Redis Cluster is not supported yet.*Instead: list standalone Redis servers in engine\.redis\.address/,
      ],
      [
        { engine: { redis: { sentinel_tls: { enabled: true } } } },
        'engine.redis.sentinel_tls.enabled',
        /plain text.*Instead: reach the sentinels over a private network/,
      ],
      [
        { broker: { enabled: true, type: 'nats', nats: { url: 'nats://10.0.0.5:4222' } } },
        'broker.enabled',
        /separate broker.*engine\.type "redis"/,
      ],
      [
        { channel: { namespaces: [{ name: 'billing', publish_proxy_name: 'billing-backend' }] } },
        'channel.namespaces[0].publish_proxy_name',
        /named proxies are not implemented/,
      ],
      [{ client: { token: { user_id_claim: 'uid' } } }, 'client.token.user_id_claim', /"sub" claim only/],
    ];
    for (const [content, key, re] of cases) assertOneProblem({ file: writeConfig(content) }, `"${key}"`, re);
  });

  test('switched off, or left at Centrifugo’s default, they only warn', () => {
    const file = writeConfig({
      http_server: { tls_autocert: { enabled: false } },
      engine: { redis: { cluster_address: [] } },
      broker: { enabled: false, type: 'nats' },
      client: { token: { user_id_claim: 'sub' } },
      channel: { without_namespace: { publish_proxy_name: 'default' } },
      rpc: { namespaces: [{ name: 'app', proxy_enabled: false, proxy_name: 'default' }] },
    });
    const { warnings } = loadConfig({ file });
    for (const key of [
      'http_server.tls_autocert',
      'engine.redis.cluster_address',
      'broker',
      'client.token.user_id_claim',
      'channel.without_namespace.publish_proxy_name',
      'rpc.namespaces[0].proxy_name',
    ]) {
      assert.ok(
        warnings.some((w) => w.includes(`"${key}"`)),
        `a warning names ${key}: ${JSON.stringify(warnings)}`,
      );
    }
  });

  test('harmless unsupported keys still warn (a feature simply absent)', () => {
    const file = writeConfig({ grpc_api: { enabled: true }, log: { file: '/var/log/x' }, uni_grpc: { enabled: true } });
    const { warnings } = loadConfig({ file });
    assert.equal(warnings.length, 3, JSON.stringify(warnings));
  });

  test('set through the environment (CENTRIFUGO_… as Centrifugo reads it, or CHORUS_…) they refuse too', () => {
    assertOneProblem(
      { env: { CENTRIFUGO_ENGINE_REDIS_CLUSTER_ADDRESS: 'redis://10.0.0.1:7000' } },
      '"engine.redis.cluster_address"',
      'environment variable CENTRIFUGO_ENGINE_REDIS_CLUSTER_ADDRESS',
    );
    assertOneProblem({ env: { CHORUS_BROKER_ENABLED: 'true' } }, '"broker.enabled"', 'CHORUS_BROKER_ENABLED');
    assert.doesNotThrow(() => loadConfig({ env: { CENTRIFUGO_BROKER_ENABLED: 'false' } }));
  });

  test('every refusal is reported at once, with the other errors', () => {
    const file = writeConfig({
      engine: { redis: { cluster_address: ['a:1'], sentinel_tls: { enabled: true } } },
      client: { ping_intervall: '1s' },
    });
    const problems = problemsOf({ file });
    assert.equal(problems.length, 3, JSON.stringify(problems));
  });
});

describe('personal channel namespace advice', () => {
  const personal = (options: Record<string, unknown>) => ({
    client: { subscribe_to_user_personal_channel: { enabled: true, personal_channel_namespace: 'personal' } },
    channel: { namespaces: [{ name: 'chat' }, { name: 'personal', ...options }] },
  });

  test('permissions that cannot apply to a personal channel are a warning naming them', () => {
    const { warnings } = loadConfig({
      base: personal({ allow_subscribe_for_client: true, allow_publish_for_anonymous: true, presence: true }),
    });
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(warnings[0] as string, /channel\.namespaces\[1\] \("personal"\)/);
    assert.match(
      warnings[0] as string,
      /allow_subscribe_for_client, allow_publish_for_anonymous cannot have any effect/,
    );
  });

  test('options the owner uses do not warn', () => {
    const { warnings } = loadConfig({
      base: personal({ allow_publish_for_subscriber: true, allow_history_for_subscriber: true, presence: true }),
    });
    assert.deepEqual(warnings, []);
  });

  test('without a namespace of their own, the options of other channels are not questioned', () => {
    const { warnings } = loadConfig({
      base: {
        client: { subscribe_to_user_personal_channel: { enabled: true } },
        channel: { without_namespace: { allow_subscribe_for_client: true } },
      },
    });
    assert.deepEqual(warnings, []);
  });
});

describe('connection limits per address', () => {
  test('trusted proxies are addresses or CIDR ranges; anything else names the key', () => {
    const { config } = loadConfig({
      base: { http_server: { trusted_proxies: ['10.0.0.0/8', '192.0.2.1', 'fd00::/8'] } },
    });
    assert.deepEqual(config.http_server.trusted_proxies, ['10.0.0.0/8', '192.0.2.1', 'fd00::/8']);
    for (const bad of ['10.0.0.0/33', 'proxy.internal', '10.0.0.0/8/1', '']) {
      assertOneProblem(
        { base: { http_server: { trusted_proxies: [bad] } } },
        'http_server.trusted_proxies[0]',
        'expected an IP address or a CIDR range',
      );
    }
  });

  test('limits are off by default (many users share an address behind NAT)', () => {
    const c = defaultConfig.client;
    assert.equal(c.address_connection_limit, 0);
    assert.equal(c.address_connection_rate_limit, 0);
    assert.equal(c.connection_rate_limit, 0);
  });
});

describe('demo agents advice', () => {
  test('demo pages on with no agent users: a warning says no agent can report', () => {
    const { warnings } = loadConfig({ base: { demo: { enabled: true } } });
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(warnings[0] as string, /without demo\.agent_users: no agent can report to "metrics"/);
    assert.deepEqual(loadConfig({ base: { demo: { enabled: true, agent_users: ['agent-*'] } } }).warnings, []);
    assert.deepEqual(loadConfig({ base: { demo: { enabled: false } } }).warnings, []);
  });
});
