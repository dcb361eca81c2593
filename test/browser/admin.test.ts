/**
 * The admin page (/admin) in real Chromium against a real server: login, live counts following SDK
 * connections, publishing and disconnecting from the page, log out; screenshots in light and dark.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext } from 'centrifuge';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildPages, launchBrowser, needBrowser, screenshot, watchErrors } from '../helpers/browser.js';
import { hsToken, once, SECRET, sdk } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const PASSWORD = 'page-test-password';

describe('admin page', needBrowser(), () => {
  let s: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  /** Pages and assets that failed to load (the favicon's 404 was one). */
  const failed: string[] = [];
  const clients: Centrifuge[] = [];

  async function user(sub: string): Promise<Centrifuge> {
    const c = sdk(s.wsUrl, { token: await hsToken({ sub }) });
    clients.push(c);
    const connected = once(c, 'connected');
    c.connect();
    await connected;
    return c;
  }

  const total = (name: string) => page.locator(`[data-total="${name}"]`);

  /** Full-page screenshot from the top (the bar is sticky), the mouse off the chart. */
  async function shot(name: string): Promise<void> {
    await page.mouse.move(0, 0);
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, name);
  }

  before(async () => {
    buildPages();
    s = await startServer({
      node: { name: 'admin-page-node' },
      admin: { enabled: true, password: PASSWORD, secret: 'admin-page-secret-long-enough-for-hs256' },
      client: { token: { hmac_secret_key: SECRET } },
      channel: { without_namespace: openChannels() },
    });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(8000);
    errors = watchErrors(page);
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().includes('/admin/api/')) failed.push(`${r.status()} ${r.url()}`);
    });
  });

  after(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await browser?.close();
    await s?.close();
  });

  test('the page asks for the password; a wrong one shows an error', { timeout: 30_000 }, async () => {
    await page.goto(`${s.url}/admin`);
    const password = page.getByLabel('Password');
    await password.waitFor();
    assert.equal(await page.locator('#dash-view').isVisible(), false, 'no dashboard before the login');
    await shot('admin-login');
    await password.fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong password' }).waitFor();
    assert.equal(await page.locator('#dash-view').isVisible(), false);
    await shot('admin-login-error');
  });

  test('the right password opens a dashboard whose counts follow SDK connections', { timeout: 30_000 }, async () => {
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#dash-view').waitFor();
    await total('connections').filter({ hasText: /^0$/ }).waitFor();
    assert.equal(await total('nodes').textContent(), '1');
    const alice = await user('alice');
    const bob = await user('bob');
    const sub = alice.newSubscription('lobby');
    sub.subscribe();
    await once(sub, 'subscribed');
    // Polled every 1.5 s: the counts catch up within a few seconds.
    await total('connections').filter({ hasText: /^2$/ }).waitFor();
    await total('users').filter({ hasText: /^2$/ }).waitFor();
    await page.locator('#channels td', { hasText: 'lobby' }).waitFor();
    await page.locator('#nodes tr').first().waitFor();
    assert.match((await page.locator('#nodes').textContent()) ?? '', /admin-page-node.*answered/);
    assert.equal(await page.locator('#totals-title').textContent(), 'Whole cluster', 'totals say whose they are');
    assert.match((await page.locator('#chart-note').textContent()) ?? '', /^whole cluster/);
    // The chart can show one node's figures, named.
    await page.locator('#chart-source option', { hasText: 'Node admin-page-node' }).waitFor({ state: 'attached' });
    await page.locator('#chart-source').selectOption({ label: 'Node admin-page-node' });
    await page.locator('#chart-note', { hasText: 'node admin-page-node only' }).waitFor();
    await page.locator('#chart-source').selectOption({ label: 'Whole cluster' });
    // The chart draws once the series has samples.
    await page.locator('#chart canvas').waitFor();
    bob.disconnect();
    await total('connections').filter({ hasText: /^1$/ }).waitFor();
    await shot('admin-dashboard-light');
  });

  test('publishing from the page reaches an SDK subscriber; errors are shown', { timeout: 30_000 }, async () => {
    const carol = await user('carol');
    const sub = carol.newSubscription('page-news');
    const got = once<PublicationContext>(sub, 'publication', 8000);
    sub.subscribe();
    await once(sub, 'subscribed');
    await page.getByLabel('Channel', { exact: true }).fill('page-news');
    await page.getByLabel('Data (JSON)').fill('{"text": "<b>hello</b> from the page"}');
    await page.getByRole('button', { name: 'Publish' }).click();
    const pub = await got;
    assert.deepEqual(pub.data, { text: '<b>hello</b> from the page' });
    await page.locator('#publish-result', { hasText: 'Published to page-news' }).waitFor();

    await page.getByLabel('Data (JSON)').fill('{not json');
    await page.getByRole('button', { name: 'Publish' }).click();
    await page.locator('#publish-result', { hasText: 'not valid JSON' }).waitFor();

    await page.getByLabel('Channel', { exact: true }).fill('nowhere:<img src=x onerror=alert(1)>');
    await page.getByLabel('Data (JSON)').fill('{}');
    await page.getByRole('button', { name: 'Publish' }).click();
    await page.locator('#publish-result', { hasText: 'Error 102' }).waitFor();
    // Server text is shown as text, never parsed as markup.
    assert.equal(await page.locator('#publish-result img').count(), 0);
  });

  test('disconnecting a user from the page closes its connections', { timeout: 30_000 }, async () => {
    const zed = await user('zed');
    const closed = once<{ code: number }>(zed, 'disconnected', 8000);
    await page.getByLabel('User ID').fill('zed');
    await page.getByRole('button', { name: 'Disconnect' }).click();
    assert.equal((await closed).code, 3503);
    await page.locator('#disconnect-result', { hasText: 'Disconnected every connection of zed' }).waitFor();
  });

  test('dark mode and a narrow screen render', { timeout: 30_000 }, async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    // The chart rebuilds with the dark palette; give it a poll to redraw.
    await page.waitForTimeout(300);
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = (bg.match(/\d+/g) ?? []).map(Number) as [number, number, number];
    assert.ok(r + g + b < 120, `dark background (${bg})`);
    const text = await page.evaluate(() => getComputedStyle(document.body).color);
    assert.ok(
      (text.match(/\d+/g) ?? [])
        .map(Number)
        .slice(0, 3)
        .every((c) => c > 180),
      `light text (${text})`,
    );
    await shot('admin-dashboard-dark');
    await page.setViewportSize({ width: 375, height: 812 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling on a phone (${overflow}px too wide)`);
    // Every column of the tables stays on screen, labelled, and wide enough to read (not one letter per line).
    const cells = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('#nodes td, #channels td')].map((td) => {
        const r = td.getBoundingClientRect();
        const label = getComputedStyle(td, '::before').content;
        return { text: td.textContent ?? '', left: r.left, right: r.right, width: r.width, label };
      }),
    );
    assert.ok(cells.length >= 11, `nodes (9 columns) and channel cells rendered (${cells.length})`);
    for (const c of cells) {
      assert.ok(c.left >= 0 && c.right <= 375, `"${c.text}" is on screen (${c.left}–${c.right})`);
      assert.ok(c.width >= 48, `"${c.text}" has room (${c.width}px)`);
    }
    const labels = cells.map((c) => c.label).filter((l) => l !== 'none' && l !== 'normal');
    for (const l of ['Version', 'Clients', 'Users', 'Channels', 'Subs', 'In/s', 'Out/s', 'Uptime']) {
      assert.ok(labels.includes(`"${l}"`), `the ${l} column is labelled on a phone`);
    }
    await shot('admin-dashboard-dark-narrow');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test('log out returns to the login, also after a reload', { timeout: 30_000 }, async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Password').waitFor();
    assert.equal(await page.locator('#dash-view').isVisible(), false);
    await page.reload();
    await page.getByLabel('Password').waitFor();
    assert.equal(await page.locator('#dash-view').isVisible(), false);
    assert.deepEqual(errors, [], 'no uncaught page errors');
    assert.deepEqual(failed, [], 'every page resource loaded');
  });
});
