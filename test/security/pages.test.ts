/**
 * The pages as an attacker sees them: every HTML route carries a Content-Security-Policy that only runs scripts
 * from the server itself and forbids framing, plus nosniff and a referrer policy; the built pages hold no inline
 * script or style the policy would have to allow; and a page that is disabled is not reachable through any
 * spelling of its path (dot segments, encodings, backslashes, case, trailing dots, double slashes).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildPages } from '../helpers/browser.js';
import { rawRequest, type Served, serve } from './serve.js';

const PUBLIC = new URL('../../dist/public/', import.meta.url).pathname;
const ADMIN = { enabled: true, password: 'pages-test-password', secret: 'pages-test-secret-long-enough-for-hs256' };

function assertPageHeaders(path: string, headers: Record<string, string | string[] | undefined>): void {
  const csp = String(headers['content-security-policy'] ?? '');
  const directives = new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0] !== '')
      .map((d) => [d[0] as string, d.slice(1)]),
  );
  assert.deepEqual(directives.get('script-src'), ["'self'"], `${path}: scripts only from the server (${csp})`);
  assert.deepEqual(directives.get('style-src'), ["'self'"], `${path}: styles only from the server (${csp})`);
  assert.deepEqual(directives.get('frame-ancestors'), ["'none'"], `${path}: no framing (${csp})`);
  assert.deepEqual(directives.get('default-src'), ["'none'"], `${path}: nothing else by default (${csp})`);
  assert.deepEqual(directives.get('base-uri'), ["'none'"], `${path}: no <base> hijack (${csp})`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/, `${path}: nothing unsafe or wildcard (${csp})`);
  assert.equal(headers['x-frame-options'], 'DENY', `${path}: X-Frame-Options`);
  assert.equal(headers['x-content-type-options'], 'nosniff', `${path}: nosniff`);
  assert.equal(headers['referrer-policy'], 'no-referrer', `${path}: Referrer-Policy`);
}

describe('page headers', () => {
  let s: Served;
  before(async () => {
    buildPages();
    s = await serve({ demo: { enabled: true }, admin: ADMIN });
  });
  after(() => s.close());

  test('every HTML route sends CSP (self only, no inline), frame-ancestors none, DENY, nosniff, no-referrer', async () => {
    for (const path of ['/', '/demo/chat', '/demo/monitor', '/admin', '/admin/']) {
      const r = await rawRequest(s.url, path);
      assert.equal(r.status, 200, `${path} is served`);
      assert.match(String(r.headers['content-type']), /^text\/html/);
      assertPageHeaders(path, r.headers);
      const head = await rawRequest(s.url, path, { method: 'HEAD' });
      assertPageHeaders(`HEAD ${path}`, head.headers);
    }
  });

  test('the WebSocket endpoint of the same host is allowed to the pages, nothing else', async () => {
    const r = await rawRequest(s.url, '/demo/chat');
    const connect = String(r.headers['content-security-policy']).match(/connect-src ([^;]+)/)?.[1] ?? '';
    const host = new URL(s.url).host;
    assert.deepEqual(connect.split(' ').sort(), ["'self'", `ws://${host}`, `wss://${host}`].sort());
    // A Host header that is not a plain host:port is not echoed into the policy.
    const odd = await rawRequest(s.url, '/', { headers: { host: "evil.example; script-src 'unsafe-inline'" } });
    assert.doesNotMatch(String(odd.headers['content-security-policy']), /evil|unsafe-inline/);
    assertPageHeaders('/ with a hostile Host', odd.headers);
  });

  test('the built pages hold no inline script, style, handler or javascript: URL for the policy to allow', () => {
    const pages = readdirSync(PUBLIC).filter((f) => f.endsWith('.html'));
    assert.ok(pages.length >= 4, `pages built: ${pages.join(', ')}`);
    for (const page of pages) {
      const html = readFileSync(join(PUBLIC, page), 'utf8');
      for (const tag of html.match(/<script\b[^>]*>/gi) ?? []) {
        assert.match(tag, /\bsrc="\/assets\/[\w.-]+\.js"/, `${page}: every script is an asset file: ${tag}`);
      }
      assert.doesNotMatch(html, /<script\b[^>]*>\s*[^<\s]/i, `${page}: no inline script body`);
      assert.doesNotMatch(html, /<style\b/i, `${page}: no <style> element`);
      assert.doesNotMatch(html, /\sstyle\s*=/i, `${page}: no style attribute`);
      assert.doesNotMatch(html, /\son[a-z]+\s*=/i, `${page}: no inline event handler`);
      assert.doesNotMatch(html, /javascript:/i, `${page}: no javascript: URL`);
      assert.doesNotMatch(html, /http-equiv="Content-Security-Policy"/i, `${page}: one policy, the header's`);
    }
  });
});

/** Spellings of a disabled page's path an attacker would try. */
const ADMIN_PATHS = [
  '/admin',
  '/admin/',
  '/admin.html',
  '/ADMIN',
  '/Admin',
  '/admin.',
  '/admin..',
  '/admin%20',
  '//admin',
  '///admin',
  '/%61dmin',
  '/admin%2f',
  '/./admin',
  '/assets/../admin.html',
  '/assets/./../admin.html',
  '/assets//../admin.html',
  '/assets/%2e%2e/admin.html',
  '/assets/%2E%2E/admin.html',
  '/assets/.%2e/admin.html',
  '/assets/..%2fadmin.html',
  '/assets/..%2Fadmin.html',
  '/assets/%2e%2e%2fadmin.html',
  '/assets/..%5cadmin.html',
  '/assets/..\\admin.html',
  '/assets\\..\\admin.html',
  '/assets/%252e%252e/admin.html',
  '/assets/..%00/admin.html',
  '/assets/admin.html',
  '/assets/admin.html.',
  '/assets/ADMIN.HTML',
  '/assets/../ADMIN.HTML',
  '/assets/admin.js',
  '/assets/admin.css',
  '/assets/admin.js.map',
  '/assets/../../../../etc/passwd',
  '/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
  '/assets/..%2f..%2f..%2fetc%2fpasswd',
  '/assets/',
  '/assets/.',
  '/assets/..',
  '/admin/api/login',
];
const DEMO_PATHS = [
  '/demo/chat',
  '/demo/monitor',
  '/demo//chat',
  '/demo/chat.',
  '/DEMO/CHAT',
  '/chat.html',
  '/monitor.html',
  '/assets/../chat.html',
  '/assets/%2e%2e/monitor.html',
  '/assets/..%5cchat.html',
  '/assets/chat.js',
  '/assets/monitor.js',
];

