/**
 * One subscriber of the tap: a long-lived `GET /tap` answer of NDJSON lines. What the socket
 * cannot take at once waits in a small queue bounded in lines and bytes; a reader that lets the
 * queue fill is cut off (its stream ends with a `tap.end` line saying why) rather than slowing
 * anything or growing the agent's memory. Events are never held back for it.
 */
import type { ServerResponse } from 'node:http';
import { TapMatcher, type TapFilter } from './tap-filter.js';

/** The bounds of one stream. */
export interface TapStreamLimits {
  /** Lines waiting for the socket (beyond what the socket itself buffers). */
  readonly maxQueuedLines: number;
  /** Bytes of those lines. */
  readonly maxQueuedBytes: number;
  /**
   * After the `tap.end` line, how long a cut-off reader has to read the rest before the
   * connection is closed under it (a reader that never reads never gets the line).
   */
  readonly endGraceMs: number;
}

/**
 * 1,000 lines or 512 KiB (about two seconds of a busy node's events at the per-process cap):
 * a reader that falls further behind than that is not watching live traffic any more.
 */
export const TAP_STREAM_LIMITS: TapStreamLimits = Object.freeze({ maxQueuedLines: 1000, maxQueuedBytes: 512 * 1024, endGraceMs: 10_000 });

/** Why a stream ended: asked `max` events, its `duration` passed, too slow, or the agent is closing. */
export type TapEndReason = 'max' | 'duration' | 'slow_reader' | 'closing';

/** What a stream tells its hub. */
export interface TapStreamOwner {
  /** The stream is over (ended by either side): forget it. */
  removed(stream: TapStream): void;
  /** It was cut off for reading too slowly, with `discarded` lines still queued. */
  cutOff(stream: TapStream, discarded: number): void;
}

/** Options of {@link TapStream}. */
export interface TapStreamOptions {
  readonly filter: TapFilter;
  /** End after this many events. */
  readonly max?: number;
  /** End after this long. */
  readonly durationMs?: number;
  readonly limits: TapStreamLimits;
}

/** One open tap stream. */
export class TapStream {
  readonly filter: TapFilter;
  /** The filter made ready for testing each event. */
  readonly matcher: TapMatcher;
  private readonly res: ServerResponse;
  private readonly owner: TapStreamOwner;
  private readonly limits: TapStreamLimits;
  private readonly max: number;
  private queue: string[] = [];
  private queuedBytes = 0;
  private waiting = false;
  private ended = false;
  private sent = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(res: ServerResponse, owner: TapStreamOwner, opts: TapStreamOptions) {
    this.res = res;
    this.owner = owner;
    this.filter = opts.filter;
    this.matcher = new TapMatcher(opts.filter);
    this.limits = opts.limits;
    this.max = opts.max ?? Infinity;
    this.onDrain = this.onDrain.bind(this);
    res.on('close', () => this.closed());
    // A write racing the client's hang-up must never become an uncaught error in the agent.
    res.on('error', () => undefined);
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    // The head now: a client knows it is subscribed before the first line.
    res.flushHeaders();
    if (opts.durationMs !== undefined) {
      this.timer = setTimeout(() => this.end('duration'), opts.durationMs);
      this.timer.unref();
    }
  }

  /** Writes a line of the stream's own (`tap.*`): not counted against `max`. */
  control(record: Record<string, unknown>): void {
    this.write(`${JSON.stringify(record)}\n`);
  }

  /** Writes one event's line (already serialized, shared by every stream it matches). */
  event(line: string): void {
    if (this.ended) return;
    this.write(line);
    this.sent += 1;
    if (this.sent >= this.max) this.end('max');
  }

  private write(line: string): void {
    if (this.ended) return;
    if (!this.waiting) {
      if (!this.res.write(line)) {
        this.waiting = true;
        this.res.once('drain', this.onDrain);
      }
      return;
    }
    this.queue.push(line);
    this.queuedBytes += line.length;
    if (this.queue.length > this.limits.maxQueuedLines || this.queuedBytes > this.limits.maxQueuedBytes) this.cutOff();
  }

  private onDrain(): void {
    if (this.ended) return;
    this.waiting = false;
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (let i = 0; i < queue.length; i++) {
      if (!this.res.write(queue[i] as string)) {
        this.queue = queue.slice(i + 1);
        for (const l of this.queue) this.queuedBytes += l.length;
        this.waiting = true;
        this.res.once('drain', this.onDrain);
        return;
      }
    }
  }

  private cutOff(): void {
    const discarded = this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    this.owner.cutOff(this, discarded);
    this.end('slow_reader', {
      discarded,
      detail: `the reader fell behind by more than ${this.limits.maxQueuedLines} lines or ${this.limits.maxQueuedBytes} bytes; the tap never waits for a reader: read faster, or filter`,
    });
  }

  /** Ends the stream with a `tap.end` line saying why. Idempotent. */
  end(reason: TapEndReason, extra: Record<string, unknown> = {}): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.res.off('drain', this.onDrain);
    // What is queued goes first (bounded by the queue's limits; a cut-off reader's was discarded),
    // then the final line.
    for (const line of this.queue) this.res.write(line);
    this.queue = [];
    this.queuedBytes = 0;
    this.res.end(`${JSON.stringify({ type: 'tap.end', time: Date.now(), reason, events: this.sent, ...extra })}\n`);
    const grace = setTimeout(() => this.res.destroy(), this.limits.endGraceMs);
    grace.unref();
    this.res.once('finish', () => clearTimeout(grace));
    this.owner.removed(this);
  }

  private closed(): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.owner.removed(this);
  }
}
