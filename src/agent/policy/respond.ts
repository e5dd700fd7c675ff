/**
 * Errors become responses here, in one table (after linkerd2-proxy's `errors/respond.rs`): each
 * way a connection or a tunnel request can fail is an {@link ErrorKind}, and the kind alone says
 * the connection's outcome (the access log's `outcome`), the HTTP status a tunnel CONNECT is
 * answered with (and an L7 response will be), the gRPC status for gRPC callers, the Envoy-style
 * response flag of the access log's `response_flags`, and the error code a log line names. The
 * proxy code picks a kind and asks; it never chooses a status or an outcome itself. Pure.
 */
import type { MeshletErrorCode } from '../../mesh/errors.js';
import type { OutboundPlan } from './outbound-plan.js';
import type { ConnectionOutcome } from './outcomes.js';

/** How a connection or tunnel request failed (a closed list: add a row to {@link RESPONSES}). */
export type ErrorKind =
  /** Mesh policy refused it: inbound policy, a refused address or agent port, an unknown source. */
  | 'policy_denied'
  /** An AuthorizationPolicy refused it (a DENY rule matched, or no ALLOW rule did). */
  | 'authz_denied'
  /** No snapshot yet: captured traffic waits for the first one. */
  | 'no_snapshot'
  /** Nothing to send it to: a meshed destination whose endpoint is not in the snapshot. */
  | 'no_route'
  /** A Service with no endpoint for the port. */
  | 'no_healthy_upstream'
  /** The destination did not accept within the connect timeout (ETIMEDOUT). */
  | 'connect_timeout'
  /** The destination refused the connection (ECONNREFUSED). */
  | 'connect_refused'
  /** Any other connect error (EHOSTUNREACH, ENETUNREACH, ...). */
  | 'connect_failed'
  /** No tunnel stream could be opened to the peer agent (handshake, identity, peer unreachable). */
  | 'tunnel_failed'
  /** The peer agent did not answer the CONNECT in time. */
  | 'tunnel_timeout'
  /** The peer agent answered the CONNECT with 403: its policy refused it. */
  | 'tunnel_denied'
  /** The peer agent answered the CONNECT with another non-2xx status (its connect failed). */
  | 'tunnel_refused'
  /** The tunnel stream failed with an error once carrying bytes. */
  | 'tunnel_reset'
  /** Tunnel server: a CONNECT on no authenticated session, or from a peer with no single identity. */
  | 'tunnel_unauthenticated'
  /** Tunnel server: a request that is not CONNECT. */
  | 'tunnel_bad_method'
  /** Tunnel server: a CONNECT authority that is not exactly `address:port`. */
  | 'tunnel_bad_authority'
  /** The upstream side (workload, destination, tunnel) reset a connection that was carrying bytes. */
  | 'upstream_reset'
  /** The downstream side (the client) reset it. */
  | 'downstream_reset'
  /** No byte either way for the idle timeout: the agent reset both sides. */
  | 'idle_timeout'
  /** The drain deadline passed with the connection still open: the agent closed it. */
  | 'drained'
  /** L7: a route's backend does not resolve (no such Service or port): 500, as Envoy's "no cluster". */
  | 'backend_not_found'
  /** L7: a route's request or backend-request timeout passed before the response head. */
  | 'request_timeout'
  /** L7: a request the HTTP parser refused (malformed, smuggling, oversized headers). */
  | 'bad_request'
  /** L7: an application `CONNECT` request (meshlet does not open tunnels for applications). */
  | 'connect_not_allowed'
  /** A circuit breaker's threshold (connections, pending, requests, retries) or the adaptive limit was reached: refused at once. */
  | 'overflow'
  /** A local rate limit had no token for the request. */
  | 'rate_limited'
  /** The source workload has as many connections open through the agent as its limit allows. */
  | 'workload_limit'
  /** Fault injection answered the request (its status is the policy's) or reset the connection. */
  | 'fault_abort';

/**
 * Envoy's response flags that meshlet sets (Envoy's access-log `%RESPONSE_FLAGS%`), `-` for
 * none, as Envoy and Istio print it. Envoy's own RBAC filter records no flag for a denial (only
 * response code details); UAEX, "unauthorized", is the flag Envoy-based meshes show for one.
 */
