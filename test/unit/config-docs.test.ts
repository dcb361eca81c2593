/**
 * docs/configuration.md's key tables are written from src/config/schema.ts (scripts/config-docs.ts,
 * `npm run docs:config`): the committed file must be exactly what the schema gives, every key must have a comment
 * beside it, and no table may be broken (a blank line inside one turned its last rows into plain text).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DOC_FILE, generateConfigDocs } from '../../scripts/config-docs.js';

const doc = readFileSync(DOC_FILE, 'utf8');

describe('docs/configuration.md', () => {
  test('its tables are what `npm run docs:config` writes from the schema', () => {
    const { text, tables } = generateConfigDocs(doc);
    assert.ok(tables >= 10, `the key tables are marked for the generator (${tables} found)`);
    if (text !== doc) {
      const a = doc.split('\n');
      const b = text.split('\n');
      const line = a.findIndex((l, i) => l !== b[i]);
      assert.fail(
        `docs/configuration.md differs from the schema at line ${line + 1}: run npm run docs:config\n` +
          `  file:      ${a[line]}\n  generated: ${b[line]}`,
      );
    }
  });

  test('every key has a comment in the schema, and keys Centrifugo lacks are marked as Chorus extensions', () => {
    const { problems } = generateConfigDocs(doc);
    assert.deepEqual(problems.undocumented, [], 'keys without a comment beside them in src/config/schema.ts');
    assert.deepEqual(problems.unmarked, [], 'keys Centrifugo does not have, without "Chorus extension:"');
    assert.deepEqual(problems.homeless, [], 'keys no table takes');
  });

  test('no table is broken by a blank line: every row follows a header or another row', () => {
    const lines = doc.split('\n');
    lines.forEach((l, i) => {
      if (!l.startsWith('|') || l.startsWith('| key |')) return;
      const before = lines[i - 1] ?? '';
      assert.ok(before.startsWith('|'), `line ${i + 1} is a table row cut off from its table: ${l}`);
    });
  });
});

describe('the generator', () => {
  test('a key no table claims goes to the "*" table, and without one it is reported', () => {
    const onlyCatchAll = '# x\n\n<!-- BEGIN config-keys * -->\n<!-- END config-keys -->\n';
    const all = generateConfigDocs(onlyCatchAll);
    assert.match(all.text, /\| `client\.ping_interval` \| `25s` \|/, 'durations keep their written form');
    assert.match(all.text, /\| `node\.name` \| `""` \|/);
    assert.deepEqual(all.problems.homeless, []);
    const noCatchAll = '# x\n\n<!-- BEGIN config-keys client -->\n<!-- END config-keys -->\n';
    const some = generateConfigDocs(noCatchAll);
    assert.ok(some.problems.homeless.includes('http_server.port'), 'keys outside `client` are reported');
    assert.ok(!some.problems.homeless.includes('client.ping_interval'));
  });

  test('the longest prefix wins: client.token keys go to the tokens table, not the client one', () => {
    const twoTables =
      '<!-- BEGIN config-keys client -->\n<!-- END config-keys -->\n' +
      '<!-- BEGIN config-keys client.token -->\n<!-- END config-keys -->\n';
    const [clientTable, tokenTable] = generateConfigDocs(twoTables).text.split('<!-- BEGIN config-keys client.token');
    assert.doesNotMatch(clientTable ?? '', /client\.token\.hmac_secret_key/);
    assert.match(tokenTable ?? '', /client\.token\.hmac_secret_key/);
  });

  test('a comment removed from the schema shows as a problem, not silently as an empty meaning', () => {
    const source = readFileSync(new URL('../../src/config/schema.ts', import.meta.url), 'utf8').replace(
      '/** Port to listen on. */',
      '',
    );
    const { problems } = generateConfigDocs(doc, source);
    assert.deepEqual(problems.undocumented, ['http_server.port']);
  });
});
