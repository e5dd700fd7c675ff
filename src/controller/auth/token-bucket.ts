/**
 * A token bucket: `burst` tokens at most, refilled at `ratePerSecond`. Pure apart from the clock
 * it is handed, so tests drive it with numbers.
 */

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Sustained rate, tokens per second (> 0). */
  readonly ratePerSecond: number;
  /** Largest burst: the bucket's size, and what it holds at start (>= 1). */
  readonly burst: number;
}

/** Rate limiting by token bucket. */
export class TokenBucket {
  private readonly ratePerMs: number;
  private readonly burst: number;
  private tokens: number;
  private updatedAt: number | undefined;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.ratePerSecond > 0) || !(opts.burst >= 1)) throw new RangeError('a token bucket needs ratePerSecond > 0 and burst >= 1');
    this.ratePerMs = opts.ratePerSecond / 1000;
    this.burst = opts.burst;
    this.tokens = opts.burst;
  }

  /** Takes one token at time `now` (ms); false when the bucket is empty. */
  take(now: number): boolean {
    if (this.updatedAt !== undefined && now > this.updatedAt) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.updatedAt) * this.ratePerMs);
    }
    this.updatedAt = this.updatedAt === undefined ? now : Math.max(this.updatedAt, now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
