/**
 * The admin API's side of the tap (`GET /tap`): the open streams, the cap on how many, and the
 * source of their events: the data path in the agent's own process ({@link TapPoint}) or the
 * worker processes (the pool subscribes them only while a stream is open, and relays their
 * batches). Every change in the streams sends the union of their filters to the source, so an
 * event is built only when some stream wants it; here each event is written to the streams
 * whose filter it passes, serialized once.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { MeshletError } from '../../mesh/errors.js';
import type { Registry } from '../../ops/prom.js';
import { parseTapFilter, type TapFilter, type TapKind, type TapMatcher } from './tap-filter.js';
import type { TapEvent } from './tap-event.js';
import type { TapPoint } from './tap-point.js';
import type { WorkerPool } from '../workers/pool.js';
import { TAP_STREAM_LIMITS, TapStream, type TapStreamLimits, type TapStreamOwner } from './tap-stream.js';
import { tapMetrics, type TapMetrics } from './tap-metrics.js';

/** Where events come from: told the filters (none: stop) and where to deliver. */
export interface TapSource {
  set(filters: readonly TapFilter[], deliver: TapDelivery | undefined): void;
  /** How many processes produce events (the agent's, or each worker). */
  readonly processes: number;
}

/** What a source delivers to. */
export interface TapDelivery {
  event(event: TapEvent): void;
  dropped(count: number): void;
}

/** The data path in the agent's own process. */
export function localTapSource(point: TapPoint): TapSource {
  return { processes: 1, set: (filters, deliver) => point.set(filters, deliver) };
}

/** The data-path workers: subscribed through their pool while a stream is open. */
export function workerTapSource(pool: WorkerPool): TapSource {
  return {
    get processes() {
      return pool.info().length;
    },
    set: (filters, deliver) =>
      pool.tap(filters, deliver === undefined ? undefined : (batch) => {
        for (const e of batch.events) deliver.event(e);
        if (batch.dropped > 0) deliver.dropped(batch.dropped);
      }),
  };
}

/**
 * Streams open at once. An SRE runs one or two (`meshlet tap`, `meshlet top`, the web page);
 * each costs the data path an extra filter test per event, so 8 is plenty and bounded.
 */
export const MAX_TAP_STREAMS = 8;

/** Parameters of `GET /tap` besides the filters. */
const STREAM_PARAMS = ['max', 'duration'];
/** A stream asked for `max` events ends after them: a bound on what one request can ask. */
const MAX_MAX = 1_000_000;
/** A day: a `duration` beyond it is a mistake, not a plan. */
const MAX_DURATION_S = 86_400;

/** Options of {@link TapHub}. */
export interface TapHubOptions {
  /** The agent's source of events, looked up at the first stream (undefined: no data path to tap). */
  readonly source: () => TapSource | undefined;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly maxStreams?: number;
  readonly limits?: Partial<TapStreamLimits>;
}

/** An answer the admin server writes itself (a refusal). */
export interface TapRefusal {
  readonly status: number;
  readonly body: { readonly error: string };
}

/** The tap of one agent. */
export class TapHub implements TapStreamOwner, TapDelivery {
  private readonly streams = new Set<TapStream>();
  private readonly opts: TapHubOptions;
  private readonly metrics: TapMetrics;
  private readonly limits: TapStreamLimits;
  private readonly maxStreams: number;
  private source: TapSource | undefined;
  private closed = false;

  constructor(opts: TapHubOptions) {
    this.opts = opts;
    this.metrics = tapMetrics(opts.registry);
    this.limits = Object.freeze({ ...TAP_STREAM_LIMITS, ...opts.limits });
    this.maxStreams = opts.maxStreams ?? MAX_TAP_STREAMS;
  }

  /**
   * Answers `GET /tap`: a stream (undefined: the response is taken), or a refusal to write.
   * @throws MeshletError MESHLET_ERR_CONFIG_INVALID naming a bad parameter (a 400).
   */
  open(url: URL, res: ServerResponse): TapRefusal | undefined {
    const filter = parseTapFilter(url.searchParams, STREAM_PARAMS);
    const max = optionalNumber(url, 'max', 1, MAX_MAX, true);
    const duration = optionalNumber(url, 'duration', 0.001, MAX_DURATION_S, false);
    if (this.closed) return { status: 503, body: { error: 'the agent is shutting down' } };
    if (this.streams.size >= this.maxStreams) {
      this.metrics.refused.inc();
      return { status: 429, body: { error: `${this.streams.size} tap streams are open, the most at once (close one: each costs the data path a filter test per event)` } };
    }
    this.source ??= this.opts.source();
    if (this.source === undefined) return { status: 503, body: { error: 'no data path to tap yet' } };
    const stream = new TapStream(res, this, {
      filter,
      limits: this.limits,
      ...(max === undefined ? {} : { max }),
      ...(duration === undefined ? {} : { durationMs: duration * 1000 }),
    });
    this.streams.add(stream);
    this.metrics.subscribers.set(this.streams.size);
    stream.control({ type: 'tap.start', time: Date.now(), filter, processes: this.source.processes, queue: { lines: this.limits.maxQueuedLines, bytes: this.limits.maxQueuedBytes } });
    this.resubscribe();
    return undefined;
  }

  /** An event from the source: to every stream whose filter it passes. */
  event(e: TapEvent): void {
    let line: string | undefined;
    const kind: TapKind = e.type === 'request' ? 'request' : 'connection';
    for (const s of this.streams) {
      if (!matchesEvent(s.matcher, kind, e)) continue;
      line ??= `${JSON.stringify(e)}\n`;
      s.event(line);
    }
  }

  /** Events dropped at the source: every stream is told (some may have passed its filter). */
  dropped(count: number): void {
    this.metrics.dropped.inc({ reason: 'source_rate' }, count);
    for (const s of this.streams) s.control({ type: 'tap.dropped', time: Date.now(), count, reason: 'source_rate' });
  }

  removed(stream: TapStream): void {
    if (!this.streams.delete(stream)) return;
    this.metrics.subscribers.set(this.streams.size);
    this.resubscribe();
  }

  cutOff(_stream: TapStream, discarded: number): void {
    this.metrics.disconnected.inc({ reason: 'slow_reader' });
    if (discarded > 0) this.metrics.dropped.inc({ reason: 'slow_reader' }, discarded);
    this.opts.logger.warn({ discarded }, 'tap stream cut off: its reader did not keep up');
  }

  /** Open streams. */
  get size(): number {
    return this.streams.size;
  }

  /** Ends every stream (`tap.end`, reason `closing`) and refuses new ones. Idempotent. */
  close(): void {
    this.closed = true;
    for (const s of [...this.streams]) s.end('closing');
  }

  private resubscribe(): void {
    const filters = [...this.streams].map((s) => s.filter);
    this.source?.set(filters, filters.length === 0 ? undefined : this);
  }
}

function matchesEvent(m: TapMatcher, kind: TapKind, e: TapEvent): boolean {
  const str = (k: string): string | undefined => (typeof e[k] === 'string' ? (e[k] as string) : undefined);
  const outcome = e.type === 'connection.open' ? undefined : str('outcome');
  return m.matches(kind, str('src_workload'), str('dst_workload'), str('src_identity'), str('dst_identity'), str('service'), outcome);
}

function optionalNumber(url: URL, name: string, min: number, max: number, integer: boolean): number | undefined {
  const text = url.searchParams.get(name);
  if (text === null) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${name}=${JSON.stringify(text.slice(0, 40))}: want ${integer ? 'an integer' : 'a number of seconds'} from ${min} to ${max}`);
  }
  return n;
}
