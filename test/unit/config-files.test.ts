/** Config files in JSON, YAML and TOML (picked by extension), and warnings about unknown environment variables. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify as toTOML } from 'smol-toml';
import { stringify as toYAML } from 'yaml';
import { ConfigError, type LoadOptions, loadConfig } from '../../src/config/load.js';

const FORMATS = new URL('../fixtures/formats/', import.meta.url).pathname;
const V6_FIXTURE = new URL('../fixtures/centrifugo-v6-config.json', import.meta.url).pathname;

const tmp = mkdtempSync(join(tmpdir(), 'chorus-config-files-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

function problemsOf(opts: LoadOptions): string[] {
  try {
    loadConfig(opts);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('config file formats', () => {
  test('the same config written in JSON, YAML and TOML loads to the same settings', () => {
    const json = loadConfig({ file: join(FORMATS, 'chat.json') });
    const yaml = loadConfig({ file: join(FORMATS, 'chat.yaml') });
    const toml = loadConfig({ file: join(FORMATS, 'chat.toml') });
    assert.deepEqual(yaml.config, json.config);
    assert.deepEqual(toml.config, json.config);
    // The values really came from the files (not all three falling back to the defaults).
    assert.equal(json.config.http_server.port, 8100);
    assert.equal(json.config.client.ping_interval, 20_000);
    assert.deepEqual(json.config.engine.redis.address, ['redis://10.0.0.1:6379', 'redis://10.0.0.2:6379']);
    assert.deepEqual(
      json.config.channel.namespaces.map((ns) => [ns.name, ns.history_ttl, ns.presence]),
      [
        ['chat', 300_000, true],
        ['news', 0, false],
      ],
    );
    for (const { warnings } of [json, yaml, toml]) {
      assert.deepEqual(warnings, [
        'config key "grpc_api" is a Centrifugo option Chorus does not support yet: it is ignored',
      ]);
    }
  });

  test('Centrifugo v6 sample config converted to YAML and TOML gives the same settings and warnings', () => {
    const raw = JSON.parse(readFileSync(V6_FIXTURE, 'utf8')) as Record<string, unknown>;
    const json = loadConfig({ file: V6_FIXTURE });
    const yaml = loadConfig({ file: write('v6.yml', toYAML(raw)) });
    const toml = loadConfig({ file: write('v6.toml', toTOML(raw)) });
    assert.deepEqual(yaml.config, json.config);
    assert.deepEqual(toml.config, json.config);
    assert.deepEqual(yaml.warnings, json.warnings);
    assert.deepEqual(toml.warnings, json.warnings);
  });

  test('the extension picks the parser, in any case; an unknown one says which are read', () => {
    const upper = join(tmp, 'CHAT.YAML');
    copyFileSync(join(FORMATS, 'chat.yaml'), upper);
    assert.equal(loadConfig({ file: upper }).config.http_server.port, 8100);
    // YAML text in a .json file is read as JSON, and fails as JSON.
    const wrong = join(tmp, 'yaml-in.json');
    copyFileSync(join(FORMATS, 'chat.yaml'), wrong);
    assert.match(problemsOf({ file: wrong })[0] as string, /is not valid JSON/);
    for (const name of ['config.conf', 'config']) {
      const p = write(name, '{}');
      assert.match(
        problemsOf({ file: p })[0] as string,
        new RegExp(`config file ${p}: the extension must say its format: .json, .yaml, .yml, .toml`),
      );
    }
  });

  test('syntax errors name the file, the format and the line', () => {
    const yaml = write('bad.yaml', 'client:\n  token:\n    hmac_secret_key: x\n   audience: [\n');
    const [y] = problemsOf({ file: yaml });
    assert.match(y as string, new RegExp(`config file ${yaml} is not valid YAML: .*line \\d+, column \\d+`, 's'));
    const dup = write('dup.yaml', 'log:\n  level: info\nlog:\n  level: debug\n');
    assert.match(problemsOf({ file: dup })[0] as string, /not valid YAML: Map keys must be unique at line 3/);
    const toml = write('bad.toml', '[client]\nping_interval = 25s\n');
    assert.match(problemsOf({ file: toml })[0] as string, /is not valid TOML: .*2:\s+ping_interval = 25s/s);
  });

  test('YAML is read as YAML 1.2: "yes" is text, and the schema names the key it does not fit', () => {
    const p = write('yes.yaml', 'client:\n  insecure: yes\n');
    assert.match(problemsOf({ file: p })[0] as string, /^client\.insecure: .*boolean/);
    const ok = write('true.yaml', 'client:\n  insecure: true\n');
    assert.equal(loadConfig({ file: ok }).config.client.insecure, true);
  });

  test('typos are reported the same way in every format', () => {
    const yaml = write('typo.yaml', 'client:\n  ping_intervall: 10s\n');
    const toml = write('typo.toml', '[client]\nping_intervall = "10s"\n');
    for (const file of [yaml, toml]) {
      assert.deepEqual(problemsOf({ file }), [
        'unknown config key "client.ping_intervall" — did you mean "client.ping_interval"?',
      ]);
    }
  });

  test('an empty YAML or TOML file is an empty config; a list or a value at the top is an error', () => {
    assert.equal(loadConfig({ file: write('empty.yaml', '# nothing yet\n') }).config.http_server.port, 8000);
    assert.equal(loadConfig({ file: write('empty.toml', '') }).config.http_server.port, 8000);
    assert.match(problemsOf({ file: write('list.yaml', '- a\n- b\n') })[0] as string, /must hold an object/);
    assert.match(problemsOf({ file: write('value.json', '42') })[0] as string, /must hold an object/);
  });

  test('a TOML date where a string belongs is a schema error naming the key', () => {
    const p = write('date.toml', '[client.token]\nhmac_secret_key = 1979-05-27\n');
    assert.match(problemsOf({ file: p })[0] as string, /^client\.token\.hmac_secret_key: /);
  });
});

describe('environment variables that name no key', () => {
  const warningsFor = (env: Record<string, string>) => loadConfig({ env }).warnings;

  test('a misspelt CHORUS_ or CENTRIFUGO_ variable warns with the variable it was probably meant to be', () => {
    assert.deepEqual(warningsFor({ CHORUS_HTTP_SERVER_PORTT: '9000' }), [
      'environment variable CHORUS_HTTP_SERVER_PORTT names no config key: it is ignored — did you mean CHORUS_HTTP_SERVER_PORT ("http_server.port")?',
    ]);
    assert.deepEqual(warningsFor({ CENTRIFUGO_ADMIN_PASWORD: 'x' }), [
      'environment variable CENTRIFUGO_ADMIN_PASWORD names no config key: it is ignored — did you mean CENTRIFUGO_ADMIN_PASSWORD ("admin.password")?',
    ]);
  });

  test("Centrifugo v5's flat names point to the v6 variable", () => {
    assert.deepEqual(warningsFor({ CENTRIFUGO_TOKEN_HMAC_SECRET_KEY: 's' }), [
      'environment variable CENTRIFUGO_TOKEN_HMAC_SECRET_KEY names no config key: it is ignored — did you mean CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY ("client.token.hmac_secret_key")?',
    ]);
  });

  test('a Centrifugo option Chorus does not support yet is named as such', () => {
    assert.deepEqual(warningsFor({ CENTRIFUGO_GRPC_API_ENABLED: 'true' }), [
      'environment variable CENTRIFUGO_GRPC_API_ENABLED sets "grpc_api.enabled", a Centrifugo option Chorus does not support yet: it is ignored',
    ]);
  });

  test('an unsafe Centrifugo option set through a variable refuses to start, as it does in a file', () => {
    // Listener keys (listener-keys.ts): automatic certificates are not built in, so ignoring them would serve
    // plain HTTP where HTTPS was asked for.
    const problems = problemsOf({ env: { CENTRIFUGO_HTTP_SERVER_TLS_AUTOCERT_ENABLED: 'true' } });
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.match(
      problems[0] as string,
      /^environment variable CENTRIFUGO_HTTP_SERVER_TLS_AUTOCERT_ENABLED: http_server\.tls_autocert .*not built into Chorus.*certbot/,
    );
    // Refused keys (refused-keys.ts) refuse through either prefix, and switched off they only warn.
    assert.match(problemsOf({ env: { CHORUS_BROKER_ENABLED: 'true' } }).join('\n'), /"broker\.enabled".*not safe/);
    assert.deepEqual(warningsFor({ CENTRIFUGO_HTTP_SERVER_TLS_AUTOCERT_ENABLED: 'false' }), [
      'environment variable CENTRIFUGO_HTTP_SERVER_TLS_AUTOCERT_ENABLED sets "http_server.tls_autocert.enabled", a Centrifugo option Chorus does not support yet: it is ignored',
    ]);
    // A client-side TLS key has no effect on a listener: the warning says so, as for the file.
    assert.deepEqual(warningsFor({ CHORUS_HTTP_SERVER_TLS_SERVER_NAME: 'example.com' }), [
      'environment variable CHORUS_HTTP_SERVER_TLS_SERVER_NAME: config key "http_server.tls.server_name" only applies to outgoing TLS connections: a listener ignores it (as Centrifugo\'s does); use client_ca_pem to verify clients',
    ]);
  });

  test('a variable with no near key warns without a guess', () => {
    assert.deepEqual(warningsFor({ CHORUS_SOMETHING_ELSE_ENTIRELY: '1' }), [
      'environment variable CHORUS_SOMETHING_ELSE_ENTIRELY names no config key: it is ignored',
    ]);
  });

  test('known keys, Kubernetes service links and Chorus tool variables do not warn; other prefixes are not ours', () => {
    assert.deepEqual(
      warningsFor({
        CHORUS_HTTP_SERVER_PORT: '9000',
        CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY: 'k',
        CHORUS_CHANNEL_NAMESPACES: '[]',
        CHORUS_PORT: 'tcp://10.0.0.1:8000',
        CHORUS_PORT_8000_TCP_ADDR: '10.0.0.1',
        CENTRIFUGO_SERVICE_HOST: '10.0.0.1',
        CHORUS_AGENT_TOKEN: 't',
        CHORUSX_WHATEVER: '1',
        PATH: '/usr/bin',
      }),
      [],
    );
  });

  test('the variable is still ignored: the setting keeps its default', () => {
    const { config } = loadConfig({ env: { CHORUS_HTTP_SERVER_PORTT: '9000' } });
    assert.equal(config.http_server.port, 8000);
  });
});
