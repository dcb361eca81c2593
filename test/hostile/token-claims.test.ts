/**
 * Tokens with absurd values (issue 11, case 10): `"exp": 1e309` once gave `"ttl": Infinity` in the connect reply
 * (not JSON: every SDK fails to parse it), and an `info` claim nested 6,000 deep gave error 100 (temporary: the
 * SDKs retry forever) with a stack trace in the log. Such tokens are invalid: the connection is closed with
 * 3500, a subscription token is refused with 103, a refresh closes with 3500 — logged without a stack, and no
 * frame the server writes holds anything but JSON.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CompactSign } from 'jose';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config/load.js';
import type { Log } from '../../src/core/ports/log.js';
import { type ChorusServer, createChorusServer } from '../../src/server.js';
import { hsToken, SECRET, waitFor } from '../helpers/clients.js';
import { openChannels } from '../helpers/server.js';

/** A token whose payload is exactly this text: JSON.stringify cannot write 1e309. */
function token(payload: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(SECRET));
}

const deep = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

interface Entry {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

/** A client that keeps every frame as text and checks that each line is JSON. */
class Client {
  readonly lines: string[] = [];
  readonly notJson: string[] = [];
  closeCode: number | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      for (const line of d.toString().split('\n')) {
        if (line === '') continue;
        this.lines.push(line);
        try {
          JSON.parse(line);
        } catch {
          this.notJson.push(line);
        }
      }
    });
    ws.on('close', (code) => {
      this.closeCode = code;
    });
    ws.on('error', () => {});
  }

  static async open(url: string): Promise<Client> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new Client(ws);
  }

  send(cmd: unknown): void {
    this.ws.send(JSON.stringify(cmd));
  }

  reply(id: number): Promise<Record<string, unknown>> {
    const find = () => this.lines.find((l) => l.startsWith(`{"id":${id},`));
    return waitFor(() => find() !== undefined || this.closeCode !== undefined, 5000, `reply ${id}`).then(() => {
      const line = find();
      return line === undefined ? {} : (JSON.parse(line) as Record<string, unknown>);
    });
  }

  async closed(): Promise<number | undefined> {
    await waitFor(() => this.closeCode !== undefined, 5000, 'close');
    return this.closeCode;
  }
}

describe('tokens with absurd claims', () => {
  let server: ChorusServer;
  let url: string;
  const entries: Entry[] = [];
  const record =
    (level: string) =>
    (obj: object, msg: string): void => {
      entries.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  const log: Log = {
    trace: record('trace'),
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };

  before(async () => {
    const { config } = loadConfig({
      base: {
        http_server: { port: 0, address: '127.0.0.1' },
        client: { token: { hmac_secret_key: SECRET } },
        channel: { without_namespace: openChannels() },
      },
    });
    server = await createChorusServer({ config, log });
    const addr = await server.listen();
    url = `ws://127.0.0.1:${addr.port}/connection/websocket`;
  });
  after(async () => {
    await server?.close();
  });

  /** No error-level entry and no stack anywhere in what was logged. */
  function assertQuietLog(): void {
    assert.deepEqual(
      entries.filter((e) => e.level === 'error').map((e) => e.msg),
      [],
      'nothing logged as an error',
    );
    for (const e of entries) {
      const err = e.obj.err as { stack?: string } | undefined;
      assert.equal(err?.stack, undefined, `no stack in "${e.msg}"`);
    }
  }

  for (const [what, payload] of [
    ['exp 1e309', '{"sub":"alice","exp":1e309}'],
    ['exp -1e309', '{"sub":"alice","exp":-1e309}'],
    ['expire_at 1e309', '{"sub":"alice","expire_at":1e309}'],
    ['nbf -1e309', '{"sub":"alice","nbf":-1e309}'],
    ['an info claim nested 6,000 deep', `{"sub":"alice","info":${deep(6000)}}`],
  ] as const) {
    test(`a connection token with ${what} closes the connection with 3500`, async () => {
      entries.length = 0;
      const c = await Client.open(url);
      c.send({ id: 1, connect: { token: await token(payload) } });
      assert.equal(await c.closed(), 3500);
      assert.deepEqual(c.notJson, [], 'every frame is JSON');
      assert.ok(!c.lines.some((l) => l.includes('"connect"')), 'no connect reply');
      assertQuietLog();
      const closing = entries.find((e) => e.msg === 'closing client connection');
      assert.equal(closing?.level, 'info', 'the close is logged at info');
      assert.match(String(closing?.obj.detail), /claim/, 'the log says which claim');
    });
  }

  test('a subscription token with exp 1e309 or data nested 6,000 deep is refused with 103', async () => {
    entries.length = 0;
    const c = await Client.open(url);
    c.send({ id: 1, connect: { token: await hsToken({ sub: 'alice' }) } });
    assert.ok((await c.reply(1)).connect, 'connected');
    c.send({
      id: 2,
      subscribe: { channel: '$private', token: await token('{"sub":"alice","channel":"$private","exp":1e309}') },
    });
    c.send({
      id: 3,
      subscribe: {
        channel: '$private',
        token: await token(`{"sub":"alice","channel":"$private","data":${deep(6000)}}`),
      },
    });
    assert.equal(((await c.reply(2)).error as { code: number }).code, 103);
    assert.equal(((await c.reply(3)).error as { code: number }).code, 103);
    assert.equal(c.closeCode, undefined, 'the connection stays');
    assert.deepEqual(c.notJson, []);
    assertQuietLog();
  });

  test('a refresh with an absurd token closes with 3500', async () => {
    const c = await Client.open(url);
    c.send({ id: 1, connect: { token: await hsToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 60 }) } });
    assert.ok((await c.reply(1)).connect, 'connected');
    c.send({ id: 2, refresh: { token: await token('{"sub":"alice","exp":1e309}') } });
    assert.equal(await c.closed(), 3500);
    assert.deepEqual(c.notJson, []);
  });

  test('the far end of the range is fine: its ttl is a JSON number (clamped to the protocol uint32)', async () => {
    const c = await Client.open(url);
    c.send({ id: 1, connect: { token: await token('{"sub":"alice","exp":253402300799}') } });
    const reply = (await c.reply(1)).connect as { expires?: boolean; ttl?: number };
    assert.equal(reply.expires, true);
    assert.equal(reply.ttl, 4294967295);
    assert.deepEqual(c.notJson, []);
    c.ws.close();
  });
});
