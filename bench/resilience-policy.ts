/**
 * The `l7-resilience` scenario's configuration: one TrafficPolicy on the bench Service that turns
 * on every resilience section of issue 13, each set so that it cannot trigger under the
 * `l7-h1-rps` load (64 connections, a few thousand 200s a second from one origin), and an
 * HTTPRoute with a `RequestMirror` at 0%. The run with it against the run without it measures
 * what having resilience configured costs per request. Pure: returns YAML text that the
 * scenario writes into the lab's `config/`.
 *
 * @module
 */

import { stringify } from 'yaml';

/** The scenario's id, as `--only` takes it. */
export const RESILIENCE_SCENARIO_ID = 'l7-resilience';

/** The file the scenario writes into the lab's `config/` (empty for the run without). */
export const RESILIENCE_CONFIG_FILE = 'bench-resilience.yaml';

/**
 * The header that turns the policy's fault on. No load request has it; a probe request with it
 * shows that the policy is in force (abort with {@link FAULT_PROBE_STATUS}) or gone (200).
 */
export const FAULT_HEADER = 'x-bench-fault';
export const FAULT_HEADER_VALUE = 'on';
/** 418: a status neither the origin nor any other part of the mesh answers, so it can only be the fault. */
export const FAULT_PROBE_STATUS = 418;

/**
 * Thresholds "far above the load": the load has 64 requests in flight and a few thousand
 * requests a second; 100,000 is three orders of magnitude above both, and still inside every
 * field's bound (docs/traffic-policy.md).
 */
export const FAR_ABOVE_LOAD = 100_000;
/**
 * The rate limit: a million requests a second, ~100x what two cores can push through two
 * agents. A rule with no selector matches every request, so every request takes a token.
 */
export const RATE_LIMIT_PER_SECOND = 1_000_000;
/**
 * Adaptive concurrency's floor: the gradient controller may lower its limit down to
 * `minConcurrency`, so a floor above the 64 requests in flight can never refuse one.
 */
export const ADAPTIVE_MIN_CONCURRENCY = 1_000;

/** Where the policy and route attach. */
export interface ResilienceTarget {
  readonly namespace: string;
  /** The Service the load goes to. */
  readonly service: string;
  /** Its L7 port (`appProtocol: http`). */
  readonly port: number;
}

/** The TrafficPolicy's spec, every section of docs/traffic-policy.md that applies to a Service. */
export function resilienceSpec(service: string): Record<string, unknown> {
  return {
    targetRefs: [{ group: '', kind: 'Service', name: service }],
    timeout: { http: { requestTimeout: '30s' } },
    retry: {
      numRetries: 2,
      retryOn: { triggers: ['gateway-error', 'connect-failure', 'reset'] },
      perRetry: { timeout: '10s', backOff: { baseInterval: '25ms', maxInterval: '250ms' } },
      budget: { percent: 20, minRetriesPerSecond: 10, ttl: '10s' },
    },
    // Armed on every GET (idempotent, no body); at p99 and never before 5 s it cannot fire at
    // latencies of a few milliseconds.
    hedging: { percentile: 99, minDelay: '5s', maxHedges: 1 },
    circuitBreaker: { maxConnections: FAR_ABOVE_LOAD, maxPendingRequests: FAR_ABOVE_LOAD, maxParallelRequests: FAR_ABOVE_LOAD, maxParallelRetries: FAR_ABOVE_LOAD },
    // Every answer is a 200: no error to count. Success-rate ejection needs 5 hosts; there is one.
    healthCheck: {
      passive: { consecutive5XxErrors: 5, consecutiveGatewayErrors: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 10, successRate: {} },
    },
    adaptiveConcurrency: { sampleInterval: '100ms', percentile: 90, minConcurrency: ADAPTIVE_MIN_CONCURRENCY, maxConcurrency: FAR_ABOVE_LOAD },
    faultInjection: {
      delay: { fixedDelay: '100ms', percentage: 100 },
      abort: { httpStatus: FAULT_PROBE_STATUS, percentage: 100 },
      headers: [{ name: FAULT_HEADER, value: FAULT_HEADER_VALUE }],
    },
    rateLimit: { type: 'Local', local: { rules: [{ limit: { requests: RATE_LIMIT_PER_SECOND, unit: 'Second' } }] } },
  };
}

/** The route's name: one HTTPRoute on the Service's L7 port. */
export const RESILIENCE_ROUTE = 'bench-resilience';
export const RESILIENCE_POLICY = 'bench-resilience';

/**
 * The whole configuration as one multi-document YAML text: the TrafficPolicy, and an HTTPRoute
 * on the Service's L7 port back to itself with the route's own `timeouts` and `retry` and a
 * `RequestMirror` at `percent: 0` (configured, never sends a copy).
 */
export function resilienceConfigYaml(target: ResilienceTarget): string {
  const ref = { name: target.service, port: target.port };
  const policy = {
    apiVersion: 'meshlet.io/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name: RESILIENCE_POLICY, namespace: target.namespace },
    spec: resilienceSpec(target.service),
  };
  const route = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: RESILIENCE_ROUTE, namespace: target.namespace },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', ...ref }],
      rules: [
        {
          backendRefs: [ref],
          timeouts: { request: '30s' },
          retry: { attempts: 2, backoff: '25ms' },
          filters: [{ type: 'RequestMirror', requestMirror: { backendRef: ref, percent: 0 } }],
        },
      ],
    },
  };
  return [policy, route].map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}
