/**
 * The landing page (/) tells the truth about the server serving it: in development (`npm start`) it links to the
 * demo and admin pages and its Node snippet runs as printed; in production it links only to pages that exist
 * there and never mentions `npm start`. Every page has a favicon.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { developmentPreset } from '../../src/config/dev-preset.js';
import { buildPages } from '../helpers/browser.js';
import { SECRET } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

const ROOT = new URL('../../', import.meta.url).pathname;

function unescapeHtml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The text of `<code id="…">` as a reader copies it (the page puts this server's address in, as here). */
function snippet(html: string, id: string, s: TestServer): string {
  const m = new RegExp(`<code id="${id}">([\\s\\S]*?)</code>`).exec(html);
  assert.ok(m, `the page has a #${id} snippet`);
  return unescapeHtml(m[1] as string)
    .split('ws://localhost:8000/connection/websocket')
    .join(s.wsUrl);
}

/** Local links of the page (href="/…"), each fetched: all must answer 200. */
async function brokenLinks(html: string, s: TestServer): Promise<string[]> {
  const hrefs = [...html.matchAll(/href="(\/[^"]*)"/g)].map((m) => m[1] as string);
  const broken: string[] = [];
  for (const href of new Set(hrefs)) {
    const r = await fetch(`${s.url}${href}`);
    await r.arrayBuffer();
    if (r.status !== 200) broken.push(`${href} → ${r.status}`);
  }
  return broken;
}

const page = async (s: TestServer, path = '/') => (await fetch(`${s.url}${path}`)).text();

describe('the landing page', () => {
  const servers: TestServer[] = [];
  buildPages();
  after(async () => {
    for (const s of servers) await s.close();
  });

  test('in development: demo and admin links that work, the npm start hints, a Node snippet that runs', async () => {
    const s = await startServer(developmentPreset(), { dev: true });
    servers.push(s);
    const html = await page(s);
    assert.deepEqual(await brokenLinks(html, s), [], 'every link of the page works');
    for (const href of ['/demo/chat', '/demo/monitor', '/admin', '/metrics']) {
      assert.ok(html.includes(`href="${href}"`), `links to ${href}`);
    }
    assert.match(html, /npm start<\/code> printed the password/);
    assert.doesNotMatch(html, /<!-- \/?if:/, 'no template markers left');

    // The Node snippet, as printed, against this server: it needs the websocket option on Node 20.
    const code = snippet(html, 'node-snippet', s);
    assert.match(code, /websocket: WebSocket/);
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    const dir = mkdtempSync(join(ROOT, 'test-results', 'landing-snippet-'));
    try {
      writeFileSync(join(dir, 'snippet.mjs'), code);
      const child = spawn(process.execPath, [join(dir, 'snippet.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        out += d;
      });
      const printed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000);
        child.stdout.on('data', () => {
          if (/got \{ text: 'hello' \}/.test(out)) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(/got \{ text: 'hello' \}/.test(out));
        });
      });
      child.kill();
      assert.ok(printed, `the snippet connects, subscribes and receives its own publication; it printed:\n${out}`);
      assert.match(out, /connected as /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('in production: only links to what this server serves, no development hints, a token in the snippets', async () => {
    const s = await startServer({ client: { token: { hmac_secret_key: SECRET } }, http_api: { key: 'k' } });
    servers.push(s);
    const html = await page(s);
    assert.deepEqual(await brokenLinks(html, s), [], 'every link of the page works');
    assert.doesNotMatch(html, /href="\/demo\//, 'no link to the demo pages (off here)');
    assert.doesNotMatch(html, /href="\/admin"/, 'no link to the admin page (off here)');
    assert.doesNotMatch(html, /href="\/metrics"/, 'no link to /metrics (off by default)');
    assert.doesNotMatch(html, /npm start/, 'no development hints');
    assert.match(snippet(html, 'node-snippet', s), /websocket: WebSocket,\n {2}token: /);
    assert.match(snippet(html, 'browser-snippet', s), /token: /);
    assert.doesNotMatch(html, /<!-- \/?if:/, 'no template markers left');
  });

  test('in production with the admin page on: linked, with where its password comes from', async () => {
    const s = await startServer({
      client: { token: { hmac_secret_key: SECRET } },
      admin: { enabled: true, password: 'pw', secret: 'admin-secret-long-enough-for-hs256-keys' },
      http_api: { disabled: true },
    });
    servers.push(s);
    const html = await page(s);
    assert.deepEqual(await brokenLinks(html, s), []);
    assert.match(html, /href="\/admin"/);
    assert.match(html, /Log in with <code>admin\.password<\/code>/);
    assert.doesNotMatch(html, /href="\/metrics"/, 'metrics are off here');
    assert.doesNotMatch(html, /id="api-snippet"/, 'the server API is off here');
  });

  test('with an internal port: the public landing links to none of what moved there', async () => {
    const s = await startServer({
      client: { token: { hmac_secret_key: SECRET } },
      http_server: { internal_port: 0 },
      admin: { enabled: true, password: 'pw', secret: 'admin-secret-long-enough-for-hs256-keys' },
      prometheus: { enabled: true },
      http_api: { key: 'k' },
    });
    servers.push(s);
    const html = await page(s);
    assert.deepEqual(await brokenLinks(html, s), [], 'every link of the page works on the public port');
    assert.doesNotMatch(html, /href="\/admin"/, 'the admin page is on the internal port');
    assert.doesNotMatch(html, /href="\/metrics"/, '/metrics is on the internal port');
    assert.doesNotMatch(html, /id="api-snippet"/, 'the server API is on the internal port');
  });

  test('with metrics on: linked', async () => {
    const s = await startServer({ client: { token: { hmac_secret_key: SECRET } }, prometheus: { enabled: true } });
    servers.push(s);
    const html = await page(s);
    assert.match(html, /href="\/metrics"/);
    assert.deepEqual(await brokenLinks(html, s), []);
  });

  test('every page has a favicon, also at /favicon.ico', async () => {
    const s = await startServer({ ...developmentPreset() }, { dev: true });
    servers.push(s);
    for (const path of ['/', '/demo/chat', '/demo/monitor', '/admin']) {
      const html = await page(s, path);
      const icon = /<link rel="icon" href="([^"]+)"/.exec(html)?.[1];
      assert.ok(icon, `${path} declares an icon`);
      const r = await fetch(`${s.url}${icon}`);
      assert.equal(r.status, 200, `${path}'s icon loads`);
      assert.equal(r.headers.get('content-type'), 'image/svg+xml');
      await r.arrayBuffer();
    }
    const ico = await fetch(`${s.url}/favicon.ico`);
    assert.equal(ico.status, 200, 'browsers asking for /favicon.ico get the icon, not a 404');
    await ico.arrayBuffer();
  });
});
