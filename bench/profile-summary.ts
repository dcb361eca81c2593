/**
 * Turns the V8 CPU profiles (.cpuprofile) in a directory into a generated section of BENCHMARKS.md: where the
 * server's busy time goes, by category and by function, so the document can show why a benchmark costs what it
 * costs with figures from a run.
 *
 *   node --import tsx bench/profile-summary.ts --dir /tmp/prof --name profile-fanout [--top 15] [--no-write]
 *     [--command "the command that produced the profile"]
 *
 * Every *.cpuprofile in --dir is read and they are summed (one per server process the run started). Self time
 * is attributed per sample (the time to the next sample) to the function on top of the stack, grouped by
 * function name + file + line; "(idle)" is left out and shares are of busy time (total minus idle).
 *
 * Categories, first match wins:
 *   GC                      "(garbage collector)"
 *   startup/module loading  any frame with a module-loading frame under it or in it: node:internal/modules/*
 *                           (ESM and CJS loaders, run_main), compileSourceTextModule, wrapSafe, …; so top-level
 *                           evaluation of modules and the file reads of the loader count here, not elsewhere
 *   kernel socket writes    native writev / writeBuffer / writeUtf8String / writeLatin1String: their self time
 *                           includes the write syscall itself, kernel side of loopback TCP included
 *   Node streams & net      other frames whose url starts with node: (streams, net, stream_base_commons, events)
 *   ws library              urls containing /node_modules/ws/
 *   Chorus                  urls containing /dist/ (the built Chorus code)
 *   other                   everything else: "(program)", other native frames, other dependencies
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { machine, publish, runMain, table } from './lib/report.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    name: { type: 'string' },
    top: { type: 'string', default: '15' },
    command: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});
const DIR = values.dir;
const NAME = values.name;
const TOP = Number(values.top);
if (!DIR || !NAME || !(TOP > 0)) {
  throw new Error('usage: profile-summary.ts --dir DIR --name NAME [--top 15] [--no-write] [--command "…"]');
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const KERNEL_WRITE = 'kernel socket writes (native writev/writeBuffer)';
const NODE_NET = 'Node streams & net';
const CHORUS = 'Chorus';
const WS = 'ws library';
const GC = 'GC';
const STARTUP = 'startup/module loading';
const OTHER = 'other';
const CATEGORIES = [KERNEL_WRITE, NODE_NET, CHORUS, WS, GC, STARTUP, OTHER];

const NATIVE_WRITES = new Set(['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String']);
/** Module loading outside node:internal/modules/* (native compile and link steps, the CJS lexer). */
const LOADER_FUNCTIONS = new Set([
  'compileSourceTextModule',
  'compileFunction',
  'compileFunctionForCJSLoader',
  'wrapSafe',
  'link',
  'instantiate',
  'instantiateSync',
]);

function isLoader(f: CallFrame): boolean {
  return (
    f.url.startsWith('node:internal/modules/') ||
    f.url.startsWith('node:internal/deps/cjs-module-lexer/') ||
    (f.url === '' && LOADER_FUNCTIONS.has(f.functionName))
  );
}

function category(f: CallFrame, underLoader: boolean): string {
  if (f.functionName === '(garbage collector)') return GC;
  if (underLoader || isLoader(f)) return STARTUP;
  if (f.url === '' && NATIVE_WRITES.has(f.functionName)) return KERNEL_WRITE;
  if (f.url.startsWith('node:')) return NODE_NET;
  if (f.url.includes('/node_modules/ws/')) return WS;
  if (f.url.includes('/dist/')) return CHORUS;
  return OTHER;
}

/** How a frame's file is shown: the path after dist/ for Chorus, after node_modules/ for dependencies. */
function fileOf(url: string): string {
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return url;
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  return basename(url);
}

interface Fn {
  functionName: string;
  file: string;
  line: number;
  category: string;
  selfUs: number;
}

const ms = (us: number) => us / 1000;
const pct = (x: number, of: number) => `${((100 * x) / of).toFixed(1)}%`;

