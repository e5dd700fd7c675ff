/**
 * The events of the tap stream (`GET /tap`, `meshlet tap`): one NDJSON line each, with the
 * access log's field names where it has the field (`src_workload`, `bytes_sent`,
 * `response_flags`, ...). Built only for a record some subscriber's filter wants; plain data,
 * so a worker sends them to the primary as they are, and the primary checks each one
 * ({@link isTapEvent}) before it writes a byte of it.
 */
import type { ConnectionRecord } from '../proxy/connection-table.js';
import type { RequestRecord } from '../http/exchange.js';
import { requestLine, requestOk } from '../http/request-log.js';
import { respond } from '../policy/respond.js';
import { authzLogFields } from '../policy/authz-fields.js';
import type { TapOutcome } from './tap-filter.js';

/** An event about traffic. `time`: epoch ms when it happened; `worker`: the pid of the process that carried it. */
export type TapEvent = { readonly type: 'connection.open' | 'connection.close' | 'request'; readonly time: number; readonly worker: number } & Readonly<Record<string, string | number | boolean>>;

/** The event types of traffic (the stream's own lines are `tap.*`). */
export const TAP_EVENT_TYPES: ReadonlySet<string> = new Set(['connection.open', 'connection.close', 'request']);

/** A request's outcome: see {@link TapOutcome}. */
export function requestOutcome(rec: RequestRecord): TapOutcome {
  if (rec.failure !== undefined && rec.failure !== 'downstream_reset') return respond(rec.failure).outcome;
  if (rec.failure === 'downstream_reset') return 'reset';
  return requestOk(rec) ? 'ok' : 'error';
}

/** Sets `key` when `value` is defined (events carry no undefined: they cross the worker channel). */
function put(out: Record<string, string | number | boolean>, key: string, value: string | number | boolean | undefined): void {
  if (value !== undefined) out[key] = value;
}

function connectionFields(rec: ConnectionRecord, out: Record<string, string | number | boolean>): void {
  out['id'] = rec.id;
  out['direction'] = rec.direction;
  out['mode'] = rec.mode;
  out['src'] = rec.source;
  out['dst'] = rec.destination;
  put(out, 'src_workload', rec.sourceWorkload);
  put(out, 'src_identity', rec.sourceIdentity);
  put(out, 'dst_workload', rec.destinationWorkload);
  put(out, 'dst_identity', rec.destinationIdentity);
  put(out, 'service', rec.service);
  out['security_policy'] = rec.securityPolicy;
}

/** Copies an access-log line's fields: strings, numbers, booleans; a list (AUDIT rules) joined with `,`. */
function copyPlain(line: Record<string, unknown>, out: Record<string, string | number | boolean>): void {
  for (const k in line) {
    const v = line[k];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (Array.isArray(v)) out[k] = v.join(',');
  }
}

/** A connection the agent has just accepted and resolved (who, where to). */
export function openedEvent(rec: ConnectionRecord, now: number, worker: number): TapEvent {
  const out: Record<string, string | number | boolean> = { type: 'connection.open', time: now, worker };
  connectionFields(rec, out);
  return out as TapEvent;
}

/** A closed connection, with what its access-log line says. */
export function closedEvent(rec: ConnectionRecord, bytesSent: number, bytesReceived: number, now: number, worker: number): TapEvent {
  const out: Record<string, string | number | boolean> = { type: 'connection.close', time: now, worker };
  connectionFields(rec, out);
  out['bytes_sent'] = bytesSent;
  out['bytes_received'] = bytesReceived;
  out['duration_ms'] = Math.round(performance.now() - rec.startedAt);
  out['outcome'] = rec.outcome ?? 'ok';
  out['response_flags'] = rec.responseFlag ?? '-';
  put(out, 'reason', rec.reason);
  copyPlain(authzLogFields(rec.authz), out);
  return out as TapEvent;
}

/** A finished request: its access-log line's fields (paths capped alike), and its outcome. */
export function requestEvent(rec: RequestRecord, now: number, worker: number): TapEvent {
  const out: Record<string, string | number | boolean> = { type: 'request', time: now, worker };
  copyPlain(requestLine(rec), out);
  out['outcome'] = requestOutcome(rec);
  return out as TapEvent;
}

/** Fields an event may carry; a worker's event with any other is refused. */
const FIELDS: ReadonlySet<string> = new Set([
  'type', 'time', 'worker', 'id', 'direction', 'mode', 'src', 'dst', 'src_workload', 'src_identity', 'dst_workload', 'dst_identity', 'service',
  'security_policy', 'bytes_sent', 'bytes_received', 'duration_ms', 'outcome', 'response_flags', 'reason', 'reporter', 'method', 'authority',
  'path', 'proto', 'request_protocol', 'status', 'grpc_status', 'request_bytes', 'response_bytes', 'upstream', 'route', 'request_id',
  'attempts', 'retry_stop', 'hedge', 'fault_delay_ms', 'overflow', 'authz_policy', 'authz_rule', 'authz_action', 'authz_reason', 'authz_audit', 'truncated',
]);

/**
 * Longest string field: a capped path or authority (1,024 characters and the marker) fits, and
 * a failure reason; the worst event is then a few KiB.
 */
export const MAX_EVENT_STRING = 2048;

/** Checks an event from a worker: a known type, known fields, strings bounded, numbers finite. */
export function isTapEvent(v: unknown): v is TapEvent {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const e = v as Record<string, unknown>;
  if (typeof e['type'] !== 'string' || !TAP_EVENT_TYPES.has(e['type']) || typeof e['time'] !== 'number' || typeof e['worker'] !== 'number') return false;
  for (const [k, value] of Object.entries(e)) {
    if (!FIELDS.has(k)) return false;
    if (typeof value === 'string') {
      if (value.length > MAX_EVENT_STRING) return false;
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) return false;
    } else if (typeof value !== 'boolean') return false;
  }
  return true;
}
