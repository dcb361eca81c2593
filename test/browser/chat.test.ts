/**
 * The demo chat (/demo/chat) in real Chromium against a server started with the development preset (what
 * `npm start` runs): joining, presence, messages with history, private messages, recovery after going offline,
 * the connection badge, and light/dark screenshots.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { developmentPreset } from '../../src/config/dev-preset.js';
import { buildPages, launchBrowser, needBrowser, screenshot, watchErrors } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';

const skip = needBrowser().skip;
const T = 5_000;

interface Person {
  name: string;
  context: BrowserContext;
  page: Page;
  errors: string[];
  /** Every text the state badge showed, in order. */
  states: string[];
}

describe('demo chat page', { skip, timeout: 120_000 }, () => {
  let s: TestServer;
  let browser: Browser;
  const people: Person[] = [];

  async function join(name: string, room = 'lobby'): Promise<Person> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    page.on('console', (m) => {
      // Failed WebSocket attempts while offline are logged by Chromium itself: shown, not failures.
      if (m.type() === 'error' && process.env.CHAT_TEST_VERBOSE) console.log(`[${name}] console: ${m.text()}`);
    });
    const states: string[] = [];
    await page.exposeFunction('__chatState', (t: string) => states.push(t));
    await page.addInitScript(() => {
      // Records every state the badge shows, even the brief ones a poll would miss.
      const report = (window as unknown as { __chatState: (t: string) => void }).__chatState;
      new MutationObserver(() => {
        const b = document.querySelector('[data-testid="state"]');
        if (b !== null && b.textContent !== (window as unknown as { __last?: string }).__last) {
          (window as unknown as { __last?: string }).__last = b.textContent ?? '';
          report(b.textContent ?? '');
        }
      }).observe(document, { subtree: true, childList: true, characterData: true });
    });
    await page.goto(`${s.url}/demo/chat#${room}`);
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page
      .getByTestId('state')
      .filter({ hasText: /^connected$/ })
      .waitFor({ timeout: T });
    const p = { name, context, page, errors, states };
    people.push(p);
    return p;
  }

  async function say(p: Person, text: string): Promise<void> {
    await p.page.getByLabel('Message', { exact: true }).fill(text);
    await p.page.getByRole('button', { name: 'Send', exact: true }).click();
    // Sent once the field is cleared.
    await p.page.waitForFunction(() => (document.getElementById('message') as HTMLInputElement).value === '', null, {
      timeout: T,
    });
  }

  const messages = (p: Person) => p.page.getByTestId('messages').locator('li.msg');
  const message = (p: Person, text: string) => messages(p).filter({ hasText: text });
  const presenceNames = (p: Person) => p.page.getByTestId('presence').locator('.person-name').allTextContents();

  async function waitPresence(p: Person, expected: string[]): Promise<void> {
    const want = [...expected].sort().join(',');
    const end = Date.now() + T;
    let got = '';
    while (Date.now() < end) {
      got = (await presenceNames(p)).sort().join(',');
      if (got === want) return;
      await p.page.waitForTimeout(50);
    }
    assert.fail(`${p.name} sees [${got}] in the room, expected [${want}]`);
  }

  before(async () => {
    buildPages();
    const config = developmentPreset() as { client: Record<string, unknown> };
    // Heartbeats every 2 s: a connection that went silent is noticed and closed within a few seconds.
    config.client.ping_interval = '2s';
    config.client.pong_timeout = '1s';
    s = await startServer(config);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await s?.close();
  });

  test('two people join a room, see each other and talk; names, times and text are shown as text', {
    timeout: 30_000,
  }, async () => {
    const alice = await join('Alice');
    const bob = await join('Bob');
    await waitPresence(alice, ['Alice', 'Bob']);
    await waitPresence(bob, ['Alice', 'Bob']);
    assert.equal(await alice.page.getByTestId('state').textContent(), 'connected');

    await say(alice, 'hello from Alice');
    const got = message(bob, 'hello from Alice');
    await got.waitFor({ timeout: T });
    assert.equal(await got.locator('.who').textContent(), 'Alice');
    assert.match((await got.locator('time').getAttribute('datetime')) ?? '', /^\d{4}-\d\d-\d\dT/);
    await say(bob, 'hi Alice, Bob here');
    await message(alice, 'hi Alice, Bob here').waitFor({ timeout: T });
    // Own messages are marked as such.
    assert.equal(await message(alice, 'hello from Alice').evaluate((e) => e.classList.contains('mine')), true);
    assert.equal(await message(bob, 'hello from Alice').evaluate((e) => e.classList.contains('mine')), false);

    // Markup in a message is text, never HTML.
    const evil = '<img src=x onerror="window.__owned=1"><b>bold?</b>';
    await say(bob, evil);
    const shown = message(alice, 'bold?');
    await shown.waitFor({ timeout: T });
    assert.equal(await shown.locator('.text').textContent(), evil);
    assert.equal(await alice.page.locator('#messages img, #messages b').count(), 0);
    assert.equal(await alice.page.evaluate(() => (window as unknown as { __owned?: number }).__owned), undefined);
    await screenshot(alice.page, 'chat-light-alice');
  });

  test('a late joiner gets the recent history, in order, once', { timeout: 30_000 }, async () => {
    const carol = await join('Carol');
    await waitPresence(carol, ['Alice', 'Bob', 'Carol']);
    await message(carol, 'bold?').waitFor({ timeout: T });
    const texts = await messages(carol).locator('.text').allTextContents();
    const idx = ['hello from Alice', 'hi Alice, Bob here'].map((t) => texts.indexOf(t));
    assert.ok(idx[0]! >= 0 && idx[1]! > idx[0]!, `history out of order: ${JSON.stringify(texts)}`);
    assert.equal(texts.filter((t) => t === 'hello from Alice').length, 1);
    assert.equal(await message(carol, 'hello from Alice').locator('.who').textContent(), 'Alice');
  });

  test('a private message reaches only its target', { timeout: 30_000 }, async () => {
    const [alice, bob, carol] = people as [Person, Person, Person];
    await waitPresence(alice, ['Alice', 'Bob', 'Carol']);
    await alice.page.getByTestId('presence').getByRole('button', { name: 'Bob', exact: true }).click();
    await alice.page.getByText('Private to').waitFor({ timeout: T });
    await say(alice, 'psst, just for Bob');
    const got = message(bob, 'psst, just for Bob');
    await got.waitFor({ timeout: T });
    assert.equal(await got.getAttribute('data-private'), 'true');
    assert.equal(await got.locator('.who').textContent(), 'Alice');
    assert.match((await got.locator('.tag').textContent()) ?? '', /private/);
    // The sender sees it too, marked as private to Bob.
    assert.match((await message(alice, 'psst, just for Bob').locator('.tag').textContent()) ?? '', /to Bob/);
    await screenshot(bob.page, 'chat-light-bob-private');
    // A room message sent after it reaches Carol; the private one never does.
    await alice.page.getByRole('button', { name: 'Back to the room' }).click();
    await say(alice, 'back to everyone');
    await message(carol, 'back to everyone').waitFor({ timeout: T });
    assert.equal(await message(carol, 'psst').count(), 0);
    await message(bob, 'back to everyone').waitFor({ timeout: T });
    assert.equal(await message(bob, 'back to everyone').getAttribute('data-private'), null);
  });

  test('messages sent while offline appear after the reconnect, once and in order', { timeout: 30_000 }, async () => {
    const [alice, bob] = people as [Person, Person];
    const badge = alice.page.getByTestId('state');
    const before = alice.states.length;
    const started = Date.now();
    await alice.context.setOffline(true);
    await badge.filter({ hasText: /^(reconnecting|connecting|disconnected)$/ }).waitFor({ timeout: 10_000 });
    await say(bob, 'missed one');
    await say(bob, 'missed two');
    await say(bob, 'missed three');
    await alice.page.waitForTimeout(300);
    assert.equal(await message(alice, 'missed').count(), 0, 'an offline page got messages');
    await alice.context.setOffline(false);
    await badge.filter({ hasText: /^connected$/ }).waitFor({ timeout: 15_000 });
    await message(alice, 'missed three').waitFor({ timeout: T });
    // They came from the recovery replay (not from a history reload).
    assert.equal(await alice.page.getByTestId('messages').getAttribute('data-subscribe'), 'recovered');
    const texts = (await messages(alice).locator('.text').allTextContents()).filter((t) => t.startsWith('missed'));
    assert.deepEqual(texts, ['missed one', 'missed two', 'missed three']);
    const seen = alice.states.slice(before);
    assert.ok(seen.includes('reconnecting'), `badge went through ${JSON.stringify(seen)}`);
    assert.equal(seen.at(-1), 'connected');
    console.log(`reconnect and recovery took ${Date.now() - started} ms; badge: ${seen.join(' → ')}`);
    // Alice is back in the room (with a new connection), and talking works both ways again.
    await say(alice, 'I am back');
    await message(bob, 'I am back').waitFor({ timeout: T });
    await waitPresence(alice, ['Alice', 'Bob', 'Carol']);
    await waitPresence(bob, ['Alice', 'Bob', 'Carol']);
    await screenshot(alice.page, 'chat-light-alice-after-reconnect');
  });

  test('switching rooms, dark mode and narrow screens look right; no page threw', { timeout: 30_000 }, async () => {
    const [alice, bob] = people as [Person, Person];
    await bob.page.getByLabel('New room', { exact: true }).fill('Side Room');
    await bob.page.getByRole('button', { name: 'Open', exact: true }).click();
    await bob.page.locator('#room-title').filter({ hasText: '#side-room' }).waitFor({ timeout: T });
    await waitPresence(bob, ['Bob']);
    await waitPresence(alice, ['Alice', 'Carol']);
    await say(bob, 'anyone here?');
    await message(bob, 'anyone here?').waitFor({ timeout: T });
    assert.equal(await message(alice, 'anyone here?').count(), 0);
    await bob.page.getByRole('button', { name: '#lobby', exact: true }).click();
    await message(bob, 'I am back').waitFor({ timeout: T });
    await waitPresence(bob, ['Alice', 'Bob', 'Carol']);

    await alice.page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(alice.page, 'chat-dark-alice');
    await bob.page.emulateMedia({ colorScheme: 'dark' });
    await bob.page.getByTestId('presence').getByRole('button', { name: 'Alice', exact: true }).click();
    await screenshot(bob.page, 'chat-dark-bob-private-mode');
    await bob.page.setViewportSize({ width: 390, height: 800 });
    await screenshot(bob.page, 'chat-dark-narrow');
    const overflow = await bob.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, 'the narrow page scrolls sideways');

    const fresh = await browser.newPage();
    const errors = watchErrors(fresh);
    await fresh.goto(`${s.url}/demo/chat`);
    await screenshot(fresh, 'chat-light-join');
    await fresh.emulateMedia({ colorScheme: 'dark' });
    await screenshot(fresh, 'chat-dark-join');
    await fresh.goto(`${s.url}/`);
    await screenshot(fresh, 'landing-dark');
    await fresh.emulateMedia({ colorScheme: 'light' });
    await screenshot(fresh, 'landing-light');
    await fresh.setViewportSize({ width: 390, height: 800 });
    await screenshot(fresh, 'landing-light-narrow');
    assert.equal(await fresh.evaluate(() => document.documentElement.scrollWidth > window.innerWidth), false);
    await fresh.close();
    for (const p of [...people, { name: 'fresh', errors }]) assert.deepEqual(p.errors, [], `${p.name}'s page threw`);
  });
});
