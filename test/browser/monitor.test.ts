/**
 * The live monitoring dashboard (/demo/monitor) in real Chromium against a server with the development preset,
 * fed by a real `chorus agent` child process and by publishers the test drives: the agent shows up, its charts
 * move, it goes offline when killed (leave) or when it falls silent (timeout), comes back, names stay text,
 * history fills the page in, light and dark.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import type { Browser, Page } from 'playwright-core';
import { developmentPreset } from '../../src/config/dev-preset.js';
import { buildPages, launchBrowser, needBrowser, screenshot, watchErrors } from '../helpers/browser.js';
import { once, sdk, sleep } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

const skip = needBrowser().skip;
const T = 10_000;
const CLI = ['--import', 'tsx', new URL('../../src/cli/run.ts', import.meta.url).pathname];

describe('monitor page', { skip, timeout: 60_000 }, () => {
  let s: TestServer;
  let browser: Browser;
  const children: ChildProcess[] = [];
  const clients: Centrifuge[] = [];
  const timers: NodeJS.Timeout[] = [];

  function startAgent(name: string): ChildProcess {
    const p = spawn(process.execPath, [...CLI, 'agent', '--server', s.url, '--name', name, '--interval', '200ms'], {
      stdio: 'ignore',
    });
    children.push(p);
    return p;
  }

  function kill(p: ChildProcess): void {
    if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }

  /** A stand-in agent driven by the test: publishes reports like `chorus agent` until told to stop. */
  async function fakeAgent(name: string, base: { cpu: number; mem: number; load1: number }) {
    const c = sdk(s.wsUrl);
    clients.push(c);
    c.connect();
    await once(c, 'connected');
    let n = 0;
    const send = () => {
      n++;
      const wave = Math.sin(n / 4);
      void c
        .publish('metrics', {
          name,
          cpu: Math.max(0, Math.min(100, base.cpu + 15 * wave)),
          mem: base.mem + 2 * wave,
          memUsed: 3.2 * 2 ** 30,
          memTotal: 8 * 2 ** 30,
          load1: Math.max(0, base.load1 + 0.4 * wave),
          cpus: 4,
          interval: 200,
          ts: Date.now(),
        })
        .catch(() => {});
    };
    let timer: NodeJS.Timeout | undefined = setInterval(send, 200);
    timers.push(timer);
    return {
      stop() {
        clearInterval(timer);
        timer = undefined;
      },
      resume() {
        if (timer === undefined) {
          timer = setInterval(send, 200);
          timers.push(timer);
        }
      },
    };
  }

  const card = (page: Page, name: string) => page.locator(`.mon-agent[data-agent="${name.replace(/"/g, '\\"')}"]`);
  const status = (page: Page, name: string) => card(page, name).locator('.mon-status');
  const points = async (page: Page, metric: string) =>
    Number(await page.locator(`.mon-chart[data-metric="${metric}"]`).getAttribute('data-points'));

  before(async () => {
    buildPages();
    s = await startServer(developmentPreset());
    browser = await launchBrowser();
  });

  after(async () => {
    for (const t of timers) clearInterval(t);
    for (const p of children) kill(p);
    for (const c of clients) c.disconnect();
    await browser?.close();
    await s?.close();
  });

  test('a real agent appears, its charts move, and it goes offline when killed', { timeout: 30_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(T);
    const errors = watchErrors(page);
    await page.goto(`${s.url}/demo/monitor`);
    await page.getByText('Waiting for agents').waitFor();
    await page.locator('#mon-conn[data-state="connected"]').waitFor();
    assert.match(
      (await page.locator('#mon-cmd').textContent()) ?? '',
      /chorus agent --server http:\/\/127\.0\.0\.1:\d+/,
    );
    await screenshot(page, 'monitor-empty-light');

    const agent = startAgent('browser-agent');
    await card(page, 'browser-agent').waitFor({ timeout: 15_000 });
    await status(page, 'browser-agent')
      .filter({ hasText: /^online$/ })
      .waitFor();
    assert.equal(await page.getByText('Waiting for agents').isVisible(), false);
    assert.equal((await page.locator('.mon-chart canvas').count()) >= 3, true, 'a canvas per chart');

    // The charts move: more points, different pixels.
    await page.waitForFunction(() => Number(document.querySelector('.mon-chart')?.getAttribute('data-points')) >= 2);
    const p1 = await points(page, 'cpu');
    const png1 = await page.locator('.mon-chart[data-metric="cpu"] canvas').first().screenshot();
    await sleep(1200);
    const p2 = await points(page, 'cpu');
    const png2 = await page.locator('.mon-chart[data-metric="cpu"] canvas').first().screenshot();
    assert.ok(p2 >= p1 + 3, `points grow: ${p1} → ${p2}`);
    assert.ok(!png1.equals(png2), 'the CPU chart redraws');
    for (const m of ['mem', 'load']) assert.ok((await points(page, m)) >= p2 - 2, `${m} chart has points too`);
    const cpuText = Number(await card(page, 'browser-agent').locator('.mon-value').first().textContent());
    assert.ok(cpuText >= 0 && cpuText <= 100, `CPU value on the card: ${cpuText}`);
    assert.match((await card(page, 'browser-agent').textContent()) ?? '', /GiB|MiB/);
    assert.match((await page.locator('#mon-summary').textContent()) ?? '', /1 agent · 1 online/);
    await screenshot(page, 'monitor-agent-light');

    const killedAt = Date.now();
    kill(agent);
    await status(page, 'browser-agent')
      .filter({ hasText: /^offline$/ })
      .waitFor();
    const took = Date.now() - killedAt;
    assert.ok(took < 8000, `offline after ${took}ms`);
    assert.ok(await card(page, 'browser-agent').getByText('offline', { exact: true }).isVisible(), '"offline" shows');
    assert.match((await page.locator('#mon-summary').textContent()) ?? '', /1 offline/);
    await screenshot(page, 'monitor-offline-light');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('silence means offline, a report means online again; names are text; history; dark', {
    timeout: 30_000,
  }, async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(T);
    const errors = watchErrors(page);
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${s.url}/demo/monitor`);
    // The killed agent of the previous test comes back from history, offline (it left the channel).
    await status(page, 'browser-agent')
      .filter({ hasText: /^offline$/ })
      .waitFor();

    const evil = '<img src=x onerror="window.__pwned=1">db-1';
    const a = await fakeAgent(evil, { cpu: 35, mem: 48, load1: 1.1 });
    const b = await fakeAgent('web-2', { cpu: 70, mem: 62, load1: 2.3 });
    await status(page, evil)
      .filter({ hasText: /^online$/ })
      .waitFor();
    await status(page, 'web-2')
      .filter({ hasText: /^online$/ })
      .waitFor();
    assert.equal(await card(page, evil).locator('.mon-agent-name').textContent(), evil, 'the name is shown as text');
    assert.equal(await page.locator('.mon-agent img').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.deepEqual(
      await page.locator('.mon-agent-name').allTextContents(),
      [evil, 'browser-agent', 'web-2'],
      'cards sorted by name',
    );
    await sleep(1500); // some lines to look at
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, bl] = (bg.match(/\d+/g) ?? []).map(Number);
    assert.ok((r ?? 255) + (g ?? 255) + (bl ?? 255) < 150, `dark background: ${bg}`);
    await screenshot(page, 'monitor-agents-dark');

    // Still connected but silent: offline once 3 intervals (at least 3 s) pass without a report.
    const stoppedAt = Date.now();
    a.stop();
    await status(page, evil)
      .filter({ hasText: /^offline$/ })
      .waitFor();
    const took = Date.now() - stoppedAt;
    assert.ok(took >= 2500 && took < 7000, `offline after ${took}ms of silence`);
    assert.match((await card(page, evil).locator('.mon-seen').textContent()) ?? '', /silent · last report \d+ s ago/);
    assert.equal(await status(page, 'web-2').textContent(), 'online');
    await screenshot(page, 'monitor-silent-dark');
    a.resume();
    await status(page, evil)
      .filter({ hasText: /^online$/ })
      .waitFor();
    b.stop();

    // Light again, on a phone.
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 390, height: 844 });
    await sleep(300);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no sideways scrolling on a phone: ${width}px`);
    await screenshot(page, 'monitor-phone-light');
    assert.deepEqual(errors, []);
    await page.close();
  });
});
