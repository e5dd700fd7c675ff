/**
 * TrafficPolicy status (GEP-713 ancestors): Accepted, Conflicted (older wins), TargetNotFound
 * for Services and routes, agreement with attachTrafficPolicies on who is in force, and the
 * status of an invalid policy read leniently from its raw object (hostile values bounded).
 */
import t from 'tap';
import { buildClusterState } from '../../../src/mesh/cluster-state.js';
import { collectObjects, parseObjects } from '../../../src/mesh/objects/parse.js';
import { MAX_CONDITION_MESSAGE } from '../../../src/mesh/route-status.js';
import { attachTrafficPolicies } from '../../../src/mesh/traffic-policies.js';
import {
  invalidTrafficPolicyStatus,
  MAX_POLICY_ANCESTORS,
  trafficPolicyStatuses,
  trafficPolicyStatusesOf,
  type TrafficPolicyStatus,
} from '../../../src/mesh/traffic-policy-status.js';
import type { TrafficPolicyObject } from '../../../src/mesh/types.js';
import { l7Objects } from './l7-fixture.js';

const G = 'gateway.networking.k8s.io';

function policy(name: string, created: string, targets: string, namespace = 'demo'): TrafficPolicyObject {
  const text = `apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: ${name}, namespace: ${namespace}, creationTimestamp: "${created}"}
spec:
  targetRefs: ${targets}
`;
  return parseObjects(text, `${name}.yaml`)[0] as TrafficPolicyObject;
}

/** `kind namespace/name reason` per ancestor, for one status. */
const summary = (s: TrafficPolicyStatus | undefined): string[] =>
  (s?.ancestors ?? []).map((a) => `${a.ancestorRef.kind} ${a.ancestorRef.namespace}/${a.ancestorRef.name} ${a.conditions[0]?.status} ${a.conditions[0]?.reason}`);

t.test('accepted, conflicted and target not found, for Services and routes', async (t) => {
  const older = policy('older', '2025-01-01T00:00:00Z', '[{kind: Service, name: web}]');
  const newer = policy('newer', '2025-02-01T00:00:00Z', '[{kind: Service, name: web}, {kind: Service, name: api}, {kind: Service, name: gone}]');
  const route = policy('route', '2025-01-01T00:00:00Z', `[{group: ${G}, kind: HTTPRoute, name: web}, {group: ${G}, kind: GRPCRoute, name: missing}]`);
  const statuses = trafficPolicyStatuses([newer, route, older], new Set(['demo/web', 'demo/api']), new Set(['HTTPRoute/demo/web']));
  t.same(statuses.map((s) => s.name), ['newer', 'older', 'route'], 'sorted by namespace/name');
  const by = (name: string): TrafficPolicyStatus | undefined => statuses.find((s) => s.name === name);
  t.same(summary(by('older')), ['Service demo/web True Accepted']);
  t.same(summary(by('newer')), ['Service demo/web False Conflicted', 'Service demo/api True Accepted', 'Service demo/gone False TargetNotFound']);
  t.same(summary(by('route')), ['HTTPRoute demo/web True Accepted', 'GRPCRoute demo/missing False TargetNotFound']);
  const newerWeb = by('newer')?.ancestors[0];
  t.equal(newerWeb?.conditions[0]?.message, 'the older TrafficPolicy demo/older already targets Service demo/web: this one is ignored for it');
  t.equal(by('newer')?.ancestors[2]?.conditions[0]?.message, 'Service demo/gone does not exist or has no cluster IP: nothing to apply the policy to');
  t.equal(by('route')?.ancestors[1]?.conditions[0]?.message, 'GRPCRoute demo/missing does not exist, or no Service parent accepted it: nothing to apply the policy to');
  t.same(by('route')?.ancestors[0]?.ancestorRef, { group: G, kind: 'HTTPRoute', namespace: 'demo', name: 'web' });
  t.same(by('older')?.ancestors[0]?.ancestorRef, { group: '', kind: 'Service', namespace: 'demo', name: 'web' });
  t.equal(by('older')?.ancestors[0]?.controllerName, 'meshlet.io/controller');
  t.equal(by('older')?.policy?.policy, 'demo/older', 'the compiled policy travels (the writer keys on it)');
});

t.test('a tie on creationTimestamp: namespace/name decides, as attachTrafficPolicies does', async (t) => {
  const b = policy('b', '2025-01-01T00:00:00Z', '[{kind: Service, name: web}]');
  const a = policy('a', '2025-01-01T00:00:00Z', '[{kind: Service, name: web}]');
  const statuses = trafficPolicyStatuses([b, a], new Set(['demo/web']), new Set());
  t.same(statuses.map((s) => `${s.name} ${s.ancestors[0]?.conditions[0]?.reason}`), ['a Accepted', 'b Conflicted']);
});

