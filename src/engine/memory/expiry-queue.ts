/**
 * A min-heap of (time, key): what expires next is found in O(1) and removed in O(log n), so releasing expired
 * state costs time in proportion to what expires, never a scan of everything that lives. Entries are never
 * updated in place: the owner pushes a new one and ignores entries that no longer match its state (lazy
 * deletion), which keeps pushes cheap on the publish path.
 */
export class ExpiryQueue<K> {
  private times: number[] = [];
  private keys: K[] = [];
  /** The longest the arrays were since they were last reallocated (arrays never give memory back by themselves). */
  private peak = 0;

  get size(): number {
    return this.times.length;
  }

  /** The earliest time in the queue (Infinity when empty). */
  get nextAt(): number {
    return this.times[0] ?? Number.POSITIVE_INFINITY;
  }

  push(key: K, at: number): void {
    const times = this.times;
    const keys = this.keys;
    let i = times.length;
    times.push(at);
    keys.push(key);
    if (i + 1 > this.peak) this.peak = i + 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent] as number;
      if (pt <= at) break;
      times[i] = pt;
      keys[i] = keys[parent] as K;
      i = parent;
    }
    times[i] = at;
    keys[i] = key;
  }

  /** Removes and returns the earliest entry if it is due at `now`. */
  popDue(now: number): { key: K; at: number } | undefined {
    const times = this.times;
    const keys = this.keys;
    const at = times[0];
    if (at === undefined || at > now) return undefined;
    const key = keys[0] as K;
    const lastTime = times.pop() as number;
    const lastKey = keys.pop() as K;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && (times[r] as number) < (times[l] as number) ? r : l;
        if ((times[c] as number) >= lastTime) break;
        times[i] = times[c] as number;
        keys[i] = keys[c] as K;
        i = c;
      }
      times[i] = lastTime;
      keys[i] = lastKey;
    }
    if (n * 4 < this.peak && this.peak > 1024) {
      // After a mass expiry the arrays would keep their largest size: give that memory back too (amortised:
      // at least three times as many pops came before this copy).
      this.times = times.slice();
      this.keys = keys.slice();
      this.peak = n;
    }
    return { key, at };
  }

  clear(): void {
    this.times = [];
    this.keys = [];
    this.peak = 0;
  }
}
