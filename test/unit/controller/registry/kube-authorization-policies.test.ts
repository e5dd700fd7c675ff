/**
 * AuthorizationPolicies from the Kubernetes API: meshlet's and Istio's are read (Istio's list
 * items keep security.istio.io/v1), keyed apart in the registry, cut to metadata and the whole
 * spec, and a field meshlet does not enforce is named, never dropped.
 */
import t from 'tap';
import { convertKubeObject, kubeObjectKey, slimKubeObject } from '../../../../src/controller/registry/kube-objects.js';
import { keyKindOf, KUBERNETES_RESOURCES, type KubeResource } from '../../../../src/controller/registry/kube-resources.js';
import { KeyedObjects } from '../../../../src/controller/registry/registry-source.js';
import type { AuthorizationPolicyObject } from '../../../../src/mesh/types.js';

function resource(group: string): KubeResource {
  const r = KUBERNETES_RESOURCES.find((x) => x.kind === 'AuthorizationPolicy' && x.group === group);
  if (r === undefined) throw new Error(`no AuthorizationPolicy resource of ${group}`);
  return r;
}

const MESHLET = resource('meshlet.io');
const ISTIO = resource('security.istio.io');

/** A list item as the API server returns it: no type fields, server metadata, a status. */
const item = (name: string, spec: Record<string, unknown>): Record<string, unknown> => ({
  metadata: {
    name,
    namespace: 'demo',
    uid: '6f1c1d0e-0000-4000-8000-000000000002',
    resourceVersion: '77',
    generation: 2,
    creationTimestamp: '2026-01-01T00:00:00Z',
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
  },
  spec,
  status: { validationMessages: [] },
});

const DENY = { selector: { matchLabels: { app: 'db' } }, action: 'DENY', rules: [{ from: [{ source: { notNamespaces: ['demo'] } }] }] };

t.test('both resources are read: namespaced, list and watch, optional (a 404 means none)', async (t) => {
  t.same([MESHLET, ISTIO].map((r) => [r.group, r.version, r.resource, r.namespaced, r.optional, [...r.verbs]]), [
    ['meshlet.io', 'v1alpha1', 'authorizationpolicies', true, true, ['list', 'watch']],
    ['security.istio.io', 'v1', 'authorizationpolicies', true, true, ['list', 'watch']],
  ]);
});

t.test('no two resources share a registry key kind; the first of a kind keeps the bare kind', async (t) => {
  const kinds = KUBERNETES_RESOURCES.map(keyKindOf);
  t.equal(new Set(kinds).size, kinds.length, kinds.join(', '));
  t.equal(keyKindOf(MESHLET), 'AuthorizationPolicy');
  t.equal(keyKindOf(ISTIO), 'AuthorizationPolicy.security.istio.io');
  t.equal(kubeObjectKey(ISTIO, item('deny', DENY)), 'AuthorizationPolicy.security.istio.io/demo/deny');
  t.equal(kubeObjectKey(MESHLET, item('deny', DENY)), 'AuthorizationPolicy/demo/deny');
});

t.test("an Istio list item keeps Istio's apiVersion, its name and its creation time", async (t) => {
  const { key, result } = convertKubeObject(ISTIO, item('deny', DENY));
  t.same(result.problems, []);
  const object = result.objects[0] as AuthorizationPolicyObject;
  t.equal(object.source.file, `kubernetes:${key}`);
  t.equal(object.policy.apiVersion, 'security.istio.io/v1');
  t.equal(object.policy.key, 'demo/deny');
  t.equal(object.policy.action, 'DENY');
  t.equal(object.policy.creationTimestamp, Date.parse('2026-01-01T00:00:00Z'));
  const own = convertKubeObject(ISTIO, { apiVersion: 'security.istio.io/v1beta1', kind: 'AuthorizationPolicy', ...item('deny', DENY) }).result.objects[0] as AuthorizationPolicyObject;
  t.equal(own.policy.apiVersion, 'security.istio.io/v1beta1', 'an object with its own apiVersion keeps it');
  const mine = convertKubeObject(MESHLET, item('deny', DENY)).result.objects[0] as AuthorizationPolicyObject;
  t.equal(mine.policy.apiVersion, 'meshlet.io/v1alpha1');
});

t.test('the registry holds a meshlet.io and an Istio policy of one name side by side', async (t) => {
  const store = new KeyedObjects('kubernetes', false);
  for (const r of [MESHLET, ISTIO]) {
    const { key, result } = convertKubeObject(r, item('deny', DENY));
    store.set(key, result);
  }
  const policies = store.contents().objects.filter((o): o is AuthorizationPolicyObject => o.kind === 'AuthorizationPolicy');
  t.same(policies.map((p) => p.policy.apiVersion).sort(), ['meshlet.io/v1alpha1', 'security.istio.io/v1']);
});

t.test('the cache keeps metadata meshlet reads and the whole spec; status and annotations go', async (t) => {
  const slim = slimKubeObject(ISTIO, item('deny', DENY)) as Record<string, Record<string, unknown>>;
  t.same(Object.keys(slim).sort(), ['metadata', 'spec']);
  t.same(Object.keys(slim['metadata']!).sort(), ['creationTimestamp', 'generation', 'name', 'namespace', 'resourceVersion']);
  t.same(slim['spec'], DENY);
});

t.test('an Istio field meshlet does not enforce is named, not dropped', async (t) => {
  const custom = convertKubeObject(ISTIO, item('ext', { action: 'CUSTOM', provider: { name: 'ext-authz' }, rules: [{}] }));
  t.same(custom.result.objects, []);
  t.match(custom.result.problems.map((p) => p.text).join('\n'), /^kubernetes:AuthorizationPolicy\.security\.istio\.io\/demo\/ext \(document 1\): .*CUSTOM/m);
  const jwt = convertKubeObject(ISTIO, item('jwt', { rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }));
  t.same(jwt.result.objects, []);
  t.match(jwt.result.problems.map((p) => p.text).join('\n'), /requestPrincipals/);
});