t.test('the policies in force are exactly those attachTrafficPolicies attaches', async (t) => {
  // A deterministic spread: 40 policies over 6 Services (some absent) and 3 routes.
  let seed = 7;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const policies: TrafficPolicyObject[] = [];
  for (let i = 0; i < 40; i++) {
    const day = String(1 + next(5)).padStart(2, '0');
    const routes = next(3) === 0;
    const names = [...new Set(Array.from({ length: 1 + next(3) }, () => `s${next(routes ? 3 : 6)}`))];
    const refs = names.map((n) => (routes ? `{group: ${G}, kind: HTTPRoute, name: ${n}}` : `{kind: Service, name: ${n}}`));
    policies.push(policy(`p${i}`, `2025-01-${day}T00:00:00Z`, `[${refs.join(', ')}]`));
  }
  const services = new Set(['demo/s0', 'demo/s1', 'demo/s2', 'demo/s3']);
  const routes = new Set(['HTTPRoute/demo/s0', 'HTTPRoute/demo/s2']);
  const attached = attachTrafficPolicies(policies, services, routes);
  const inForce = trafficPolicyStatuses(policies, services, routes).flatMap((s) =>
    s.ancestors.filter((a) => a.conditions[0]?.reason === 'Accepted').map((a) => (a.ancestorRef.kind === 'Service' ? `demo/${a.ancestorRef.name}` : `HTTPRoute/demo/${a.ancestorRef.name}`) + ` ${s.namespace}/${s.name}`));
  const expected = [...[...attached.byService].map(([k, v]) => `${k} ${v.policy}`), ...[...attached.byRoute].map(([k, v]) => `${k} ${v.policy}`)];
  t.not(expected.length, 0);
  t.same(inForce.sort(), expected.sort());
  const refused = trafficPolicyStatuses(policies, services, routes).flatMap((s) => s.ancestors.filter((a) => a.conditions[0]?.status === 'False'));
  t.equal(refused.length, attached.problems.length, 'one refused ancestor per problem line');
});

t.test('against a built state: the l7 fixture\'s two policies on web', async (t) => {
  const objects = l7Objects();
  const state = buildClusterState(objects);
  const statuses = trafficPolicyStatusesOf(state, objects.filter((o): o is TrafficPolicyObject => o.kind === 'TrafficPolicy'));
  t.same(statuses.map((s) => [s.name, ...summary(s)]), [
    ['newer', 'Service demo/web False Conflicted', 'Service demo/web-v2 True Accepted'],
    ['sticky', 'Service demo/web True Accepted'],
  ]);
});

const BAD = `apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: broken, namespace: demo, generation: 3}
spec:
  targetRefs: [{group: "", kind: Service, name: web}, {group: ${G}, kind: HTTPRoute, name: web}]
  retry: {numRetries: -1}
`;

t.test('an invalid policy: Invalid on each target, the message names file, object and field', async (t) => {
  const { problems } = collectObjects(BAD, 'bad.yaml');
  t.not(problems.length, 0);
  const raw = { metadata: { name: 'broken', namespace: 'demo', generation: 3 }, spec: { targetRefs: [{ group: '', kind: 'Service', name: 'web' }, { group: G, kind: 'HTTPRoute', name: 'web' }] } };
  const status = invalidTrafficPolicyStatus(raw, problems.map((p) => p.text));
  t.same(summary(status), ['Service demo/web False Invalid', 'HTTPRoute demo/web False Invalid']);
  t.equal(status?.generation, 3);
  const message = status?.ancestors[0]?.conditions[0]?.message ?? '';
  t.match(message, /^meshlet cannot use this policy: bad\.yaml:\d+ \(document 1\): TrafficPolicy demo\/broken: spec\.targetRefs: targets Services and routes at once/);
  t.match(message, /; bad\.yaml:6 \(document 1\): TrafficPolicy demo\/broken: spec\.retry\.numRetries: must be an integer 0\.\.10, got -1$/);
  t.equal(status?.ancestors[1]?.conditions[0]?.message, message, 'the same message on every target');
});

t.test('an invalid policy read leniently: hostile raw objects are bounded', async (t) => {
  t.equal(invalidTrafficPolicyStatus(null, ['x']), undefined, 'not an object');
  t.equal(invalidTrafficPolicyStatus({ metadata: { name: 7, namespace: 'demo' } }, ['x']), undefined, 'no name');
  t.equal(invalidTrafficPolicyStatus({ metadata: { name: 'p', namespace: 'demo' }, spec: { targetRefs: 'web' } }, ['x']), undefined, 'targetRefs not a list');
  t.equal(invalidTrafficPolicyStatus({ metadata: { name: 'p', namespace: 'demo' }, spec: { targetRefs: [] } }, ['x']), undefined, 'no target');
  const many = Array.from({ length: 10_000 }, (_, i) => ({ kind: 'Service', name: `s${i}` }));
  const capped = invalidTrafficPolicyStatus({ metadata: { name: 'p', namespace: 'demo' }, spec: { targetRefs: many } }, ['x']);
  t.equal(capped?.ancestors.length, MAX_POLICY_ANCESTORS, 'at most 16 ancestors');
  const odd = [
    { kind: 'Service', name: 'x'.repeat(254) },
    { kind: 'K'.repeat(64), name: 'a' },
    { kind: 'Service', name: '' },
    { kind: ['Service'], name: 'b' },
    'web',
    null,
    { name: 'web' },
    { group: 'core', kind: 'Service', name: 'web' },
    { group: G, kind: 'HTTPRoute', name: 'r' },
  ];
  const s = invalidTrafficPolicyStatus({ metadata: { name: 'p', namespace: 'demo', generation: 1.5 }, spec: { targetRefs: odd } }, ['x']);
  t.same(summary(s), ['Service demo/web False Invalid', 'HTTPRoute demo/r False Invalid'], 'unreadable refs skipped, a duplicate once');
  t.equal(s?.generation, undefined, 'a non-integer generation is not echoed');
  const huge = invalidTrafficPolicyStatus({ metadata: { name: 'p', namespace: 'demo' }, spec: { targetRefs: [{ kind: 'Service', name: 'web' }] } }, ['y'.repeat(100_000)]);
  const message = huge?.ancestors[0]?.conditions[0]?.message ?? '';
  t.equal(message.length, MAX_CONDITION_MESSAGE);
  t.match(message, /\.\.\.$/);
});
