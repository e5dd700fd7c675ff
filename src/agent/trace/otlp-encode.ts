/**
 * OTLP/HTTP protobuf encoding of spans: an `ExportTraceServiceRequest`
 * (opentelemetry-proto `collector/trace/v1/trace_service.proto`), written with the field
 * numbers of `trace/v1/trace.proto`, `common/v1/common.proto` and `resource/v1/resource.proto`.
 * Spans are grouped by resource (one `ResourceSpans` per workload) under one scope (`meshlet`).
 *
 * Our own writer rather than the OpenTelemetry SDK's: the SDK serializer takes its own span
 * objects (a `ReadableSpan` per request, with its resource and scope objects), which cost more
 * to build than the bytes; see docs/tracing.md for the figures.
 */
import { ProtoWriter } from './proto-writer.js';
import type { AttributeValue, SpanData } from './span-data.js';

/** A span's encoded size, a little over what meshlet's spans take (877 bytes measured), for the first buffer. */
const BYTES_PER_SPAN_ESTIMATE = 1024;

/** The instrumentation scope of every span. */
export const SCOPE_NAME = 'meshlet';

// ExportTraceServiceRequest
const REQ_RESOURCE_SPANS = 1;
// ResourceSpans
const RS_RESOURCE = 1;
const RS_SCOPE_SPANS = 2;
// Resource
const RESOURCE_ATTRIBUTES = 1;
// ScopeSpans
const SS_SCOPE = 1;
const SS_SPANS = 2;
// InstrumentationScope
const SCOPE_NAME_FIELD = 1;
const SCOPE_VERSION_FIELD = 2;
// Span
const SPAN_TRACE_ID = 1;
const SPAN_SPAN_ID = 2;
const SPAN_TRACE_STATE = 3;
const SPAN_PARENT_SPAN_ID = 4;
const SPAN_NAME = 5;
const SPAN_KIND = 6;
const SPAN_START = 7;
const SPAN_END = 8;
const SPAN_ATTRIBUTES = 9;
const SPAN_STATUS = 15;
const SPAN_FLAGS = 16;
// Status
const STATUS_MESSAGE = 2;
const STATUS_CODE = 3;
const STATUS_CODE_ERROR = 2;
// KeyValue / AnyValue
const KV_KEY = 1;
const KV_VALUE = 2;
const ANY_STRING = 1;
const ANY_BOOL = 2;
const ANY_INT = 3;
const ANY_DOUBLE = 4;

/** SpanFlags: the W3C trace flags (bit 0: sampled) and "the parent's remote-ness is known" (bit 8), remote (bit 9). */
const FLAG_SAMPLED = 0x01;
const FLAG_HAS_IS_REMOTE = 0x100;
const FLAG_IS_REMOTE = 0x200;

function attribute(w: ProtoWriter, field: number, key: string, value: AttributeValue): void {
  const kv = w.begin(field);
  w.string(KV_KEY, key);
  const any = w.begin(KV_VALUE);
  if (typeof value === 'string') w.string(ANY_STRING, value);
  else if (typeof value === 'boolean') w.bool(ANY_BOOL, value);
  else if (Number.isInteger(value) && value >= 0) w.uint(ANY_INT, value);
  else w.double(ANY_DOUBLE, value);
  w.end(any);
  w.end(kv);
}

function span(w: ProtoWriter, s: SpanData): void {
  const m = w.begin(SS_SPANS);
  const c = s.context;
  w.hexBytes(SPAN_TRACE_ID, c.traceId);
  w.hexBytes(SPAN_SPAN_ID, c.spanId);
  if (c.tracestate !== undefined) w.string(SPAN_TRACE_STATE, c.tracestate);
  if (c.parentSpanId !== undefined) w.hexBytes(SPAN_PARENT_SPAN_ID, c.parentSpanId);
  w.string(SPAN_NAME, s.name);
  w.uint(SPAN_KIND, s.kind);
  w.fixed64(SPAN_START, s.startNs);
  w.fixed64(SPAN_END, s.endNs);
  for (const [k, v] of s.attributes) attribute(w, SPAN_ATTRIBUTES, k, v);
  if (s.error !== undefined) {
    const st = w.begin(SPAN_STATUS);
    w.string(STATUS_MESSAGE, s.error);
    w.uint(STATUS_CODE, STATUS_CODE_ERROR);
    w.end(st);
  }
  // Every parent of ours is remote (another process: the application or the other agent).
  const remote = c.parentSpanId === undefined ? 0 : FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE;
  w.fixed32(SPAN_FLAGS, (c.sampled ? FLAG_SAMPLED : 0) | remote);
  w.end(m);
}

/** The `ExportTraceServiceRequest` bytes of `spans`. `version`: the scope's version (meshlet's). */
export function encodeSpans(spans: readonly SpanData[], version: string): Buffer {
  const byResource = new Map<string, SpanData[]>();
  for (const s of spans) {
    const list = byResource.get(s.resource.key);
    if (list === undefined) byResource.set(s.resource.key, [s]);
    else list.push(s);
  }
  // About 900 bytes a span with meshlet's attributes: sized once, not grown batch by batch.
  const w = new ProtoWriter(Math.max(16 * 1024, spans.length * BYTES_PER_SPAN_ESTIMATE));
  for (const list of byResource.values()) {
    const rs = w.begin(REQ_RESOURCE_SPANS);
    const res = w.begin(RS_RESOURCE);
    for (const [k, v] of (list[0] as SpanData).resource.attributes) attribute(w, RESOURCE_ATTRIBUTES, k, v);
    w.end(res);
    const ss = w.begin(RS_SCOPE_SPANS);
    const scope = w.begin(SS_SCOPE);
    w.string(SCOPE_NAME_FIELD, SCOPE_NAME);
    w.string(SCOPE_VERSION_FIELD, version);
    w.end(scope);
    for (const s of list) span(w, s);
    w.end(ss);
    w.end(rs);
  }
  return w.finish();
}
