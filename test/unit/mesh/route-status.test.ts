/**
 * Cluster state for L7: route status per parentRef (Accepted, ResolvedRefs with the spec's
 * reasons), unresolved backends marked invalid, TrafficPolicy conflicts (the oldest wins),
 * opaque ports and zones carried to Services, endpoints and workloads.
 */
import t from 'tap';
import { buildClusterState, computeSnapshot } from '../../../src/mesh/snapshot.js';
import { setAside } from '../../../src/mesh/cluster-state.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import { routeStatus } from '../../../src/mesh/route-status.js';
import type { HTTPRouteObject, ServiceInfo } from '../../../src/mesh/types.js';
import { l7Objects } from './l7-fixture.js';

t.test('an accepted route: a condition pair per parentRef; a Gateway parent is not ours', async (t) => {
  const state = buildClusterState(l7Objects());
  const web = state.routeStatuses.find((s) => s.kind === 'HTTPRoute' && s.name === 'web');
  t.same(web?.parents.map((p) => [p.parentRef.kind, p.managed, p.conditions.map((c) => [c.type, c.status, c.reason])]), [
    ['Service', true, [['Accepted', 'True', 'Accepted'], ['ResolvedRefs', 'False', 'BackendNotFound']]],
    ['Gateway', false, [['Accepted', 'False', 'UnsupportedValue'], ['ResolvedRefs', 'False', 'BackendNotFound']]],
  ]);
  t.match(web?.parents[0]?.conditions[1]?.message, /backendRef demo\/missing: no such Service/);
  t.same(web?.resolved?.parents, [{ namespace: 'demo', name: 'web', port: 80 }], 'attached to the Service only');
  const refs = web?.resolved?.rules[1]?.backendRefs;
  t.same(refs?.map((b) => [b.name, b.weight, b.invalid]), [['web', 90, undefined], ['web-v2', 10, undefined], ['missing', 1, 'BackendNotFound: backendRef demo/missing: no such Service with a cluster IP']]);
  t.same(state.routes.map((r) => `${r.kind}/${r.name}`), ['GRPCRoute/greeter', 'HTTPRoute/web'], 'accepted routes, sorted');
});

function statusOf(yaml: string, services: ServiceInfo[]): ReturnType<typeof routeStatus> {
  return routeStatus(parseObjects(yaml, 'r.yaml')[0] as HTTPRouteObject, new Map(services.map((s) => [s.key, s])));
}

const svc = (name: string, port = 80): ServiceInfo => ({ key: `demo/${name}`, name, namespace: 'demo', vips: ['198.19.0.1'], ports: [{ port, targetPort: port }], endpoints: [] });
const route = (parents: string, backends: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: demo}
spec:
  parentRefs: ${parents}
  rules: [{backendRefs: ${backends}}]
