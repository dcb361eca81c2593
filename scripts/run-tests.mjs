#!/usr/bin/env node
// Runs every test suite with Node's test runner (TypeScript through tsx). Suites that need a service this
// machine lacks (Redis, Chromium, nginx) skip with a loud notice here, and the summary counts and lists them;
// CI (CI=true) makes them mandatory.
// Usage: npm test [-- <file or directory> ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every suite directory under test/ (not helpers or fixtures): fast, socket-free suites first, browsers last. */
const ORDER = [
  'unit',
  'core',
  'http',
  'fuzz',
  'conformance',
  'hostile',
  'security',
  'sdk-compat',
  'integration',
  'package',
  'cluster',
  'browser',
];
const NOT_SUITES = new Set(['helpers', 'fixtures', 'tmp']);
function suiteDirs() {
  const dirs = readdirSync('test', { withFileTypes: true })
    .filter((d) => d.isDirectory() && !NOT_SUITES.has(d.name))
    .map((d) => d.name);
  const rank = (d) => (ORDER.includes(d) ? ORDER.indexOf(d) : ORDER.indexOf('integration'));
  return dirs.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).map((d) => join('test', d));
}

const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : suiteDirs();

function collect(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return [];
  if (st.isFile()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => {
      const p = join(path, name);
      if (statSync(p).isDirectory()) return collect(p);
      return /\.test\.m?ts$/.test(name) ? [p] : [];
    });
}

const files = roots.flatMap(collect);
if (files.length === 0) {
  console.error('no test files found under', roots.join(', '));
  process.exit(1);
}
/**
 * Suites that measure the server's CPU per event-loop turn run on their own, after the others: beside another
 * suite (the live fuzz's 32 workers, say) V8's collector threads get no core and leave their work to the main
 * thread, which then reads as server time.
 */
const ALONE = new Set(['test/hostile/event-loop-turns.test.ts']);

function run(list, concurrency) {
  return spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      // Spec output whose summary also counts skipped suites (Node's counts only skipped tests).
      `--test-reporter=${fileURLToPath(new URL('./test-reporter.mjs', import.meta.url))}`,
      `--test-concurrency=${concurrency}`,
      ...list,
    ],
    { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
  ).status;
}

const together = files.filter((f) => !ALONE.has(f.split('\\').join('/')));
const alone = files.filter((f) => ALONE.has(f.split('\\').join('/')));
const statuses = [];
if (together.length > 0) statuses.push(run(together, process.env.TEST_CONCURRENCY ?? 2));
if (alone.length > 0) {
  console.log(`\n# on their own (they measure the server's CPU per event-loop turn): ${alone.join(', ')}`);
  statuses.push(run(alone, 1));
}
process.exit(statuses.every((s) => s === 0) ? 0 : (statuses.find((s) => s !== 0) ?? 1));
