/**
 * TrafficPolicy resilience sections and route policies on the controller->agent wire: a state's
 * policies decode back equal (property: parse -> compile -> wire -> decode equals compile), and a
 * hostile controller's policy is refused naming the field, with the file's own bounds.
 */
import t from 'tap';
import fc from 'fast-check';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { objectsFromValue, parseObjects } from '../../../src/mesh/objects/parse.js';
import { formatGatewayDuration } from '../../../src/mesh/objects/route-spec.js';
import { routePoliciesOf } from '../../../src/mesh/cluster-state.js';
import { buildClusterState, computeSnapshot } from '../../../src/mesh/snapshot.js';
import { clusterViewOfSnapshot, decodeSnapshot, encodeClusterView, snapshotToWire, type SnapshotWire } from '../../../src/mesh/snapshot-wire/encode.js';
import { decodeResilience, decodeRoutePolicies, resilienceToWire, routePoliciesToWire } from '../../../src/mesh/snapshot-wire/policies.js';
import { routePolicyInfo } from '../../../src/mesh/traffic-policies.js';
import { WireProblems } from '../../../src/mesh/snapshot-wire/checks.js';
import { RETRY_TRIGGERS, type ResiliencePolicy } from '../../../src/mesh/resilience.js';
import type { NodeSnapshot, TrafficPolicyObject } from '../../../src/mesh/types.js';
import { thrown } from './fixture.js';
import { L7_YAML } from './l7-fixture.js';
import { FULL_COMPILED, FULL_SPEC } from './traffic-policy-fixture.js';

const TD = 'cluster.local';
const EXTRA = `---
apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: resilient, namespace: demo}
spec:
  targetRefs: [{group: "", kind: Service, name: db}]
${FULL_SPEC}---
apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: route-retry, namespace: demo, creationTimestamp: "2025-01-01T00:00:00Z"}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web}, {group: gateway.networking.k8s.io, kind: GRPCRoute, name: greeter}]
  timeout: {http: {requestTimeout: 2s}}
  retry: {numRetries: 1}
  faultInjection: {abort: {httpStatus: 500, percentage: 1}}
---
apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: route-late, namespace: demo, creationTimestamp: "2025-03-01T00:00:00Z"}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web}, {group: gateway.networking.k8s.io, kind: HTTPRoute, name: ghost}]
  hedging: {}
`;

const state = buildClusterState(parseObjects(L7_YAML + EXTRA, 'l7.yaml'));
// computeSnapshot (snapshot.ts) does not copy routePolicies yet: added here as it will.
const snapshot: NodeSnapshot = { ...computeSnapshot(state, 'node-a', 'v1'), routePolicies: routePoliciesOf(state) };
const wire = snapshotToWire(encodeClusterView(state, 'v1'), snapshot);

function mutated(mutate: (view: Record<string, any>) => void): SnapshotWire {
  const view = JSON.parse(gunzipSync(wire.cluster).toString('utf8')) as Record<string, any>;
  mutate(view);
  return { ...wire, cluster: gzipSync(JSON.stringify(view)) };
}

function failure(w: SnapshotWire): string[] {
  const err = thrown(() => decodeSnapshot(w, { node: 'node-a', trustDomain: TD }));
  if (!isMeshletError(err, 'MESHLET_ERR_CONTROLLER')) throw new Error(`expected MESHLET_ERR_CONTROLLER, got ${String(err)}`);
  return [...err.details];
}

const dbIndex = state.services.findIndex((s) => s.name === 'db');

t.test('route policies attach oldest first; missing routes and losers are reported', async (t) => {
  const list = routePoliciesOf(state);
  t.same(list.map((r) => r.route), ['GRPCRoute/demo/greeter', 'HTTPRoute/demo/web']);
  t.same(list[1]?.policy, {
    policy: 'demo/route-retry',
    timeout: { requestMs: 2000 },
    retry: { retries: 1, triggers: ['connect-failure', 'unavailable', 'cancelled', 'retriable-status-codes'], statusCodes: [503], perTryTimeoutMs: 0, backoffBaseMs: 25, backoffMaxMs: 250, nonIdempotent: false, bufferBytes: 65536 },
    retryBudget: { ratio: 0.2, minPerSecond: 10, ttlMs: 10_000 },
    fault: { abort: { httpStatus: 500, percent: 1 }, headers: [] },
  });
  const texts = state.policyConflicts.map((p) => p.text);
  t.ok(texts.includes('TrafficPolicy demo/route-late in l7.yaml (document 15): ignored for HTTPRoute demo/web: the older TrafficPolicy demo/route-retry already targets it'), 'the loser');
  t.ok(texts.includes('TrafficPolicy demo/route-late in l7.yaml (document 15): targets HTTPRoute demo/ghost, which does not exist (or no Service parent accepted it); nothing to apply it to'), 'the missing route');
  t.same(state.services[dbIndex]?.trafficPolicy, { policy: 'demo/resilient', balancer: { algorithm: 'least-request' }, hashKeys: [], preferLocalZone: false, ...FULL_COMPILED });
});

