/**
 * Reconnect delays for the controller connection: exponential with jitter, so the agents of a
 * cluster that lost its controller at the same moment do not all come back at the same moment.
 */

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First delay (default 200 ms). */
  readonly initialMs?: number;
  /** Ceiling (default 30 s): a controller back after an outage is found within this. */
  readonly maxMs?: number;
  /** Random source in [0, 1), for tests. */
  readonly random?: () => number;
}

/**
 * Delay n is drawn from [base/2, base) with base = min(max, initial * 2^n): it doubles on
 * average, never drops below half its base (a burst of instant retries helps nobody), and
 * spreads agents over half the interval.
 */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 200;
    this.maxMs = Math.max(opts.maxMs ?? 30_000, this.initialMs);
    this.random = opts.random ?? Math.random;
  }

  /** The next delay, in ms. */
  next(): number {
    // 2^attempt is capped before it can overflow: past the ceiling it no longer matters.
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return Math.round(base / 2 + this.random() * (base / 2));
  }

  /** Back to the first delay (after a connection that worked). */
  reset(): void {
    this.attempt = 0;
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.attempt;
  }
}
