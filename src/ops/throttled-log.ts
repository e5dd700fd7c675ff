/**
 * A warning that an attacker can trigger at will (a refused connection, a timed-out request)
 * must not become one log line per attempt: the first occurrence is logged at once, then at
 * most one line per interval carrying how many were suppressed in between.
 */
import type { Logger } from 'pino';

/** One line per minute at most: enough to notice, far too few to fill a disk. */
export const DEFAULT_LOG_INTERVAL_MS = 60_000;

/** Rate-limits one kind of warning. */
export class ThrottledLog {
  private readonly logger: Logger | undefined;
  private readonly msg: string;
  private readonly intervalMs: number;
  private lastAt = -Infinity;
  private suppressed = 0;

  constructor(logger: Logger | undefined, msg: string, intervalMs = DEFAULT_LOG_INTERVAL_MS) {
    this.logger = logger;
    this.msg = msg;
    this.intervalMs = intervalMs;
  }

  /** Logs `fields` unless a line went out less than an interval ago; answers whether it logged. */
  warn(fields: Record<string, unknown>, now = Date.now()): boolean {
    if (now - this.lastAt < this.intervalMs) {
      this.suppressed += 1;
      return false;
    }
    this.lastAt = now;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    this.logger?.warn({ ...fields, suppressed }, this.msg);
    return true;
  }
}
