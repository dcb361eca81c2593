/**
 * A clock for tests that moves only when told: `advance(ms)` runs every timer that falls due on the way, in time
 * order, so heartbeats, expiries and TTLs are tested in milliseconds and deterministically.
 */
import type { Clock, TimerHandle } from '../../src/core/ports/clock.js';

interface Timer {
  at: number;
  every: number;
  fn: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private readonly timers = new Set<Timer>();

  constructor(private t = 1_700_000_000_000) {}

  now(): number {
    return this.t;
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.t + ms, every: Math.max(1, ms), fn, cancelled: false };
    this.timers.add(timer);
    return timer;
  }

  clearInterval(handle: TimerHandle): void {
    const timer = handle as Timer;
    timer.cancelled = true;
    this.timers.delete(timer);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.t + ms, every: 0, fn, cancelled: false };
    this.timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.clearInterval(handle);
  }

  /** Moves time forward by `ms`, running due timers in order (each at its own time). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.timers) if (timer.at <= end && (next === undefined || timer.at < next.at)) next = timer;
      if (next === undefined) break;
      this.t = Math.max(this.t, next.at);
      if (next.every > 0) next.at += next.every;
      else this.timers.delete(next);
      next.fn();
    }
    this.t = end;
  }

  /** Sets the time without running timers (a process that was stalled). */
  jump(ms: number): void {
    this.t += ms;
  }

  get pendingTimers(): number {
    return this.timers.size;
  }
}
