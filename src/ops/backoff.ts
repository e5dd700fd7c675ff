/**
 * The one retry backoff of meshlet: exponential with jitter and a ceiling, reset after a success.
 * Jitter matters: the agents of a cluster that lost its controller (or the informers of a
 * controller that lost its API server) at the same moment must not all come back at once.
 * Used by the controller client, certificate issuance, data-path worker restarts and the
 * controller's Kubernetes informers and watches.
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
 * Delay n is drawn from [base/2, base) with base = min(max, initial * 2^n), rounded down to a
 * whole millisecond: it doubles on average, never drops below half its base (a burst of instant
 * retries helps nobody), never reaches the base, and spreads agents over half the interval.
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

  /** The next delay, in ms; counts one more failed attempt. */
  next(): number {
    const delay = this.delayFor(this.attempt);
    this.attempt += 1;
    return delay;
  }

  /**
   * The delay after `attempt` earlier failures (0 for the first retry), in ms, without
   * counting it: for callers that keep their own failure count.
   */
  delayFor(attempt: number): number {
    // 2^attempt is capped before it can overflow: past the ceiling it no longer matters.
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(Math.max(attempt, 0), 30));
    // Rounded down, never to nearest: a draw close to 1 must not round up to the base itself,
    // and floating point can still land on it (0.5 + (1 - 2^-53) * 0.5 is exactly 1).
    const delay = Math.floor(base / 2 + this.random() * (base / 2));
    return delay < base ? delay : Math.max(Math.ceil(base) - 1, 0);
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
