/** The code catalogue must match the protocol document, row for row, so no code appears silently. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Disconnects, Errors, shouldReconnect, UnsubscribeCodes } from '../../src/protocol/codes.js';

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

/** Rows of the markdown table that follows `heading`: [code, message, flag]. */
function table(heading: string): Array<[number, string, string]> {
  const start = doc.indexOf(heading);
  assert.ok(start >= 0, `heading "${heading}" in docs/protocol.md`);
  const rows: Array<[number, string, string]> = [];
  let inTable = false;
  for (const line of doc.slice(start).split('\n').slice(1)) {
    if (line.startsWith('#') || (inTable && !line.startsWith('|'))) break;
    if (line.startsWith('|')) inTable = true;
    const m = /^\| (\d+) \|([^|]+)\|([^|]*)\|/.exec(line);
    if (m) rows.push([Number(m[1]), (m[2] as string).trim(), (m[3] as string).trim()]);
  }
  return rows;
}

test('reply errors match the document (code, message, temporary)', () => {
  const documented = table('### Reply errors');
  const catalogue = Object.values(Errors).map((e) => [e.code, e.message, 'temporary' in e && e.temporary ? 'yes' : '']);
  assert.deepEqual(catalogue, documented);
  assert.deepEqual(
    documented.map((r) => r[0]),
    Array.from({ length: 14 }, (_, i) => 100 + i),
  );
});

test('disconnect codes match the document, and their reconnect column follows the code ranges', () => {
  const documented = table('### Disconnect (close) codes');
  const catalogue = Object.values(Disconnects).map((d) => [d.code, d.reason, shouldReconnect(d.code) ? 'yes' : 'no']);
  assert.deepEqual(catalogue, documented);
});

test('unsubscribe codes match the document', () => {
  const documented = table('### Unsubscribe push codes');
  const catalogue = Object.values(UnsubscribeCodes).map((u) => [u.code, u.reason, u.code >= 2500 ? 'yes' : 'no']);
  assert.deepEqual(catalogue, documented);
});

test('reconnect rule: transport codes reconnect except 1009; 35xx and 45xx are terminal', () => {
  assert.equal(shouldReconnect(1006), true);
  assert.equal(shouldReconnect(1009), false);
  assert.equal(shouldReconnect(3012), true);
  assert.equal(shouldReconnect(3500), false);
  assert.equal(shouldReconnect(4000), true);
  assert.equal(shouldReconnect(4500), false);
  assert.equal(shouldReconnect(5000), true);
});

test("Chorus's own reply errors match the document", async () => {
  const { ChorusErrors } = await import('../../src/protocol/codes.js');
  const start = doc.indexOf("Chorus's own reply errors");
  assert.ok(start >= 0, 'start >= 0');
  const rows = doc
    .slice(start)
    .split('\n')
    .filter((l) => /^\| \d+ \|/.test(l))
    .slice(0, Object.keys(ChorusErrors).length + 1)
    .map((l) => l.split('|').map((c) => c.trim()))
    .filter((cells) => Number(cells[1]) >= 400 && Number(cells[1]) < 2000)
    .map((cells) => [Number(cells[1]), cells[2]]);
  assert.deepEqual(
    rows,
    Object.values(ChorusErrors).map((e) => [e.code, e.message]),
  );
});
