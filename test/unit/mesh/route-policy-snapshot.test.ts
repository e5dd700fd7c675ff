/**
 * Route-targeted TrafficPolicies and RequestMirror backends from the objects to every node's
 * snapshot: the policy of an accepted route is carried (route key, route sections), a mirror to a
 * Service that does not exist is marked invalid and reported in the route's ResolvedRefs.
 */
import t from 'tap';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import { buildClusterState, computeSnapshot } from '../../../src/mesh/snapshot.js';
import { twoNodeObjects } from './fixture.js';

const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web-route, namespace: demo}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 80}]
  rules:
  - filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: nowhere, port: 80}, percent: 25}
    - type: RequestMirror
      requestMirror: {backendRef: {name: db, port: 5432}}
    backendRefs: [{name: web, port: 80}]
`;
const policy = `apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: route-faults, namespace: demo}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web-route}]
  faultInjection: {abort: {httpStatus: 503, percentage: 5}}
  retry: {numRetries: 1}
`;

t.test('a route\'s TrafficPolicy reaches every node; an unresolved mirror is marked and reported', async (t) => {
  const state = buildClusterState([...twoNodeObjects(), ...parseObjects(route, 'route.yaml'), ...parseObjects(policy, 'policy.yaml')]);
  for (const node of ['node-a', 'node-b']) {
    const snapshot = computeSnapshot(state, node, 'v1');
    const rp = snapshot.routePolicies ?? [];
    t.equal(rp.length, 1, `${node}: one route policy`);
    t.equal(rp[0]?.route, 'HTTPRoute/demo/web-route');
    t.equal(rp[0]?.policy.policy, 'demo/route-faults');
    t.equal(rp[0]?.policy.fault?.abort?.percent, 5);
    t.equal(rp[0]?.policy.retry?.retries, 1);
    const filters = snapshot.routes?.[0]?.rules[0]?.filters ?? [];
    const mirrors = filters.flatMap((f) => (f.type === 'RequestMirror' ? [f.requestMirror] : []));
    t.equal(mirrors.length, 2, 'both mirrors kept');
    t.match(mirrors[0]?.backendRef.invalid, /nowhere/, 'the missing backend is marked');
    t.equal(mirrors[1]?.backendRef.invalid, undefined, 'the existing one is not');
    t.equal(mirrors[0]?.percent, 25);
  }
  const status = state.routeStatuses.find((s) => s.name === 'web-route');
  const resolved = status?.parents[0]?.conditions.find((c) => c.type === 'ResolvedRefs');
  t.equal(resolved?.status, 'False', 'ResolvedRefs says a reference does not resolve');
  t.match(resolved?.message, /nowhere/);
});

t.test('no route policy: the snapshot has none', async (t) => {
  const snapshot = computeSnapshot(buildClusterState(twoNodeObjects()), 'node-a', 'v1');
  t.equal(snapshot.routePolicies, undefined);
});
