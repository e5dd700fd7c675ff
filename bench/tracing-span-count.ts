/**
 * Counts the spans of an OTLP `ExportTraceServiceRequest` (protobuf) without decoding them: the
 * `l7-tracing` scenario's sink receives thousands of spans a second on the same two cores as
 * the agents it measures, so it walks only the nesting down to each span (field numbers of
 * opentelemetry-proto: request.resource_spans = 1, ResourceSpans.scope_spans = 2,
 * ScopeSpans.spans = 2, Span.kind = 6) and skips every other field by its length. The sink
 * checks this count against the official decoder on the first export of each collector path.
 * Pure.
 *
 * @module
 */

import { MeshletError } from '../src/mesh/errors.js';

/** Spans in one export, and how many are CLIENT (kind 3) and SERVER (kind 2). */
export interface SpanCount {
  spans: number;
  client: number;
  server: number;
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

function malformed(what: string, at: number): never {
  throw new MeshletError('MESHLET_ERR_HOST_TOOL', `OTLP export is not a valid ExportTraceServiceRequest: ${what} at byte ${at}`);
}

/** A varint at `at`: its value (exact up to 2^53) and the offset after it. */
function varint(b: Uint8Array, at: number, end: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i += 1) {
    if (at >= end) malformed('truncated varint', at);
    const byte = b[at] as number;
    at += 1;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, at];
    scale *= 128;
  }
  return malformed('varint longer than 10 bytes', at);
}

/**
 * Calls `field(number, start, end)` for each length-delimited field of the message in
 * `[from, to)` and `varintField(number, value)` for each varint; skips fixed-size fields.
 */
function walk(b: Uint8Array, from: number, to: number, field: (n: number, start: number, end: number) => void, varintField?: (n: number, value: number) => void): void {
  let at = from;
  while (at < to) {
    const [tag, next] = varint(b, at, to);
    at = next;
    const n = Math.floor(tag / 8);
    const wire = tag % 8;
    if (n === 0) malformed('field number 0', at);
    if (wire === 0) {
      const [value, after] = varint(b, at, to);
      at = after;
      varintField?.(n, value);
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const [len, start] = varint(b, at, to);
      if (start + len > to) malformed(`field ${n} of ${len} bytes runs past its message`, start);
      field(n, start, start + len);
      at = start + len;
    } else malformed(`wire type ${wire}`, at);
    if (at > to) malformed('truncated field', to);
  }
}

/** Counts the spans of one export body; throws `MESHLET_ERR_HOST_TOOL` naming the first fault. */
export function countSpans(body: Uint8Array): SpanCount {
  const count: SpanCount = { spans: 0, client: 0, server: 0 };
  const onKind = (n: number, value: number): void => {
    if (n !== 6) return;
    if (value === SPAN_KIND_CLIENT) count.client += 1;
    else if (value === SPAN_KIND_SERVER) count.server += 1;
  };
  // Each callback gets the fields of the message walked with it.
  // ScopeSpans: each span is field 2; in a span, kind is field 6.
  const inScopeSpans = (n: number, start: number, end: number): void => {
    if (n !== 2) return;
    count.spans += 1;
    walk(body, start, end, () => undefined, onKind);
  };
  // ResourceSpans: scope_spans are field 2.
  const inResourceSpans = (n: number, start: number, end: number): void => {
    if (n === 2) walk(body, start, end, inScopeSpans);
  };
  // ExportTraceServiceRequest: resource_spans are field 1.
  const inRequest = (n: number, start: number, end: number): void => {
    if (n === 1) walk(body, start, end, inResourceSpans);
  };
  walk(body, 0, body.length, inRequest);
  return count;
}
