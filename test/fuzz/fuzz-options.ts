/**
 * Seeds and sizes for the fuzz suite. Every run draws a seed (or takes FUZZ_SEED) and prints it, so any failure
 * can be replayed exactly: `FUZZ_SEED=<seed> npm test -- test/fuzz/<file>`. FUZZ_SCALE multiplies the number of
 * runs of every property (`npm run fuzz` raises it); the defaults keep the whole directory a few seconds of CPU.
 */
import fc from 'fast-check';

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got "${v}"`);
  return n;
}

export const SEED = envNumber('FUZZ_SEED') ?? Math.floor(Math.random() * 2 ** 31);
export const SCALE = envNumber('FUZZ_SCALE') ?? 1;

/** How many runs a property gets: its CI count times FUZZ_SCALE. */
export function runs(ci: number): number {
  return Math.max(1, Math.round(ci * SCALE));
}

/**
 * fast-check parameters for one property: the run's seed (fast-check prints it with the counterexample and the
 * shrink path on failure) and its number of runs.
 */
export function params<T>(ci: number): fc.Parameters<T> {
  // A bound on each property (shrinking a huge counterexample included): a run that cannot finish fails loudly.
  return {
    seed: SEED,
    numRuns: runs(ci),
    interruptAfterTimeLimit: 120_000 * Math.max(1, SCALE),
    markInterruptAsFailure: true,
  };
}

/** Cuts lines longer than `max` in the middle: counterexamples can be megabytes of nested brackets. */
function clip(text: string, max = 600): string {
  return text
    .split('\n')
    .map((l) => (l.length <= max ? l : `${l.slice(0, max / 2)} …(${l.length} chars)… ${l.slice(-max / 2)}`))
    .join('\n');
}

function shortened(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const cause = e.cause instanceof Error ? `\ncaused by: ${e.cause.stack ?? e.cause.message}` : '';
  const err = new Error(clip(`${e.message}${cause}\nreplay with FUZZ_SEED=${SEED}`));
  err.stack = err.message;
  return err;
}

/** Checks a property with the run's seed; a failure names the seed and a readable counterexample. */
export function check<T>(prop: fc.IProperty<T>, ci: number): void {
  try {
    fc.assert(prop, params(ci));
  } catch (e) {
    throw shortened(e);
  }
}

export async function checkAsync<T>(prop: fc.IAsyncProperty<T>, ci: number): Promise<void> {
  try {
    await fc.assert(prop, params(ci));
  } catch (e) {
    throw shortened(e);
  }
}

/**
 * Deep equality of JSON values, iterative so that payloads nested thousands deep compare without exhausting the
 * stack (assert.deepEqual recurses). Prototypes are ignored: only keys and values count, as in JSON.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  const stack: Array<[unknown, unknown]> = [[a, b]];
  while (stack.length > 0) {
    const [x, y] = stack.pop() as [unknown, unknown];
    if (Object.is(x, y)) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
    if (Array.isArray(x) !== Array.isArray(y)) return false;
    const kx = Object.keys(x);
    if (kx.length !== Object.keys(y).length) return false;
    for (const k of kx) {
      if (!Object.hasOwn(y, k)) return false;
      stack.push([(x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]]);
    }
  }
  return true;
}

/** Says which seed a test file runs with, in the test output (failures print it again). */
export function announce(file: string): void {
  console.log(`# fuzz ${file}: seed ${SEED}, scale ${SCALE} (replay: FUZZ_SEED=${SEED})`);
}
