/**
 * Time as the core sees it. Production uses the system clock; tests inject a manual one and move time by hand, so
 * heartbeats, expiries and TTLs are tested in milliseconds instead of waited for.
 */
export type TimerHandle = { readonly __timer: unique symbol } | object;

export interface Clock {
  /** Unix milliseconds. */
  now(): number;
  /** Calls `fn` every `ms`; never keeps the process alive on its own. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
  /** Calls `fn` once after `ms`; never keeps the process alive on its own. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: Date.now,
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    t.unref();
    return t;
  },
  clearInterval(handle) {
    clearInterval(handle as NodeJS.Timeout);
  },
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
