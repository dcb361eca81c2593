/**
 * The depth check every server API body goes through before JSON.parse (src/protocol/json-depth.ts). It once
 * crossed strings character by character: a 4 MiB body that is mostly one string took about 14 ms, as long as
 * 4 MiB of anything else; it now finds a string's closing quote with indexOf past its first 32 characters.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { nestedDeeperThan } from '../../src/protocol/json-depth.js';

/** The character-by-character scan it replaced: the reference for any input. */
function reference(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** The least CPU time of a few runs (a busy machine only ever adds to a run). */
function leastMs(f: () => void): number {
  let least = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 5; r++) {
    const before = process.cpuUsage();
    f();
    const used = process.cpuUsage(before);
    least = Math.min(least, (used.user + used.system) / 1000);
  }
  return least;
}

describe('nestedDeeperThan', () => {
  test('agrees with a character-by-character scan on any text of brackets, quotes and backslashes', () => {
    const piece = fc.oneof(
      fc.constantFrom('[', ']', '{', '}', '"', '\\', '\\\\', '\\"', 'a', ','),
      fc.string({ maxLength: 40 }),
      fc.nat(80).map((n) => 'x'.repeat(n)),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), fc.integer({ min: 0, max: 6 }), (pieces, max) => {
        const text = pieces.join('');
        assert.equal(nestedDeeperThan(text, max), reference(text, max), JSON.stringify(text));
      }),
      { numRuns: 20_000 },
    );
  });

  test('a long string is crossed far faster than characters outside strings are looked at', () => {
    const n = 4 * 1024 * 1024;
    const inString = `{"data":"${'z'.repeat(n)}"}`;
    const outside = `{"data":${' '.repeat(n)}1}`;
    assert.equal(nestedDeeperThan(inString), false);
    assert.equal(nestedDeeperThan(outside), false);
    const stringMs = leastMs(() => nestedDeeperThan(inString));
    const outsideMs = leastMs(() => nestedDeeperThan(outside));
    // Both were one loop over every character (about the same time); indexOf is some 50 times faster.
    assert.ok(
      stringMs * 5 < outsideMs,
      `4 MiB in a string: ${stringMs.toFixed(2)} ms; 4 MiB outside: ${outsideMs.toFixed(2)} ms`,
    );
  });
});
