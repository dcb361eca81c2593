/**
 * Keeps one long API request (a batch of thousands of commands, a broadcast to thousands of channels, a legacy
 * body of thousands of lines) from holding the event loop: the work runs in slices of about `SLICE_MS`, and
 * between slices the loop serves everything else (other clients' pings, deliveries, requests). With the memory
 * engine every command completes in microtasks, so without this a 4 MiB batch ran from start to end in one
 * event-loop turn (10,000 publishes froze every client for seconds).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Work done before giving the event loop a turn. */
const SLICE_MS = 10;
/** Commands of a parallel batch (or channels of a broadcast) in flight at once. */
const PARALLEL_WINDOW = 64;

export class Pacer {
  private sliceStart = performance.now();
  private pause: Promise<void> | undefined;

  /** Undefined while the current slice lasts; then a promise that resolves once the event loop had its turn. */
  pace(): Promise<void> | undefined {
    if (this.pause !== undefined) return this.pause;
    if (performance.now() - this.sliceStart < SLICE_MS) return undefined;
    // One pause shared by every concurrent caller: each resuming with a fresh slice of its own would let many
    // slices run back to back without the loop in between.
    this.pause = nextTurn().then(() => {
      this.pause = undefined;
      this.sliceStart = performance.now();
    });
    return this.pause;
  }

  /**
   * `task(i)` for i in [0, n), results in order. Sequential, or with up to PARALLEL_WINDOW tasks in flight;
   * either way paced.
   */
  async map<R>(n: number, parallel: boolean, task: (i: number) => Promise<R>): Promise<R[]> {
    const out = new Array<R>(n);
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const pause = this.pace();
        if (pause !== undefined) await pause;
        out[i] = await task(i);
      }
    };
    const workers = Math.min(n, parallel ? PARALLEL_WINDOW : 1);
    await Promise.all(Array.from({ length: workers }, worker));
    return out;
  }
}
