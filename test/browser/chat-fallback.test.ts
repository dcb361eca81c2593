/**
 * The demo chat where WebSocket is blocked, in real Chromium against the development preset (what `npm start`
 * runs): the page falls back to HTTP-streaming — or to SSE where fetch streaming is blocked too — and the chat
 * works end to end: joining, messages both ways with a WebSocket user, presence, history, and recovery after
 * going offline. The top bar says which transport is in use.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { developmentPreset } from '../../src/config/dev-preset.js';
import { buildPages, launchBrowser, needBrowser, screenshot, watchErrors } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';

const skip = needBrowser().skip;
const T = 8_000;

/**
 * Runs before the page's own scripts: WebSocket behaves as on a network that blocks it — every connection fails
 * before it opens (error, then close 1006), and the attempts are counted. Plain JavaScript in a string: the page
 * runs it as it is, without the helpers a TypeScript function would be compiled with.
 */
const BLOCK_WEBSOCKET = `
  window.__wsAttempts = 0;
  class BlockedWebSocket extends EventTarget {
    constructor(url) {
      super();
      this.url = url;
      this.readyState = 0;
      this.binaryType = 'blob';
      this.protocol = '';
      this.extensions = '';
      this.bufferedAmount = 0;
      this.onopen = null;
      this.onerror = null;
      this.onclose = null;
      this.onmessage = null;
      window.__wsAttempts++;
      setTimeout(() => {
        this.readyState = 3;
        const error = new Event('error');
        if (this.onerror) this.onerror(error);
        this.dispatchEvent(error);
        const close = new CloseEvent('close', { code: 1006, wasClean: false });
        if (this.onclose) this.onclose(close);
        this.dispatchEvent(close);
      }, 20);
    }
    send() { throw new DOMException('WebSocket is not open', 'InvalidStateError'); }
    close() {}
  }
  BlockedWebSocket.CONNECTING = 0;
  BlockedWebSocket.OPEN = 1;
  BlockedWebSocket.CLOSING = 2;
  BlockedWebSocket.CLOSED = 3;
  window.WebSocket = BlockedWebSocket;
`;

interface Person {
  name: string;
  context: BrowserContext;
  page: Page;
  errors: string[];
}