t.test('encode then decode gives every section and route policy back', async (t) => {
  const decoded = decodeSnapshot(wire, { node: 'node-a', trustDomain: TD });
  t.strictSame(decoded, snapshot);
  t.equal(decoded.routePolicies?.length, 2);
  const again = snapshotToWire(encodeClusterView(clusterViewOfSnapshot(snapshot), 'v1'), snapshot);
  t.strictSame(decodeSnapshot(again, { node: 'node-a', trustDomain: TD }), snapshot, 'the agent store\'s view keeps them');
});

t.test('an older controller without resilience or route policies decodes to none', async (t) => {
  const old = mutated((v) => {
    delete v['routePolicies'];
    delete v['services'][dbIndex]['trafficPolicy']['resilience'];
  });
  const decoded = decodeSnapshot(old, { node: 'node-a', trustDomain: TD });
  t.equal(decoded.routePolicies, undefined);
  t.same(decoded.services[dbIndex]?.trafficPolicy, { policy: 'demo/resilient', balancer: { algorithm: 'least-request' }, hashKeys: [], preferLocalZone: false });
});

t.test('a hostile controller\'s policy is refused naming the field', async (t) => {
  const at = `cluster.services[${dbIndex}].trafficPolicy.resilience`;
  const cases: [string, (v: Record<string, any>) => void, RegExp][] = [
    ['huge retries', (v) => (v['services'][dbIndex]['trafficPolicy']['resilience']['retry']['numRetries'] = 1e9), new RegExp(`^${at.replace(/[[\].]/g, '\\$&')}\\.retry\\.numRetries: must be an integer 0\\.\\.10, got 1000000000$`)],
    ['a string budget', (v) => (v['services'][dbIndex]['trafficPolicy']['resilience']['retry']['budget']['percent'] = '20'), /trafficPolicy\.resilience\.retry\.budget\.percent: must be a number from 0 to 100, got "20"$/],
    ['negative breaker', (v) => (v['services'][dbIndex]['trafficPolicy']['resilience']['circuitBreaker']['maxConnections'] = -5), /resilience\.circuitBreaker\.maxConnections: must be an integer 1\.\.4294967295, got -5$/],
    ['unknown section', (v) => (v['services'][dbIndex]['trafficPolicy']['resilience']['mirror'] = {}), /trafficPolicy\.resilience\.mirror: unknown field \(allowed: timeout, /],
    ['resilience not an object', (v) => (v['services'][dbIndex]['trafficPolicy']['resilience'] = [1]), /trafficPolicy\.resilience: must be an object, got a list$/],
    ['a delay of days', (v) => (v['services'][dbIndex]['trafficPolicy']['resilience']['faultInjection']['delay']['fixedDelay'] = '99999h'), /faultInjection\.delay\.fixedDelay: must be from 1ms to 1h, got "99999h"$/],
    ['10,000 rules', (v) => {
      const rl = v['services'][dbIndex]['trafficPolicy']['resilience']['rateLimit'];
      rl['local']['rules'] = Array.from({ length: 10_000 }, () => ({ limit: { requests: 1, unit: 'Second' } }));
    }, /resilience\.rateLimit\.local\.rules: at most 64 entries, got 10000$/],
    ['a per-backend section on a route', (v) => (v['routePolicies'][0]['policy']['resilience'] = { circuitBreaker: {} }), /^cluster\.routePolicies\[0\]\.policy\.resilience\.circuitBreaker: only applies to a Service target/],
    ['a TCP fault on a route', (v) => (v['routePolicies'][0]['policy']['resilience'] = { faultInjection: { tcp: { resetPercentage: 1 } } }), /^cluster\.routePolicies\[0\]\.policy\.resilience\.faultInjection\.tcp: only applies to a Service target/],
    ['a route not in the view', (v) => (v['routePolicies'][0]['route'] = 'HTTPRoute/demo/ghost'), /^cluster\.routePolicies\[0\]\.route: "HTTPRoute\/demo\/ghost" is not a route of the cluster view$/],
    ['a route key of another kind', (v) => (v['routePolicies'][0]['route'] = 'TCPRoute/demo/web'), /^cluster\.routePolicies\[0\]\.route: "TCPRoute\/demo\/web" is not <kind>\/<namespace>\/<name>/],
    ['a route twice', (v) => v['routePolicies'].push(v['routePolicies'][1]), /^cluster\.routePolicies\[2\]\.route: "HTTPRoute\/demo\/web" is out of order or appears twice/],
    ['a policy name that is not one', (v) => (v['routePolicies'][0]['policy']['policy'] = 'x'), /^cluster\.routePolicies\[0\]\.policy\.policy: "x" is not namespace\/name$/],
    ['route policies not a list', (v) => (v['routePolicies'] = {}), /^cluster\.routePolicies: must be a list, got a mapping$/],
  ];
  for (const [name, mutate, want] of cases) {
    const lines = failure(mutated(mutate));
    t.match(lines.join('\n'), new RegExp(want.source, 'm'), name);
  }
});

/** A spec field: a duration from whole milliseconds in [min, max]. */
const dur = (min: number, max: number): fc.Arbitrary<string> => fc.integer({ min, max }).map(formatGatewayDuration);
const pct = fc.double({ min: 0, max: 100, noNaN: true, noDefaultInfinity: true });
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });
const rec = <T extends Record<string, fc.Arbitrary<unknown>>>(shape: T) => fc.record(shape, { requiredKeys: [] });

