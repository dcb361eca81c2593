/**
 * Writes the key tables of docs/configuration.md from src/config/schema.ts, so they cannot drift: every supported
 * key, its default (from the schema itself) and its meaning (the comment beside the field in schema.ts).
 *
 *   npm run docs:config            rewrite the tables in place
 *   npm run docs:config -- --check exit 1 when the file is not what the schema gives (what the test does)
 *
 * Tables sit between markers naming the key prefixes they hold:
 *
 *   <!-- BEGIN config-keys http_server node log -->   …   <!-- END config-keys -->
 *
 * A key goes to the table with the longest matching prefix; `channel-options` is the table of a namespace's
 * options, `*` takes every key no other table claims (so a key added anywhere is documented at once; move it
 * by editing the markers). Keys Centrifugo does not have (src/config/centrifugo-keys.ts) must say "Chorus
 * extension" in their comment or their section's; they are marked so in the table.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { CENTRIFUGO_KEYS } from '../src/config/centrifugo-keys.js';
import { channelOptionsShape, configSchema } from '../src/config/schema.js';

const ROOT = new URL('../', import.meta.url);
export const SCHEMA_FILE = fileURLToPath(new URL('src/config/schema.ts', ROOT));
export const DOC_FILE = fileURLToPath(new URL('docs/configuration.md', ROOT));

const BEGIN = /<!-- BEGIN config-keys ([^>]*?) -->\n[\s\S]*?<!-- END config-keys -->/g;
const OPTIONS_TABLE = 'channel-options';
/** Object keys documented as one row (their fields are the channel options table). */
const OPTION_HOLDERS = new Set(['channel.without_namespace']);
const EXTENSION = /^Chorus extension(\s*\([^)]*\))?:\s*/i;

interface Field {
  /** The comment beside the field, as one line of Markdown. */
  comment: string;
  /** The field's initializer as written, e.g. `dur('25s')`. */
  init: string;
  /** Position in the schema, to list keys in the order the schema gives them. */
  order: number;
}

/** The text of the JSDoc comment right before a node, on one line. */
function commentOf(node: ts.Node, text: string): string {
  const ranges = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [];
  const last = ranges.filter((r) => text.startsWith('/**', r.pos)).at(-1);
  if (last === undefined) return '';
  return text
    .slice(last.pos + 3, last.end - 2)
    .split('\n')
    .map((l) => l.replace(/^\s*\*\s?/, '').trim())
    .filter((l) => l !== '')
    .join(' ');
}

