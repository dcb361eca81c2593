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
      : 'chorus: this copy of chorus-server has no dist/: it was installed from git without running its build ' +
          '(npm 11 skips a git dependency\'s "prepare" script unless allowed). Reinstall with ' +
          '"npm install --allow-scripts=chorus-server <git URL>", or install a packed tarball or the registry package\n',
  );
  process.exit(1);
}
await import(entry.href);