export type ResponseFlag =
  | '-'
  /** UpstreamConnectionFailure */
  | 'UF'
  /** UpstreamRequestTimeout */
  | 'UT'
  /** NoHealthyUpstream */
  | 'UH'
  /** NoRouteFound */
  | 'NR'
  /** UpstreamConnectionTermination */
  | 'UC'
  /** DownstreamConnectionTermination */
  | 'DC'
  /** StreamIdleTimeout */
  | 'SI'
  /** LocalReset: the agent itself closed it (drain deadline) */
  | 'LR'
  /** UnauthorizedExternalService: denied by authorization policy */
  | 'UAEX'
  /** DownstreamProtocolError: a request the protocol does not allow */
  | 'DPE'
  /** NoClusterFound: the route's backend does not exist */
  | 'NC'
  /** UpstreamOverflow: a circuit breaker (or the adaptive concurrency limit) refused it */
  | 'UO'
  /** RateLimited: a local rate limit refused it */
  | 'RL'
  /** FaultInjected: fault injection aborted it */
  | 'FI'
  /** DelayInjected: fault injection delayed it (set beside the failure's flag, if any) */
  | 'DI'
  /** UpstreamRetryLimitExceeded: the last try's failure, returned because no retry was left (tries or budget) */
  | 'URX';

/** gRPC status codes (grpc/doc/statuscodes.md) the table uses. */
export const GrpcStatus = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** What a failure turns into. */
export interface Response {
  readonly outcome: ConnectionOutcome;
  /**
   * The HTTP status it is answered with, where an answer can still be sent (a tunnel CONNECT,
   * later an L7 request); 499 (client closed request, nginx's) is never sent: no one is left.
   */
  readonly httpStatus: number;
  readonly grpcStatus: number;
  readonly responseFlag: ResponseFlag;
  /**
   * The code its log line carries; undefined for normal connection outcomes (a failed connect,
   * a reset, a drain), which are access-log lines only (ztunnel's `copy.rs`: not errors).
   */
  readonly errorCode: MeshletErrorCode | undefined;
}

function row(outcome: ConnectionOutcome, httpStatus: number, grpcStatus: number, responseFlag: ResponseFlag, errorCode?: MeshletErrorCode): Response {
  return Object.freeze({ outcome, httpStatus, grpcStatus, responseFlag, errorCode });
}

const G = GrpcStatus;

/**
 * The one table. A connect timeout is UF, not UT, as in Envoy (UT is a request that got no
 * response in time: here, a CONNECT the peer agent did not answer).
 */
