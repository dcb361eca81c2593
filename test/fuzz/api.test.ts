/**
 * Properties of the server API over generated requests: whatever JSON body arrives for whatever method, the
 * executor answers (never throws) with a result that is valid JSON or an error with a documented code, and never
 * with error 100 (an unexpected failure); over HTTP every answer is JSON with a documented status and code, and
 * the legacy endpoint answers every line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { ApiExecutor } from '../../src/api/executor.js';
import { schemas } from '../../src/api/schemas.js';
import { type Chorus, createChorus } from '../../src/chorus.js';
import { ChorusErrors, Errors } from '../../src/protocol/codes.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';
import { announce, checkAsync } from './fuzz-options.js';
import { deepJSON, mutate, ODD_VALUES, Rng } from './hostile-inputs.js';

announce('api');

const REPLY_CODES = new Set<number>([...Object.values(Errors), ...Object.values(ChorusErrors)].map((e) => e.code));
const METHODS = Object.keys(schemas);
const API_KEY = 'fuzz-api-key';

const CONFIG = {
  client: { allow_anonymous_connect_without_token: true },
  channel: {
    without_namespace: openChannels({ presence: true }),
    namespaces: [{ name: 'hist', ...openChannels({ history_size: 10, history_ttl: '60s', force_recovery: true }) }],
  },
  http_api: { key: API_KEY },
};

// --- arbitraries ---------------------------------------------------------------------------------------------

/** JSON text of a value for any field: the right type often, any type, edges of ranges, deep nesting. */
const value: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.json({ maxDepth: 2 }) },
  { weight: 2, arbitrary: fc.constantFrom(...ODD_VALUES) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '"news"',
      '"hist:a"',
      '"nons:x"',
      '"$priv"',
      '"#u1"',
      '"u1"',
      '{"offset":1,"epoch":"e"}',
      '{"value":true}',
      '{"code":3000,"reason":"r"}',
      '{"code":4999,"reason":"' + 'r'.repeat(130) + '"}',
      '["a","b"]',
      '{"k":"v"}',
      '"e30="',
      '"bm90IGpzb24="',
      '"*a*a*"',
      '"[z-a]"',
      '"[a-"',
      '"\\\\"',
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 5000 }).map((d) => deepJSON(d, new Rng(d))) },
);

/** Keys a method reads (from its schema), plus a few it does not know. */
function keysOf(method: string): string[] {
  const schema = (schemas as Record<string, { shape?: Record<string, unknown> }>)[method];
  return [...Object.keys(schema?.shape ?? {}), 'unknown_field', '__proto__'];
}

/** A params object as text for `method`: its own keys (possibly repeated) with any values. */
function paramsText(method: string): fc.Arbitrary<string> {
  const keys = keysOf(method);
  return fc
    .array(fc.tuple(fc.constantFrom(...keys), value), { maxLength: 7 })
    .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);
}

const batchText = fc
  .tuple(
    fc.array(
      fc.constantFrom(...METHODS, 'nope').chain((m) => paramsText(m).map((p) => `{${JSON.stringify(m)}:${p}}`)),
      { maxLength: 6 },
    ),
    fc.constantFrom('true', 'false', '1'),
  )
  .map(([cmds, parallel]) => `{"commands":[${cmds.join(',')}],"parallel":${parallel}}`);

/** A method and a JSON object body for it. */
const request: fc.Arbitrary<[string, string]> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(...METHODS).chain((m) => paramsText(m).map((p) => [m, p] as [string, string])),
  },
  { weight: 2, arbitrary: batchText.map((b) => ['batch', b] as [string, string]) },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.constantFrom(...METHODS, 'Publish', 'constructor', '__proto__', ''),
      fc.json({ maxDepth: 3 }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...METHODS), fc.integer(), fc.integer({ min: 1, max: 6 }))
      .map(([m, seed, n]) => {
        const rng = new Rng(seed);
        let text = '{"channel":"news","data":{"a":[1,2]},"channels":["a"],"user":"u","limit":5,"commands":[]}';
        for (let i = 0; i < n; i++) text = mutate(text, rng);
        return [m, text] as [string, string];
      }),
  },
);