describe('disabled pages are not reachable through any path', () => {
  let s: Served;
  before(async () => {
    buildPages();
    s = await serve({});
  });
  after(() => s.close());

  test('with admin and demo off, no spelling of their paths serves them or their code', async () => {
    for (const path of [...ADMIN_PATHS, ...DEMO_PATHS]) {
      const r = await rawRequest(s.url, path).catch((e: Error) => ({ status: -1, body: e.message, headers: {} }));
      assert.ok(r.status === 404 || r.status === 400, `${path} answers ${r.status}, not the page`);
      assert.doesNotMatch(r.body, /<html|<!doctype|admin|import\b|root:/i, `${path}: nothing of the page in the body`);
    }
    // The server keeps serving what is enabled.
    assert.equal((await rawRequest(s.url, '/')).status, 200);
    assert.equal((await rawRequest(s.url, '/assets/style.css')).status, 200);
    assert.equal((await rawRequest(s.url, '/assets/index.js')).status, 200);
  });

  test('with the admin page on the internal port, the public port serves no spelling of it', async () => {
    const split = await serve({ admin: ADMIN, http_server: { internal_port: 0 } });
    try {
      for (const path of ADMIN_PATHS) {
        const r = await rawRequest(split.url, path);
        assert.ok(r.status === 404 || r.status === 400, `public ${path} answers ${r.status}`);
      }
      const internal = await rawRequest(split.internalUrl as string, '/admin');
      assert.equal(internal.status, 200, 'the internal port serves it');
      assertPageHeaders('internal /admin', internal.headers);
      assert.equal((await rawRequest(split.internalUrl as string, '/assets/admin.js')).status, 200);
    } finally {
      await split.close();
    }
  });
});
