/**
 * `meshlet check --pre --kubernetes`'s checks over injected probes: each outcome of the version,
 * RBAC and CRD checks, and an API that does not answer.
 */
import t from 'tap';
import { INSTALL_PERMISSIONS, checkKubernetesVersion, clusterPreChecks, type ClusterProbes } from '../../../src/cli/check-cluster.js';

const ALL_CRDS = ['workloads.meshlet.io', 'meshtlses.meshlet.io', 'trafficpolicies.meshlet.io', 'authorizationpolicies.meshlet.io', 'telemetries.meshlet.io', 'httproutes.gateway.networking.k8s.io', 'grpcroutes.gateway.networking.k8s.io', 'authorizationpolicies.security.istio.io'];

function probes(over: Partial<ClusterProbes> = {}): ClusterProbes {
  return { serverVersion: async () => 'v1.31.2', canCreate: async () => true, crdNames: async () => ALL_CRDS, ...over };
}

t.test('the version: 1.30 and later pass, older and unreadable fail', async (t) => {
  t.equal(checkKubernetesVersion('v1.30.0').outcome, 'ok');
  t.equal(checkKubernetesVersion('v1.33.1-eks-1234').outcome, 'ok');
  t.equal(checkKubernetesVersion('v2.0.0').outcome, 'ok');
  t.match(checkKubernetesVersion('v1.29.9'), { outcome: 'fail', detail: /older than 1\.30/ });
  t.match(checkKubernetesVersion('dev'), { outcome: 'fail', detail: /"dev", not a version/ });
});

t.test('a healthy cluster: every line ok', async (t) => {
  const results = await clusterPreChecks(probes());
  t.same(results.map((r) => [r.name, r.outcome]), [['Kubernetes version', 'ok'], ['RBAC', 'ok'], ['meshlet CRDs', 'ok'], ['other CRDs', 'ok']]);
  t.match(results[2]?.detail, /all 5 installed/);
});

t.test('an API that does not answer: one failing line, nothing else asked', async (t) => {
  let asked = 0;
  const results = await clusterPreChecks(probes({ serverVersion: async () => Promise.reject(new Error('connect ECONNREFUSED 198.18.0.1:6443')), canCreate: async () => (asked++, true) }));
  t.match(results, [{ name: 'Kubernetes API', outcome: 'fail', detail: /ECONNREFUSED/ }]);
  t.equal(results.length, 1);
  t.equal(asked, 0);
});

t.test('RBAC: every denied kind is named; a review the API refuses is a warning', async (t) => {
  const denied = await clusterPreChecks(probes({ canCreate: async (_g, r) => !(r === 'clusterroles' || r === 'daemonsets') }));
  t.match(denied.find((r) => r.name === 'RBAC'), { outcome: 'fail', detail: 'may not create clusterroles.rbac.authorization.k8s.io, daemonsets.apps in meshlet-system' });
  const refused = await clusterPreChecks(probes({ canCreate: async (_g, r) => (r === 'namespaces' ? Promise.reject(new Error('HTTP 403')) : true) }));
  t.match(refused.find((r) => r.name === 'RBAC'), { outcome: 'warn', detail: /could not ask about namespaces \(HTTP 403\)/ });
  let asked = 0;
  await clusterPreChecks(probes({ canCreate: async () => (asked++, true) }));
  t.equal(asked, INSTALL_PERMISSIONS.length, 'one review per kind the install creates');
});

t.test('CRDs: none, some, or no Gateway API', async (t) => {
  const none = await clusterPreChecks(probes({ crdNames: async () => [] }));
  t.match(none.find((r) => r.name === 'meshlet CRDs'), { outcome: 'ok', detail: /none yet: the install creates 5/ });
  t.match(none.find((r) => r.name === 'other CRDs'), { outcome: 'warn', detail: /not installed: httproutes\.gateway\.networking\.k8s\.io, grpcroutes/ });
  const some = await clusterPreChecks(probes({ crdNames: async () => ['workloads.meshlet.io'] }));
  t.match(some.find((r) => r.name === 'meshlet CRDs'), { detail: /1 of 5 installed \(workloads\.meshlet\.io\)/ });
  const unlisted = await clusterPreChecks(probes({ crdNames: async () => Promise.reject(new Error('HTTP 403')) }));
  t.match(unlisted.at(-1), { name: 'CRDs', outcome: 'warn', detail: /could not list them: HTTP 403/ });
});