describe('demo chat with WebSocket blocked', { skip, timeout: 120_000 }, () => {
  let s: TestServer;
  let browser: Browser;
  const people: Person[] = [];

  /** `block`: what the network in front of this person blocks. */
  async function join(name: string, block: 'nothing' | 'websocket' | 'websocket and fetch streaming'): Promise<Person> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    if (block !== 'nothing') await page.addInitScript(BLOCK_WEBSOCKET);
    if (block === 'websocket and fetch streaming') {
      await context.route('**/connection/http_stream', (route) => route.abort('blockedbyclient'));
    }
    await page.goto(`${s.url}/demo/chat#lobby`);
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page
      .getByTestId('state')
      .filter({ hasText: /^connected$/ })
      .waitFor({ timeout: T });
    const p = { name, context, page, errors };
    people.push(p);
    return p;
  }

  async function say(p: Person, text: string): Promise<void> {
    await p.page.getByLabel('Message', { exact: true }).fill(text);
    await p.page.getByRole('button', { name: 'Send', exact: true }).click();
    await p.page.waitForFunction(() => (document.getElementById('message') as HTMLInputElement).value === '', null, {
      timeout: T,
    });
  }

  const messages = (p: Person) => p.page.getByTestId('messages').locator('li.msg');
  const message = (p: Person, text: string) => messages(p).filter({ hasText: text });
  const transport = (p: Person) => p.page.getByTestId('transport').getAttribute('data-transport');

  async function waitPresence(p: Person, expected: string[]): Promise<void> {
    const want = [...expected].sort().join(',');
    const end = Date.now() + T;
    let got = '';
    while (Date.now() < end) {
      got = (await p.page.getByTestId('presence').locator('.person-name').allTextContents()).sort().join(',');
      if (got === want) return;
      await p.page.waitForTimeout(50);
    }
    assert.fail(`${p.name} sees [${got}] in the room, expected [${want}]`);
  }

  before(async () => {
    buildPages();
    const config = developmentPreset() as { client: Record<string, unknown> };
    config.client.ping_interval = '2s';
    config.client.pong_timeout = '1s';
    s = await startServer(config);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await s?.close();
  });

  test('without WebSocket the page connects over HTTP-streaming (then SSE) and says so', {
    timeout: 30_000,
  }, async () => {
    const ann = await join('Ann', 'websocket');
    assert.equal(await transport(ann), 'http_stream');
    assert.equal(await ann.page.getByTestId('transport').textContent(), 'via HTTP-streaming');
    assert.ok(
      (await ann.page.evaluate(() => (window as unknown as { __wsAttempts: number }).__wsAttempts)) >= 1,
      'WebSocket was tried first',
    );
    const sid = await join('Sid', 'websocket and fetch streaming');
    assert.equal(await transport(sid), 'sse');
    assert.equal(await sid.page.getByTestId('transport').textContent(), 'via SSE');
    const wes = await join('Wes', 'nothing');
    assert.equal(await transport(wes), 'websocket');
    await screenshot(ann.page, 'chat-fallback-http-stream');
  });

  test('messages go both ways between fallback and WebSocket users; presence lists everyone', {
    timeout: 30_000,
  }, async () => {
    const [ann, sid, wes] = people as [Person, Person, Person];
    for (const p of people) await waitPresence(p, ['Ann', 'Sid', 'Wes']);
    await say(ann, 'from Ann over HTTP-streaming');
    await say(sid, 'from Sid over SSE');
    await say(wes, 'from Wes over WebSocket');
    for (const p of [ann, sid, wes]) {
      for (const text of ['from Ann over HTTP-streaming', 'from Sid over SSE', 'from Wes over WebSocket']) {
        await message(p, text).waitFor({ timeout: T });
      }
    }
    // A private message (an RPC through the emulation endpoint) reaches its target.
    await ann.page.getByTestId('presence').getByRole('button', { name: 'Sid', exact: true }).click();
    await say(ann, 'psst Sid');
    await message(sid, 'psst Sid').waitFor({ timeout: T });
    assert.equal(await message(sid, 'psst Sid').getAttribute('data-private'), 'true');
    await ann.page.getByRole('button', { name: 'Back to the room' }).click();
  });

  test('a late joiner without WebSocket gets the history, in order, once', { timeout: 30_000 }, async () => {
    const lee = await join('Lee', 'websocket');
    await message(lee, 'from Wes over WebSocket').waitFor({ timeout: T });
    const texts = await messages(lee).locator('.text').allTextContents();
    const order = ['from Ann over HTTP-streaming', 'from Sid over SSE', 'from Wes over WebSocket'].map((t) =>
      texts.indexOf(t),
    );
    assert.ok(order[0]! >= 0 && order[1]! > order[0]! && order[2]! > order[1]!, `history: ${JSON.stringify(texts)}`);
    assert.equal(texts.filter((t) => t === 'from Ann over HTTP-streaming').length, 1);
    assert.equal(await message(lee, 'psst Sid').count(), 0, 'a private message is not history');
  });

  test('after going offline the fallback page reconnects and recovers what it missed', {
    timeout: 40_000,
  }, async () => {
    for (const [who, expected] of [
      [0, 'http_stream'],
      [1, 'sse'],
    ] as const) {
      const p = people[who] as Person;
      const wes = people[2] as Person;
      const badge = p.page.getByTestId('state');
      await p.context.setOffline(true);
      await badge.filter({ hasText: /^(reconnecting|connecting|disconnected)$/ }).waitFor({ timeout: 10_000 });
      await say(wes, `missed one (${p.name})`);
      await say(wes, `missed two (${p.name})`);
      await p.page.waitForTimeout(300);
      assert.equal(await message(p, `(${p.name})`).count(), 0, 'an offline page got messages');
      await p.context.setOffline(false);
      await badge.filter({ hasText: /^connected$/ }).waitFor({ timeout: 20_000 });
      await message(p, `missed two (${p.name})`).waitFor({ timeout: T });
      assert.equal(await p.page.getByTestId('messages').getAttribute('data-subscribe'), 'recovered');
      const texts = (await messages(p).locator('.text').allTextContents()).filter((t) => t.endsWith(`(${p.name})`));
      assert.deepEqual(texts, [`missed one (${p.name})`, `missed two (${p.name})`]);
      assert.equal(await transport(p), expected, 'still on its fallback');
      await say(p, `${p.name} is back`);
      await message(wes, `${p.name} is back`).waitFor({ timeout: T });
    }
    for (const p of people) assert.deepEqual(p.errors, [], `${p.name}'s page threw`);
  });
});
