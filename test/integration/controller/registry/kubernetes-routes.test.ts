/**
 * L7 objects from the Kubernetes API: HTTPRoutes, GRPCRoutes and TrafficPolicies are read when
 * their CRDs are served; a cluster without them works (no objects, one log line, no warning per
 * retry) and picks them up once the CRDs appear; a route meshlet cannot honour is left out and
 * named, the rest applies.
 */
import t from 'tap';
import { describeObjects, kubernetesSource, recordingLogger, startFakeApi } from '../../../helpers/registry-rig.js';
import { waitFor } from '../../../helpers/wait-for.js';
import type { FakeResource, KubeJson } from '../../../helpers/fake-kube-api.js';

const L7_RESOURCES: FakeResource[] = [
  { group: 'meshlet.io', version: 'v1alpha1', resource: 'trafficpolicies', kind: 'TrafficPolicy', namespaced: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'httproutes', kind: 'HTTPRoute', namespaced: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'grpcroutes', kind: 'GRPCRoute', namespaced: true },
];

const route = (name: string, rule: KubeJson = { backendRefs: [{ name: 'web', port: 80 }] }): KubeJson => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name, namespace: 'demo', creationTimestamp: '2025-01-01T00:00:00Z', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
  spec: { parentRefs: [{ group: '', kind: 'Service', name: 'web' }], rules: [rule] },
  status: { parents: [] },
});

const policy: KubeJson = {
  apiVersion: 'meshlet.io/v1alpha1',
  kind: 'TrafficPolicy',
  metadata: { name: 'p', namespace: 'demo' },
  spec: { targetRefs: [{ group: '', kind: 'Service', name: 'web' }], loadBalancer: { type: 'RoundRobin' } },
};

const service: KubeJson = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'demo', annotations: { 'meshlet.io/opaque-ports': '80', other: 'x' } },
  spec: { clusterIP: '198.19.0.10', ports: [{ name: 'http', port: 80 }] },
};

t.test('served CRDs: routes and policies are read, an unsupported field leaves its route out', async (t) => {
  const { logger, lines } = recordingLogger();
  const { api, kubeConfig } = await startFakeApi(t);
  api.store.resources.push(...L7_RESOURCES);
  api.apply(service, route('good'), route('extref', { filters: [{ type: 'ExtensionRef', extensionRef: { group: 'example.com', kind: 'Thing', name: 'x' } }] }), policy);
  const source = kubernetesSource(t, kubeConfig, logger);
  await source.start();
  t.same(describeObjects(source.contents()?.objects), ['HTTPRoute demo/good', 'Service demo/web', 'TrafficPolicy demo/p']);
  const good = source.contents()?.objects.find((o) => o.kind === 'HTTPRoute');
  // The fake, like an API server, sets creationTimestamp itself: the cut keeps it.
  t.equal(good?.kind === 'HTTPRoute' && good.creationTimestamp > Date.parse('2020-01-01T00:00:00Z'), true, 'creationTimestamp is kept');
  const svc = source.contents()?.objects.find((o) => o.kind === 'Service');
  t.same(svc?.kind === 'Service' ? svc.opaquePorts : undefined, [80], 'the opaque-ports annotation is kept');
  t.match(source.contents()?.excluded.map((p) => p.text), [/^kubernetes:HTTPRoute\/demo\/extref \(document 1\): HTTPRoute demo\/extref: spec\.rules\[0\]\.filters\[0\]\.type: ExtensionRef is not supported/]);
  t.equal(lines.filter((l) => l['msg'] === 'Kubernetes object left out: it fails validation').length, 1);
  const invalid = source.invalidRoutes();
  t.same(invalid.map((r) => (r.raw as { kind: string; metadata: { name: string } }).kind + '/' + (r.raw as { metadata: { name: string } }).metadata.name), ['HTTPRoute/extref'], 'kept for its status');
  t.match(invalid[0]?.problems, [/ExtensionRef is not supported/]);
  api.remove('gateway.networking.k8s.io/v1', 'HTTPRoute', 'demo', 'extref');
  await waitFor('the invalid route forgotten once deleted', () => source.invalidRoutes().length === 0);
});

t.test('no Gateway API CRDs: one info line, no warning; the CRDs appearing later are picked up', async (t) => {
  const { logger, lines } = recordingLogger();
  const { api, kubeConfig } = await startFakeApi(t, [service]);
  const source = kubernetesSource(t, kubeConfig, logger, { absentRecheckMs: 50 });
  await source.start();
  t.same(describeObjects(source.contents()?.objects), ['Service demo/web']);
  await waitFor('a few rechecks', () => api.requestsTo('/apis/gateway.networking.k8s.io/v1/httproutes', 'list').length >= 3);
  const absent = lines.filter((l) => String(l['msg']).startsWith('Kubernetes resource not served'));
  t.same(absent.map((l) => l['resource']).sort(), ['authorizationpolicies.meshlet.io', 'authorizationpolicies.security.istio.io', 'grpcroutes.gateway.networking.k8s.io', 'httproutes.gateway.networking.k8s.io', 'telemetries.meshlet.io', 'trafficpolicies.meshlet.io'], 'one line per absent resource, however many rechecks');
  t.equal(lines.filter((l) => l['level'] === 40).length, 0, 'no warning');
  api.store.resources.push(...L7_RESOURCES);
  api.apply(route('late'));
  await waitFor('the route once its CRD is served', () => describeObjects(source.contents()?.objects).includes('HTTPRoute demo/late'));
  t.ok(lines.some((l) => l['msg'] === 'Kubernetes resource is served now (its CRD was installed); reading its objects'), 'logged when served');
});
