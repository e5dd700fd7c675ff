/**
 * Where one data-path process's traffic meets the tap: the connection table and the request
 * observer tell it of every connection and request, and it builds an event only while someone
 * taps (`active`, one boolean the data path reads first) and only for a record some filter
 * wants. Events go to a sink: the admin's hub in the agent's own process, or the batcher that
 * sends them to the primary from a worker.
 *
 * Bounded: at most {@link TAP_MAX_EVENTS_PER_SECOND} events a second leave a process; the rest
 * are counted and the count is reported to the sink once the second is over, never queued.
 */
import type { ConnectionRecord, ConnectionTap } from '../proxy/connection-table.js';
import type { RequestRecord } from '../http/exchange.js';
import { anyMatches, TapMatcher, type TapFilter } from './tap-filter.js';
import { closedEvent, openedEvent, requestEvent, requestOutcome, type TapEvent } from './tap-event.js';

/** Where a tap point's events go. */
export interface TapSink {
  event(event: TapEvent): void;
  /** `count` events were dropped at the source over the last second (the per-second cap). */
  dropped(count: number): void;
}

/**
 * Events a second one process may produce for the tap: a person reads a few lines a second and a
 * script a few hundred; 2,000 lines of ~400 bytes is under 1 MB/s per process, which the admin
 * port and one worker channel carry without the data path noticing.
 */
export const TAP_MAX_EVENTS_PER_SECOND = 2000;

/**
 * Connections opened in one turn of the event loop whose open event waits for the end of that
 * turn (see {@link TapPoint.opened}); more in one turn are dropped and counted.
 */
const MAX_PENDING_OPENS = 1024;

/** Options of {@link TapPoint}. */
export interface TapPointOptions {
  /** Which process carries the traffic (its pid; default this process's). */
  readonly worker?: number;
  /** Default {@link TAP_MAX_EVENTS_PER_SECOND}. */
  readonly maxPerSecond?: number;
}

/** One process's tap: off (nothing built) until {@link set} gives it filters and a sink. */
export class TapPoint implements ConnectionTap {
  /** True while at least one filter is set: the only thing the data path reads when nobody taps. */
  active = false;
  private matchers: readonly TapMatcher[] = [];
  private sink: TapSink | undefined;
  private readonly worker: number;
  private readonly maxPerSecond: number;
  private pending: ConnectionRecord[] = [];
  private flushQueued = false;
  private windowStart = 0;
  private inWindow = 0;
  private droppedInWindow = 0;
  private dropTimer: NodeJS.Timeout | undefined;

  constructor(opts: TapPointOptions = {}) {
    this.worker = opts.worker ?? process.pid;
    this.maxPerSecond = opts.maxPerSecond ?? TAP_MAX_EVENTS_PER_SECOND;
    this.onImmediate = this.onImmediate.bind(this);
    this.reportDropped = this.reportDropped.bind(this);
  }

  /** Taps with these filters into `sink` (none: off, and what was pending is forgotten). */
  set(filters: readonly TapFilter[], sink: TapSink | undefined): void {
    this.matchers = filters.map((f) => new TapMatcher(f));
    this.sink = filters.length === 0 ? undefined : sink;
    this.active = this.sink !== undefined;
    if (!this.active) this.pending = [];
  }

  /**
   * A connection was accepted. Its open event is built at the end of this turn of the event
   * loop: by then the agent has resolved who it is from and where it goes (the source and the
   * Service at once, the destination workload when it is local or picked), so a filter on a
   * workload sees the fields the access log will show.
   */
  opened(rec: ConnectionRecord): void {
    if (this.pending.length >= MAX_PENDING_OPENS) {
      this.drop();
      return;
    }
    this.pending.push(rec);
    // One immediate per turn of the loop, however many connections it accepted.
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(this.onImmediate);
    }
  }

  /** A connection closed (its open event, if still pending, goes first). */
  closed(rec: ConnectionRecord, bytesSent: number, bytesReceived: number): void {
    if (this.pending.length > 0) this.flushOpened();
    if (!anyMatches(this.matchers, 'connection', rec.sourceWorkload, rec.destinationWorkload, rec.sourceIdentity, rec.destinationIdentity, rec.service, rec.outcome ?? 'ok')) return;
    if (this.admit()) this.sink?.event(closedEvent(rec, bytesSent, bytesReceived, Date.now(), this.worker));
  }

  /** A request finished. */
  request(rec: RequestRecord): void {
    if (!anyMatches(this.matchers, 'request', rec.sourceWorkload, rec.destinationWorkload, rec.sourceIdentity, rec.destinationIdentity, rec.service, requestOutcome(rec))) return;
    if (this.admit()) this.sink?.event(requestEvent(rec, Date.now(), this.worker));
  }

  private onImmediate(): void {
    this.flushQueued = false;
    if (this.pending.length > 0) this.flushOpened();
  }

  private flushOpened(): void {
    const pending = this.pending;
    this.pending = [];
    const now = Date.now();
    for (const rec of pending) {
      if (!anyMatches(this.matchers, 'connection', rec.sourceWorkload, rec.destinationWorkload, rec.sourceIdentity, rec.destinationIdentity, rec.service, undefined)) continue;
      if (this.admit()) this.sink?.event(openedEvent(rec, now, this.worker));
    }
  }

  /** Whether one more event fits in this second; counts it, or counts the drop. */
  private admit(): boolean {
    const now = performance.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow < this.maxPerSecond) {
      this.inWindow += 1;
      return true;
    }
    this.drop();
    return false;
  }

  private drop(): void {
    this.droppedInWindow += 1;
    if (this.dropTimer === undefined) {
      this.dropTimer = setTimeout(this.reportDropped, Math.max(1, 1000 - (performance.now() - this.windowStart)));
      this.dropTimer.unref();
    }
  }

  private reportDropped(): void {
    this.dropTimer = undefined;
    const n = this.droppedInWindow;
    this.droppedInWindow = 0;
    if (n > 0) this.sink?.dropped(n);
  }
}
