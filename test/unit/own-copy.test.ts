import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ownCopy } from '../../src/protocol/own-copy.js';

test('ownCopy keeps the characters exactly, whatever they are', () => {
  const source = `${'x'.repeat(1000)}{"text":"héllo wörld ✓ 😀 \\u0000 \\ud800"}${'y'.repeat(1000)}`;
  const slice = source.slice(1000, source.length - 1000);
  const copy = ownCopy(slice, source.length);
  assert.equal(copy, slice);
  assert.equal(ownCopy('short', 1_000_000), 'short');
  assert.equal(ownCopy(source, source.length), source, 'most of its source: kept as it is');
});
