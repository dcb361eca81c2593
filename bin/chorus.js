#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build`, which `npm install` runs in a checkout and `npm pack`
// runs before packing).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/run.js', import.meta.url);
if (!existsSync(entry)) {
  const checkout = existsSync(new URL('../src/cli/run.ts', import.meta.url));
  process.stderr.write(
    checkout
      ? 'chorus: dist/ is missing; run "npm run build" first (npm start does it for you)\n'
      : 'chorus: this copy of chorus-server has no dist/: its build ("prepare" script) did not run when it was ' +
          'installed, e.g. from git with scripts disabled. Reinstall with scripts allowed ' +
          '("npm install --allow-scripts=chorus-server <git URL>"), or install a packed tarball\n',
  );
  process.exit(1);
}
await import(entry.href);
