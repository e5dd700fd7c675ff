/**
 * A bounded table of labelled series for metrics with many labels (Istio's standard metrics
 * carry 23 to 25), exported through a prom-client registry.
 *
 * Why not prom-client's own Counter and Histogram: each `inc(labels)` / `observe(labels)`
 * rebuilds a key from every label (house style: a labelled lookup costs ~300 ns in ztunnel,
 * far more with 25 labels in JavaScript), once per metric. Here the caller finds its series
 * once per event by the event's *inputs* (a few uids and codes, the `parts` of a key), and
 * then bumps plain numbers in it for every metric of the family; label objects are made only
 * when a series is new. The parts are looked up in a trie of Maps, one level per part: no key
 * string is built, so nothing is concatenated, flattened or hashed per event beyond the parts
 * themselves (a joined key string costs ~700 ns a lookup; the trie ~100 ns). Two inputs that
 * give the same labels share one series (the table dedupes by the label values), so the
 * exposition never repeats a series.
 *
 * Bounded: at most `maxSeries` series (a new one past that is dropped and counted by
 * `onOverflow`), and a series nobody touched for `idleMs` is evicted at a scrape (pods come and
 * go, and their names are label values: without eviction the table would fill up over weeks).
 * The exposition is prom-client's JSON shape (`getMetricsAsJSON`), so worker processes' tables
 * are summed by the primary's `AggregatorRegistry.aggregate` like any counter or histogram
 * (by metric name and label set, `le` included).
 */
import type { Metric, Registry } from 'prom-client';

/** Series in one table at most by default: room for a busy node, bounded memory (~2 KB each). */
export const DEFAULT_MAX_SERIES = 20_000;

/**
 * A series untouched this long is evicted by default: longer than any scrape interval and the
 * usual `rate()` windows, so a quiet hour of a live pair of workloads only restarts its counters.
 */
export const DEFAULT_SERIES_IDLE_MS = 60 * 60 * 1000;

/** Sweeps for idle series at most this often (every metric of the table asks at each scrape). */
const SWEEP_EVERY_MS = 1000;

/** One metric of a table: a counter, or a histogram with its finite upper bounds. */
export type SeriesMetricSpec =
  | { readonly type: 'counter'; readonly name: string; readonly help: string }
  | { readonly type: 'histogram'; readonly name: string; readonly help: string; readonly buckets: readonly number[] };

/** An OpenMetrics exemplar: the trace of one observation, as prom-client's formatter prints it. */
export interface SeriesExemplar {
  readonly labelSet: Readonly<Record<string, string>>;
  readonly value: number;
  /** Seconds since the epoch. */
  readonly timestamp: number;
}

/** One label set's values: counters by index, histograms by index (bucket counts, +Inf, then sum). */
export class Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly counters: Float64Array;
  readonly histograms: Float64Array[];
  /** The table's scrape generation when last touched. */
  seen: number;
  /** Wall time (ms) of the last scrape that found it touched. */
  aliveAt: number;
  private readonly bounds: ReadonlyArray<readonly number[]>;
  /** Per histogram, the latest exemplar of each bucket (+Inf last); made at the first exemplar. */
  exemplars: Array<Array<SeriesExemplar | undefined> | undefined> | undefined;

  constructor(labels: Readonly<Record<string, string>>, counters: number, bounds: ReadonlyArray<readonly number[]>, seen: number, now: number) {
    this.labels = labels;
    this.counters = new Float64Array(counters);
    this.bounds = bounds;
    this.histograms = bounds.map((b) => new Float64Array(b.length + 2));
    this.seen = seen;
    this.aliveAt = now;
  }

  /** Adds to counter `i` (its index among the table's counters). */
  inc(i: number, by = 1): void {
    const c = this.counters;
    c[i] = (c[i] as number) + by;
  }

  /** Records a value in histogram `i` (its index among the table's histograms). */
  observe(i: number, raw: number): void {
    // A NaN would poison the sum for good; sizes and durations are never negative.
    const value = raw >= 0 ? raw : 0;
    const h = this.histograms[i] as Float64Array;
    const b = this.bounds[i] as readonly number[];
    let k = 0;
    while (k < b.length && value > (b[k] as number)) k++;
    h[k] = (h[k] as number) + 1;
    h[b.length + 1] = (h[b.length + 1] as number) + value;
  }

  /**
   * Records `value` in histogram `i` with an exemplar (`labelSet`: a trace id and span id): it
   * replaces the bucket's previous one, as Prometheus keeps one exemplar per bucket line.
   */
  observeWithExemplar(i: number, raw: number, labelSet: Readonly<Record<string, string>>, timestampSeconds: number): void {
    this.observe(i, raw);
    const value = raw >= 0 ? raw : 0;
    const b = this.bounds[i] as readonly number[];
    let k = 0;
    while (k < b.length && value > (b[k] as number)) k++;
    const all = (this.exemplars ??= new Array<Array<SeriesExemplar | undefined> | undefined>(this.bounds.length));
    const mine = (all[i] ??= new Array<SeriesExemplar | undefined>(b.length + 1));
    mine[k] = { labelSet, value, timestamp: timestampSeconds };
  }
}

