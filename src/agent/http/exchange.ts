/**
 * The shapes every L7 hop shares, so that the source side, the destination side and the
 * upstream pools plug into each other whatever lies between them:
 *
 *   application -> [source agent: http/h2 server, routes, balancer] -> UpstreamCall
 *     - another node: an HTTP/2 request on the pooled mTLS tunnel session (see `wire.ts`),
 *       served there by the destination agent, which makes its own UpstreamCall to the workload;
 *     - this node: the destination side's call in-process (`InboundHttp.call`), no socket;
 *     - an endpoint that is not meshed: the upstream pool, plaintext.
 *
 * An {@link UpstreamCall} is one request in flight: the caller writes the request body into
 * `body` (with backpressure) and awaits `response`; the response body is a Readable, and its
 * trailers arrive when it ends. Headers are plain objects with lower-case names, without
 * pseudo-headers and without hop-by-hop headers (`wire.ts` strips them).
 */
import type { Readable, Writable } from 'node:stream';
import type { AuthzVerdict } from '../../mesh/authz/types.js';
import type { ErrorKind } from '../policy/respond.js';
import type { SpanContext } from '../trace/trace-context.js';

/** Header values as Node's http and http2 modules take them. */
export type HeaderMap = Record<string, string | string[]>;

/** The HTTP version the application spoke; restored toward the workload. */
export type HttpProto = 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';

/** A request's head, version-neutral. */
export interface RequestHead {
  readonly method: string;
  /** Path and query, as sent (origin form). */
  readonly path: string;
  /** `Host` / `:authority`, kept as the application sent it. */
  readonly authority: string;
  readonly proto: HttpProto;
  /** End-to-end headers only (no `host`, no pseudo-headers, no hop-by-hop). */
  readonly headers: HeaderMap;
}

/** A response's head. */
export interface ResponseHead {
  readonly status: number;
  /** End-to-end headers only. */
  readonly headers: HeaderMap;
}

/** A response in progress. */
export interface UpstreamResponse extends ResponseHead {
  /** The response body; ends when the upstream ended it. */
  readonly body: Readable;
  /** Resolves once `body` has ended: its trailers (`{}` when none); rejects on a reset after the head. */
  readonly trailers: Promise<HeaderMap>;
  /**
   * Set when the response was made by an agent (a denial, a failed connect), not by the
   * application: the failure, for response flags and metrics.
   */
  readonly failure?: ErrorKind;
}

/** Why an {@link UpstreamCall} got no response head at all. */
export class UpstreamError extends Error {
  readonly kind: ErrorKind;
  /** True when no byte of the request reached the endpoint: safe to try another one. */
  readonly beforeRequestSent: boolean;

  constructor(kind: ErrorKind, message: string, beforeRequestSent: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UpstreamError';
    this.kind = kind;
    this.beforeRequestSent = beforeRequestSent;
  }
}

/** One request in flight toward an endpoint. */
export interface UpstreamCall {
  /** The request body: pipe the client's body in, then end it (an empty body: end at once). */
  readonly body: Writable;
  /** The response head; rejects with an {@link UpstreamError} when there is none. */
  readonly response: Promise<UpstreamResponse>;
  /** Abandons the call (the client went away): resets the stream or drops the upstream socket. */
  abort(): void;
}

/** Who sent a request, as the destination side needs it for policy and metrics. */
export interface RequestSource {
  /** SPIFFE identity; undefined for plaintext (PERMISSIVE) clients. */
  readonly identity?: string;
  /** `<kind>/<namespace>/<name>` of the source workload when known (same node). */
  readonly workload?: string;
  /** The application's address (`forwarded: for=`), for x-forwarded-for and logs. */
  readonly address: string;
  /**
   * The Service (`namespace/name`) the source side routed the request to (on the tunnel,
   * `meshlet-service`): the destination's `destination_service`, telemetry only, never policy.
   */
  readonly service?: string;
}

/** Where the destination side must deliver a request: a workload address and target port. */
export interface RequestTarget {
  readonly address: string;
  readonly port: number;
}

/**
 * One finished request, as the request metrics and the access log take it: filled in along
 * the way by whichever side handled it, reported once at the end.
 */
export interface RequestRecord {
  /** `source` on the source agent, `destination` on the destination agent (Istio's reporter). */
  readonly reporter: 'source' | 'destination';
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly proto: HttpProto;
  /** `http` or `grpc` (Istio's request_protocol). */
  readonly requestProtocol: 'http' | 'grpc';
  /** 0 when no response was sent (the client went away first). */
  status: number;
  /** `grpc-status` of the trailers (or a trailers-only head), when gRPC. */
  grpcStatus?: number;
  sourceWorkload?: string;
  sourceIdentity?: string;
  destinationWorkload?: string;
  destinationIdentity?: string;
  /** `<namespace>/<name>` of the Service the request was for. */
  service?: string;
  /** `<namespace>/<name>` of the route that matched (`-` none). */
  route?: string;
  /** `address:port` of the endpoint that served it. */
  upstream?: string;
  securityPolicy: 'mutual_tls' | 'plaintext';
  failure?: ErrorKind;
  /** Body bytes received from the client and sent back to it. */
  requestBytes: number;
  responseBytes: number;
  /** The request's `x-request-id`, when it had one (the access log's `request_id`). */
  requestId?: string;
  /** Source side: tries made (1 + retries + hedges); absent: 1. The access log's `attempts`. */
  attempts?: number;
  /** Source side: why no further try was made although the last failed (`budget`, `attempts`, `method`, `body`, `breaker`). */
  retryStop?: 'budget' | 'attempts' | 'method' | 'body' | 'breaker';
  /** Source side: a hedge was sent; `won` when its answer was the one returned. */
  hedge?: 'sent' | 'won';
  /** Fault injection: the delay applied (ms), and whether it aborted the request. */
  faultDelayMs?: number;
  /** Circuit breaker or limiter that refused it (`max_requests`, `max_pending`, `max_retries`, `adaptive`, `rate_limit`...). */
  overflow?: string;
  /** Destination side: what authorization said, when a policy decided or an AUDIT rule matched. */
  authz?: AuthzVerdict;
  /** The agent's span of this request (ids always; exported when sampled), when tracing is on for it. */
  trace?: SpanContext;
  /** performance.now() at the request head, and the duration to the end of the response. */
  readonly startedAt: number;
  durationMs: number;
}

/**
 * Joins a request to the application's trace at its head (`trace/tracer.ts`): reads the
 * caller's context from `headers`, and (when `write`) writes the agent's span into them for the
 * next hop. `namespace`: the workload whose tracing settings apply. Undefined: not traced.
 */
export interface RequestTracer {
  begin(headers: HeaderMap, namespace: string | undefined, write?: boolean): SpanContext | undefined;
}

/** Told once per finished request (request metrics, the access log). */
export interface RequestObserver {
  onRequest(rec: RequestRecord): void;
}
