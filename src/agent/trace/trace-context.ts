/**
 * Trace context propagation, pure: reading W3C Trace Context (`traceparent`, `tracestate`) and
 * B3 (the single `b3` header and the multi-header `x-b3-*` form) from a request's headers, and
 * writing a span's context back in the formats the request came with, always with W3C.
 *
 * A header that does not parse is ignored (the request starts a new trace), never an error to
 * the request: the application's tracing must not be able to break its traffic.
 */
/** Request headers, lower-case names (the shape of `http/exchange.ts`'s HeaderMap; not imported, which would make a cycle). */
type HeaderMap = Record<string, string | string[]>;

/** Formats a request carried, as bits: W3C, B3 single, B3 multi. */
export const FORMAT_W3C = 1;
export const FORMAT_B3_SINGLE = 2;
export const FORMAT_B3_MULTI = 4;

/** A trace context read from a request: the caller's span. */
export interface IncomingContext {
  /** 32 lowercase hex digits. */
  readonly traceId: string;
  /** 16 lowercase hex digits: the caller's span, the parent of ours. */
  readonly spanId: string;
  /** The caller's decision; undefined when it left the decision to us (B3 without a sampling state). */
  readonly sampled: boolean | undefined;
  /** W3C `tracestate`, passed on as it came (bounded). */
  readonly tracestate?: string;
  /** The formats it came in ({@link FORMAT_W3C} | ...). */
  readonly formats: number;
}

/** One of our spans, as it is propagated and recorded. */
export interface SpanContext {
  readonly traceId: string;
  readonly spanId: string;
  /** The caller's span, absent for a new root. */
  readonly parentSpanId?: string;
  readonly sampled: boolean;
  readonly tracestate?: string;
}

/** W3C caps `tracestate` at 32 members of at most 256 characters: longer is not passed on. */
const MAX_TRACESTATE_CHARS = 32 * 257;

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

function one(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.length === 1 ? v[0] : undefined;
}

function isTraceId(s: string): boolean {
  return s.length === 32 && HEX.test(s) && s !== ZERO_TRACE;
}

function isSpanId(s: string): boolean {
  return s.length === 16 && HEX.test(s) && s !== ZERO_SPAN;
}

/** A B3 trace id: 16 or 32 hex digits; a 64-bit one is left-padded to 128 bits (as W3C carries it). */
function b3TraceId(s: string): string | undefined {
  const id = s.toLowerCase();
  if (id.length === 16 && HEX.test(id) && id !== ZERO_SPAN) return ZERO_SPAN + id;
  return isTraceId(id) ? id : undefined;
}

/**
 * `traceparent` (W3C Trace Context level 1): `version-traceid-spanid-flags`. Version `ff` is
 * invalid; version `00` has exactly four fields; a later version may add fields after them,
 * which are ignored (as the spec asks).
 */