async function main(): Promise<void> {
  const dir = DIR as string;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);

  const fns = new Map<string, Fn>();
  const profiles: Array<{ file: string; durationMs: number; samples: number }> = [];
  let totalUs = 0;
  let idleUs = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    profiles.push({ file: basename(file), durationMs: ms(p.endTime - p.startTime), samples: p.samples.length });
    // Each node's category, computed top-down so that a frame under a module-loading frame counts as startup.
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const nodeCategory = new Map<number, string>();
    const root = p.nodes.find((n) => n.callFrame.functionName === '(root)') ?? p.nodes[0];
    const stack: Array<[ProfileNode, boolean]> = root ? [[root, false]] : [];
    while (stack.length) {
      const [node, underLoader] = stack.pop() as [ProfileNode, boolean];
      nodeCategory.set(node.id, category(node.callFrame, underLoader));
      const below = underLoader || isLoader(node.callFrame);
      for (const c of node.children ?? []) {
        const child = byId.get(c);
        if (child) stack.push([child, below]);
      }
    }
    // Sample i lasts until sample i + 1 (the last one until endTime).
    let t = p.startTime;
    const stamps = p.timeDeltas.map((d) => {
      t += d;
      return t;
    });
    for (let i = 0; i < p.samples.length; i++) {
      const node = byId.get(p.samples[i] as number);
      if (!node) continue;
      const dur = Math.max(0, (stamps[i + 1] ?? p.endTime) - (stamps[i] as number));
      totalUs += dur;
      const f = node.callFrame;
      if (f.functionName === '(idle)') {
        idleUs += dur;
        continue;
      }
      const file = fileOf(f.url);
      const line = f.lineNumber >= 0 ? f.lineNumber + 1 : 0;
      const cat = nodeCategory.get(node.id) ?? category(f, false);
      // A function called both during startup and later appears twice, once per category.
      const key = `${f.functionName}\0${file}\0${line}\0${cat}`;
      const fn = fns.get(key) ?? {
        functionName: f.functionName || '(anonymous)',
        file,
        line,
        category: cat,
        selfUs: 0,
      };
      fn.selfUs += dur;
      fns.set(key, fn);
    }
  }

  const busyUs = totalUs - idleUs;
  if (!(busyUs > 0)) throw new Error('the profiles hold no busy samples');
  const byCategory = new Map(CATEGORIES.map((c) => [c, 0]));
  for (const fn of fns.values()) byCategory.set(fn.category, (byCategory.get(fn.category) ?? 0) + fn.selfUs);
  const categories = CATEGORIES.map((c) => ({ category: c, ms: ms(byCategory.get(c) ?? 0) }))
    .map((c) => ({ ...c, share: c.ms / ms(busyUs) }))
    .sort((a, b) => b.ms - a.ms);
  const top = [...fns.values()]
    .sort((a, b) => b.selfUs - a.selfUs)
    .slice(0, TOP)
    .map((f) => ({
      function: f.functionName,
      file: f.line ? `${f.file}:${f.line}` : f.file,
      category: f.category,
      selfMs: ms(f.selfUs),
      share: f.selfUs / busyUs,
    }));

  const chorusUs = byCategory.get(CHORUS) ?? 0;
  const kernelUs = byCategory.get(KERNEL_WRITE) ?? 0;
  const nodeUs = byCategory.get(NODE_NET) ?? 0;
  const how =
    files.length === 1
      ? `one profile (${(ms(totalUs) / 1000).toFixed(1)} s sampled)`
      : `${files.length} profiles summed, one per server process (${(ms(totalUs) / 1000).toFixed(1)} s sampled in all)`;
  const md = [
    `### CPU profile: ${NAME}`,
    '',
    [values.command ? `Command: \`${values.command}\`` : '', machine(), how].filter(Boolean).join(' · ') +
      `; busy ${ms(busyUs).toFixed(0)} ms of ${ms(totalUs).toFixed(0)} ms, the rest idle in the event loop. Shares are of busy time.`,
    '',
    table(
      ['category', 'self ms', 'share of busy time'],
      categories.map((c) => [c.category, c.ms.toFixed(0), pct(c.ms, ms(busyUs))]),
    ),
    '',
    table(
      ['function', 'file:line', 'self ms', 'share of busy time'],
      top.map((f) => [`\`${f.function}\``, `\`${f.file}\``, f.selfMs.toFixed(1), pct(f.selfMs, ms(busyUs))]),
    ),
    '',
    `Chorus's own code (\`dist/\`) is ${pct(chorusUs, busyUs)} of busy time, against ${pct(kernelUs, busyUs)} in the kernel write path (native \`writev\`/\`writeBuffer\`, ${(kernelUs / Math.max(chorusUs, 1)).toFixed(1)} × Chorus) and ${pct(nodeUs, busyUs)} in Node's streams and net code around it.`,
    '',
    'Self time is the time a function was on top of the stack. A native frame such as `writeBuffer` has no JavaScript under it, so its self time includes the `write` syscall it makes, kernel work of loopback TCP included: that is why it dominates. Startup/module loading counts every frame with a module-loading frame under it (top-level module evaluation included); "other" includes `(program)`, native time V8 does not attribute to a function.',
  ].join('\n');

  publish(
    NAME as string,
    md,
    {
      command: values.command ?? null,
      machine: machine(),
      mode: files.length === 1 ? 'single' : 'sum',
      profiles,
      totalMs: Math.round(ms(totalUs)),
      idleMs: Math.round(ms(idleUs)),
      busyMs: Math.round(ms(busyUs)),
      categories: categories.map((c) => ({ ...c, ms: Math.round(c.ms), share: Number(c.share.toFixed(4)) })),
      top: top.map((f) => ({ ...f, selfMs: Number(f.selfMs.toFixed(1)), share: Number(f.share.toFixed(4)) })),
    },
    !values['no-write'],
  );
}

runMain(main);
