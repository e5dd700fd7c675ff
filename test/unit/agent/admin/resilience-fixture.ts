/**
 * A node snapshot with every resilience section: a Service whose TrafficPolicy sets them all, a
 * Service with no policy, an HTTPRoute with a route policy, its own retry and timeouts and two
 * RequestMirror filters (one unresolved), and a route with nothing about resilience.
 */
import {
  DEFAULT_ADAPTIVE_CONCURRENCY, DEFAULT_CIRCUIT_BREAKER, DEFAULT_PASSIVE_HEALTH, DEFAULT_RETRY_BUDGET, type RetryPolicy,
} from '../../../../src/mesh/resilience.js';
import type { HttpRouteData } from '../../../../src/mesh/routes.js';
import type { NodeSnapshot, RoutePolicyInfo, TrafficPolicyInfo } from '../../../../src/mesh/types.js';
import { rule, service, trafficPolicy, workload } from '../policy/resilience/inbound-fixture.js';

export const RETRY: RetryPolicy = {
  retries: 3, triggers: ['5xx', 'reset', 'retriable-status-codes'], statusCodes: [409], perTryTimeoutMs: 500,
  backoffBaseMs: 25, backoffMaxMs: 250, nonIdempotent: false, bufferBytes: 65536,
};

/** Every section of a Service policy. */
export const FULL_POLICY: TrafficPolicyInfo = trafficPolicy('web-resilience', {
  timeout: { connectMs: 500, tcpIdleMs: 3_600_000, requestMs: 2000, httpIdleMs: 60_000 },
  retry: RETRY,
  retryBudget: DEFAULT_RETRY_BUDGET,
  hedge: { percentile: 95, minDelayMs: 20, maxHedges: 1 },
  circuitBreaker: { ...DEFAULT_CIRCUIT_BREAKER, maxRequests: 100 },
  passiveHealth: DEFAULT_PASSIVE_HEALTH,
  adaptiveConcurrency: DEFAULT_ADAPTIVE_CONCURRENCY,
  fault: { abort: { httpStatus: 503, percent: 10 }, delay: { ms: 100, percent: 5 }, headers: [] },
  tcpFault: { resetPercent: 2 },
  rateLimit: { rules: [rule(100, 1000), rule(10, 1000, { perSource: true })] },
});

export const ROUTE_POLICY: RoutePolicyInfo = {
  policy: 'demo/route-faults',
  timeout: { requestMs: 1500 },
  retry: { ...RETRY, retries: 1, triggers: ['gateway-error'], statusCodes: [] },
  retryBudget: { ratio: 0.1, minPerSecond: 5, ttlMs: 10_000 },
  fault: { abort: { httpStatus: 500, percent: 1 }, headers: [{ name: 'x-chaos' }] },
};

const ROUTE: HttpRouteData = {
  kind: 'HTTPRoute', namespace: 'demo', name: 'web-route', creationTimestamp: 0, parents: [{ namespace: 'demo', name: 'web' }],
  rules: [
    {
      matches: [], backendRefs: [{ namespace: 'demo', name: 'web', port: 80, weight: 1 }], timeouts: { requestMs: 3000, backendRequestMs: 1000 },
      retry: { codes: [503, 504], attempts: 2, backoffMs: 50 },
      filters: [
        { type: 'RequestMirror', requestMirror: { backendRef: { namespace: 'demo', name: 'shadow', port: 80 }, percent: 10 } },
        { type: 'RequestMirror', requestMirror: { backendRef: { namespace: 'demo', name: 'gone', invalid: 'Service demo/gone not found' }, percent: 100 } },
      ],
    },
    { matches: [], backendRefs: [{ namespace: 'demo', name: 'web', port: 80, weight: 1 }], timeouts: {}, filters: [] },
  ],
};

const PLAIN_ROUTE: HttpRouteData = { ...ROUTE, name: 'plain', rules: [{ matches: [], backendRefs: [], timeouts: {}, filters: [] }] };

/** The snapshot: `demo/web` (every section, ports 80 and 8080), `demo/api` (no policy), the routes. */
export function resilienceSnapshot(): NodeSnapshot {
  const backend = workload('web', '10.0.0.5');
  const web = service('web', [backend], 80, 8080, FULL_POLICY);
  return {
    version: 'v1', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
    localWorkloads: [backend], workloads: [backend],
    services: [{ ...web, ports: [...web.ports, { name: 'alt', port: 8080, targetPort: 8080 }] }, service('api', [backend], 90, 9090)],
    routes: [PLAIN_ROUTE, ROUTE],
    routePolicies: [{ route: 'HTTPRoute/demo/web-route', policy: ROUTE_POLICY }],
  };
}
