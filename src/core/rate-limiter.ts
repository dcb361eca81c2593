/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. One per connection for commands (and wherever
 * else a rate is limited), so its state is two numbers.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
  }

  /** The tokens there are now, without taking any. */
  available(now: number): number {
    if (this.rate === 0) return Number.POSITIVE_INFINITY;
    this.refill(now);
    return this.tokens;
  }

  /** Takes one token that `available` showed was there. */
  spend(): void {
    this.tokens -= 1;
  }

  /** Whole seconds until a token is there again (at least 1). */
  secondsToNextToken(now: number): number {
    return Math.max(1, Math.ceil((1 - this.available(now)) / this.rate));
  }

  /**
   * Takes a token even when none is left, going into debt. Returns the balance after taking: 0 or more is within
   * the limit; below 0 is over it, and the debt says how hard the caller keeps pushing.
   */
  take(now: number): number {
    if (this.rate === 0) return Number.POSITIVE_INFINITY;
    this.refill(now);
    this.tokens -= 1;
    return this.tokens;
  }

  /** Takes a token only if one is there. */
  tryTake(now: number): boolean {
    if (this.rate === 0) return true;
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
