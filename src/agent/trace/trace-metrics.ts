/**
 * The tracer's own metrics: spans exported and spans dropped by reason
 * (`meshlet_trace_spans_dropped_total{reason="queue_full"|"export_failed"}`). Touched once per
 * batch or per dropped span, never per request otherwise.
 */
// The classes without prom-client's index: a data-path worker must not load @opentelemetry/api (ops/prom.ts).
import { Counter, type Registry } from '../../ops/prom.js';
import type { DropReason, ExportCounters } from './span-exporter.js';

/** Counters of the span exporters, in `registry`. */
export class TraceMetrics implements ExportCounters {
  private readonly droppedTotal: Counter<'reason'>;
  private readonly exportedTotal: Counter;

  constructor(registry: Registry) {
    this.droppedTotal = new Counter({ name: 'meshlet_trace_spans_dropped_total', help: 'Trace spans dropped rather than exported: the queue was full, or the export failed or timed out', labelNames: ['reason'], registers: [registry] });
    this.exportedTotal = new Counter({ name: 'meshlet_trace_spans_exported_total', help: 'Trace spans the collector accepted', registers: [registry] });
    // Both reasons show from the start, so a rate() over them works before the first drop.
    this.droppedTotal.inc({ reason: 'queue_full' }, 0);
    this.droppedTotal.inc({ reason: 'export_failed' }, 0);
  }

  dropped(reason: DropReason, n: number): void {
    this.droppedTotal.inc({ reason }, n);
  }

  exported(n: number): void {
    this.exportedTotal.inc(n);
  }
}
