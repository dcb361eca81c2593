/**
 * Real Chromium (Debian's, driven by playwright-core) for the page tests. Without it `npm test` skips those
 * suites with a loud notice; in CI (CI=true) a missing browser fails them. Never downloads a browser.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

const CHROMIUM = process.env.CHORUS_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = new URL('../../', import.meta.url).pathname;
export const ARTIFACTS = join(ROOT, 'test-results');

export function needBrowser(): { skip?: string } {
  if (existsSync(CHROMIUM)) return {};
  const why = `Chromium not found at ${CHROMIUM}`;
  if (process.env.CI === 'true') throw new Error(`${why}: CI requires it (apt-get install -y chromium)`);
  console.warn(`\n!!!!! SKIPPING browser suites: ${why}. Install it with: apt-get install -y chromium !!!!!\n`);
  return { skip: why };
}

let built = false;
/** Builds the pages (esbuild, about a second) once per test process, so tests run against current sources. */
export function buildPages(): void {
  if (built) return;
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-web.mjs')], { stdio: 'ignore' });
  built = true;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Collects uncaught page errors and Content-Security-Policy violations (a test asserts the list stays empty):
 * a page that needs something the server's policy forbids fails its test instead of silently losing a feature.
 */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) errors.push(`CSP: ${m.text()}`);
  });
  return errors;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
