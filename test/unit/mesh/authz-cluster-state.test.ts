/**
 * AuthorizationPolicies in the cluster state and the snapshot: every policy kept (a meshlet.io
 * and an Istio policy of one name are two), sorted; the duplicate check by API group; the status
 * lines (selects nothing, a targetRef to no Service, L7 fields on a port no Service declares
 * HTTP); every node's snapshot carries every policy.
 */
import t from 'tap';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import { setAside } from '../../../src/mesh/cluster-state.js';
import { buildClusterState, computeSnapshot } from '../../../src/mesh/snapshot.js';
import type { AuthorizationPolicyData, AuthzApiVersion } from '../../../src/mesh/authz/types.js';
import type { AuthorizationPolicyObject, MeshObject } from '../../../src/mesh/types.js';
import { thrown, twoNodeObjects } from './fixture.js';

type PolicyFields = Partial<Omit<AuthorizationPolicyData, 'key' | 'namespace' | 'name' | 'apiVersion'>>;

/** An AuthorizationPolicy object made by hand (as the parser would make it). */
function policy(ref: string, fields: PolicyFields = {}, apiVersion: AuthzApiVersion = 'meshlet.io/v1alpha1', file = 'authz.yaml', doc = 0): AuthorizationPolicyObject {
  const [namespace = '', name = ''] = ref.split('/');
  const data: AuthorizationPolicyData = { key: ref, namespace, name, apiVersion, action: 'ALLOW', rules: [{}], creationTimestamp: 0, ...fields };
  return { kind: 'AuthorizationPolicy', name, namespace, labels: {}, source: { file, doc }, policy: data };
}

function stateWith(...extra: MeshObject[]) {
  return buildClusterState([...twoNodeObjects(), ...extra]);
}

function statusLines(...extra: MeshObject[]): string[] {
  return stateWith(...extra).authorizationStatuses.map((p) => p.text);
}

const PATHS = { rules: [{ to: [{ operation: { paths: ['/admin/*'] } }] }] };

t.test('every policy is kept, sorted by key then apiVersion; meshlet.io and Istio policies of one name are two', async (t) => {
  const state = stateWith(
    policy('demo/web-allow', { selector: { app: 'web' } }, 'security.istio.io/v1', 'istio.yaml'),
    policy('demo/web-allow', { selector: { app: 'web' }, action: 'DENY' }),
    policy('demo/a-first', { selector: { app: 'db' } }),
  );
  t.same(state.authorizationPolicies.map((p) => `${p.key} ${p.apiVersion} ${p.action}`), [
    'demo/a-first meshlet.io/v1alpha1 ALLOW',
    'demo/web-allow meshlet.io/v1alpha1 DENY',
    'demo/web-allow security.istio.io/v1 ALLOW',
  ]);
  t.equal(Object.isFrozen(state.authorizationPolicies), true, 'frozen with the state');
});

t.test('a state without policies has none, and no status line', async (t) => {
  const state = stateWith();
  t.same(state.authorizationPolicies, []);
  t.same(state.authorizationStatuses, []);
});

t.test('two policies of one API group and name are a conflict naming both files', async (t) => {
  const v1 = policy('demo/p', {}, 'security.istio.io/v1', 'a.yaml');
  const v1beta1 = policy('demo/p', {}, 'security.istio.io/v1beta1', 'b.yaml', 2);
  const err = thrown(() => stateWith(v1, v1beta1));
  t.equal(isMeshletError(err, 'MESHLET_ERR_OBJECT_CONFLICT'), true, 'MESHLET_ERR_OBJECT_CONFLICT');
  t.match((err as Error).message, 'duplicate AuthorizationPolicy demo/p (security.istio.io): defined in a.yaml (document 1) and again in b.yaml (document 3)');
  const twice = thrown(() => stateWith(policy('demo/p', {}, 'meshlet.io/v1alpha1', 'a.yaml'), policy('demo/p', {}, 'meshlet.io/v1alpha1', 'c.yaml')));
  t.match((twice as Error).message, 'duplicate AuthorizationPolicy demo/p (meshlet.io)');
});

