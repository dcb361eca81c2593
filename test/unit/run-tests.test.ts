/**
 * `npm test`'s summary counts what was skipped truthfully: Node's own summary counts skipped tests but not
 * skipped suites (a suite skipped for a missing nginx, Redis or Chromium read "skipped 0"); scripts/run-tests.mjs's
 * reporter counts both and lists each with its reason.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;

test('the summary counts a skipped suite and lists it with its reason', () => {
  // Without the marker Node sets in test processes, which would stop the inner run as recursive.
  const env: NodeJS.ProcessEnv = { ...process.env, TEST_CONCURRENCY: '1' };
  delete env.NODE_TEST_CONTEXT;
  const run = spawnSync(process.execPath, ['scripts/run-tests.mjs', 'test/fixtures/test-runner'], {
    cwd: ROOT,
    encoding: 'utf8',
    env,
  });
  const out = run.stdout + run.stderr;
  assert.equal(run.status, 0, out);
  assert.match(out, /ℹ skipped 2 \(1 tests, 1 suites\)/, out);
  assert.match(
    out,
    /ℹ skipped: deployment suite — nginx is not installed \(test\/fixtures\/test-runner\/skips\.test\.ts\)/,
  );
  assert.match(out, /ℹ skipped: skipped on purpose — not on this machine/);
  assert.match(out, /ℹ pass 1/);
});