/** Options of {@link SeriesTable}. */
export interface SeriesTableOptions {
  readonly labelNames: readonly string[];
  readonly metrics: readonly SeriesMetricSpec[];
  readonly maxSeries?: number;
  readonly idleMs?: number;
  /** A new series was refused: the table is full. */
  readonly onOverflow?: () => void;
  /** Wall clock (ms), injectable for tests. */
  readonly now?: () => number;
  /** Called before each metric of the table is read at a scrape (values read at scrape time). */
  readonly collect?: () => void;
}

/** One part of an input key: a label input as the event carries it. */
export type KeyPart = string | number | undefined;

type Trie = Map<KeyPart, Trie | Series>;

type ExportValue = { labels: Record<string, string | number>; value: number; metricName?: string; exemplar?: SeriesExemplar };

/** A bounded table of series, its metrics registered in a registry. */
export class SeriesTable {
  /** Input parts -> series: a cache over {@link byLabels}, one Map level per part. */
  private trie: Trie = new Map();
  private trieLeaves = 0;
  private readonly byLabels = new Map<string, Series>();
  private readonly labelNames: readonly string[];
  private readonly counterSpecs: SeriesMetricSpec[];
  private readonly histogramSpecs: Array<Extract<SeriesMetricSpec, { type: 'histogram' }>>;
  private readonly maxSeries: number;
  private readonly idleMs: number;
  private readonly onOverflow: () => void;
  private readonly now: () => number;
  private readonly collect: () => void;
  private generation = 1;
  private lastSweep = -Infinity;

  constructor(registry: Registry, opts: SeriesTableOptions) {
    this.labelNames = opts.labelNames;
    this.counterSpecs = opts.metrics.filter((m) => m.type === 'counter');
    this.histogramSpecs = opts.metrics.filter((m): m is Extract<SeriesMetricSpec, { type: 'histogram' }> => m.type === 'histogram');
    this.maxSeries = opts.maxSeries ?? DEFAULT_MAX_SERIES;
    this.idleMs = opts.idleMs ?? DEFAULT_SERIES_IDLE_MS;
    this.onOverflow = opts.onOverflow ?? (() => undefined);
    this.now = opts.now ?? Date.now;
    this.collect = opts.collect ?? (() => undefined);
    this.counterSpecs.forEach((spec, i) => this.register(registry, spec, () => this.counterValues(i)));
    this.histogramSpecs.forEach((spec, i) => this.register(registry, spec, () => this.histogramValues(spec.name, spec.buckets, i)));
  }

  /** Series held now. */
  get size(): number {
    return this.byLabels.size;
  }

  /** Input keys remembered now (at most twice the series cap). */
  get keys(): number {
    return this.trieLeaves;
  }

  /**
   * The series of input parts already seen (touched), or undefined. Every call of a table
   * passes the same number of parts; a caller may reuse one scratch array.
   */
  get(parts: readonly KeyPart[]): Series | undefined {
    let node: Trie | Series | undefined = this.trie;
    for (let i = 0; i < parts.length; i++) {
      node = (node as Trie).get(parts[i]);
      if (node === undefined) return undefined;
    }
    const s = node as Series;
    s.seen = this.generation;
    return s;
  }

