import { type Clock, systemClock, type TimerHandle } from './ports/clock.js';

/**
 * One timer for many connections. Each item asks to be woken at a time; the wheel keeps items in buckets of
 * `resolutionMs` and one interval walks the due buckets. Scheduling again moves the item; an item is in at most
 * one bucket. Thousands of connections cost one timer, not thousands (heartbeats, pong deadlines, expiry).
 */
export interface WheelItem {
  /** Called when the item's time has come; the item reschedules itself if it needs to. */
  onTimer(now: number): void;
  /** Bucket the item sits in, managed by the wheel (-1: none). */
  wheelSlot: number;
}

export class TimerWheel {
  private readonly buckets = new Map<number, Set<WheelItem>>();
  private timer: TimerHandle | undefined;
  private lastSlot: number;

  constructor(
    private readonly resolutionMs = 100,
    private readonly clock: Clock = systemClock,
  ) {
    this.lastSlot = Math.floor(clock.now() / resolutionMs);
  }

  schedule(item: WheelItem, at: number): void {
    const slot = Math.max(Math.ceil(at / this.resolutionMs), this.lastSlot + 1);
    if (item.wheelSlot === slot) return;
    this.cancel(item);
    let bucket = this.buckets.get(slot);
    if (bucket === undefined) {
      bucket = new Set();
      this.buckets.set(slot, bucket);
    }
    bucket.add(item);
    item.wheelSlot = slot;
    if (this.timer === undefined) this.start();
  }

  cancel(item: WheelItem): void {
    if (item.wheelSlot < 0) return;
    const bucket = this.buckets.get(item.wheelSlot);
    if (bucket !== undefined) {
      bucket.delete(item);
      if (bucket.size === 0) this.buckets.delete(item.wheelSlot);
    }
    item.wheelSlot = -1;
  }

  get size(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.size;
    return n;
  }

  private start(): void {
    this.timer = this.clock.setInterval(() => this.tick(), this.resolutionMs);
  }

  /** Runs every due bucket. Public for tests that drive time by hand. */
  tick(): void {
    const now = this.clock.now();
    const current = Math.floor(now / this.resolutionMs);
    // Normally one slot has passed; after a long stall, walk the buckets rather than every empty slot.
    const slots =
      current - this.lastSlot <= this.buckets.size
        ? Array.from({ length: current - this.lastSlot }, (_, i) => this.lastSlot + 1 + i)
        : [...this.buckets.keys()].filter((s) => s <= current).sort((a, b) => a - b);
    // Advance first: an item rescheduled from onTimer for "now" lands in the next slot, not a walked one.
    this.lastSlot = Math.max(this.lastSlot, current);
    for (const slot of slots) {
      const bucket = this.buckets.get(slot);
      if (bucket === undefined) continue;
      this.buckets.delete(slot);
      for (const item of bucket) {
        // A neighbour's onTimer may have cancelled or moved this item meanwhile.
        if (item.wheelSlot !== slot) continue;
        item.wheelSlot = -1;
        try {
          item.onTimer(now);
        } catch {
          // One item's failure must not stop the others; items log their own errors.
        }
      }
    }
    if (this.buckets.size === 0 && this.timer !== undefined) {
      this.clock.clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearInterval(this.timer);
    this.timer = undefined;
    for (const bucket of this.buckets.values()) for (const item of bucket) item.wheelSlot = -1;
    this.buckets.clear();
  }
}
