/**
 * Where a proxy's tail latency comes from, measured inside the process: garbage-collection
 * pauses (every one, from `PerformanceObserver` 'gc' entries, in a histogram with buckets fine
 * enough for sub-millisecond pauses) and event-loop delay (`perf_hooks.monitorEventLoopDelay`:
 * how late a timer due every {@link LOOP_RESOLUTION_MS} ran, that is how long the loop was kept
 * from I/O at that moment; a sample, which sees a block in proportion to its length).
 * prom-client's default metrics have GC durations too, but in buckets from 1 ms up, too coarse
 * for a proxy whose median added latency is a fraction of a millisecond.
 *
 * The loop-delay figures are of the window since the previous scrape (the monitor is reset at
 * each): a scraper that compares two scrapes around a load reads that load's delays.
 */
import { constants, monitorEventLoopDelay, PerformanceObserver, type EntryType, type IntervalHistogram } from 'node:perf_hooks';
import { Gauge, Histogram, type Registry } from './prom.js';

/** Seconds: 50 µs to 100 ms, finer where a proxy's pauses usually are. */
export const PAUSE_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1];

const GC_KINDS: Readonly<Record<number, string>> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** The loop monitor's timer period: 100 wakeups a second, nothing an idle agent would notice. */
export const LOOP_RESOLUTION_MS = 10;

/** The percentiles of loop delay exported (as the `quantile` label). */
const QUANTILES = [0.5, 0.99, 0.999, 1] as const;

/** The kind label of a 'gc' entry (`detail.kind`; `kind` on the entry itself before Node 16). */
export function gcKind(entry: { readonly detail?: unknown; readonly kind?: number }): string {
  const kind = (entry.detail as { kind?: number } | undefined)?.kind ?? entry.kind;
  return (kind !== undefined ? GC_KINDS[kind] : undefined) ?? 'other';
}

/** Registers the metrics on `registry` and starts measuring; {@link stop} ends it. */
export class RuntimePauses {
  private readonly observer: PerformanceObserver;
  private readonly loop: IntervalHistogram;

  constructor(registry: Registry) {
    const registers = [registry];
    const gc = new Histogram({
      name: 'meshlet_gc_pause_seconds',
      help: 'Garbage-collection pauses of this process, by kind (minor: young generation; major: full mark-compact)',
      labelNames: ['kind'],
      buckets: PAUSE_BUCKETS,
      registers,
    });
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gc.observe({ kind: gcKind(e as { detail?: unknown }) }, e.duration / 1000);
    });
    this.observer.observe({ entryTypes: ['gc' as EntryType] });
    this.loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loop.enable();
    const loop = this.loop;
    new Gauge({
      name: 'meshlet_event_loop_delay_seconds',
      help: 'Event-loop delay since the previous scrape (a periodic timer\'s lateness), by quantile (1 = the maximum); with workers, the worst process',
      labelNames: ['quantile'],
      registers,
      aggregator: 'max',
      collect() {
        // Node records the whole interval between the monitor's ticks, period included (an idle
        // loop reads 10.1 ms at a 10 ms resolution): the delay is what exceeds the period.
        const late = (ns: number): number => Math.max(0, ns - LOOP_RESOLUTION_MS * 1e6) / 1e9;
        for (const q of QUANTILES) this.set({ quantile: String(q) }, loop.count === 0 ? 0 : late(q === 1 ? loop.max : loop.percentile(q * 100)));
        loop.reset();
      },
    });
  }

  /** Stops the GC observer and the loop monitor (its timer); the metrics keep their last values. Idempotent. */
  stop(): void {
    this.observer.disconnect();
    this.loop.disable();
  }
}
