#!/usr/bin/env node
// Builds the pages: bundles web/src/*.ts (with the centrifuge SDK and the chart library) into dist/public/assets
// and copies web/pages/*.html and web/*.css. Nothing is fetched from a CDN at run time.
// Usage: node scripts/build-web.mjs [--out DIR]   (default dist/public; the single-executable build uses its own)
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = new URL('../', import.meta.url).pathname;
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const out = values.out === undefined ? join(root, 'dist/public') : resolve(values.out);
mkdirSync(join(out, 'assets'), { recursive: true });
const entries = readdirSync(join(root, 'web/src'))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .filter((f) => !f.startsWith('_'))
  .map((f) => join(root, 'web/src', f));
if (entries.length > 0) {
  await build({
    entryPoints: entries,
    bundle: true,
    format: 'esm',
    target: 'es2020',
    minify: true,
    sourcemap: true,
    outdir: join(out, 'assets'),
    logLevel: 'warning',
  });
}
for (const f of readdirSync(join(root, 'web/pages'))) cpSync(join(root, 'web/pages', f), join(out, f));
if (existsSync(join(root, 'web/style.css'))) cpSync(join(root, 'web/style.css'), join(out, 'assets/style.css'));
console.log(`pages built into ${out}`);
