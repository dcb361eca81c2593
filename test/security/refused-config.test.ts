/**
 * A Centrifugo option that Chorus would have to ignore, and whose absence leaves the deployment less secure or on
 * another topology (Redis Cluster, a NATS broker, proxies Chorus does not implement, …), stops `chorus serve` and fails
 * `chorus checkconfig` with the key and the alternative; a harmless one only warns. Personal channel namespaces
 * with options that can grant nobody anything are pointed out.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

const CLI = ['--import', 'tsx', new URL('../../src/cli/run.ts', import.meta.url).pathname];
const tmp = mkdtempSync(join(tmpdir(), 'chorus-refused-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function chorus(args: string[], config: unknown) {
  const file = join(tmp, `c${++n}.json`);
  writeFileSync(file, JSON.stringify(config));
  const r = spawnSync(process.execPath, [...CLI, ...args, '--config', file], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('unsupported options that are unsafe to ignore', () => {
  test('checkconfig exits 1 naming the key and the alternative; serve refuses to start', () => {
    const cluster = { engine: { type: 'redis', redis: { cluster_address: ['10.0.0.1:7000', '10.0.0.2:7000'] } } };
    const check = chorus(['checkconfig'], cluster);
    assert.equal(check.status, 1, check.stderr);
    assert.match(check.stderr, /"engine\.redis\.cluster_address" is not supported/);
    assert.match(check.stderr, /Instead: list standalone Redis servers in engine\.redis\.address/);
    assert.doesNotMatch(check.stdout, /valid/);
    const serve = chorus(['serve', '--port', '0', '--address', '127.0.0.1'], {
      broker: { enabled: true, type: 'nats', nats: { url: 'nats://10.0.0.5:4222' } },
    });
    assert.equal(serve.status, 1, serve.stderr);
    assert.match(serve.stderr, /"broker\.enabled" is not supported.*a separate broker/);
    assert.doesNotMatch(serve.stderr, /chorus listening/);
  });

  test('a harmless unsupported option only warns, and checkconfig says the config is valid', () => {
    const r = chorus(['checkconfig'], { grpc_api: { enabled: true } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: config key "grpc_api" is a Centrifugo option Chorus does not support yet/);
    assert.match(r.stdout, /valid/);
  });

  test('checkconfig warns about personal channel namespace options that cannot apply', () => {
    const r = chorus(['checkconfig'], {
      client: { subscribe_to_user_personal_channel: { enabled: true, personal_channel_namespace: 'personal' } },
      channel: {
        namespaces: [{ name: 'personal', allow_subscribe_for_client: true, allow_history_for_anonymous: true }],
      },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: .*allow_subscribe_for_client, allow_history_for_anonymous cannot have any effect/);
  });
});
