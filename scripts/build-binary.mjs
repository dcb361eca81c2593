#!/usr/bin/env node
// Builds Chorus as one executable file, like Centrifugo's single binary, with Node's single-executable
// applications (SEA): the CLI (src/cli/run.ts and everything it imports) bundled by esbuild into one CommonJS
// script, the pages (web/) embedded as assets, and both injected with postject into a copy of the Node binary
// running this script. The result runs on machines of the same OS and CPU architecture without Node installed.
//
// Usage: npm run build:binary [-- --out DIR]      writes DIR/chorus (default: build/chorus)
//
// ws's optional native add-ons (bufferutil, utf-8-validate) cannot be loaded from inside the executable: the
// bundle replaces them with a module that throws, and ws uses its JavaScript fallbacks (same behaviour; masking
// of large frames costs a little more CPU). See deploy/README.md.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const root = new URL('../', import.meta.url).pathname;
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const outDir = resolve(values.out ?? join(root, 'build'));
const exe = join(outDir, process.platform === 'win32' ? 'chorus.exe' : 'chorus');

function die(message) {
  process.stderr.write(`build:binary: ${message}\n`);
  process.exit(1);
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) die(`${what} failed (${cmd} ${args.join(' ')}):\n${r.stderr || r.stdout || r.error?.message}`);
  return r.stdout;
}

// Assets in single executables came with Node 20.12 (and 21.7).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 12) || (major === 21 && minor < 7)) {
  die(`Node ${process.versions.node} cannot embed the pages in a single executable: use Node 20.12 or later`);
}
if (process.platform !== 'linux' && process.platform !== 'darwin') {
  die(`building on ${process.platform} is not supported by this script (Linux and macOS are)`);
}
if (!readFileSync(process.execPath).includes(FUSE)) {
  die(
    `${process.execPath} has no single-executable fuse (some distributions build Node without it): use a Node binary from nodejs.org`,
  );
}

const work = mkdtempSync(join(tmpdir(), 'chorus-binary-'));
try {
  // 1. The pages, built into the work directory (dist/ is left alone).
  run(process.execPath, [join(root, 'scripts/build-web.mjs'), '--out', join(work, 'public')], 'building the pages');

  // 2. One CommonJS script: a single executable's main script may require only Node's built-in modules.
  const nativeAddOns = /^(bufferutil|utf-8-validate|supports-color)$/;
  await build({
    entryPoints: [join(root, 'src/cli/run.ts')],
    outfile: join(work, 'chorus.cjs'),
    bundle: true,
    platform: 'node',
    target: `node${major}`,
    format: 'cjs',
    minify: false,
    legalComments: 'inline',
    // import.meta has no meaning in CommonJS; the one use (finding dist/public outside an executable) gets a URL.
    define: { 'import.meta.url': '__chorusImportMetaUrl' },
    banner: { js: 'const __chorusImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
    plugins: [
      {
        // Optional native add-ons (and debug's optional supports-color) are tried in try/catch by their users:
        // a module that throws makes them take their fallbacks, without Node warning about require().
        name: 'optional-modules',
        setup(b) {
          b.onResolve({ filter: nativeAddOns }, (args) => ({ path: args.path, namespace: 'optional-module' }));
          b.onLoad({ filter: /.*/, namespace: 'optional-module' }, (args) => ({
            contents: `throw new Error(${JSON.stringify(`${args.path} is not available in the single executable`)});`,
            loader: 'js',
          }));
        },
      },
    ],
    logLevel: 'warning',
  });

  // 3. The preparation blob: the script and the pages (as assets "public/<path>").
  const assets = {};
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else assets[`public/${relative(join(work, 'public'), p)}`] = p;
    }
  };
  walk(join(work, 'public'));
  const seaConfig = {
    main: join(work, 'chorus.cjs'),
    output: join(work, 'sea.blob'),
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    assets,
  };
  writeFileSync(join(work, 'sea-config.json'), JSON.stringify(seaConfig, null, 2));
  run(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], 'making the SEA blob');

  // 4. A copy of this Node binary with the blob injected.
  mkdirSync(outDir, { recursive: true });
  rmSync(exe, { force: true });
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  if (process.platform === 'linux') {
    // Debug symbols are 10+ MB of the official binary; strip (binutils) is optional.
    spawnSync('strip', [exe], { stdio: 'ignore' });
  } else {
    run('codesign', ['--remove-signature', exe], 'removing the signature');
  }
  // postject's CLI in a child process: its ELF parser prints harmless warnings, shown only when it fails.
  const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  run(
    process.execPath,
    [
      postject,
      exe,
      'NODE_SEA_BLOB',
      join(work, 'sea.blob'),
      '--sentinel-fuse',
      FUSE,
      ...(process.platform === 'darwin' ? ['--macho-segment-name', 'NODE_SEA'] : []),
    ],
    'injecting the blob (postject)',
  );
  if (process.platform === 'darwin') run('codesign', ['--sign', '-', exe], 'signing');

  // 5. It starts.
  const version = run(exe, ['version'], 'running the executable').trim();
  const expected = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  if (version !== expected) die(`the executable says version "${version}", package.json ${expected}`);
  const mb = (statSync(exe).size / 1024 / 1024).toFixed(0);
  console.log(
    `single executable: ${exe} (${mb} MB, Node ${process.versions.node}, ${process.platform}-${process.arch})`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
