/**
 * The agent's part in the application's traces. At the head of a request (`begin`) it reads
 * the caller's context (W3C or B3, `trace-context.ts`), continues that trace or starts one, and
 * writes its own span's context into the headers that go on; at the end (`onRequest`, a
 * {@link RequestObserver}) the request's record becomes a span (`span-data.ts`) queued on the
 * exporter of its namespace's collector (`span-exporter.ts`).
 *
 * Sampling is parent-based: a caller's decision is kept; a new trace is sampled with the
 * namespace's `samplingPercentage`. An unsampled request still carries ids (logged in the
 * access log) but makes no span. Without a Telemetry object for a namespace nothing is read or
 * written for its requests.
 */
import type { WorkloadInfo } from '../../mesh/types.js';
import { tracingFor, type TelemetryData, type TracingSettings } from '../../mesh/objects/telemetry.js';
import type { HeaderMap, RequestObserver, RequestRecord } from '../http/exchange.js';
import { resourceOf, spanOf, type SpanResource } from './span-data.js';
import { SpanExporter, type ExportCounters, type ExportLimits } from './span-exporter.js';
import { readContext, writeContext, type SpanContext } from './trace-context.js';
import { newSpanId, newTraceId } from './trace-ids.js';

/** One exporter per collector and protocol. */
const exporterKey = (t: TracingSettings): string => `${t.protocol ?? 'http/protobuf'} ${t.collector}`;

/** Options of a {@link Tracer}. */
export interface TracerOptions {
  /** This node's name (`k8s.node.name`). */
  readonly node: string;
  /** The mesh's root namespace: its Telemetry is the mesh-wide one. */
  readonly rootNamespace: string;
  /** Looks a workload up by uid (for its canonical service). */
  readonly workload?: (uid: string) => WorkloadInfo | undefined;
  readonly counters?: ExportCounters;
  readonly limits?: Partial<ExportLimits>;
  /** Uniform in [0, 1): the sampling of new traces (tests pass their own). */
  readonly random?: () => number;
  /** meshlet's version, the instrumentation scope's. */
  readonly version?: string;
}

/** Namespace of a workload uid `<kind>/<namespace>/<name>`. */
function namespaceOf(uid: string | undefined): string | undefined {
  if (uid === undefined) return undefined;
  const a = uid.indexOf('/');
  const b = uid.indexOf('/', a + 1);
  return a < 0 || b < 0 ? undefined : uid.slice(a + 1, b);
}

/** Propagates trace context and exports spans; a {@link RequestObserver}. */
export class Tracer implements RequestObserver {
  private readonly opts: TracerOptions;
  private readonly random: () => number;
  private telemetry: readonly TelemetryData[] = [];
  /** Settings by namespace, for the Telemetry objects in force (cleared by `configure`). */
  private readonly settings = new Map<string, TracingSettings | null>();
  private readonly exporters = new Map<string, SpanExporter>();
  /** Resources by workload uid, for the snapshot in force. */
  private readonly resources = new Map<string, SpanResource>();

  constructor(opts: TracerOptions) {
    this.opts = opts;
    this.random = opts.random ?? Math.random;
    this.onRequest = this.onRequest.bind(this);
  }

  /** The Telemetry objects in force (a new snapshot); exporters of collectors no longer named are closed. */
  configure(telemetry: readonly TelemetryData[]): void {
    this.telemetry = telemetry;
    this.settings.clear();
    this.resources.clear();
    const named = new Set<string>();
    for (const t of telemetry) if (t.tracing !== undefined) named.add(exporterKey(t.tracing));
    for (const [key, exporter] of this.exporters) {
      if (named.has(key)) continue;
      this.exporters.delete(key);
      void exporter.close();
    }
  }

  /** True when some namespace has tracing. */
  get enabled(): boolean {
    return this.telemetry.some((t) => t.tracing !== undefined);
  }

  /** The tracing settings of `namespace` (undefined: off). */
  settingsFor(namespace: string | undefined): TracingSettings | undefined {
    const ns = namespace ?? this.opts.rootNamespace;
    let s = this.settings.get(ns);
    if (s === undefined) {
      s = tracingFor(this.telemetry, ns, this.opts.rootNamespace) ?? null;
      this.settings.set(ns, s);
    }
    return s ?? undefined;
  }

  /**
   * A request's span, at its head: the caller's trace continued (or a new one), written into
   * `headers` (mutated) when `write`. `namespace`: whose settings apply (the workload the span
   * is for). Undefined when that namespace has no tracing: the headers are left as they are.
   */
  begin(headers: HeaderMap, namespace: string | undefined, write = true): SpanContext | undefined {
    if (this.telemetry.length === 0) return undefined;
    const settings = this.settingsFor(namespace);
    if (settings === undefined) return undefined;
    const incoming = readContext(headers);
    const sampled = incoming?.sampled ?? this.random() * 100 < settings.samplingPercentage;
    const span: SpanContext =
      incoming === undefined
        ? { traceId: newTraceId(), spanId: newSpanId(), sampled }
        : { traceId: incoming.traceId, spanId: newSpanId(), parentSpanId: incoming.spanId, sampled, ...(incoming.tracestate === undefined ? {} : { tracestate: incoming.tracestate }) };
    if (write) writeContext(headers, span, incoming?.formats ?? 0);
    return span;
  }

  /** Once per finished request: a sampled one becomes a span on its collector's queue. */
  onRequest(rec: RequestRecord): void {
    const context = rec.trace;
    if (context === undefined || !context.sampled) return;
    const uid = rec.reporter === 'source' ? rec.sourceWorkload : rec.destinationWorkload;
    const settings = this.settingsFor(namespaceOf(uid));
    if (settings === undefined) return;
    this.exporterOf(settings).add(spanOf(rec, context, this.resourceOf(uid)));
  }

  private resourceOf(uid: string | undefined): SpanResource {
    const key = uid ?? '';
    let r = this.resources.get(key);
    if (r === undefined) {
      r = resourceOf(uid, uid === undefined ? undefined : this.opts.workload?.(uid), this.opts.node);
      this.resources.set(key, r);
    }
    return r;
  }

  private exporterOf(settings: TracingSettings): SpanExporter {
    const key = exporterKey(settings);
    let e = this.exporters.get(key);
    if (e === undefined) {
      e = new SpanExporter(settings.collector, {
        ...(settings.protocol === undefined ? {} : { protocol: settings.protocol }),
        ...(this.opts.limits === undefined ? {} : { limits: this.opts.limits }),
        ...(this.opts.counters === undefined ? {} : { counters: this.opts.counters }),
        ...(this.opts.version === undefined ? {} : { version: this.opts.version }),
      });
      this.exporters.set(key, e);
    }
    return e;
  }

  /** Sends what waits now (tests, a drain). */
  async flush(): Promise<void> {
    await Promise.all([...this.exporters.values()].map((e) => e.flush()));
  }

  /** Spans waiting, over every collector. */
  get queued(): number {
    let n = 0;
    for (const e of this.exporters.values()) n += e.queued;
    return n;
  }

  /** Sends the last batches and stops; idempotent. */
  async close(): Promise<void> {
    const all = [...this.exporters.values()];
    this.exporters.clear();
    this.telemetry = [];
    this.settings.clear();
    await Promise.all(all.map((e) => e.close()));
  }
}
