/**
 * Keeps long API requests (a batch of thousands of commands, a broadcast to thousands of channels, a legacy body
 * of thousands of lines) from holding the event loop: the work runs in steps, within the process's per-turn
 * budget of CPU time (core/turn-slice.ts), and between slices the loop serves everything else (other clients'
 * pings, deliveries, requests). With the memory engine every command completes in microtasks, so without this a
 * 4 MiB batch ran from start to end in one event-loop turn (10,000 publishes froze every client for seconds).
 * Every step that cannot be split (parsing and validating a body, joining the replies, encoding the answer) runs
 * through `step`, right after finding slice left, so a turn holds at most one such step past the slice.
 */
import { slice, sliceLeft, step } from '../core/turn-slice.js';

/** Commands of a parallel batch (or channels of a broadcast) in flight at once. */
const PARALLEL_WINDOW = 64;

export class Pacer {
  /** Undefined while the turn's slice lasts; then a promise that resolves once the event loop had its turn. */
  pace(): Promise<void> | undefined {
    return slice();
  }

  /** Resolves once there is slice left in a turn. */
  turn(): Promise<void> {
    return sliceLeft();
  }

  /** Runs a step that cannot be split as soon as there is slice left, in the same synchronous stretch. */
  step<T>(fn: () => T): Promise<T> {
    return step(fn);
  }

  /**
   * `task(i)` for i in [0, n), results in order. Sequential, or with up to PARALLEL_WINDOW tasks in flight;
   * either way paced, each task starting within a slice.
   */
  async map<R>(n: number, parallel: boolean, task: (i: number) => Promise<R>): Promise<R[]> {
    const out = new Array<R>(n);
    let next = 0;
    const worker = async () => {
      while (next < n) {
        for (let p = slice(); p !== undefined; p = slice()) await p;
        if (next >= n) break;
        const i = next++;
        out[i] = await task(i);
      }
    };
    const workers = Math.min(n, parallel ? PARALLEL_WINDOW : 1);
    await Promise.all(Array.from({ length: workers }, worker));
    return out;
  }
}
