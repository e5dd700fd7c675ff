/**
 * TrafficPolicy route targets: HTTPRoute and GRPCRoute targets (group gateway.networking.k8s.io)
 * compile only the per-request sections; a per-backend section or field, a mix of Service and
 * route targets, or a route of another kind is refused naming the field.
 */
import t from 'tap';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import { routePolicyInfo } from '../../../src/mesh/traffic-policies.js';
import type { TrafficPolicyObject } from '../../../src/mesh/types.js';
import { thrown } from './fixture.js';
import { FULL_SPEC } from './traffic-policy-fixture.js';

const G = 'gateway.networking.k8s.io';
const POLICY = (targets: string, spec: string): string => `apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: p, namespace: demo}
spec:
  targetRefs: ${targets}
${spec}`;
const HTTP = `[{group: ${G}, kind: HTTPRoute, name: web}]`;

function problems(text: string): string[] {
  const err = thrown(() => parseObjects(text, 'p.yaml'));
  if (!isMeshletError(err, 'MESHLET_ERR_OBJECT_INVALID')) throw new Error(`expected MESHLET_ERR_OBJECT_INVALID, got ${String(err)}`);
  return [...err.details];
}

t.test('route targets compile the per-request sections', async (t) => {
  const p = parseObjects(POLICY(`[{group: ${G}, kind: HTTPRoute, name: web}, {group: ${G}, kind: GRPCRoute, name: greeter.v1}]`, '  timeout: {http: {requestTimeout: 3s}}\n  hedging: {maxHedges: 2}\n  rateLimit: {local: {rules: [{limit: {requests: 10, unit: Second}}]}}\n'), 'p.yaml')[0] as TrafficPolicyObject;
  t.same(p.targets, ['HTTPRoute/web', 'GRPCRoute/greeter.v1']);
  t.same(routePolicyInfo(p.policy), {
    policy: 'demo/p',
    timeout: { requestMs: 3000 },
    retryBudget: { ratio: 0.2, minPerSecond: 10, ttlMs: 10_000 },
    hedge: { percentile: 95, minDelayMs: 5, maxHedges: 2 },
    rateLimit: { rules: [{ requests: 10, periodMs: 1000, perSource: false, sources: [], headers: [] }] },
  });
});

t.test('a route target refuses what applies per backend, naming each field', async (t) => {
  const lines = problems(POLICY(HTTP, `${FULL_SPEC}  loadBalancer: {type: RoundRobin}\n`));
  const fields = lines.map((l) => /TrafficPolicy demo\/p: ([^:]+): only applies to a Service target/.exec(l)?.[1]).filter((f) => f !== undefined);
  t.same(fields.sort(), [
    'spec.adaptiveConcurrency', 'spec.circuitBreaker', 'spec.faultInjection.tcp', 'spec.healthCheck', 'spec.loadBalancer',
    'spec.timeout.http.connectionIdleTimeout', 'spec.timeout.tcp',
  ]);
  t.equal(lines.length, fields.length, 'nothing else');
});

t.test('bad targets are refused', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['Service and route at once', `[{kind: Service, name: web}, {group: ${G}, kind: HTTPRoute, name: web}]`, /spec\.targetRefs: targets Services and routes at once/],
    ['a Gateway', `[{group: ${G}, kind: Gateway, name: gw}]`, /spec\.targetRefs\[0\]\.kind: must be HTTPRoute or GRPCRoute in group gateway\.networking\.k8s\.io, got "Gateway"$/],
    ['a route in the core group', '[{group: "", kind: HTTPRoute, name: web}]', /spec\.targetRefs\[0\]\.kind: must be Service, got "HTTPRoute"$/],
    ['a bad route name', `[{group: ${G}, kind: HTTPRoute, name: "Web!"}]`, /spec\.targetRefs\[0\]\.name: must be a route name/],
    ['a route twice', `[{group: ${G}, kind: HTTPRoute, name: web}, {group: ${G}, kind: HTTPRoute, name: web}]`, /spec\.targetRefs\[1\]\.name: duplicate target "web"$/],
    ['another group', '[{group: apps, kind: Deployment, name: web}]', /spec\.targetRefs\[0\]\.group: must be "" \(the core group of Service\) or gateway\.networking\.k8s\.io \(a route\), got "apps"$/],
  ];
  for (const [name, targets, want] of cases) t.match(problems(POLICY(targets, '')).join('\n'), new RegExp(want.source, 'm'), name);
  const both = parseObjects(POLICY(`[{group: ${G}, kind: HTTPRoute, name: web}, {group: ${G}, kind: GRPCRoute, name: web}]`, ''), 'p.yaml')[0] as TrafficPolicyObject;
  t.same(both.targets, ['HTTPRoute/web', 'GRPCRoute/web'], 'an HTTPRoute and a GRPCRoute of one name are two targets');
});
