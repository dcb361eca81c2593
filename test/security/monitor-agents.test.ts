/**
 * /demo/monitor outside the development preset: only agents (users named by demo.agent_users, from verified
 * tokens) may report, whatever the namespace allows; a client cannot pose as an agent; the dashboard names an
 * agent by its verified user, not by the name in its payload, so a fake name cannot overwrite or push off a
 * real agent; the number of cards is bounded and online agents keep theirs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext } from 'centrifuge';
import type { Browser, Page } from 'playwright-core';
import { buildPages, launchBrowser, needBrowser, watchErrors } from '../helpers/browser.js';
import { hsToken, once, SECRET, sdk, sleep, waitFor } from '../helpers/clients.js';
import { openChannels, startServer, type TestServer } from '../helpers/server.js';

const CLI = ['--import', 'tsx', new URL('../../src/cli/run.ts', import.meta.url).pathname];
const tmp = mkdtempSync(join(tmpdir(), 'chorus-monitor-'));

/** A deployment that opens the channel space wide: the agent rule alone must keep impostors out. */
const CONFIG = {
  demo: { enabled: true, agent_users: ['agent-*'] },
  client: { token: { hmac_secret_key: SECRET }, allow_anonymous_connect_without_token: true },
  channel: {
    without_namespace: openChannels({
      allow_publish_for_client: true,
      presence: true,
      join_leave: true,
      history_size: 100,
      history_ttl: '60s',
    }),
  },
};

function report(name: string, cpu: number) {
  return {
    name,
    cpu,
    mem: 40,
    memUsed: 2 ** 30,
    memTotal: 4 * 2 ** 30,
    load1: 0.5,
    cpus: 2,
    interval: 200,
    ts: Date.now(),
  };
}

describe('monitoring agents cannot be impersonated', () => {
  let s: TestServer;
  const clients: Centrifuge[] = [];
  const children: ChildProcess[] = [];
  const timers: NodeJS.Timeout[] = [];

  async function connect(user: string): Promise<Centrifuge> {
    const c = sdk(s.wsUrl, { token: user === '' ? '' : await hsToken({ sub: user }) });
    clients.push(c);
    const ok = once(c, 'connected');
    c.connect();
    await ok;
    return c;
  }

  function watch(channel = 'metrics') {
    const got: PublicationContext[] = [];
    return connect('viewer').then((c) => {
      const sub = c.newSubscription(channel);
      sub.on('publication', (ctx) => got.push(ctx));
      const ok = once(sub, 'subscribed');
      sub.subscribe();
      return ok.then(() => got);
    });
  }

  /** An SDK agent reporting `cpu` every 200 ms under payload name `name`. */
  async function reporter(user: string, name: string, cpu: number): Promise<void> {
    const c = await connect(user);
    await c.publish('metrics', report(name, cpu));
    timers.push(setInterval(() => void c.publish('metrics', report(name, cpu)).catch(() => {}), 200));
  }

  function startAgent(args: string[]): { proc: ChildProcess; stderr: () => string } {
    const proc = spawn(process.execPath, [...CLI, 'agent', '--server', s.url, '--interval', '200ms', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(proc);
    let err = '';
    proc.stderr?.on('data', (d) => {
      err += d;
    });
    return { proc, stderr: () => err };
  }

  before(async () => {
    s = await startServer(CONFIG);
  });
  after(async () => {
    for (const t of timers) clearInterval(t);
    for (const p of children) if (p.exitCode === null) p.kill('SIGKILL');
    for (const c of clients) c.disconnect();
    await s.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('a user who is not an agent, and an anonymous client, cannot publish reports (103)', async () => {
    const got = await watch();
    const mallory = await connect('mallory');
    const anon = await connect('');
    for (const c of [mallory, anon]) {
      await assert.rejects(c.publish('metrics', report('agent-web1', 99)), (e: { code?: number }) => e.code === 103);
    }
    // The rest of the channel space stays as open as configured.
    await mallory.publish('chat', { text: 'hi' });
    const agent = await connect('agent-web1');
    await agent.publish('metrics', report('whatever', 10));
    await waitFor(() => got.length === 1, 5000, 'the agent’s report');
    assert.equal(got[0]?.info?.user, 'agent-web1', 'the server stamps the agent’s verified user');
  });

  test('`chorus agent` with a token file reports as its token’s user; without a token it is refused with a hint', async () => {
    const got = await watch();
    const tokenFile = join(tmp, 'agent.jwt');
    writeFileSync(tokenFile, `${await hsToken({ sub: 'agent-db1' })}\n`);
    const real = startAgent(['--token-file', tokenFile, '--name', 'web-1']);
    await waitFor(() => got.length >= 2, 15_000, `reports (agent said: ${real.stderr()})`);
    assert.ok(
      got.every((p) => p.info?.user === 'agent-db1'),
      'every report carries the token’s user',
    );
    assert.match(real.stderr(), /reporting as "agent-db1"/);

    const impostor = startAgent(['--name', 'agent-db1']);
    await waitFor(() => /only agents may report/.test(impostor.stderr()), 15_000, `a refusal (${impostor.stderr()})`);
    assert.match(impostor.stderr(), /demo\.agent_users/);
  });

  test('the dashboard: a fake name neither overwrites nor pushes off a real agent, and cards are bounded', {
    skip: needBrowser().skip,
    timeout: 60_000,
  }, async () => {
    buildPages();
    const browser: Browser = await launchBrowser();
    try {
      const page: Page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.setDefaultTimeout(10_000);
      const errors = watchErrors(page);
      const card = (name: string) => page.locator(`.mon-agent[data-agent="${name}"]`);
      await page.goto(`${s.url}/demo/monitor`);
      await page.locator('#mon-conn[data-state="connected"]').waitFor();

      await reporter('agent-web1', 'agent-web1', 10);
      await card('agent-web1').waitFor();
      // An agent user claiming other names in its payload gets one card, under its own user.
      const evil = await connect('agent-evil');
      for (let i = 0; i < 20; i++) await evil.publish('metrics', report(i === 0 ? 'agent-web1' : `fake-${i}`, 99));
      await card('agent-evil').waitFor();
      assert.equal(await page.locator('.mon-agent[data-agent^="fake-"]').count(), 0, 'no card for a payload name');
      // A non-agent claiming the real agent's name is refused by the server: the card keeps the real values.
      const mallory = await connect('mallory');
      await assert.rejects(mallory.publish('metrics', report('agent-web1', 99)));
      await sleep(500);
      assert.equal(await card('agent-web1').locator('.mon-value').first().textContent(), '10.0');

      // 60 more agents: at most 50 cards, and the agents already online keep theirs.
      for (let i = 0; i < 60; i++) await reporter(`agent-n${i}`, 'x', 20);
      await waitFor(async () => (await page.locator('.mon-agent').count()) >= 50, 15_000, '50 cards');
      await sleep(500);
      assert.equal(await page.locator('.mon-agent').count(), 50, 'bounded');
      assert.equal(await card('agent-web1').count(), 1, 'the real agent is still shown');
      assert.equal(await card('agent-web1').locator('.mon-status').textContent(), 'online');
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      await browser.close();
    }
  });
});
