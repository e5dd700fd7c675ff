/**
 * A worker's side of the tap: the events of its {@link TapPoint} go to the primary in batches
 * (one IPC message per batch, not per event), at most {@link TAP_MAX_BATCH} events each, every
 * {@link TAP_FLUSH_MS} at most. Events a full channel cannot take are dropped and counted; the
 * count rides on the next batch, so the subscribers learn of them.
 */
import type { TapSink } from './tap-point.js';
import type { TapEvent } from './tap-event.js';

/**
 * Events per message: at the per-second cap (2,000) that is ~8 messages a second; a batch of
 * 256 events of a few hundred bytes is ~100 KiB, a fraction of a millisecond to clone.
 */
export const TAP_MAX_BATCH = 256;

/** How long an event may wait for its batch: a person watching sees it at once. */
export const TAP_FLUSH_MS = 100;

/**
 * Batches sent and not yet taken by the channel: beyond this the primary is not reading and a
 * batch is dropped rather than queued in the worker's memory.
 */
const MAX_IN_FLIGHT = 8;

/** A batch as it crosses the channel. */
export interface TapBatch {
  readonly events: readonly TapEvent[];
  /** Events dropped since the last batch (per-second cap, full channel). */
  readonly dropped: number;
}

/** Batches events for the primary. */
export class TapBatcher implements TapSink {
  private readonly send: (batch: TapBatch, done: () => void) => void;
  private events: TapEvent[] = [];
  private droppedSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;

  /** `send` must call `done` once the channel has taken (or failed) the message. */
  constructor(send: (batch: TapBatch, done: () => void) => void) {
    this.send = send;
    this.flush = this.flush.bind(this);
  }

  event(event: TapEvent): void {
    this.events.push(event);
    if (this.events.length >= TAP_MAX_BATCH) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(this.flush, TAP_FLUSH_MS);
      this.timer.unref();
    }
  }

  dropped(count: number): void {
    this.droppedSince += count;
    if (this.timer === undefined) {
      this.timer = setTimeout(this.flush, TAP_FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Sends what is waiting (nothing to send: nothing sent). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.events.length === 0 && this.droppedSince === 0) return;
    const events = this.events;
    this.events = [];
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.droppedSince += events.length;
      this.timer = setTimeout(this.flush, TAP_FLUSH_MS);
      this.timer.unref();
      return;
    }
    const batch: TapBatch = { events, dropped: this.droppedSince };
    this.droppedSince = 0;
    this.inFlight += 1;
    this.send(batch, () => (this.inFlight -= 1));
  }

  /** Forgets what is waiting (the tap was turned off). */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.events = [];
    this.droppedSince = 0;
  }
}
