/**
 * A TrafficPolicy `spec` with every resilience section written, and what it compiles to: shared
 * by the parser tests and the wire tests.
 */
import { DEFAULT_ADAPTIVE_CONCURRENCY, type ResiliencePolicy } from '../../../src/mesh/resilience.js';

/** Every section, as YAML lines under `spec:` (two spaces in). */
export const FULL_SPEC = `  timeout:
    tcp: {connectTimeout: 5s, idleTimeout: 1h}
    http: {requestTimeout: 10s, connectionIdleTimeout: 5m}
  retry:
    numRetries: 3
    retryOn:
      triggers: [connect-failure, reset, retriable-status-codes, unavailable]
      httpStatusCodes: [503, 429]
    perRetry:
      timeout: 250ms
      backOff: {baseInterval: 25ms, maxInterval: 250ms}
    retryNonIdempotent: true
    bufferBytes: 1024
    budget: {percent: 20, minRetriesPerSecond: 10, ttl: 10s}
  hedging: {percentile: 95, minDelay: 5ms, maxHedges: 2}
  circuitBreaker: {maxConnections: 100, maxPendingRequests: 50, maxParallelRequests: 200, maxParallelRetries: 3}
  healthCheck:
    passive:
      consecutive5XxErrors: 5
      consecutiveGatewayErrors: 2
      interval: 10s
      baseEjectionTime: 30s
      maxEjectionTime: 300s
      maxEjectionPercent: 10
      successRate: {minimumHosts: 5, requestVolume: 100, stdevFactor: 1900}
  adaptiveConcurrency:
    sampleInterval: 100ms
    percentile: 90
    minRTTInterval: 60s
    minRTTRequests: 50
    bufferPercent: 25
    minConcurrency: 3
    maxConcurrency: 1000
  faultInjection:
    delay: {fixedDelay: 200ms, percentage: 10}
    abort: {httpStatus: 503, grpcStatus: 14, percentage: 0.5}
    headers: [{name: X-Fault, value: "on"}, {name: x-debug}]
    tcp: {delay: {fixedDelay: 100ms, percentage: 5}, resetPercentage: 1}
  rateLimit:
    type: Local
    local:
      rules:
      - limit: {requests: 100, unit: Second}
        perSource: true
        clientSelectors:
        - {headers: [{name: x-tier, value: free}], sourcePrincipals: ["spiffe://cluster.local/ns/a/sa/b"]}
      - limit: {requests: 5, unit: Hour}
`;

/** {@link FULL_SPEC} compiled. */
export const FULL_COMPILED: ResiliencePolicy = {
  timeout: { connectMs: 5000, tcpIdleMs: 3_600_000, requestMs: 10_000, httpIdleMs: 300_000 },
  retry: {
    retries: 3,
    triggers: ['connect-failure', 'reset', 'retriable-status-codes', 'unavailable'],
    statusCodes: [503, 429],
    perTryTimeoutMs: 250,
    backoffBaseMs: 25,
    backoffMaxMs: 250,
    nonIdempotent: true,
    bufferBytes: 1024,
  },
  retryBudget: { ratio: 0.2, minPerSecond: 10, ttlMs: 10_000 },
  hedge: { percentile: 95, minDelayMs: 5, maxHedges: 2 },
  circuitBreaker: { maxConnections: 100, maxPendingRequests: 50, maxRequests: 200, maxRetries: 3 },
  passiveHealth: {
    consecutive5xx: 5,
    consecutiveGatewayErrors: 2,
    intervalMs: 10_000,
    baseEjectionMs: 30_000,
    maxEjectionMs: 300_000,
    maxEjectionPercent: 10,
    successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 },
  },
  adaptiveConcurrency: { ...DEFAULT_ADAPTIVE_CONCURRENCY },
  fault: {
    delay: { ms: 200, percent: 10 },
    abort: { httpStatus: 503, grpcStatus: 14, percent: 0.5 },
    headers: [{ name: 'x-fault', value: 'on' }, { name: 'x-debug' }],
  },
  tcpFault: { delay: { ms: 100, percent: 5 }, resetPercent: 1 },
  rateLimit: {
    rules: [
      { requests: 100, periodMs: 1000, perSource: true, sources: ['spiffe://cluster.local/ns/a/sa/b'], headers: [{ name: 'x-tier', value: 'free' }] },
      { requests: 5, periodMs: 3_600_000, perSource: false, sources: [], headers: [] },
    ],
  },
};