t.test('a policy that selects no meshed workload says so', async (t) => {
  t.same(statusLines(policy('demo/nobody', { selector: { app: 'nothing' } })), [
    'authz.yaml (document 1): AuthorizationPolicy demo/nobody (meshlet.io/v1alpha1): selects no meshed workload: it has no effect',
  ]);
  t.same(statusLines(policy('legacy/all')), [
    'authz.yaml (document 1): AuthorizationPolicy legacy/all (meshlet.io/v1alpha1): selects no meshed workload: it has no effect',
  ], 'a namespace with no meshed workload');
  t.same(statusLines(policy('demo/web', { selector: { app: 'web' } })), [], 'a selector that matches');
  t.same(statusLines(policy('demo/all')), [], 'a namespace-wide policy');
  t.same(statusLines(policy('meshlet-system/carts', { selector: { app: 'cart' } })), [], 'the root namespace selects across namespaces');
  t.same(statusLines(policy('shop/webs', { selector: { app: 'web' } })).length, 1, 'another namespace does not');
});

t.test('a targetRef to a missing or headless Service says the policy selects nothing of it', async (t) => {
  const lines = statusLines(policy('demo/refs', { targetServices: ['web', 'gone', 'web-headless'] }));
  t.same(lines, [
    "authz.yaml (document 1): AuthorizationPolicy demo/refs (meshlet.io/v1alpha1): targetRefs: Service demo/gone does not exist: the policy selects nothing of it",
    "authz.yaml (document 1): AuthorizationPolicy demo/refs (meshlet.io/v1alpha1): targetRefs: Service demo/web-headless has no cluster IP (a headless Service is not part of the mesh's routing): the policy selects nothing of it",
  ]);
  const none = statusLines(policy('demo/only-gone', { targetServices: ['gone'] }));
  t.equal(none.length, 2);
  t.match(none[0], /demo\/only-gone .*: selects no meshed workload/);
  t.match(none[1], /demo\/only-gone .*: targetRefs: Service demo\/gone does not exist/);
  t.same(statusLines(policy('demo/web', { targetServices: ['web'] })), [], 'an existing Service');
});

t.test('L7 fields on a port no Service declares HTTP are named with the workload ports', async (t) => {
  const db = statusLines(policy('demo/db-paths', { selector: { app: 'db' }, ...PATHS }));
  t.same(db, [
    'authz.yaml (document 1): AuthorizationPolicy demo/db-paths (meshlet.io/v1alpha1): its L7 fields (rules[0].to[0].operation.paths) fail closed on Workload/demo/vm-db port 5432: ' +
      'no Service declares that port HTTP (appProtocol or port name), so connections there may be opaque (an ALLOW rule with an L7 field never matches them; a DENY rule matches on its other fields)',
  ]);
  const web = statusLines(policy('demo/web-paths', { selector: { app: 'web' }, ...PATHS }));
  t.equal(web.length, 1);
  t.match(web[0], 'fail closed on Pod/demo/web-1 port 9102, Pod/demo/web-2 port 9100:', 'the metrics ports, not the http ones (appProtocol http)');
});

t.test('which fields are L7, and a policy without any gets no line', async (t) => {
  const l7 = {
    rules: [
      { to: [{ operation: { ports: ['5432'], methods: ['GET'], notHosts: ['a'] } }] },
      { when: [{ key: 'source.ip' as const, values: ['10.0.0.0/8'] }, { key: 'request.headers[x-user]' as const, values: ['bob'] }] },
    ],
  };
  const lines = statusLines(policy('demo/db-mixed', { selector: { app: 'db' }, ...l7 }));
  t.equal(lines.length, 1);
  t.match(lines[0], 'its L7 fields (rules[0].to[0].operation.methods, rules[0].to[0].operation.notHosts, rules[1].when[1]) fail closed');
  const l4 = { rules: [{ from: [{ source: { principals: ['cluster.local/ns/demo/sa/web'] } }], to: [{ operation: { ports: ['5432'] } }], when: [{ key: 'destination.port' as const, values: ['5432'] }] }] };
  t.same(statusLines(policy('demo/db-l4', { selector: { app: 'db' }, ...l4 })), []);
});

