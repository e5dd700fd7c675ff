/**
 * One access-log line per finished HTTP request, on the same `access` logger as the connection
 * lines (JSON, pino), with the access-log mode of today (`--access-log on|off|sample:<ratio>`):
 * a sample keeps every failed request and thins the successful ones.
 *
 * Paths, authorities and request ids come from the client: each is capped at
 * {@link MAX_LOGGED_FIELD_CHARS} with a marker, so a hostile client cannot make a line as long
 * as its request head (Node accepts 16 KiB of headers by default; HTTP/2 more).
 */
import type { Logger } from 'pino';
import type { RequestObserver, RequestRecord } from './exchange.js';
import { responseFlag } from '../policy/respond.js';
import { authzLogFields } from '../policy/authz-fields.js';

/**
 * Characters kept of a logged path, authority or request id: enough for any real URL a log
 * reader wants whole (browsers and CDNs cap URLs around 2-8 KiB; most are under 200 bytes), small
 * enough that a line stays ~4 KiB at worst.
 */
export const MAX_LOGGED_FIELD_CHARS = 1024;

/** What replaces the cut-off tail of a capped field. */
export const TRUNCATED_MARKER = '...[truncated]';

/** gRPC statuses that mean the server failed (their HTTP mapping is 5xx): UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
const GRPC_SERVER_FAILURES: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);

/** Decides which requests get a line (`AccessLogSampler.keep`). */
export interface RequestLogFilter {
  keep(ok: boolean): boolean;
}

/**
 * Whether a request succeeded, for the sample: it failed when the agent made its answer (a
 * failure), nothing was answered (status 0), the status is 5xx, or its gRPC status is a server
 * failure. What the client chose is thinned like a success, so that a client cannot make every
 * line be written: 4xx answers (a scanner's 404s) and requests the client itself reset or
 * abandoned (`downstream_reset`, flag DC).
 */
export function requestOk(rec: RequestRecord): boolean {
  if (rec.failure === 'downstream_reset') return true;
  if (rec.failure !== undefined || rec.status === 0 || rec.status >= 500) return false;
  return rec.grpcStatus === undefined || !GRPC_SERVER_FAILURES.has(rec.grpcStatus);
}

/** `value` cut at `max` characters with {@link TRUNCATED_MARKER}, or itself. */
export function capField(value: string, max = MAX_LOGGED_FIELD_CHARS): string {
  return value.length <= max ? value : value.slice(0, max) + TRUNCATED_MARKER;
}

/**
 * Envoy's `%RESPONSE_FLAGS%` of a request: its failure's flag, DI when fault injection delayed
 * it, URX when its last try failed and no retry was left (tries or budget); `-` for none,
 * several joined with `,` as Envoy prints them.
 */
export function requestFlags(rec: RequestRecord): string {
  const base = responseFlag(rec.failure);
  const failed = rec.failure !== undefined || rec.status >= 500;
  const urx = failed && (rec.retryStop === 'attempts' || rec.retryStop === 'budget');
  if (rec.faultDelayMs === undefined && !urx) return base;
  const flags = base === '-' ? [] : [base];
  if (rec.faultDelayMs !== undefined) flags.push('DI');
  if (urx) flags.push('URX');
  return flags.join(',');
}

/** The line's fields (pure; the log writes them). */
export function requestLine(rec: RequestRecord): Record<string, unknown> {
  const path = capField(rec.path);
  const authority = capField(rec.authority);
  const requestId = rec.requestId === undefined ? undefined : capField(rec.requestId);
  const truncated = path !== rec.path || authority !== rec.authority || requestId !== rec.requestId;
  return {
    reporter: rec.reporter,
    method: rec.method,
    authority,
    path,
    proto: rec.proto,
    request_protocol: rec.requestProtocol,
    status: rec.status,
    grpc_status: rec.grpcStatus,
    duration_ms: Math.round(rec.durationMs * 1000) / 1000,
    request_bytes: rec.requestBytes,
    response_bytes: rec.responseBytes,
    upstream: rec.upstream,
    route: rec.route,
    service: rec.service,
    src_workload: rec.sourceWorkload,
    src_identity: rec.sourceIdentity,
    dst_workload: rec.destinationWorkload,
    dst_identity: rec.destinationIdentity,
    security_policy: rec.securityPolicy,
    response_flags: requestFlags(rec),
    request_id: requestId,
    ...(rec.trace === undefined ? {} : { trace_id: rec.trace.traceId, span_id: rec.trace.spanId }),
    ...(rec.attempts === undefined ? {} : { attempts: rec.attempts }),
    ...(rec.retryStop === undefined ? {} : { retry_stop: rec.retryStop }),
    ...(rec.hedge === undefined ? {} : { hedge: rec.hedge }),
    ...(rec.faultDelayMs === undefined ? {} : { fault_delay_ms: rec.faultDelayMs }),
    ...(rec.overflow === undefined ? {} : { overflow: rec.overflow }),
    ...authzLogFields(rec.authz),
    ...(truncated ? { truncated: true } : {}),
  };
}

/** Writes one access-log line per finished request; a {@link RequestObserver}. */
export class RequestLog implements RequestObserver {
  private readonly logger: Logger;
  private readonly filter: RequestLogFilter | undefined;

  /** `logger`: the `access` component's; `filter`: the access-log mode's sampler (default: every request). */
  constructor(logger: Logger, filter?: RequestLogFilter) {
    this.logger = logger;
    this.filter = filter;
    this.onRequest = this.onRequest.bind(this);
  }

  /** Once per finished request. */
  onRequest(rec: RequestRecord): void {
    if (this.filter !== undefined && !this.filter.keep(requestOk(rec))) return;
    if (!this.logger.isLevelEnabled('info')) return;
    this.logger.info(requestLine(rec), 'request completed');
  }
}
