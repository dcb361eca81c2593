/**
 * The pages' Content-Security-Policy in real Chromium: the landing page's own script runs (it fills in this
 * server's address), markup injected into a page cannot run script (inline handler or inline <script>), and no
 * other site can frame the admin page.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { buildPages, launchBrowser, needBrowser, watchErrors } from '../helpers/browser.js';
import { waitFor } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

describe('pages under their Content-Security-Policy', needBrowser(), () => {
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let framer: Server;
  let framerUrl = '';

  before(async () => {
    buildPages();
    s = await startServer({
      admin: { enabled: true, password: 'csp-test-password', secret: 'csp-test-secret-long-enough-for-hs256' },
    });
    browser = await launchBrowser();
    page = await browser.newPage();
    page.setDefaultTimeout(8000);
    errors = watchErrors(page);
    // Another site that tries to frame the admin page (clickjacking).
    framer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><iframe id="f" src="${s.url}/admin" width="800" height="600"></iframe>`);
    });
    await new Promise<void>((r) => framer.listen(0, '127.0.0.1', () => r()));
    framerUrl = `http://localhost:${(framer.address() as { port: number }).port}/`;
  });
  after(async () => {
    await browser?.close();
    await new Promise((r) => framer?.close(r));
    await s?.close();
  });

  test("the landing page's script runs from /assets: the examples show this server's address", async () => {
    await page.goto(`${s.url}/`);
    await page
      .locator('#ws-url')
      .filter({ hasText: `ws://127.0.0.1:${s.port}/connection/websocket` })
      .waitFor();
    assert.deepEqual(errors, [], 'no CSP violation, no error');
  });

  test('injected markup cannot run script: inline handlers and inline <script> are blocked', async () => {
    await page.evaluate(() => {
      document.body.insertAdjacentHTML('beforeend', '<img src="/nope.png" onerror="window.__pwned = 1">');
      const sc = document.createElement('script');
      sc.textContent = 'window.__pwned2 = 1';
      document.body.appendChild(sc);
    });
    await waitFor(() => errors.filter((e) => e.startsWith('CSP:')).length >= 2, 5000, 'two CSP refusals');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned2?: number }).__pwned2), undefined);
    errors.length = 0;
  });

  test('another site cannot frame the admin page', async () => {
    // goto waits for the load event, which waits for the frame (or its error page) to load.
    await page.goto(framerUrl);
    const frame = page.frameLocator('#f');
    assert.equal(await frame.locator('#password').count(), 0, 'the login form is not rendered in the frame');
  });
});
