/**
 * Saves of the newest value, coalesced: the persisted snapshot (`control/snapshot-store.ts`)
 * costs O(cluster) to encode (the view gzipped: about 1.5 s at 100,000 pods), so it is written
 * at most once per interval instead of once per push, always the newest value, and at once on
 * {@link SaveCoalescer.flush} (shutdown). The first value is saved at once; one offered while a
 * save runs or within the interval after it waits for the interval's end, replaced by any newer
 * one meanwhile. The interval grows with the save's own cost (`costFactor` times its last
 * duration), so a slow save takes at most about 1/`costFactor` of the process's time.
 */

/** Options of {@link SaveCoalescer}. */
export interface SaveCoalescerOptions<T> {
  /** Writes a value; never rejects (the snapshot store logs and counts its failures). */
  readonly save: (value: T) => Promise<void>;
  /** Least time from one save's start to the next one's. */
  readonly minIntervalMs: number;
  /** The interval is at least this many times the last save's duration. */
  readonly costFactor: number;
  readonly now?: () => number;
}

/** One coalesced writer. */
export class SaveCoalescer<T> {
  private readonly opts: SaveCoalescerOptions<T>;
  private readonly now: () => number;
  private pending: { value: T } | undefined;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  private intervalMs: number;
  private closed = false;

  constructor(opts: SaveCoalescerOptions<T>) {
    this.opts = opts;
    this.now = opts.now ?? (() => performance.now());
    this.intervalMs = opts.minIntervalMs;
  }

  /** The interval in force (grows with a slow save). */
  get interval(): number {
    return this.intervalMs;
  }

  /** Offers the newest value: saved now, or at the interval's end unless a newer one replaces it. */
  offer(value: T): void {
    if (this.closed) return;
    this.pending = { value };
    if (this.running === undefined && this.timer === undefined) this.schedule();
  }

  /** Saves the value waiting (if any) now, after the save running (if any); resolves when all are written. */
  async flush(): Promise<void> {
    while (this.running !== undefined || this.pending !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      await (this.running ?? this.run());
    }
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Flushes, then takes no more values. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  /** Drops the value waiting (if any) and takes no more: another process writes from now on. */
  drop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    this.closed = true;
  }

  private schedule(): void {
    const wait = this.lastStart + this.intervalMs - this.now();
    if (wait <= 0) {
      void this.run();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, wait);
    this.timer.unref();
  }

  private run(): Promise<void> {
    const next = this.pending;
    if (next === undefined) return Promise.resolve();
    this.pending = undefined;
    const start = this.now();
    this.lastStart = start;
    // A save that rejects anyway (it should not) must not stop the next ones.
    const running = this.opts.save(next.value).catch(() => undefined).finally(() => {
      this.intervalMs = Math.max(this.opts.minIntervalMs, this.opts.costFactor * (this.now() - start));
      this.running = undefined;
      if (this.pending !== undefined && this.timer === undefined && !this.closed) this.schedule();
    });
    this.running = running;
    return running;
  }
}
