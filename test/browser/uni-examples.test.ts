/**
 * examples/no-sdk/eventsource.html in real Chromium: a page from another origin (the one the example's
 * config.json allows) that uses nothing but `EventSource` on uni_sse — publications, the user's personal
 * channel, recovery after the server asks it to reconnect, and what it shows on shutdown.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, needBrowser, screenshot, watchErrors } from '../helpers/browser.js';
import { hsToken } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

const skip = needBrowser().skip;
const DIR = new URL('../../examples/no-sdk/', import.meta.url).pathname;
const CONFIG = JSON.parse(readFileSync(`${DIR}config.json`, 'utf8')) as {
  client: { token: { hmac_secret_key: string } };
  http_api: { key: string };
};
const T = 8_000;

describe('example: eventsource.html (uni_sse)', { skip, timeout: 60_000 }, () => {
  let s: TestServer;
  let pages: Server;
  let pageOrigin: string;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  const publish = async (channel: string, data: unknown) => {
    const res = await fetch(`${s.url}/api/publish`, {
      method: 'POST',
      headers: { 'x-api-key': CONFIG.http_api.key },
      body: JSON.stringify({ channel, data }),
    });
    assert.equal(res.status, 200, await res.text());
  };
  const state = (text: string | RegExp) => page.getByTestId('state').filter({ hasText: text }).waitFor({ timeout: T });
  const logLine = (text: string) => page.getByTestId('log').getByText(text, { exact: true }).waitFor({ timeout: T });

  before(async () => {
    // The page comes from a static server of its own, as `python3 -m http.server 3000` would serve it; the
    // example's config allows that origin (here on a free port instead of 3000).
    const html = readFileSync(`${DIR}eventsource.html`);
    pages = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://localhost:${(pages.address() as AddressInfo).port}`;
    const config = structuredClone(CONFIG) as { client: Record<string, unknown> };
    assert.deepEqual(config.client.allowed_origins, ['http://localhost:3000']);
    config.client.allowed_origins = [pageOrigin];
    s = await startServer(config);
    browser = await launchBrowser();
    page = await (await browser.newContext()).newPage();
    errors = watchErrors(page);
  });
  after(async () => {
    await browser?.close();
    await s?.close();
    pages?.closeAllConnections();
    pages?.close();
  });

  test('shows publications and the personal channel, and recovers what it missed while reconnecting', async () => {
    const token = await hsToken({ sub: 'web' }, CONFIG.client.token.hmac_secret_key);
    await page.goto(`${pageOrigin}/eventsource.html?server=${encodeURIComponent(s.url)}&token=${token}`);
    await state(/^connected$/);

    await publish('news:updates', { headline: 'one' });
    await logLine('news:updates: {"headline":"one"}');
    await publish('#web', { note: 'for web only' });
    await logLine('#web: {"note":"for web only"}');

    await s.server.node.ops.disconnect({ user: 'web', disconnect: { code: 3011, reason: 'force reconnect' } });
    await state('disconnected: 3011 force reconnect');
    await publish('news:updates', { headline: 'two' });
    await state(/^connected$/);
    await logLine('news:updates: {"headline":"two"} (recovered)');
    const lines = await page.getByTestId('log').locator('li').allTextContents();
    assert.deepEqual(lines, [
      'news:updates: {"headline":"one"}',
      '#web: {"note":"for web only"}',
      'news:updates: {"headline":"two"} (recovered)',
    ]);
    await screenshot(page, 'uni-sse-example');
  });

  test('on shutdown it shows the disconnect, then tries again', async () => {
    await s.close();
    await state(/^(disconnected: 3001 shutdown|reconnecting)$/);
    assert.deepEqual(errors, [], 'no page errors');
  });
});
