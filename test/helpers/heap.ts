/**
 * Heap measurements for memory tests. A scenario runs in a child process started with `--expose-gc`, so its heap
 * holds only what the scenario keeps and a full collection can be forced before each reading; the child prints
 * one JSON line with its figures, which the test asserts on.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

declare const gc: (() => void) | undefined;

/** Heap in use after full collections (in the child: needs --expose-gc). */
export async function settledHeap(): Promise<number> {
  if (typeof gc !== 'function') throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

/** Runs `file` (a TypeScript scenario) in a child with --expose-gc and returns the JSON object it prints last. */
export function runHeapScenario<T>(file: string | URL, args: string[] = [], timeoutMs = 60_000): Promise<T> {
  const path = typeof file === 'string' ? file : fileURLToPath(file);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CHORUS_TEST_LOG: '' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`heap scenario ${path} timed out after ${timeoutMs} ms\n${err}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) {
        reject(new Error(`heap scenario ${path} exited with ${code}\n${err}\n${out}`));
        return;
      }
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`heap scenario ${path} printed no JSON result\n${err}\n${out}`));
      }
    });
  });
}

export const MiB = 1024 * 1024;