/** Every field of schema.ts by dotted path (the options shape under its own root), with comment and initializer. */
export function schemaFields(source = readFileSync(SCHEMA_FILE, 'utf8')): {
  config: Map<string, Field>;
  options: Map<string, Field>;
} {
  const file = ts.createSourceFile(SCHEMA_FILE, source, ts.ScriptTarget.ES2022, true);
  const variables = new Map<string, ts.Expression>();
  file.forEachChild((st) => {
    if (!ts.isVariableStatement(st)) return;
    for (const d of st.declarationList.declarations) {
      if (ts.isIdentifier(d.name) && d.initializer !== undefined) variables.set(d.name.text, d.initializer);
    }
  });
  let order = 0;

  /** The object literal a field's initializer builds, through z.strictObject(…), .prefault(…) and variables. */
  const objectOf = (e: ts.Expression, seen = new Set<string>()): ts.ObjectLiteralExpression | undefined => {
    if (ts.isObjectLiteralExpression(e)) return e;
    if (ts.isIdentifier(e)) {
      const v = variables.get(e.text);
      if (v === undefined || seen.has(e.text)) return undefined;
      return objectOf(v, new Set([...seen, e.text]));
    }
    if (ts.isCallExpression(e)) {
      const callee = e.expression;
      if (ts.isPropertyAccessExpression(callee)) {
        const name = callee.name.text;
        if ((name === 'strictObject' || name === 'object') && e.arguments[0] !== undefined) {
          return objectOf(e.arguments[0], seen);
        }
        // An array (namespaces) is one key; a chained call (.prefault, .default) wraps what it is called on.
        if (name === 'array') return undefined;
        return objectOf(callee.expression, seen);
      }
    }
    return undefined;
  };

  const walk = (obj: ts.ObjectLiteralExpression, prefix: string, out: Map<string, Field>) => {
    for (const p of obj.properties) {
      if (ts.isSpreadAssignment(p)) {
        const inner = objectOf(p.expression);
        if (inner !== undefined) walk(inner, prefix, out);
        continue;
      }
      if (!ts.isPropertyAssignment(p) || !(ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) continue;
      const path = prefix + p.name.text;
      out.set(path, { comment: commentOf(p, source), init: p.initializer.getText(file), order: order++ });
      const inner = objectOf(p.initializer);
      if (inner !== undefined && !OPTION_HOLDERS.has(path)) walk(inner, `${path}.`, out);
    }
  };

  const config = new Map<string, Field>();
  const options = new Map<string, Field>();
  const root = objectOf(variables.get('configSchema') as ts.Expression);
  const shape = objectOf(variables.get('channelOptionsShape') as ts.Expression);
  if (root === undefined || shape === undefined) throw new Error(`${SCHEMA_FILE}: configSchema not found`);
  walk(root, '', config);
  walk(shape, '', options);
  return { config, options };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every documented key: leaves of the parsed defaults, the option holders, with their default values. */
function defaults(): { config: Map<string, unknown>; options: Map<string, unknown> } {
  const parsed = configSchema.parse({}) as unknown as Obj;
  const config = new Map<string, unknown>();
  const walk = (o: Obj, prefix: string) => {
    for (const [k, v] of Object.entries(o)) {
      const path = prefix + k;
      if (OPTION_HOLDERS.has(path)) config.set(path, v);
      else if (isObj(v)) walk(v, `${path}.`);
      else config.set(path, v);
    }
  };
  walk(parsed, '');
  const options = new Map<string, unknown>();
  const none = (parsed.channel as Obj).without_namespace as Obj;
  for (const k of Object.keys(channelOptionsShape)) options.set(k, none[k]);
  return { config, options };
}

function formatDefault(value: unknown, field: Field | undefined): string {
  const duration = /^dur\('([^']*)'\)/.exec(field?.init ?? '');
  if (duration) return `\`${duration[1]}\``;
  if (isObj(value)) return 'all off';
  if (value === undefined) return '`""` (none)';
  if (typeof value === 'string') return value === '' ? '`""`' : `\`${value}\``;
  if (Array.isArray(value)) return value.length === 0 ? '`[]`' : value.map((v) => `\`${String(v)}\``).join(', ');
  return `\`${String(value)}\``;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

interface Problems {
  /** Keys without a comment beside them in schema.ts. */
  undocumented: string[];
  /** Keys Centrifugo does not have whose comment (or section's) does not say "Chorus extension". */
  unmarked: string[];
  /** Keys no table takes (no `*` table in the file). */
  homeless: string[];
}

/** The Markdown file with every table rewritten from the schema, and what is missing from the schema's comments. */
export function generateConfigDocs(doc: string, source?: string): { text: string; problems: Problems; tables: number } {
  const fields = schemaFields(source);
  const values = defaults();
  const problems: Problems = { undocumented: [], unmarked: [], homeless: [] };

  const isExtension = (path: string, own: Field | undefined): boolean => {
    if (EXTENSION.test(own?.comment ?? '')) return true;
    const parts = path.split('.');
    for (let i = parts.length - 1; i > 0; i--) {
      if (EXTENSION.test(fields.config.get(parts.slice(0, i).join('.'))?.comment ?? '')) return true;
    }
    return false;
  };

  const row = (key: string, value: unknown, field: Field | undefined, centrifugoPath: string) => {
    let meaning = field?.comment ?? '';
    if (meaning === '') problems.undocumented.push(centrifugoPath);
    const extension = !CENTRIFUGO_KEYS.has(centrifugoPath);
    if (extension && !isExtension(centrifugoPath, field)) problems.unmarked.push(centrifugoPath);
    // "Chorus extension (note): text" → "*Chorus extension* (note). Text"
    const note = EXTENSION.exec(meaning)?.[1]?.trim();
    meaning = meaning.replace(EXTENSION, '').replace(/^[a-z]/, (c) => c.toUpperCase());
    if (extension) meaning = `${note ? `*Chorus extension* ${note}.` : '*Chorus extension.*'} ${meaning}`;
    return `| \`${key}\` | ${formatDefault(value, field)} | ${cell(meaning.trim())} |`;
  };

  // Which table takes each key: the longest matching prefix among all tables' markers.
  const tables = [...doc.matchAll(BEGIN)].map((m) => (m[1] ?? '').trim().split(/\s+/));
  const claim = (key: string): string | undefined => {
    let best: string | undefined;
    for (const prefixes of tables) {
      for (const p of prefixes) {
        if (p === '*' || p === OPTIONS_TABLE) continue;
        if ((key === p || key.startsWith(`${p}.`)) && (best === undefined || p.length > best.length)) best = p;
      }
    }
    return best;
  };
  const hasCatchAll = tables.some((t) => t.includes('*'));
  const byOrder = (a: string, b: string) =>
    (fields.config.get(a)?.order ?? Number.MAX_SAFE_INTEGER) - (fields.config.get(b)?.order ?? Number.MAX_SAFE_INTEGER);
  const keys = [...values.config.keys()].sort(byOrder);
  for (const k of keys) if (claim(k) === undefined && !hasCatchAll) problems.homeless.push(k);

  const text = doc.replace(BEGIN, (_all, spec: string) => {
    const prefixes = spec.trim().split(/\s+/);
    const lines = ['| key | default | meaning |', '|---|---|---|'];
    if (prefixes.includes(OPTIONS_TABLE)) {
      for (const [k, v] of values.options) {
        lines.push(row(k, v, fields.options.get(k), `channel.without_namespace.${k}`));
      }
    } else {
      for (const k of keys) {
        const owner = claim(k);
        if ((owner !== undefined && prefixes.includes(owner)) || (owner === undefined && prefixes.includes('*'))) {
          lines.push(row(k, values.config.get(k), fields.config.get(k), k));
        }
      }
    }
    // An empty catch-all says so rather than showing a table without rows.
    const body = lines.length === 2 ? 'None.' : lines.join('\n');
    return `<!-- BEGIN config-keys ${spec.trim()} -->\n${body}\n<!-- END config-keys -->`;
  });
  return { text, problems, tables: tables.length };
}

function main(): void {
  const check = process.argv.includes('--check');
  const doc = readFileSync(DOC_FILE, 'utf8');
  const { text, problems, tables } = generateConfigDocs(doc);
  if (tables === 0) {
    console.error(`${DOC_FILE}: no <!-- BEGIN config-keys … --> markers`);
    process.exit(1);
  }
  const say = (what: string, keys: string[]) => {
    if (keys.length > 0) console.error(`${what}:\n  ${keys.join('\n  ')}`);
  };
  say('keys without a comment beside them in src/config/schema.ts (their meaning is empty)', problems.undocumented);
  say('keys Centrifugo does not have, not marked "Chorus extension:" in their schema comment', problems.unmarked);
  say('keys no table takes (add their prefix to a BEGIN config-keys marker, or a "*" table)', problems.homeless);
  if (check) {
    if (text !== doc) {
      console.error(`${DOC_FILE} differs from the schema: run npm run docs:config`);
      process.exit(1);
    }
    return;
  }
  if (text !== doc) writeFileSync(DOC_FILE, text);
  console.log(`${DOC_FILE}: ${text === doc ? 'already up to date' : 'tables rewritten'} (${tables} tables)`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