export function parseTraceparent(value: string): { traceId: string; spanId: string; sampled: boolean } | undefined {
  const v = value.trim();
  if (v.length < 55) return undefined;
  const version = v.slice(0, 2);
  if (!HEX.test(version) || version === 'ff') return undefined;
  if (version === '00' ? v.length !== 55 : v.length > 55 && v[55] !== '-') return undefined;
  if (v[2] !== '-' || v[35] !== '-' || v[52] !== '-') return undefined;
  const traceId = v.slice(3, 35);
  const spanId = v.slice(36, 52);
  const flags = v.slice(53, 55);
  if (!isTraceId(traceId) || !isSpanId(spanId) || !HEX.test(flags)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

/** A B3 sampling state: `1`/`d` (debug) sampled, `0` not, anything else undecided. */
function b3Sampled(s: string | undefined): boolean | undefined {
  if (s === '1' || s === 'd' || s === 'true') return true;
  if (s === '0' || s === 'false') return false;
  return undefined;
}

/** The single `b3` header: `traceid-spanid[-sampling[-parentspanid]]` (a bare `0`/`1`/`d` carries only a decision). */
export function parseB3Single(value: string): { traceId: string; spanId: string; sampled: boolean | undefined } | undefined {
  const parts = value.trim().split('-');
  if (parts.length < 2 || parts.length > 4) return undefined;
  const traceId = b3TraceId(parts[0] ?? '');
  const spanId = (parts[1] ?? '').toLowerCase();
  if (traceId === undefined || !isSpanId(spanId)) return undefined;
  const sampling = parts[2];
  if (sampling !== undefined && sampling !== '0' && sampling !== '1' && sampling !== 'd') return undefined;
  if (parts[3] !== undefined && !isSpanId(parts[3].toLowerCase())) return undefined;
  return { traceId, spanId, sampled: b3Sampled(sampling) };
}

/** The multi-header form: `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags` (1: debug, sampled). */
export function parseB3Multi(headers: HeaderMap): { traceId: string; spanId: string; sampled: boolean | undefined } | undefined {
  const rawTrace = one(headers['x-b3-traceid']);
  const rawSpan = one(headers['x-b3-spanid']);
  if (rawTrace === undefined || rawSpan === undefined) return undefined;
  const traceId = b3TraceId(rawTrace.trim());
  const spanId = rawSpan.trim().toLowerCase();
  if (traceId === undefined || !isSpanId(spanId)) return undefined;
  const debug = one(headers['x-b3-flags'])?.trim() === '1';
  return { traceId, spanId, sampled: debug ? true : b3Sampled(one(headers['x-b3-sampled'])?.trim().toLowerCase()) };
}

/**
 * The caller's context, from the first valid of: `traceparent` (with `tracestate`), `b3`, the
 * `x-b3-*` headers; undefined when none is valid. `formats` lists every format that carried a
 * valid context, so that each is written back.
 */
export function readContext(headers: HeaderMap): IncomingContext | undefined {
  let found: { traceId: string; spanId: string; sampled: boolean | undefined } | undefined;
  let formats = 0;
  let tracestate: string | undefined;
  const tp = one(headers['traceparent']);
  const w3c = tp === undefined ? undefined : parseTraceparent(tp);
  if (w3c !== undefined) {
    found = w3c;
    formats |= FORMAT_W3C;
    const ts = headers['tracestate'];
    const joined = ts === undefined ? undefined : typeof ts === 'string' ? ts : ts.join(',');
    if (joined !== undefined && joined.length > 0 && joined.length <= MAX_TRACESTATE_CHARS) tracestate = joined;
  }
  const b3 = one(headers['b3']);
  const single = b3 === undefined ? undefined : parseB3Single(b3);
  if (single !== undefined) {
    found ??= single;
    formats |= FORMAT_B3_SINGLE;
  }
  const multi = parseB3Multi(headers);
  if (multi !== undefined) {
    found ??= multi;
    formats |= FORMAT_B3_MULTI;
  }
  if (found === undefined) return undefined;
  return { traceId: found.traceId, spanId: found.spanId, sampled: found.sampled, formats, ...(tracestate === undefined ? {} : { tracestate }) };
}

/** Removes `name` when present (a `delete` turns the object into a slow dictionary for every later read). */
function drop(headers: HeaderMap, name: string): void {
  if (headers[name] !== undefined) delete headers[name];
}

/**
 * Writes `span` into `headers` (mutated): `traceparent` (and `tracestate` when there is one)
 * always, and `b3` / `x-b3-*` when `formats` says the request came with them; any other trace
 * header is removed (a stale or invalid one must not travel on). The span is the parent of
 * whatever the next hop records. Headers written anyway are assigned over, not deleted first.
 */
export function writeContext(headers: HeaderMap, span: SpanContext, formats: number): void {
  headers['traceparent'] = `00-${span.traceId}-${span.spanId}-${span.sampled ? '01' : '00'}`;
  if (span.tracestate !== undefined) headers['tracestate'] = span.tracestate;
  else drop(headers, 'tracestate');
  if ((formats & FORMAT_B3_SINGLE) !== 0) {
    const parent = span.parentSpanId === undefined ? '' : `-${span.parentSpanId}`;
    headers['b3'] = `${span.traceId}-${span.spanId}-${span.sampled ? '1' : '0'}${parent}`;
  } else {
    drop(headers, 'b3');
  }
  if ((formats & FORMAT_B3_MULTI) !== 0) {
    headers['x-b3-traceid'] = span.traceId;
    headers['x-b3-spanid'] = span.spanId;
    if (span.parentSpanId !== undefined) headers['x-b3-parentspanid'] = span.parentSpanId;
    else drop(headers, 'x-b3-parentspanid');
    headers['x-b3-sampled'] = span.sampled ? '1' : '0';
    drop(headers, 'x-b3-flags');
  } else {
    for (const name of B3_MULTI_HEADERS) drop(headers, name);
  }
}

const B3_MULTI_HEADERS = ['x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];
