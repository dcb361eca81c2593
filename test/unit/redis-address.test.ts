/** Redis addresses in logs: a password never shows. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactAddress } from '../../src/engine/redis/shards.js';

test('a password in a Redis address is masked, the rest kept', () => {
  assert.equal(redactAddress('redis://:s3cret@10.0.0.5:6379/2'), 'redis://:***@10.0.0.5:6379/2');
  assert.equal(redactAddress('rediss://app:s3cret@redis.example.com:6380'), 'rediss://app:***@redis.example.com:6380');
  assert.equal(redactAddress('redis://10.0.0.5:6379'), 'redis://10.0.0.5:6379');
  assert.equal(redactAddress('10.0.0.5:6379'), '10.0.0.5:6379');
  assert.equal(redactAddress('redis://user@host:6379'), 'redis://user@host:6379');
  assert.ok(!redactAddress('redis://:p%40ss@host:6379').includes('p%40ss'), 'an encoded password is masked too');
});
