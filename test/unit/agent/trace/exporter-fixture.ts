/** What the exporter tests share: numbered spans and counters that record what an exporter did. */
import { SPAN_KIND_CLIENT, type SpanData } from '../../../../src/agent/trace/span-data.js';
import type { DropReason, ExportCounters } from '../../../../src/agent/trace/span-exporter.js';

let n = 0;

/** A client span of one trace, each with a new span id. */
export function span(): SpanData {
  n++;
  const id = n.toString(16).padStart(16, '0');
  return { context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: id, sampled: true }, name: 'GET', kind: SPAN_KIND_CLIENT, startNs: 1n, endNs: 2n, attributes: [], resource: { key: 'r', attributes: [['service.name', 'r']] } };
}

/** Counters (`c`, read by the test) and the sink an exporter writes them through. */
export function counters(): { c: { dropped: Record<DropReason, number>; exported: number }; sink: ExportCounters } {
  const dropped: Record<DropReason, number> = { queue_full: 0, export_failed: 0 };
  const c = { dropped, exported: 0 };
  return { c, sink: { dropped: (r: DropReason, k: number) => void (dropped[r] += k), exported: (k: number) => void (c.exported += k) } };
}
