/**
 * Writing results: JSON under bench/results/ and a generated section of BENCHMARKS.md between markers, so the
 * document's numbers always come from a run of the harness, never from a hand edit.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
  } catch {}
  return `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, commit ${commit}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function saveJSON(name: string, data: unknown): void {
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(data, null, 2)}\n`);
}

/** Replaces the generated section `name` of BENCHMARKS.md, or of another document under the root (or appends it). */
export function writeSection(name: string, markdown: string, document = 'BENCHMARKS.md'): void {
  const file = join(ROOT, document);
  let doc = '';
  try {
    doc = readFileSync(file, 'utf8');
  } catch {
    doc = document === 'BENCHMARKS.md' ? '# Benchmarks\n' : `# ${document}\n`;
  }
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  doc = i >= 0 && j > i ? doc.slice(0, i) + block + doc.slice(j + end.length) : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, doc);
}

export function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Prints a benchmark's markdown, saves its raw figures, and (unless `write` is false) updates BENCHMARKS.md. */
export function publish(name: string, markdown: string, data: unknown, write: boolean, document?: string): void {
  console.log(markdown);
  saveJSON(name, data);
  if (write) writeSection(name, markdown, document);
}

/** The commit the working tree is at (short), with "+changes" when it has uncommitted changes to tracked files. */
export function commitLabel(): string {
  try {
    const commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
    const dirty = execSync('git status --porcelain --untracked-files=no', { cwd: ROOT }).toString().trim() !== '';
    return dirty ? `${commit}+changes` : commit;
  } catch {
    return 'unknown';
  }
}

/** Runs a benchmark's main, exiting non-zero on failure. */
export function runMain(main: () => Promise<void>): void {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