const retry = fc.record({
  numRetries: fc.integer({ min: 0, max: 10 }),
  triggers: fc.subarray([...RETRY_TRIGGERS], { minLength: 1 }),
  codes: fc.uniqueArray(fc.integer({ min: 400, max: 599 }), { maxLength: 5 }),
  perRetry: rec({ timeout: dur(0, 3_600_000), backOff: rec({ baseInterval: dur(1, 1000) }) }),
  retryNonIdempotent: fc.boolean(),
  bufferBytes: fc.integer({ min: 0, max: 16 * 1024 * 1024 }),
  budget: rec({ percent: pct, minRetriesPerSecond: fc.integer({ min: 0, max: 100_000 }), ttl: dur(1000, 60_000) }),
}).map(({ triggers, codes, ...r }) => ({
  ...r,
  retryOn: { triggers, ...(triggers.includes('retriable-status-codes') && codes.length > 0 ? { httpStatusCodes: codes } : {}) },
}));
const delay = fc.record({ fixedDelay: dur(1, 3_600_000), percentage: pct });
const header = fc.record({ name: fc.constantFrom('x-a', 'X-B', 'c'), value: opt(fc.string({ maxLength: 8 }).filter((s) => !/[\r\n\0]/.test(s))) })
  .map((h) => (h.value === undefined ? { name: h.name } : h));
const headers = fc.uniqueArray(header, { maxLength: 3, selector: (h) => h.name.toLowerCase() });
const spec = rec({
  timeout: rec({ tcp: rec({ connectTimeout: dur(1, 300_000), idleTimeout: dur(1000, 86_400_000) }), http: rec({ requestTimeout: dur(1, 86_400_000), connectionIdleTimeout: dur(1000, 86_400_000) }) }),
  retry,
  hedging: rec({ percentile: fc.double({ min: 0.001, max: 99.999, noNaN: true }), minDelay: dur(0, 60_000), maxHedges: fc.integer({ min: 1, max: 2 }) }),
  circuitBreaker: rec({ maxConnections: fc.integer({ min: 1, max: 4_294_967_295 }), maxParallelRetries: fc.integer({ min: 1, max: 100 }) }),
  healthCheck: fc.record({ passive: rec({ consecutive5XxErrors: fc.integer({ min: 0, max: 100 }), interval: dur(10, 3_600_000), maxEjectionPercent: fc.integer({ min: 0, max: 100 }), successRate: rec({ stdevFactor: fc.integer({ min: 1, max: 100_000 }) }) }) }),
  adaptiveConcurrency: rec({ percentile: fc.double({ min: 1, max: 99, noNaN: true }), bufferPercent: pct, minRTTRequests: fc.integer({ min: 1, max: 1000 }) }),
  faultInjection: fc.record({ delay, abort: fc.record({ httpStatus: fc.integer({ min: 200, max: 599 }), percentage: pct }), headers, tcp: fc.record({ delay, resetPercentage: pct }) }),
  rateLimit: fc.record({
    local: fc.record({
      rules: fc.array(fc.record({
        limit: fc.record({ requests: fc.integer({ min: 1, max: 1_000_000_000 }), unit: fc.constantFrom('Second', 'Minute', 'Hour') }),
        perSource: fc.boolean(),
        clientSelectors: fc.array(fc.record({ headers }), { maxLength: 1 }),
      }), { minLength: 1, maxLength: 4 }),
    }),
  }),
});

