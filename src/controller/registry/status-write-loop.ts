/**
 * The loop behind a Kubernetes status writer: the latest wanted statuses are written by one
 * pass at a time; an item whose wanted status was written before is not even read; at most
 * `maxPerPass` writes per pass (a bound on the API calls one change causes); a failure (a
 * conflict, the API away) is retried by a later pass after `retryDelayMs`. What one write is
 * (GET, merge, PUT `/status`) is the caller's: `RouteStatusWriter` and
 * `TrafficPolicyStatusWriter` use it.
 */
import type { Logger } from 'pino';
import { ThrottledLog } from '../../ops/throttled-log.js';

/** What a loop has done, for tests and logs. */
export interface StatusWriteCounters {
  /** Statuses PUT. */
  readonly writes: number;
  /** Read, found as wanted, not written. */
  readonly unchanged: number;
  readonly failures: number;
  readonly passes: number;
}

/** How one item is keyed and written. */
export interface StatusWriteOps<T> {
  /** The item's identity (`TrafficPolicy/demo/web`). */
  key(item: T): string;
  /** What is wanted for it, as a string: equal strings are not written twice. */
  wanted(item: T): string;
  /** Writes it: 'written', 'unchanged' (already so) or 'absent' (not in Kubernetes); throws to retry. */
  write(item: T): Promise<'written' | 'unchanged' | 'absent'>;
}

/** Options of {@link StatusWriteLoop}. */
export interface StatusWriteLoopOptions<T> {
  readonly ops: StatusWriteOps<T>;
  readonly logger: Logger;
  /** The throttled warning logged on failures. */
  readonly failureMessage: string;
  /** The field of the failure line that names the item (default `object`). */
  readonly keyField?: string;
  readonly retryDelayMs: number;
  readonly maxPerPass: number;
}

/** Writes the latest statuses, one pass at a time. */
export class StatusWriteLoop<T> {
  private readonly opts: StatusWriteLoopOptions<T>;
  private readonly failed: ThrottledLog;
  private latest: readonly T[] = [];
  /** Key -> what was last written (or found already written). */
  private readonly written = new Map<string, string>();
  private running: Promise<void> | undefined;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private counts = { writes: 0, unchanged: 0, failures: 0, passes: 0 };

  constructor(opts: StatusWriteLoopOptions<T>) {
    this.opts = opts;
    this.failed = new ThrottledLog(opts.logger, opts.failureMessage);
  }

  /** The statuses wanted now (every item: one missing is forgotten); a pass follows. */
  set(items: readonly T[]): void {
    if (this.closed) return;
    this.latest = items;
    this.dirty = true;
    this.kick();
  }

  counters(): StatusWriteCounters {
    return { ...this.counts };
  }

  /** Resolves when no pass is running (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Stops: no new pass, the retry timer cleared. Idempotent. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private kick(): void {
    if (this.running !== undefined || this.closed || !this.dirty) return;
    this.dirty = false;
    this.running = this.pass().finally(() => {
      this.running = undefined;
      this.kick();
    });
  }

  private async pass(): Promise<void> {
    const { ops, maxPerPass } = this.opts;
    this.counts.passes++;
    const items = this.latest;
    let retry = false;
    let done = 0;
    for (const item of items) {
      if (this.closed) return;
      const key = ops.key(item);
      const wanted = ops.wanted(item);
      if (this.written.get(key) === wanted) continue;
      if (done++ >= maxPerPass) {
        retry = true;
        break;
      }
      try {
        const outcome = await ops.write(item);
        if (outcome === 'written') this.counts.writes++;
        if (outcome === 'unchanged') this.counts.unchanged++;
        this.written.set(key, wanted);
      } catch (err) {
        retry = true;
        this.counts.failures++;
        this.failed.warn({ [this.opts.keyField ?? 'object']: key, err: (err as Error).message });
      }
    }
    // Forget items that are gone, so the map stays as large as the set of items.
    const keys = new Set(items.map((i) => ops.key(i)));
    for (const key of this.written.keys()) if (!keys.has(key)) this.written.delete(key);
    if (retry && !this.closed) this.retryLater();
  }

  private retryLater(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.dirty = true;
      this.kick();
    }, this.opts.retryDelayMs);
    this.timer.unref();
  }
}