export const RESPONSES: Readonly<Record<ErrorKind, Response>> = Object.freeze({
  policy_denied: row('denied', 403, G.PERMISSION_DENIED, 'UAEX', 'MESHLET_ERR_POLICY_DENIED'),
  authz_denied: row('denied', 403, G.PERMISSION_DENIED, 'UAEX', 'MESHLET_ERR_POLICY_DENIED'),
  no_snapshot: row('no_route', 503, G.UNAVAILABLE, 'NR', 'MESHLET_ERR_NO_ROUTE'),
  no_route: row('no_route', 404, G.UNIMPLEMENTED, 'NR', 'MESHLET_ERR_NO_ROUTE'),
  no_healthy_upstream: row('no_route', 503, G.UNAVAILABLE, 'UH', 'MESHLET_ERR_NO_ROUTE'),
  connect_timeout: row('connect_failed', 504, G.DEADLINE_EXCEEDED, 'UF'),
  connect_refused: row('connect_failed', 503, G.UNAVAILABLE, 'UF'),
  connect_failed: row('connect_failed', 503, G.UNAVAILABLE, 'UF'),
  tunnel_failed: row('tunnel_failed', 503, G.UNAVAILABLE, 'UF', 'MESHLET_ERR_TUNNEL_CONNECT'),
  tunnel_timeout: row('tunnel_failed', 504, G.DEADLINE_EXCEEDED, 'UT', 'MESHLET_ERR_TUNNEL_CONNECT'),
  tunnel_denied: row('denied', 403, G.PERMISSION_DENIED, 'UAEX', 'MESHLET_ERR_TUNNEL_CONNECT'),
  tunnel_refused: row('connect_failed', 503, G.UNAVAILABLE, 'UF', 'MESHLET_ERR_TUNNEL_CONNECT'),
  tunnel_reset: row('tunnel_failed', 503, G.UNAVAILABLE, 'UC'),
  tunnel_unauthenticated: row('denied', 403, G.UNAUTHENTICATED, 'UAEX', 'MESHLET_ERR_TUNNEL_CONNECT'),
  tunnel_bad_method: row('denied', 405, G.UNIMPLEMENTED, 'DPE', 'MESHLET_ERR_TUNNEL_CONNECT'),
  tunnel_bad_authority: row('denied', 400, G.INVALID_ARGUMENT, 'DPE', 'MESHLET_ERR_TUNNEL_CONNECT'),
  upstream_reset: row('reset', 503, G.UNAVAILABLE, 'UC'),
  downstream_reset: row('reset', 499, G.CANCELLED, 'DC'),
  idle_timeout: row('reset', 504, G.DEADLINE_EXCEEDED, 'SI'),
  drained: row('drained', 503, G.UNAVAILABLE, 'LR'),
  backend_not_found: row('no_route', 500, G.INTERNAL, 'NC', 'MESHLET_ERR_NO_ROUTE'),
  request_timeout: row('reset', 504, G.DEADLINE_EXCEEDED, 'UT'),
  bad_request: row('denied', 400, G.INVALID_ARGUMENT, 'DPE'),
  connect_not_allowed: row('denied', 405, G.UNIMPLEMENTED, 'DPE'),
  overflow: row('denied', 503, G.UNAVAILABLE, 'UO'),
  rate_limited: row('denied', 429, G.RESOURCE_EXHAUSTED, 'RL'),
  // UO as a circuit breaker's: a threshold of the agent, not of the destination; the code tells which.
  workload_limit: row('denied', 503, G.RESOURCE_EXHAUSTED, 'UO', 'MESHLET_ERR_WORKLOAD_LIMIT'),
  // The status a fault answers with is the policy's; 503 when it names none.
  fault_abort: row('denied', 503, G.UNAVAILABLE, 'FI'),
});

/** The response of a failure. */
export function respond(kind: ErrorKind): Response {
  return RESPONSES[kind];
}

/** The response flag of a closed connection: its failure's, `-` for a clean close. */
export function responseFlag(kind: ErrorKind | undefined): ResponseFlag {
  return kind === undefined ? '-' : RESPONSES[kind].responseFlag;
}

/** The failure of a connect error, by its errno name (`err.code`). */
export function connectErrorKind(code: string | undefined): 'connect_timeout' | 'connect_refused' | 'connect_failed' {
  switch (code) {
    case 'ETIMEDOUT':
      return 'connect_timeout';
    case 'ECONNREFUSED':
      return 'connect_refused';
    default:
      return 'connect_failed';
  }
}

/** The failure a peer agent's non-2xx answer to a CONNECT means. */
export function tunnelAnswerKind(status: number): 'tunnel_denied' | 'tunnel_refused' {
  return status === 403 ? 'tunnel_denied' : 'tunnel_refused';
}

/** Why `planOutbound` refused a connection (its `why`), as a failure. */
export function refusalKind(why: Extract<OutboundPlan, { kind: 'refuse' }>['why']): ErrorKind {
  switch (why) {
    case 'no-snapshot':
      return 'no_snapshot';
    case 'unidentified-source':
      return 'policy_denied';
    case 'no-endpoints':
      return 'no_healthy_upstream';
    case 'meshed-endpoint-unknown':
      return 'no_route';
  }
}

/** How two spliced sides ended (the fields of the data path's `SpliceOutcome` read here). */
export interface SpliceEnd {
  readonly reset: boolean;
  /** `a` is always the downstream side (the client's socket or tunnel stream), `b` the upstream. */
  readonly resetBy?: 'a' | 'b';
  readonly idle?: true;
}

/** The failure of a spliced connection's end; undefined when both sides closed cleanly. */
export function spliceEndKind(end: SpliceEnd | undefined): ErrorKind | undefined {
  if (end === undefined || !end.reset) return undefined;
  if (end.idle === true) return 'idle_timeout';
  return end.resetBy === 'b' ? 'upstream_reset' : 'downstream_reset';
}
