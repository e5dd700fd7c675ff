/**
 * Sends spans to one OTLP collector, over HTTP (`POST <collector>/v1/traces`,
 * `application/x-protobuf`) or gRPC (`TraceService/Export`), off the request path: spans wait
 * in a bounded queue and leave in batches, by size or after a delay, one export in flight at a
 * time. When the queue is full a span is dropped and counted (`queue_full`); an export that
 * fails, is refused or times out is dropped and counted (`export_failed`), never retried, so a
 * collector that is down or slow costs the data path one array push per span and never more
 * memory than the queue.
 */
import type { OtlpProtocol } from '../../mesh/types.js';
import { encodeSpans } from './otlp-encode.js';
import { OtlpGrpcTransport } from './otlp-grpc.js';
import { OtlpHttpTransport } from './otlp-http.js';
import type { OtlpTransport } from './otlp-transport.js';
import type { SpanData } from './span-data.js';

export { exportUrl } from './otlp-http.js';

/** Bounds of an exporter. */
export interface ExportLimits {
  /** Spans waiting at most; more are dropped (`queue_full`). */
  readonly maxQueueSpans: number;
  /** Spans per export request at most. */
  readonly maxBatchSpans: number;
  /** A span waits at most this long for its batch to fill. */
  readonly batchDelayMs: number;
  /** An export not answered by then is abandoned and its spans dropped (`export_failed`). */
  readonly exportTimeoutMs: number;
}

/**
 * The OpenTelemetry SDK's BatchSpanProcessor defaults (2048 queued, 512 per batch, 5 s), with
 * the OTLP exporter's 10 s timeout: collectors and their users are tuned to these.
 */
export const DEFAULT_EXPORT_LIMITS: ExportLimits = Object.freeze({
  maxQueueSpans: 2048,
  maxBatchSpans: 512,
  batchDelayMs: 5000,
  exportTimeoutMs: 10_000,
});

/** How long a closing exporter waits for its last batch: a drain must not wait on a slow collector. */
const CLOSE_GRACE_MS = 1000;

/** Why spans were dropped (the `reason` label of `meshlet_trace_spans_dropped_total`). */
export type DropReason = 'queue_full' | 'export_failed';

/** Where an exporter counts what it did. */
export interface ExportCounters {
  dropped(reason: DropReason, n: number): void;
  exported(n: number): void;
}

/** One collector's queue and batches. */
export class SpanExporter {
  readonly url: URL;
  readonly protocol: OtlpProtocol;
  private readonly limits: ExportLimits;
  private readonly counters: ExportCounters | undefined;
  private readonly version: string;
  private readonly transport: OtlpTransport;
  private queue: SpanData[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private closed = false;

  constructor(collector: string, opts: { protocol?: OtlpProtocol; limits?: Partial<ExportLimits>; counters?: ExportCounters; version?: string } = {}) {
    this.limits = Object.freeze({ ...DEFAULT_EXPORT_LIMITS, ...opts.limits });
    this.counters = opts.counters;
    this.version = opts.version ?? '0.1.0';
    this.protocol = opts.protocol ?? 'http/protobuf';
    const timeout = this.limits.exportTimeoutMs;
    this.transport = this.protocol === 'grpc' ? new OtlpGrpcTransport(collector, timeout, `meshlet/${this.version}`) : new OtlpHttpTransport(collector, timeout);
    this.url = this.transport.url;
    this.flush = this.flush.bind(this);
  }

  /** Spans waiting. */
  get queued(): number {
    return this.queue.length;
  }

  /** Queues a span (or drops it: queue full, or closed). */
  add(span: SpanData): void {
    if (this.closed || this.queue.length >= this.limits.maxQueueSpans) {
      this.counters?.dropped('queue_full', 1);
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.limits.maxBatchSpans && !this.inFlight) {
      clearTimeout(this.timer);
      this.timer = undefined;
      setImmediate(this.flush);
    } else if (this.timer === undefined) {
      this.timer = setTimeout(this.flush, this.limits.batchDelayMs);
      this.timer.unref();
    }
  }

  /** Sends one batch now, when none is in flight; resolves when it is answered (or failed). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight || this.queue.length === 0) return Promise.resolve();
    const batch = this.queue.length <= this.limits.maxBatchSpans ? this.queue : this.queue.slice(0, this.limits.maxBatchSpans);
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
    this.inFlight = true;
    let body: Buffer;
    try {
      body = encodeSpans(batch, this.version);
    } catch {
      this.inFlight = false;
      this.counters?.dropped('export_failed', batch.length);
      return Promise.resolve();
    }
    return this.transport.send(body).then((ok) => {
      this.inFlight = false;
      if (ok) this.counters?.exported(batch.length);
      else this.counters?.dropped('export_failed', batch.length);
      if (this.queue.length >= this.limits.maxBatchSpans) setImmediate(this.flush);
      else if (this.queue.length > 0 && this.timer === undefined && !this.closed) {
        this.timer = setTimeout(this.flush, this.limits.batchDelayMs);
        this.timer.unref();
      }
    });
  }

  /**
   * Sends what is queued (one last batch, given at most `graceMs`), then drops the rest and
   * aborts an export still in flight (its spans counted as `export_failed`); idempotent.
   */
  async close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([this.flush(), grace]);
    clearTimeout(timer);
    if (this.queue.length > 0) this.counters?.dropped('queue_full', this.queue.length);
    this.queue = [];
    this.transport.close();
  }
}
