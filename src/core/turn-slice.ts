/**
 * One budget of CPU time per event-loop turn, shared by every source of long work in the process (server API
 * requests, sessions running the commands of big frames): each takes work in small steps and checks `slice()`
 * between them (or hands it the step: `step(fn)`); once about SLICE_MS went by in this turn, every caller waits on the same pause, which resolves
 * after the event loop had its turn (timers, I/O: other clients' pings and deliveries). A budget of its own per
 * request or per session would not do: paused work all resumes in the same phase of the loop, so N big requests
 * with a slice each ran N slices back to back (a dozen 100,000-channel broadcasts and 10,000-command batches
 * held the loop for 200–350 ms at a time).
 */
import { setTimeout as afterTimers } from 'node:timers/promises';

/** Work done in one turn before giving the event loop its turn. */
export const SLICE_MS = 10;

/** When the current slice began; undefined: none yet in this turn of the loop (the next caller begins one). */
let sliceStart: number | undefined;
/** The pause every caller shares once the slice is used up: it resolves after the event loop had its turn. */
let pause: Promise<void> | undefined;
/** Whether the slice is reset at the loop's next check phase (the loop turned: a new slice begins). */
let resetScheduled = false;

function resetSlice(): void {
  resetScheduled = false;
  sliceStart = undefined;
}

/**
 * Undefined while this turn's slice lasts (the first call of a turn begins it); then a promise, the same for
 * every caller, that resolves once the event loop had its turn. A caller that resumes checks again.
 */
export function slice(): Promise<void> | undefined {
  if (pause !== undefined) return pause;
  const now = performance.now();
  if (sliceStart === undefined) {
    sliceStart = now;
    if (!resetScheduled) {
      resetScheduled = true;
      setImmediate(resetSlice);
    }
    return undefined;
  }
  if (now - sliceStart < SLICE_MS) return undefined;
  // A timer, not setImmediate: an immediate set during the poll phase runs in the same turn's check phase, before
  // any timer, so poll and check could each run a slice (and a step) with no timer in between.
  pause = afterTimers(0).then(() => {
    pause = undefined;
    sliceStart = undefined;
  });
  return pause;
}

/** Resolves once there is slice left in a turn (at once when there is). */
export async function sliceLeft(): Promise<void> {
  for (let p = slice(); p !== undefined; p = slice()) await p;
}

/**
 * Runs `fn` (a step that cannot be split: parsing or validating a large body, joining many replies) right after
 * finding slice left, in the same synchronous stretch. `await sliceLeft(); fn()` would not do for many callers at
 * once: when a pause ends, every waiter finds the fresh slice before any of them has run its step (each resumes
 * its caller in a later microtask), and all the steps then run in one turn.
 */
export function step<T>(fn: () => T): Promise<T> {
  const p = slice();
  if (p === undefined) {
    try {
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e);
    }
  }
  return p.then(() => step(fn));
}
