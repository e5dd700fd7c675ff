/**
 * The RBAC rules in daemonset/ grant exactly the calls the controller's code declares:
 * KUBERNETES_RESOURCES (the registry's list/watch) and AUTH_KUBERNETES_API_CALLS (TokenReview,
 * the CA Secret). A call added in the code without its rule, or a rule without a call, fails.
 */
import t from 'tap';
import { KUBERNETES_RESOURCES } from '../../../src/controller/registry/kube-resources.js';
import { AUTH_KUBERNETES_API_CALLS } from '../../../src/controller/auth/kubernetes-api-calls.js';
import { LEADER_ELECTION_API_CALLS } from '../../../src/controller/leader-election.js';
import { ROUTE_STATUS_API_CALLS } from '../../../src/controller/registry/route-status-writer.js';
import { TRAFFIC_POLICY_STATUS_API_CALLS } from '../../../src/controller/registry/traffic-policy-status-writer.js';
import { CA_ROOT_API_CALLS } from '../../../src/controller/ca-root/ca-root-publisher.js';
import { loadManifests, type KubeDoc } from './install-files.js';

interface Rule { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] }
interface Binding { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace?: string }[] }

/**
 * Permissions granted beyond what the code calls, each with its reason. Empty: leader election
 * (a Lease) is not in the code yet, so neither is its rule.
 */
const KNOWN_ADDITIONS: readonly string[] = [];

/** One granted permission: `cluster  pods list`, `namespace  secrets get meshlet-ca`. */
const grant = (scope: string, group: string, resource: string, verb: string, names: readonly string[] = []): string =>
  [scope, group === '' ? 'core' : group, resource, verb, ...[...names].sort()].join(' ');

function expectedGrants(): string[] {
  const out = KUBERNETES_RESOURCES.flatMap((r) => r.verbs.map((v) => grant('cluster', r.group, r.resource, v)));
  for (const c of [...AUTH_KUBERNETES_API_CALLS, ...LEADER_ELECTION_API_CALLS, ...ROUTE_STATUS_API_CALLS, ...TRAFFIC_POLICY_STATUS_API_CALLS, ...CA_ROOT_API_CALLS]) out.push(...c.verbs.map((v) => grant(c.scope, c.group, c.resource, v, c.resourceNames)));
  return [...out, ...KNOWN_ADDITIONS].sort();
}

function grantsOf(role: KubeDoc, scope: string): string[] {
  const rules = (role['rules'] ?? []) as Rule[];
  return rules.flatMap((rule) => {
    if (rule.nonResourceURLs !== undefined) return [`${scope} nonResourceURLs ${rule.nonResourceURLs.join(',')}`];
    return (rule.apiGroups ?? []).flatMap((g) =>
      (rule.resources ?? []).flatMap((r) => rule.verbs.map((v) => grant(scope, g, r, v, rule.resourceNames))));
  });
}

const docs = loadManifests().map((e) => e.doc);
const roles = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role');
const bindings = docs.filter((d) => d.kind === 'ClusterRoleBinding' || d.kind === 'RoleBinding');

/** The roles bound to ServiceAccount meshlet-system/`sa`, with the scope they grant in. */
function grantsOfServiceAccount(sa: string): string[] {
  return bindings.flatMap((b) => {
    const binding = b as unknown as Binding;
    if (!binding.subjects.some((s) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === 'meshlet-system')) return [];
    const role = roles.find((r) => r.kind === binding.roleRef.kind && r.metadata.name === binding.roleRef.name && r.metadata.namespace === b.metadata.namespace);
    if (role === undefined) throw new Error(`${b.kind} ${b.metadata.name} refers to a missing ${binding.roleRef.kind} ${binding.roleRef.name}`);
    return grantsOf(role, b.kind === 'ClusterRoleBinding' ? 'cluster' : 'namespace');
  });
}

t.test("the controller's roles grant exactly what its code calls", async (t) => {
  const granted = grantsOfServiceAccount('meshlet-controller').sort();
  t.same(granted, expectedGrants());
  t.equal(new Set(granted).size, granted.length, 'no permission granted twice');
});

t.test('no wildcard anywhere, and no Role outside meshlet-system', async (t) => {
  for (const role of roles) {
    const text = JSON.stringify(role['rules']);
    t.notMatch(text, /"\*"/, `${role.kind} ${role.metadata.name}: no "*"`);
    if (role.kind === 'Role') t.equal(role.metadata.namespace, 'meshlet-system');
  }
});

t.test('the agent is bound to nothing: it calls no Kubernetes API', async (t) => {
  t.same(grantsOfServiceAccount('meshlet-agent'), []);
  t.equal(roles.length, 2, 'only the controller has roles');
  t.equal(bindings.length, 2);
});

t.test('the comparison notices an extra or a missing rule (so a pass means something)', async (t) => {
  const role = roles.find((r) => r.kind === 'ClusterRole') as KubeDoc;
  const extra = { ...role, rules: [...(role['rules'] as Rule[]), { apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] };
  t.not(grantsOf(extra, 'cluster').sort().join('\n'), grantsOf(role, 'cluster').sort().join('\n'));
  t.ok(expectedGrants().includes('namespace core secrets get meshlet-ca'), 'the CA read is limited to its name');
  t.ok(expectedGrants().includes('cluster authentication.k8s.io tokenreviews create'));
  t.ok(expectedGrants().includes('cluster core configmaps watch meshlet-ca-root'), 'the ConfigMap watch is limited to its name');
  t.notOk(expectedGrants().includes('cluster core configmaps list'), 'no ConfigMap can be listed but the root');
});