  /**
   * The series for `labels` (every label name of the table), remembered under `parts`;
   * undefined when the table is full. Call it after {@link get} missed.
   */
  add(parts: readonly KeyPart[], labels: Readonly<Record<string, string>>): Series | undefined {
    const labelKey = this.labelNames.map((n) => labels[n] ?? '').join('\u0001');
    let s = this.byLabels.get(labelKey);
    if (s === undefined) {
      if (this.byLabels.size >= this.maxSeries) {
        this.onOverflow();
        return undefined;
      }
      const bounds = this.histogramSpecs.map((h) => h.buckets);
      s = new Series(Object.freeze({ ...labels }), this.counterSpecs.length, bounds, this.generation, this.now());
      this.byLabels.set(labelKey, s);
    }
    // The trie is a cache over the label map: bounded by clearing it when it outgrows it.
    if (this.trieLeaves >= 2 * this.maxSeries) this.clearTrie();
    this.remember(parts, s);
    s.seen = this.generation;
    return s;
  }

  private remember(parts: readonly KeyPart[], s: Series): void {
    let node = this.trie;
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) {
      let next = node.get(parts[i]) as Trie | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(parts[i], next);
      }
      node = next;
    }
    if (!node.has(parts[last])) this.trieLeaves++;
    node.set(parts[last], s);
  }

  private clearTrie(): void {
    this.trie = new Map();
    this.trieLeaves = 0;
  }

  /**
   * Forgets which inputs map to which series (not the series): the next event of each input
   * computes its labels again. For a new snapshot, whose workload labels may differ.
   */
  forgetKeys(): void {
    this.clearTrie();
  }

  /** Forgets every series (the registry's `resetMetrics`). */
  reset(): void {
    this.clearTrie();
    this.byLabels.clear();
  }

  /** Evicts series idle for `idleMs` (at most once a second; called at scrape). */
  sweep(): void {
    const now = this.now();
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    const current = this.generation++;
    let evicted = false;
    for (const [k, s] of this.byLabels) {
      if (s.seen === current) s.aliveAt = now;
      else if (now - s.aliveAt >= this.idleMs) {
        this.byLabels.delete(k);
        evicted = true;
      }
    }
    // Rebuilt lazily by the next events (one label computation each): evictions are rare.
    if (evicted) this.clearTrie();
  }

  private counterValues(i: number): ExportValue[] {
    this.collect();
    this.sweep();
    const out: ExportValue[] = [];
    for (const s of this.byLabels.values()) out.push({ labels: { ...s.labels }, value: s.counters[i] as number });
    return out;
  }

  private histogramValues(name: string, bounds: readonly number[], i: number): ExportValue[] {
    this.collect();
    this.sweep();
    const out: ExportValue[] = [];
    for (const s of this.byLabels.values()) {
      const h = s.histograms[i] as Float64Array;
      const ex = s.exemplars?.[i];
      let acc = 0;
      for (let k = 0; k < bounds.length; k++) {
        acc += h[k] as number;
        const exemplar = ex?.[k];
        out.push({ labels: { ...s.labels, le: bounds[k] as number }, value: acc, metricName: `${name}_bucket`, ...(exemplar === undefined ? {} : { exemplar }) });
      }
      acc += h[bounds.length] as number;
      const last = ex?.[bounds.length];
      out.push({ labels: { ...s.labels, le: '+Inf' }, value: acc, metricName: `${name}_bucket`, ...(last === undefined ? {} : { exemplar: last }) });
      out.push({ labels: { ...s.labels }, value: h[bounds.length + 1] as number, metricName: `${name}_sum` });
      out.push({ labels: { ...s.labels }, value: acc, metricName: `${name}_count` });
    }
    return out;
  }

  private register(registry: Registry, spec: SeriesMetricSpec, values: () => ExportValue[]): void {
    const { name, help, type } = spec;
    const metric = {
      name,
      help,
      type,
      aggregator: 'sum' as const,
      get: () => Promise.resolve({ name, help, type, aggregator: 'sum' as const, values: values() }),
      reset: () => this.reset(),
    };
    // prom-client types registerMetric with its own classes; the registry only calls name,
    // type, get() and reset() (AggregatorRegistry.aggregate registers plain objects the same way).
    registry.registerMetric(metric as unknown as Metric);
  }
}
