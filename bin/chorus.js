#!/usr/bin/env node
// Runs the compiled CLI (npm run build). From a source checkout without a build, `npm start` builds first.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/run.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('chorus: dist/ is missing; run "npm run build" first (npm start does it for you)\n');
  process.exit(1);
}
await import(entry.href);
