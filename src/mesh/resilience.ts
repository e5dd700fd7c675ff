/**
 * The resilience part of the model (issue 13): what a TrafficPolicy (per Service, or per route
 * when it targets an HTTPRoute/GRPCRoute) and the Gateway API's own route fields ask the agents
 * to do so that applications do not have to: timeouts, retries under a budget, hedging, circuit
 * breaking, passive health (outlier ejection), adaptive concurrency, fault injection and local
 * rate limits. Plain compiled data, every duration in milliseconds, every percentage in [0, 100];
 * the parser (`objects/traffic-policy.ts`) fills in the defaults below, so an agent reads a
 * complete section or none. Who enforces what:
 *
 * | section               | where                                   | scope                          |
 * |-----------------------|-----------------------------------------|--------------------------------|
 * | timeout.http          | source agent, per request               | Service, route                 |
 * | timeout.tcp           | source agent (connect, idle)            | Service                        |
 * | retry, budget, hedge  | source agent, per request               | Service, route (retry, hedge)  |
 * | circuitBreaker        | source agent, per Service port, TCP+HTTP | Service                        |
 * | passiveHealth         | source agent's balancer, per endpoint   | Service                        |
 * | adaptiveConcurrency   | destination agent, per workload port    | Service                        |
 * | fault (HTTP)          | source agent, per request               | Service, route                 |
 * | tcpFault              | source agent, per connection            | Service                        |
 * | rateLimit             | Service: destination agent per workload; route: source agent | Service, route |
 */

/** What makes a try worth another (Envoy's `retry_on`, Envoy Gateway's `retryOn.triggers`). */
export type RetryTrigger =
  /** No connection or stream could be made to the endpoint (nothing of the request was sent). */
  | 'connect-failure'
  /** The endpoint reset the request or its connection before a response head. */
  | 'reset'
  /** Any 5xx response, connect failures and resets included (Envoy's `5xx`). */
  | '5xx'
  /** 502, 503, 504, connect failures and resets (Envoy's `gateway-error`). */
  | 'gateway-error'
  /** A response whose status is in {@link RetryPolicy.statusCodes}. */
  | 'retriable-status-codes'
  /** gRPC statuses in the response head or trailers-only response. */
  | 'cancelled'
  | 'deadline-exceeded'
  | 'resource-exhausted'
  | 'unavailable'
  | 'internal';

export const RETRY_TRIGGERS: readonly RetryTrigger[] = [
  'connect-failure', 'reset', '5xx', 'gateway-error', 'retriable-status-codes', 'cancelled', 'deadline-exceeded', 'resource-exhausted', 'unavailable', 'internal',
];

/** The gRPC status code each gRPC trigger names. */
export const GRPC_TRIGGER_STATUS: Readonly<Partial<Record<RetryTrigger, number>>> = Object.freeze({
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
});

/**
 * Linkerd's retry budget: retries may add at most `ratio` of the requests of the last `ttlMs`,
 * plus `minPerSecond` retries per second so that a quiet service can still retry at all. Per
 * Service port and per agent process; hedges draw from the same budget.
 */
export interface RetryBudget {
  /** Retries per original request allowed, in [0, 1] (Linkerd's default 0.2). */
  readonly ratio: number;
  /** Retries per second always allowed (Linkerd's default 10). */
  readonly minPerSecond: number;
  /** The window requests are remembered for (Linkerd's default 10 s). */
  readonly ttlMs: number;
}

export const DEFAULT_RETRY_BUDGET: RetryBudget = Object.freeze({ ratio: 0.2, minPerSecond: 10, ttlMs: 10_000 });