`;

t.test('each reason of the spec', async (t) => {
  const cases: [string, string, string, [string, string]][] = [
    ['no such Service', '[{group: "", kind: Service, name: nope}]', '[{name: a, port: 80}]', ['NoMatchingParent', 'ResolvedRefs']],
    ['no such port', '[{group: "", kind: Service, name: a, port: 81}]', '[{name: a, port: 80}]', ['NoMatchingParent', 'ResolvedRefs']],
    ['consumer route', '[{group: "", kind: Service, name: a, namespace: other}]', '[{name: a, port: 80}]', ['NotAllowedByListeners', 'ResolvedRefs']],
    ['backend of another kind', '[{group: "", kind: Service, name: a}]', '[{group: example.com, kind: Bucket, name: a}]', ['Accepted', 'InvalidKind']],
    ['backend in another namespace', '[{group: "", kind: Service, name: a}]', '[{name: a, namespace: other, port: 80}]', ['Accepted', 'RefNotPermitted']],
    ['backend port missing', '[{group: "", kind: Service, name: a}]', '[{name: a, port: 81}]', ['Accepted', 'BackendNotFound']],
    ['core group spelt core', '[{group: core, kind: Service, name: a}]', '[{name: a, port: 80}]', ['Accepted', 'ResolvedRefs']],
  ];
  for (const [name, parents, backends, [accepted, resolved]] of cases) {
    const s = statusOf(route(parents, backends), [svc('a')]);
    t.same(s.parents[0]?.conditions.map((c) => c.reason), [accepted, resolved], name);
    t.equal(s.resolved === undefined, accepted !== 'Accepted', `${name}: in the snapshot only when accepted`);
  }
  const kind = statusOf(route('[{group: "", kind: Service, name: a}]', '[{group: example.com, kind: Bucket, name: a}, {name: a, port: 80}]'), [svc('a')]);
  t.same(kind.resolved?.rules[0]?.backendRefs.map((b) => b.invalid?.split(':')[0]), ['InvalidKind', undefined], 'only the bad backend gets 500s');
});

t.test('TrafficPolicy: the oldest wins, the other is reported for that Service only', async (t) => {
  const state = buildClusterState(l7Objects());
  const web = state.services.find((s) => s.name === 'web');
  const v2 = state.services.find((s) => s.name === 'web-v2');
  t.same(web?.trafficPolicy, {
    policy: 'demo/sticky',
    balancer: { algorithm: 'maglev' },
    hashKeys: [{ kind: 'header', name: 'x-user' }],
    preferLocalZone: true,
  });
  t.same(v2?.trafficPolicy, { policy: 'demo/newer', balancer: { algorithm: 'peak-ewma', ewmaDefaultRttMs: 20, ewmaDecayMs: 5000 }, hashKeys: [], preferLocalZone: false });
  t.equal(state.policyConflicts.length, 1);
  t.match(state.policyConflicts[0]?.text, /^TrafficPolicy demo\/newer in l7\.yaml \(document \d+\): ignored for Service demo\/web: the older TrafficPolicy demo\/sticky already targets it$/);
  // Same timestamps: namespace/name decides, whatever the order of the objects.
  const same = l7Objects().map((o) => (o.kind === 'TrafficPolicy' ? { ...o, creationTimestamp: 0 } : o));
  const a = buildClusterState(same).services.find((s) => s.name === 'web')?.trafficPolicy?.policy;
  const b = buildClusterState([...same].reverse()).services.find((s) => s.name === 'web')?.trafficPolicy?.policy;
  t.equal(a, 'demo/newer', 'newer < sticky by name');
  t.equal(b, a, 'order of objects does not matter');
});

t.test('opaque ports and zones reach Services, endpoints, workloads and the snapshot', async (t) => {
  const state = buildClusterState(l7Objects());
  t.same(state.services.find((s) => s.name === 'db')?.opaquePorts, [5432, 9187]);
  t.equal(state.services.find((s) => s.name === 'web')?.opaquePorts, undefined);
  t.same(state.services.find((s) => s.name === 'web')?.endpoints.map((e) => e.zone), ['zone-a']);
  t.same(state.workloads.map((w) => [w.name, w.zone]), [['web-1', 'zone-a'], ['web-2', 'zone-b']]);
  const snap = computeSnapshot(state, 'node-b', 'v1');
  t.equal(snap.zone, 'zone-b');
  t.equal(snap.routes?.length, 2);
  t.equal(computeSnapshot(state, 'node-x', 'v1').zone, undefined, 'an unknown node has no zone');
});

t.test('a target that does not exist is reported, not an error', async (t) => {
  const objs = parseObjects(`apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: p, namespace: demo}
spec: {targetRefs: [{group: "", kind: Service, name: ghost}]}
`, 'p.yaml');
  const state = buildClusterState(objs);
  t.same(state.policyConflicts.map((p) => p.text), ['TrafficPolicy demo/p in p.yaml (document 1): targets Service demo/ghost, which does not exist (or has no cluster IP); nothing to apply it to']);
});

t.test('setAside lists ignored policies and route problems, one line each', async (t) => {
  const lines = setAside(buildClusterState(l7Objects()));
  t.same(lines.map((l) => l.replace(/:.*/s, '')), [
    'TrafficPolicy demo/newer in l7.yaml (document 12)',
    'HTTPRoute demo/web',
  ]);
  t.match(lines[1], /^HTTPRoute demo\/web: backends not resolved \(BackendNotFound\), their share of requests gets 500: backendRef demo\/missing/);
  const orphan = parseObjects(route('[{group: "", kind: Service, name: nope}]', '[]'), 'r.yaml');
  t.same(setAside(buildClusterState(orphan)), ['HTTPRoute demo/r: not accepted (NoMatchingParent): Service demo/nope does not exist or has no cluster IP']);
});
