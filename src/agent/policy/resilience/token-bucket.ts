/**
 * A token bucket for local rate limits: `requests` tokens per `periodMs`, refilled continuously
 * (a token every `periodMs / requests`), holding at most `requests` (the burst). It starts full,
 * as Envoy's local rate limit does. Pure: every call takes the time (`now`, ms, monotonic), so
 * tests drive a fake clock. The per-workload bandwidth limit uses it with bytes for tokens
 * ({@link TokenBucket.spend}: a chunk already read is charged in full, and the debt waited out).
 */

/** The shape of a bucket: its capacity and refill rate. */
export interface BucketRate {
  readonly requests: number;
  readonly periodMs: number;
}

export class TokenBucket {
  readonly capacity: number;
  /** Tokens per millisecond. */
  private readonly perMs: number;
  private level: number;
  private last: number;

  constructor(rate: BucketRate, now: number) {
    this.capacity = rate.requests;
    this.perMs = rate.requests / rate.periodMs;
    this.level = rate.requests;
    this.last = now;
  }

  /** Whether this bucket was made for `rate` (a changed policy gets a new bucket). */
  hasRate(rate: BucketRate): boolean {
    return this.capacity === rate.requests && this.perMs === rate.requests / rate.periodMs;
  }

  /** Tokens in the bucket at `now` (fractional). */
  tokens(now: number): number {
    this.refill(now);
    return this.level;
  }

  /** Takes one token when there is one. */
  tryTake(now: number): boolean {
    this.refill(now);
    if (this.level < 1) return false;
    this.level -= 1;
    return true;
  }

  /** Takes as many whole tokens as there are, up to `want` (a lease to a worker): how many were taken. */
  takeUpTo(want: number, now: number): number {
    this.refill(now);
    // NaN or a negative ask (the primary reads `want` from a worker) takes nothing.
    if (!(want >= 1)) return 0;
    const n = Math.min(Math.floor(want), Math.floor(this.level));
    this.level -= n;
    return n;
  }

  /** Gives back tokens taken but not used (capped at the capacity). */
  giveBack(n: number, now: number): void {
    this.refill(now);
    if (!(n > 0)) return;
    this.level = Math.min(this.capacity, this.level + n);
  }

  /** Milliseconds until one whole token is there (0 when one is). */
  msUntilToken(now: number): number {
    this.refill(now);
    return this.level >= 1 ? 0 : (1 - this.level) / this.perMs;
  }

  /**
   * Spends `n` tokens whether or not the bucket holds them (it may go below zero: a debt that
   * the refill pays back first): the byte limits charge a chunk already read, never drop it.
   * Returns the level after.
   */
  spend(n: number, now: number): number {
    this.refill(now);
    if (n > 0) this.level -= n;
    return this.level;
  }

  /** Milliseconds until the level is back at `target` or above (0 when it is). */
  msUntilLevel(target: number, now: number): number {
    this.refill(now);
    return this.level >= target ? 0 : (target - this.level) / this.perMs;
  }

  private refill(now: number): void {
    // A clock that went back (or a stale `now` from a caller) never removes tokens.
    if (now > this.last) {
      this.level = Math.min(this.capacity, this.level + (now - this.last) * this.perMs);
      this.last = now;
    }
  }
}

/** Milliseconds a rule's bucket needs to make one token: what a refused client is told to wait, at the least. */
export function refillMs(rate: BucketRate): number {
  return rate.periodMs / rate.requests;
}