const SECTIONS = ['timeout', 'retry', 'retryBudget', 'hedge', 'circuitBreaker', 'passiveHealth', 'adaptiveConcurrency', 'fault', 'tcpFault', 'rateLimit'] as const;

t.test('property: parse -> compile -> wire -> decode equals compile', async (t) => {
  let checked = 0;
  fc.assert(
    fc.property(spec, (s) => {
      const object = { apiVersion: 'meshlet.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'p', namespace: 'demo' }, spec: { targetRefs: [{ kind: 'Service', name: 'web' }], ...s } };
      const { objects, problems } = objectsFromValue(JSON.parse(JSON.stringify(object)), { file: 'p.yaml', doc: 0 });
      if (problems.length > 0) throw new Error(problems.map((p) => p.text).join('\n'));
      const policy = (objects[0] as TrafficPolicyObject).policy;
      const compiled: Record<string, unknown> = {};
      for (const k of SECTIONS) if (policy[k] !== undefined) compiled[k] = policy[k];
      const p = new WireProblems();
      const wireForm = JSON.parse(JSON.stringify(resilienceToWire(policy))) as { resilience?: unknown };
      const decoded = decodeResilience(p, wireForm.resilience, 'policy', 'service');
      if (p.total > 0) throw new Error(p.lines.join('\n'));
      t.same(decoded as ResiliencePolicy, compiled);
      checked += 1;
    }),
    { numRuns: 300 },
  );
  t.equal(checked, 300);
});

/** `s` less what a route target may not set. */
function routeSpec(s: Record<string, any>): Record<string, any> {
  const { circuitBreaker: _c, healthCheck: _h, adaptiveConcurrency: _a, ...rest } = s;
  const out: Record<string, any> = structuredClone(rest);
  if (out['timeout'] !== undefined) out['timeout'] = out['timeout']['http']?.['requestTimeout'] === undefined ? {} : { http: { requestTimeout: out['timeout']['http']['requestTimeout'] } };
  if (out['faultInjection'] !== undefined) delete out['faultInjection']['tcp'];
  return out;
}

t.test('property: a route policy reads back equal from the wire', async (t) => {
  const route = state.routes.find((r) => r.kind === 'HTTPRoute');
  if (route === undefined) throw new Error('the fixture has an HTTPRoute');
  const key = `HTTPRoute/${route.namespace}/${route.name}`;
  let checked = 0;
  fc.assert(
    fc.property(spec.map(routeSpec), (s) => {
      const object = { apiVersion: 'meshlet.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'p', namespace: 'demo' }, spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: route.name }], ...s } };
      const { objects, problems } = objectsFromValue(JSON.parse(JSON.stringify(object)), { file: 'p.yaml', doc: 0 });
      if (problems.length > 0) throw new Error(problems.map((p) => p.text).join('\n'));
      const policy = routePolicyInfo((objects[0] as TrafficPolicyObject).policy);
      const p = new WireProblems();
      const view = JSON.parse(JSON.stringify({ routePolicies: routePoliciesToWire([{ route: key, policy }]) })) as Record<string, unknown>;
      const decoded = decodeRoutePolicies(p, view, [route]);
      if (p.total > 0) throw new Error(p.lines.join('\n'));
      t.same(decoded, [{ route: key, policy }]);
      checked += 1;
    }),
    { numRuns: 200 },
  );
  t.equal(checked, 200);
});
