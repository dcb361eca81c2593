/**
 * A path that is not valid percent-encoding (`GET /%`, `/assets/%zz`) made the static route throw a URIError:
 * HTTP 500 and a stack trace in the log for every such request. It is the client's mistake: 400 on every route,
 * logged at debug only.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type LoggedServer, startLoggedServer } from './capture-log.js';

/** The raw status line and body for a request written byte for byte (fetch would re-encode the path). */
function rawRequest(port: number, request: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d) => {
      data += d;
    });
    s.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    s.on('error', reject);
  });
}

describe('malformed URLs', () => {
  let s: LoggedServer;
  before(async () => {
    s = await startLoggedServer({
      http_api: { key: 'k' },
      admin: { enabled: true, insecure: true },
      demo: { enabled: true },
    });
  });
  after(async () => {
    await s?.close();
  });

  const requests: Array<[string, string]> = [
    ['GET', '/%'],
    ['GET', '/assets/%zz'],
    ['GET', '/assets/app.js%'],
    ['GET', '/demo/chat%E0%A4%A'],
    ['GET', '/%C0%AF'],
    ['GET', '/metrics%'],
    ['GET', '/health%zz'],
    ['GET', '/admin/api/state%'],
    ['POST', '/api/%zz'],
    ['POST', '/api/publish%'],
  ];
  for (const [method, path] of requests) {
    test(`${method} ${path} → 400, no stack trace`, async () => {
      const before = s.log.lines.length;
      const body = method === 'POST' ? '{"channel":"x","data":1}' : '';
      const r = await rawRequest(
        s.port,
        `${method} ${path} HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      assert.equal(r.status, 400, `status for ${path}: ${r.body}`);
      assert.equal(JSON.parse(r.body).error.code, 107);
      const logged = s.log.lines.slice(before);
      assert.deepEqual(
        logged.filter((l) => l.level === 'error' || l.level === 'warn'),
        [],
        'nothing logged above debug',
      );
      assert.ok(
        logged.some((l) => l.level === 'debug' && /malformed URL/.test(l.msg)),
        'a debug line says what happened',
      );
    });
  }

  test('well-formed escapes still reach their route', async () => {
    const health = await rawRequest(s.port, 'GET /h%65alth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(health.status, 404, 'an escaped name is not the route (paths are compared as sent)');
    const page = await rawRequest(s.port, 'GET /%61ssets/nothing.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(page.status, 404);
    const ok = await rawRequest(s.port, 'GET /health?x=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(ok.status, 200, 'only the path is checked: the query is the route’s business');
  });
});