/** Retries of one request. */
export interface RetryPolicy {
  /** Retries after the first try (Gateway API `attempts`, Envoy Gateway `numRetries`); 0: none. */
  readonly retries: number;
  readonly triggers: readonly RetryTrigger[];
  /** Statuses retried under `retriable-status-codes` (Gateway API `codes`). */
  readonly statusCodes: readonly number[];
  /** Each try's own deadline (0: none; the request's timeout still bounds them all). */
  readonly perTryTimeoutMs: number;
  /** Exponential backoff with full jitter between tries: base, doubled per retry, capped. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /**
   * Also retry methods that are not idempotent (POST, PATCH, CONNECT...). Off by default: only
   * GET, HEAD, OPTIONS, TRACE, PUT and DELETE are retried once a byte may have reached an
   * endpoint. A try that failed before anything was sent (connect failure, refused stream) is
   * retried whatever the method. gRPC requests (POST) are retried on the gRPC triggers.
   */
  readonly nonIdempotent: boolean;
  /** Request bodies up to this many bytes are kept for replay; a larger body is not retried. */
  readonly bufferBytes: number;
}

export const DEFAULT_RETRY_BACKOFF_BASE_MS = 25;
export const DEFAULT_RETRY_BUFFER_BYTES = 64 * 1024;
/** Bounds a policy may ask for. */
export const MAX_RETRIES = 10;
export const MAX_RETRY_BUFFER_BYTES = 16 * 1024 * 1024;

/**
 * Hedging: when the first try has not answered within the `percentile` of the Service port's
 * recent latencies (never sooner than `minDelayMs`), a second try goes to another endpoint; the
 * first response head wins and the other try is cancelled. Idempotent requests without a body
 * to replay only; each hedge is drawn from the retry budget.
 */
export interface HedgePolicy {
  /** In (0, 100), e.g. 95. */
  readonly percentile: number;
  readonly minDelayMs: number;
  /** Extra tries at most (1 or 2). */
  readonly maxHedges: number;
}

/** Envoy's circuit-breaker thresholds, per Service port and per agent process. */
export interface CircuitBreakerPolicy {
  /** Open TCP connections (L4) to the Service port. */
  readonly maxConnections: number;
  /** Requests waiting for a connection or a stream (HTTP). */
  readonly maxPendingRequests: number;
  /** Requests in flight (HTTP). */
  readonly maxRequests: number;
  /** Retries (and hedges) in flight. */
  readonly maxRetries: number;
}

/** Envoy's defaults. */
export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerPolicy = Object.freeze({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });

/** Passive health: outlier ejection per endpoint (Envoy's outlier detection). */
export interface PassiveHealthPolicy {
  /** Consecutive 5xx (agent-made 5xx included) before ejection; 0: off. Envoy's default 5. */
  readonly consecutive5xx: number;
  /** Consecutive gateway errors (502, 503, 504, connect failure, reset, timeout); 0: off. */
  readonly consecutiveGatewayErrors: number;
  /** How often success rates are computed and ejections expire. */
  readonly intervalMs: number;
  /** Ejection time = base x number of times ejected, capped at {@link maxEjectionMs}. */
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  /** At most this share of the endpoints ejected at once (at least one always may be). */
  readonly maxEjectionPercent: number;
  /** Success-rate ejection: absent when off. */
  readonly successRate?: {
    /** Endpoints with enough requests needed before any is judged. */
    readonly minimumHosts: number;
    /** Requests an endpoint needs in the interval to be judged. */
    readonly requestVolume: number;
    /** Ejected below mean - stdevFactor x stdev of the success rates (Envoy's 1900 means 1.9). */
    readonly stdevFactor: number;
  };
}

export const DEFAULT_PASSIVE_HEALTH: PassiveHealthPolicy = Object.freeze({
  consecutive5xx: 5,
  consecutiveGatewayErrors: 0,
  intervalMs: 10_000,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 10,
});

/**
 * Adaptive concurrency (Envoy's gradient controller): the limit follows
 * `gradient = (minRtt + buffer) / sampleRtt`, `limit = limit x gradient + sqrt(limit x gradient)`,
 * where `sampleRtt` is the `percentile` of latencies of the last `sampleIntervalMs`, and the
 * minimum RTT is measured again every `minRttIntervalMs` at `minConcurrency`.
 */
