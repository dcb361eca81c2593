/**
 * The `chorus` command for tests that run it as a child process, bundled once per test file from src/ with
 * esbuild: a spawn then costs what `node dist/cli/run.js` costs, not a TypeScript compile of every module.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

let bundled: string | undefined;

/** argv prefix that runs the CLI: `[process.execPath, ...cliArgs(), 'serve', …]`. */
export function cliArgs(): string[] {
  if (bundled === undefined) {
    const root = new URL('../../', import.meta.url).pathname;
    // Inside node_modules so that the bundle's imports of dependencies resolve from the repository.
    const dir = join(root, 'node_modules', '.cache', 'chorus-test-cli');
    mkdirSync(dir, { recursive: true });
    const out = join(dir, `run-${process.pid}.mjs`);
    buildSync({
      entryPoints: [join(root, 'src/cli/run.ts')],
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'warning',
    });
    process.once('exit', () => rmSync(out, { force: true }));
    bundled = out;
  }
  return [bundled];
}