t.test('a targetRef policy looks at the targeted Services\' ports only', async (t) => {
  const lines = statusLines(policy('demo/db-ref', { targetServices: ['db'], ...PATHS }));
  t.equal(lines.length, 1);
  t.match(lines[0], 'fail closed on Workload/demo/vm-db port 5432:');
  // A port named http, but declared opaque by the annotation, is not HTTP.
  const opaque = parseObjects(
    'apiVersion: v1\nkind: Service\nmetadata: {name: db-http, namespace: demo, annotations: {meshlet.io/opaque-ports: "5432"}}\n' +
      'spec: {clusterIP: 198.19.0.21, selector: {app: db}, ports: [{name: http, port: 5432, targetPort: postgres}]}\n',
    'svc.yaml',
  );
  const viaOpaque = stateWith(...opaque, policy('demo/db-http', { targetServices: ['db-http'], ...PATHS })).authorizationStatuses.map((p) => p.text);
  t.equal(viaOpaque.length, 1);
  t.match(viaOpaque[0], 'fail closed on Workload/demo/vm-db port 5432:');
  const http = parseObjects(
    'apiVersion: v1\nkind: Service\nmetadata: {name: db-http, namespace: demo}\n' +
      'spec: {clusterIP: 198.19.0.21, selector: {app: db}, ports: [{name: http, port: 5432, targetPort: postgres}]}\n',
    'svc.yaml',
  );
  t.same(stateWith(...http, policy('demo/db-http', { targetServices: ['db-http'], ...PATHS })).authorizationStatuses, [], 'declared HTTP by its targeted Service');
  t.same(stateWith(...http, policy('demo/db-any', { selector: { app: 'db' }, ...PATHS })).authorizationStatuses, [], 'one Service declaring the port HTTP is enough');
});

t.test('past five workload ports a line says how many more', async (t) => {
  const pods = Array.from({ length: 7 }, (_, i) =>
    `apiVersion: v1\nkind: Pod\nmetadata: {name: tcp-${i}, namespace: demo, labels: {app: tcp}}\n` +
      `spec: {nodeName: node-a, containers: [{name: c, ports: [{name: raw, containerPort: 7000}]}]}\nstatus: {podIP: 198.18.1.${100 + i}}\n`,
  ).join('---\n');
  const svc = 'apiVersion: v1\nkind: Service\nmetadata: {name: tcp, namespace: demo}\nspec: {clusterIP: 198.19.0.70, selector: {app: tcp}, ports: [{port: 7000}]}\n';
  const lines = statusLines(...parseObjects(`${pods}---\n${svc}`, 'tcp.yaml'), policy('demo/tcp', { selector: { app: 'tcp' }, ...PATHS }));
  t.equal(lines.length, 1);
  t.match(lines[0], 'fail closed on Pod/demo/tcp-0 port 7000, Pod/demo/tcp-1 port 7000, Pod/demo/tcp-2 port 7000, Pod/demo/tcp-3 port 7000, Pod/demo/tcp-4 port 7000 and 2 more:');
});

t.test('setAside lists the status lines, sorted, with the other set-aside lines', async (t) => {
  const state = stateWith(policy('demo/z-nobody', { selector: { app: 'none' } }), policy('demo/a-gone', { targetServices: ['gone'] }));
  const lines = setAside(state);
  const authz = lines.filter((l) => l.includes('AuthorizationPolicy'));
  t.equal(authz.length, 3);
  t.match(authz[0], 'demo/a-gone (meshlet.io/v1alpha1): selects no meshed workload');
  t.match(authz[1], 'demo/a-gone (meshlet.io/v1alpha1): targetRefs: Service demo/gone does not exist');
  t.match(authz[2], 'demo/z-nobody (meshlet.io/v1alpha1): selects no meshed workload');
});

t.test('every node\'s snapshot carries every policy; none: the field is absent', async (t) => {
  const state = stateWith(policy('demo/web', { selector: { app: 'web' } }), policy('shop/cart', { action: 'DENY' }, 'security.istio.io/v1beta1'));
  for (const node of ['node-a', 'node-b', 'node-unknown']) {
    const snapshot = computeSnapshot(state, node, 'v1');
    t.equal(snapshot.authorizationPolicies, state.authorizationPolicies, `${node}: the state's list`);
  }
  t.equal(state.authorizationPolicies.length, 2);
  t.equal('authorizationPolicies' in computeSnapshot(stateWith(), 'node-a', 'v1'), false, 'absent when there is none');
});

t.test('a snapshot survives the structured clone that carries it to the data-path workers', async (t) => {
  const state = stateWith(policy('demo/web', { selector: { app: 'web' }, ...PATHS, creationTimestamp: 1_700_000_000_000 }));
  const snapshot = computeSnapshot(state, 'node-a', 'v1');
  t.strictSame(structuredClone(snapshot).authorizationPolicies, snapshot.authorizationPolicies);
});