function parsesAsObject(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function assertDocumentedError(e: unknown, where: string): void {
  const err = e as { code?: unknown; message?: unknown };
  assert.ok(
    typeof err.code === 'number' && REPLY_CODES.has(err.code),
    `${where}: code ${String(err.code)} is documented`,
  );
  assert.notEqual(
    err.code,
    Errors.internal.code,
    `${where}: error 100 (an unexpected failure: ${String(err.message)})`,
  );
  assert.equal(typeof err.message, 'string', `${where}: the error says what went wrong`);
}

// --- properties ----------------------------------------------------------------------------------------------

describe('server API executor over any JSON body', () => {
  let chorus: Chorus;
  let executor: ApiExecutor;
  before(async () => {
    chorus = await createChorus({ config: CONFIG });
    executor = new ApiExecutor(chorus.node, chorus.config.http_api.max_batch_commands);
  });
  after(async () => {
    await chorus?.close();
  });

  test('every command gets a JSON result or a documented error, never error 100', async () => {
    await checkAsync(
      fc.asyncProperty(request, async ([method, body]) => {
        const params = parsesAsObject(body);
        if (params === undefined) return; // not a JSON object: the HTTP layer answers 400 (next test)
        const reply = await executor.execute(method, params, { text: body, path: [] });
        if ('result' in reply) {
          const r = JSON.parse(`{"result":${reply.result}}`) as { result: unknown };
          if (method === 'batch' && typeof r.result === 'object' && r.result !== null) {
            for (const item of (r.result as { replies: Array<Record<string, unknown>> }).replies) {
              if ('error' in item) assertDocumentedError(item.error, `${method} reply`);
            }
          }
        } else assertDocumentedError(reply.error, method);
      }),
      2500,
    );
  });
});

describe('server API over HTTP', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(CONFIG);
  });
  after(async () => {
    await s?.close();
  });

  const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${s.url}${path}`, {
      method: 'POST',
      body,
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json', ...headers },
    });
    return { status: res.status, text: await res.text() };
  };

  test('POST /api/<method>: documented status, a JSON answer, a documented code', async () => {
    const body = fc.oneof(
      { weight: 4, arbitrary: request },
      {
        weight: 1,
        arbitrary: fc.tuple(fc.constantFrom(...METHODS), fc.string({ unit: 'binary', maxLength: 60 })),
      },
    );
    await checkAsync(
      fc.asyncProperty(body, fc.boolean(), async ([method, text], transport) => {
        const r = await post(
          `/api/${encodeURIComponent(method)}`,
          text,
          transport ? { 'x-centrifugo-error-mode': 'transport' } : {},
        );
        assert.ok([200, 400, 404, 409, 413, 416].includes(r.status), `HTTP ${r.status} is documented: ${r.text}`);
        const reply = parsesAsObject(r.text);
        assert.ok(reply !== undefined, `the answer is a JSON object: ${r.text.slice(0, 200)}`);
        if ('error' in reply) assertDocumentedError(reply.error, `/api/${method}`);
        else assert.equal(r.status, 200, 'a result comes with 200');
      }),
      400,
    );
  });

  test('POST /api (legacy): one JSON reply per line, documented codes', async () => {
    const line = fc.oneof(
      request.map(([m, p]) => `{"method":${JSON.stringify(m)},"params":${p}}`),
      fc.json({ maxDepth: 2 }),
      fc.string({ maxLength: 30 }).filter((l) => !l.includes('\n')),
    );
    await checkAsync(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 6 }), async (lines) => {
        const r = await post('/api', lines.join('\n'));
        assert.equal(r.status, 200, `the legacy endpoint answers 200: ${r.text.slice(0, 300)}`);
        const replies = r.text === '' ? [] : r.text.split('\n');
        const commandLines = lines
          .join('\n')
          .split('\n')
          .filter((l) => l.trim() !== '');
        assert.equal(replies.length, commandLines.length, 'one reply per command line');
        for (const text of replies) {
          const reply = parsesAsObject(text);
          assert.ok(reply !== undefined, `each reply is a JSON object: ${text.slice(0, 200)}`);
          if ('error' in reply) assertDocumentedError(reply.error, 'legacy /api');
        }
      }),
      300,
    );
  });
});