export interface AdaptiveConcurrencyPolicy {
  readonly sampleIntervalMs: number;
  readonly percentile: number;
  readonly minRttIntervalMs: number;
  /** Requests sampled for a new minimum RTT. */
  readonly minRttRequests: number;
  /** Share of the minimum RTT tolerated before the limit drops, in [0, 100] (Envoy's 25). */
  readonly bufferPercent: number;
  readonly minConcurrency: number;
  readonly maxConcurrency: number;
}

export const DEFAULT_ADAPTIVE_CONCURRENCY: AdaptiveConcurrencyPolicy = Object.freeze({
  sampleIntervalMs: 100,
  percentile: 90,
  minRttIntervalMs: 60_000,
  minRttRequests: 50,
  bufferPercent: 25,
  minConcurrency: 3,
  maxConcurrency: 1000,
});

/** A header condition of a fault or rate-limit rule: `Exact` value, or present when `value` is absent. */
export interface HeaderCondition {
  /** Lower-cased. */
  readonly name: string;
  readonly value?: string;
}

/** HTTP fault injection (Envoy's fault filter): for `percent` of the requests that match `headers`. */
export interface FaultPolicy {
  readonly delay?: { readonly ms: number; readonly percent: number };
  /** An answer made by the agent: `httpStatus` (HTTP) and `grpcStatus` (gRPC requests; default 14 UNAVAILABLE). */
  readonly abort?: { readonly httpStatus: number; readonly grpcStatus?: number; readonly percent: number };
  /** All must match (empty: every request). */
  readonly headers: readonly HeaderCondition[];
}

/** TCP fault injection, per connection. */
export interface TcpFaultPolicy {
  readonly delay?: { readonly ms: number; readonly percent: number };
  /** Share of connections reset at once. */
  readonly resetPercent: number;
}

/** One local rate-limit rule: a token bucket of `requests` per `periodMs`. */
export interface RateLimitRule {
  readonly requests: number;
  readonly periodMs: number;
  /** One bucket per source identity (SPIFFE id; plaintext sources share one) instead of one in all. */
  readonly perSource: boolean;
  /** Only requests from these identities (exact SPIFFE ids); empty: any source. */
  readonly sources: readonly string[];
  /** Only requests with these headers; empty: every request. */
  readonly headers: readonly HeaderCondition[];
}

export interface RateLimitPolicy {
  /** A request is refused when any rule that matches it has no token. */
  readonly rules: readonly RateLimitRule[];
}

/** Timeouts of a Service (the `timeout` section). */
export interface TimeoutPolicy {
  /** Connecting to an endpoint (TCP and the tunnel stream); absent: the agent's default. */
  readonly connectMs?: number;
  /** An L4 connection with no byte either way is closed after this; absent: the agent's default. */
  readonly tcpIdleMs?: number;
  /** Every request, all tries and backoffs included (like HTTPRoute `timeouts.request`). */
  readonly requestMs?: number;
  /** An idle HTTP connection to the application is closed after this. */
  readonly httpIdleMs?: number;
}

/** The resilience sections of a TrafficPolicy, compiled (each absent when not written). */
export interface ResiliencePolicy {
  readonly timeout?: TimeoutPolicy;
  readonly retry?: RetryPolicy;
  /** Always present on a compiled policy with `retry` or `hedge` ({@link DEFAULT_RETRY_BUDGET} when not written). */
  readonly retryBudget?: RetryBudget;
  readonly hedge?: HedgePolicy;
  readonly circuitBreaker?: CircuitBreakerPolicy;
  readonly passiveHealth?: PassiveHealthPolicy;
  readonly adaptiveConcurrency?: AdaptiveConcurrencyPolicy;
  readonly fault?: FaultPolicy;
  readonly tcpFault?: TcpFaultPolicy;
  readonly rateLimit?: RateLimitPolicy;
}

/** Sections a TrafficPolicy that targets a route may set (the others are per backend). */
export const ROUTE_POLICY_SECTIONS = ['timeout', 'retry', 'retryBudget', 'hedge', 'fault', 'rateLimit'] as const;

/** RFC 9110 §9.2.2 idempotent methods. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
